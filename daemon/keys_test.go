package daemon_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newPublicKey makes an ed25519 key and returns its authorized_keys line
// (with comment) and fingerprint.
func newPublicKey(t *testing.T, comment string) (line, fp string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment, ssh.FingerprintSHA256(sp)
}

func TestKeyProtocolCommands(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	one, fp1 := newPublicKey(t, "alice@laptop")
	two, fp2 := newPublicKey(t, "")

	if ev := a.do("keys", "keys"); len(ev["keys"].([]any)) != 0 {
		t.Fatalf("keys before any: %v", ev)
	}
	if ev := a.do("keyadd "+one, "keyadd"); ev.str("fingerprint") != fp1 {
		t.Errorf("keyadd: %v", ev)
	}
	a.do("keyadd "+two, "keyadd")
	a.fails("keyadd "+one, "keyadd", "bad_args")
	a.fails("keyadd hello", "keyadd", "bad_args")
	a.fails("keyadd", "keyadd", "bad_args")
	b.do("keyadd "+one, "keyadd") // another account may hold the same key

	ev := a.do("keys", "keys")
	keys := ev["keys"].([]any)
	if len(keys) != 2 {
		t.Fatalf("keys: %v", ev)
	}
	k := keys[0].(map[string]any)
	if k["fingerprint"] != fp1 || k["type"] != "ssh-ed25519" || k["comment"] != "alice@laptop" || k["added"] == "" {
		t.Errorf("first key: %v", k)
	}

	a.fails("keydel SHA256:nothing", "keydel", "bad_args")
	a.fails("keydel", "keydel", "bad_args")
	a.do("keydel "+fp1, "keydel")
	stored, err := ts.store.Keys(context.Background(), "alice")
	if err != nil || len(stored) != 1 || stored[0].Fingerprint != fp2 {
		t.Errorf("alice's stored keys after keydel: %+v, %v", stored, err)
	}
	if stored, _ := ts.store.Keys(context.Background(), "bob"); len(stored) != 1 || stored[0].Fingerprint != fp1 {
		t.Errorf("bob's keys after alice deleted her copy: %+v", stored)
	}
}
