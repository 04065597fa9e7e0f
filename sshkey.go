package chatd

import (
	"context"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHKey is one public key an account may log in with over SSH
// (PROTOCOL.md section 12).
type SSHKey struct {
	User        string    // the account, in its registered spelling
	Type        string    // the key's algorithm: "ssh-ed25519", "ssh-rsa", ...
	Key         string    // the key in authorized_keys form: type, a space, base64
	Fingerprint string    // "SHA256:" and the unpadded base64 of the key's SHA-256
	Comment     string    // what followed the key on its line, if anything
	Added       time.Time // when it was added
}

// MaxSSHKeys is how many SSH keys one account may hold.
const MaxSSHKeys = 20

// maxKeyLine bounds an authorized_keys line: an 8192-bit RSA key with a
// long comment fits well within it.
const maxKeyLine = 16 << 10

// ParseSSHKey reads one authorized_keys line ("ssh-ed25519 AAAA... me@host").
// Options before the key (from="...", command="...") are refused: chatd
// would not apply them. Certificates are refused too. A bad line is
// bad_args with a sentence a person can act on.
func ParseSSHKey(line string) (SSHKey, error) {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return SSHKey{}, Errorf(EBadArgs, "give a public key: one line of authorized_keys, like \"ssh-ed25519 AAAA... you@host\"")
	case len(line) > maxKeyLine:
		return SSHKey{}, Errorf(EBadArgs, "that public key line is longer than %d bytes", maxKeyLine)
	case strings.Contains(line, "PRIVATE KEY"):
		return SSHKey{}, Errorf(EBadArgs, "that is a private key; give the public one (the .pub file)")
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return SSHKey{}, Errorf(EBadArgs, "that is not a public key in authorized_keys form, like \"ssh-ed25519 AAAA... you@host\"")
	case len(options) > 0:
		return SSHKey{}, Errorf(EBadArgs, "key options (%s) are not supported; give the key alone", strings.Join(options, ","))
	case len(strings.TrimSpace(string(rest))) > 0:
		return SSHKey{}, Errorf(EBadArgs, "give one key at a time")
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return SSHKey{}, Errorf(EBadArgs, "SSH certificates are not supported; give a plain public key")
	}
	return SSHKey{
		Type:        pub.Type(),
		Key:         strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Fingerprint: ssh.FingerprintSHA256(pub),
		Comment:     CleanText(comment),
	}, nil
}

// KeyStore holds the SSH public keys of the accounts, at most MaxSSHKeys
// each.
type KeyStore interface {
	// AddKey stores k for k.User (k.Added is set by the store): ENoSuchUser;
	// EBadArgs when the account holds that key already or MaxSSHKeys.
	AddKey(ctx context.Context, k SSHKey) error
	// DeleteKey removes the key with that fingerprint from user's:
	// ENoSuchUser; EBadArgs when user has no such key.
	DeleteKey(ctx context.Context, user, fingerprint string) error
	// Keys lists user's keys, oldest first; user "" lists every
	// account's, by account. An unknown user is ENoSuchUser.
	Keys(ctx context.Context, user string) ([]SSHKey, error)
}
