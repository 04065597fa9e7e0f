package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"chatd/internal/pgtest"
)

// newKeyPair writes a new ed25519 key pair in dir as OpenSSH does (name
// 0600, name.pub) and returns the private key's path and the public key's
// authorized_keys line, with comment.
func newKeyPair(t *testing.T, dir, name, comment string) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
	if err := os.WriteFile(path+".pub", []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, line
}

// fingerprint is the SHA256 fingerprint of an authorized_keys line.
func fingerprint(t *testing.T, line string) string {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(pub)
}

func TestKeyCommands(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		c.ok("password1\n", "useradd", "alice")
		c.ok("password1\n", "useradd", "bob")
		_, one := newKeyPair(t, c.dir, "one", "alice@laptop")
		_, two := newKeyPair(t, c.dir, "two", "alice@phone")
		fp1, fp2 := fingerprint(t, one), fingerprint(t, two)

		out := c.ok("", "keyadd", "Alice", filepath.Join(c.dir, "one.pub"))
		if out != "added ssh-ed25519 key "+fp1+" for alice\n" {
			t.Errorf("keyadd stdout = %q", out)
		}
		// Standard input, with a comment line and a blank one.
		c.ok("# phone\n\n"+two+"\n", "keyadd", "alice", "-")
		c.ok(one+"\n", "keyadd", "bob", "-")
		c.fail("has that key already", one+"\n", "keyadd", "alice", "-")
		c.fail("not a public key", "hello\n", "keyadd", "alice", "-")
		c.fail("no user named ghost", one+"\n", "keyadd", "ghost", "-")
		c.fail("holds no public key", "\n", "keyadd", "alice", "-")

		list := c.ok("", "keys", "alice")
		if r := row(list, "alice"); r == nil || r[2] != fp1 || r[3] != "alice@laptop" {
			t.Errorf("keys alice:\n%s", list)
		}
		if !strings.Contains(list, fp2) || strings.Count(list, "\n") != 3 {
			t.Errorf("keys alice, want two keys:\n%s", list)
		}
		if all := c.ok("", "keys"); row(all, "bob") == nil || strings.Count(all, "\n") != 4 {
			t.Errorf("keys:\n%s", all)
		}

		if out := c.ok("", "keydel", "alice", fp1); out != "deleted key "+fp1+" of alice\n" {
			t.Errorf("keydel stdout = %q", out)
		}
		c.fail("no key with the fingerprint", "", "keydel", "alice", fp1)
		if list := c.ok("", "keys", "alice"); strings.Contains(list, fp1) || !strings.Contains(list, fp2) {
			t.Errorf("keys after keydel:\n%s", list)
		}
		c.fail("no user named ghost", "", "keys", "ghost")
		c.fail("takes a user name and a key's fingerprint", "", "keydel", "alice")
	})
}
