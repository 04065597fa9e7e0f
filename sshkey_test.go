package chatd

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseSSHKey(t *testing.T) {
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	tests := []struct {
		name    string
		in      string
		want    Code
		comment string
	}{
		{"OK", line + " me@host", "", "me@host"},
		{"OKNoComment", "  " + line + "\n", "", ""},
		{"ErrEmpty", " ", EBadArgs, ""},
		{"ErrGarbage", "ssh-ed25519 notbase64!", EBadArgs, ""},
		{"ErrOptions", `from="10.0.0.1" ` + line, EBadArgs, ""},
		{"ErrTwoKeys", line + "\n" + line, EBadArgs, ""},
		{"ErrPrivate", "-----BEGIN OPENSSH PRIVATE KEY-----", EBadArgs, ""},
		{"ErrTooLong", line + " " + strings.Repeat("x", maxKeyLine), EBadArgs, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseSSHKey(tt.in)
			if ErrorCode(err) != tt.want && !(err == nil && tt.want == "") {
				t.Fatalf("ParseSSHKey = %+v, %v; want code %q", k, err, tt.want)
			}
			if tt.want != "" {
				return
			}
			if k.Key != line || k.Type != "ssh-ed25519" || k.Fingerprint != ssh.FingerprintSHA256(pub) || k.Comment != tt.comment {
				t.Errorf("ParseSSHKey = %+v", k)
			}
		})
	}
}
