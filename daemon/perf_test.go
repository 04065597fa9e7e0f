package daemon_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"chatd"
)

// countingStore counts the store calls the hot paths should not repeat.
type countingStore struct {
	chatd.Store
	mu         sync.Mutex
	userByName map[string]int // by chatd.Key(name)
	isBlocked  int
}

func newCountingStore(s chatd.Store) *countingStore {
	return &countingStore{Store: s, userByName: map[string]int{}}
}

func (c *countingStore) UserByName(ctx context.Context, name string) (*chatd.User, error) {
	c.mu.Lock()
	c.userByName[chatd.Key(name)]++
	c.mu.Unlock()
	return c.Store.UserByName(ctx, name)
}

func (c *countingStore) IsBlocked(ctx context.Context, blocker, blocked string) (bool, error) {
	c.mu.Lock()
	c.isBlocked++
	c.mu.Unlock()
	return c.Store.IsBlocked(ctx, blocker, blocked)
}

func (c *countingStore) blockChecks() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isBlocked
}

func (c *countingStore) lookups(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userByName[chatd.Key(name)]
}

// A recipient's name is read from the database once, not once per private
// message; an admin deleting the account makes the server forget it, and a
// new account of that name (made behind the server's back, like chatd
// useradd) is found at once in its own spelling.
func TestSendLooksUpARecipientOnce(t *testing.T) {
	var counts *countingStore
	ts := startWrapped(t, testConfig(t), &clock{}, func(s chatd.Store) chatd.Store {
		counts = newCountingStore(s)
		return counts
	})
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")

	for i := range 3 {
		a.send("send Bob note " + string(rune('1'+i)))
		a.expect("delivery", "to", "bob", "status", "stored")
	}
	if n := counts.lookups("bob"); n != 1 {
		t.Fatalf("3 messages to bob looked him up %d times, want 1", n)
	}

	// Online, bob is known without the database; his login reads him.
	b := login(t, ts.addr, "bob", "password1")
	b.expect("message", "kind", "offline", "text", "note 3")
	before := counts.lookups("bob")
	a.send("send bob live")
	a.expect("delivery", "to", "bob", "status", "delivered")
	if n := counts.lookups("bob") - before; n != 0 {
		t.Fatalf("a message to bob online looked him up %d times, want 0", n)
	}

	// chatd userdel: once bob's session has ended the server has applied
	// the deletion, and bob is unknown again.
	if err := ts.store.DeleteUserAction(t.Context(), "bob", "test"); err != nil {
		t.Fatal(err)
	}
	b.expect("bye", "reason", "kicked")
	a.send("send bob are you there")
	a.expectError("send", "no_such_user")

	// chatd useradd makes no action: the next message finds the new
	// account, in its own spelling.
	ts.addUser("BOB", "password1", false)
	a.send("send bob hello again")
	a.expect("delivery", "to", "BOB", "status", "stored")
	b = login(t, ts.addr, "BOB", "password1")
	m := b.expect("message", "kind", "offline", "text", "hello again")
	if got := strings.Join(m.strs("to"), ","); got != "BOB" {
		t.Fatalf("to = %s, want BOB", got)
	}
}

// A private message to someone on this node or offline asks the database
// no separate block question: an online session knows its user's blocks,
// and the mailer checks inside the transaction that stores the message.
// The blocks still apply either way.
func TestSendChecksBlocksWithoutAQuery(t *testing.T) {
	var counts *countingStore
	ts := startWrapped(t, testConfig(t), &clock{}, func(s chatd.Store) chatd.Store {
		counts = newCountingStore(s)
		return counts
	})
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	a.send("send bob offline note")
	a.expect("delivery", "to", "bob", "status", "stored")
	c := login(t, ts.addr, "carol", "password1")
	c.do("block alice", "block")
	a.send("send carol online note")
	a.expect("delivery", "to", "carol", "status", "blocked")
	c.send("logout")
	c.expect("bye")
	a.expect("presence", "user", "carol", "event", "logout")
	a.send("send carol offline note")
	a.expect("delivery", "to", "carol", "status", "blocked")
	b := login(t, ts.addr, "bob", "password1")
	b.expect("message", "kind", "offline", "text", "offline note")
	a.send("send bob live note")
	a.expect("delivery", "to", "bob", "status", "delivered")
	if n := counts.blockChecks(); n != 0 {
		t.Fatalf("%d block queries for messages on one node, want 0", n)
	}
	c = dial(t, ts.addr)
	if w := c.attempt("carol", "password1"); w.str("type") != "welcome" || w["offline"] != float64(0) {
		t.Fatalf("carol's welcome %v, want no stored message", w)
	}
}
