package db

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"chatd"
)

// testKey is the i-th of a fixed series of ed25519 public keys.
func testKey(t *testing.T, user string, i int) chatd.SSHKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = byte(i), byte(i>>8)
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(seed).Public())
	if err != nil {
		t.Fatal(err)
	}
	k, err := chatd.ParseSSHKey(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + fmt.Sprintf(" key%d", i))
	if err != nil {
		t.Fatal(err)
	}
	k.User = user
	return k
}

func TestKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob")
		a0, a1, b0 := testKey(t, "alice", 0), testKey(t, "ALICE", 1), testKey(t, "bob", 0)
		checkCode(t, db.AddKey(ctx, a0), "")
		checkCode(t, db.AddKey(ctx, a1), "")
		checkCode(t, db.AddKey(ctx, b0), "") // the same key on another account
		checkCode(t, db.AddKey(ctx, testKey(t, "Alice", 0)), chatd.EBadArgs)
		checkCode(t, db.AddKey(ctx, testKey(t, "ghost", 0)), chatd.ENoSuchUser)

		keys, err := db.Keys(ctx, "alice")
		if err != nil || len(keys) != 2 || keys[0].Fingerprint != a0.Fingerprint || keys[1].Fingerprint != a1.Fingerprint {
			t.Fatalf("Keys(alice) = %+v, %v", keys, err)
		}
		if k := keys[1]; k.User != "alice" || k.Key != a1.Key || k.Type != "ssh-ed25519" || k.Comment != "key1" || k.Added.IsZero() {
			t.Errorf("stored key = %+v, want %+v", k, a1)
		}
		all, err := db.Keys(ctx, "")
		if err != nil || len(all) != 3 || all[0].User != "alice" || all[2].User != "Bob" {
			t.Errorf("Keys(\"\") = %+v, %v", all, err)
		}
		if _, err := db.Keys(ctx, "ghost"); chatd.ErrorCode(err) != chatd.ENoSuchUser {
			t.Errorf("Keys(ghost) = %v, want no_such_user", err)
		}

		checkCode(t, db.DeleteKey(ctx, "bob", a1.Fingerprint), chatd.EBadArgs)
		checkCode(t, db.DeleteKey(ctx, "ghost", a1.Fingerprint), chatd.ENoSuchUser)
		checkCode(t, db.DeleteKey(ctx, "alice", a0.Fingerprint), "")
		if keys, _ := db.Keys(ctx, "alice"); len(keys) != 1 || keys[0].Fingerprint != a1.Fingerprint {
			t.Errorf("after DeleteKey: %+v", keys)
		}
		// Bob's copy of the key stays.
		if keys, _ := db.Keys(ctx, "bob"); len(keys) != 1 {
			t.Errorf("bob's keys after alice deleted hers: %+v", keys)
		}
	})
}

func TestKeysLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice")
		for i := range chatd.MaxSSHKeys {
			checkCode(t, db.AddKey(ctx, testKey(t, "alice", i)), "")
		}
		checkCode(t, db.AddKey(ctx, testKey(t, "alice", chatd.MaxSSHKeys)), chatd.EBadArgs)
		checkCode(t, db.DeleteKey(ctx, "alice", testKey(t, "alice", 3).Fingerprint), "")
		checkCode(t, db.AddKey(ctx, testKey(t, "alice", chatd.MaxSSHKeys)), "")
	})
}
