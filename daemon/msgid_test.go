package daemon_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Tests of message ids (PROTOCOL.md section 9.1).

// idOf is the message id an event carries, failing the test when it has
// none that fits the contract.
func idOf(t *testing.T, ev event) string {
	t.Helper()
	id := ev.str("id")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`).MatchString(id) {
		t.Fatalf("%v: id %q is not 1-32 of [A-Za-z0-9_-]", ev, id)
	}
	return id
}

// A room line has one id for its sender (with the label) and every
// recipient, a later line a greater one, and history, search and the
// replay on login show the same ids.
func TestMessageIDsRoomLines(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	alice.send("@L1 hello there")
	own := alice.expect("message", "kind", "room", "text", "hello there", "label", "L1")
	first := idOf(t, own)
	if got := idOf(t, bob.expect("message", "kind", "room", "text", "hello there")); got != first {
		t.Fatalf("bob's copy has id %q, alice's %q", got, first)
	}
	alice.send("me waves")
	second := idOf(t, bob.expect("message", "kind", "room", "text", "waves"))
	if second <= first {
		t.Fatalf("a later line has id %q, not greater than %q", second, first)
	}
	want := map[string]string{"hello there": first, "waves": second}
	check := func(who string, ev event) {
		t.Helper()
		if id := idOf(t, ev); id != want[ev.str("text")] {
			t.Fatalf("%s: %q has id %q; live it had %q", who, ev.str("text"), id, want[ev.str("text")])
		}
	}
	bob.send("history")
	check("history", bob.expect("message", "kind", "history", "text", "hello there"))
	check("history", bob.expect("message", "kind", "history", "text", "waves"))
	bob.expect("ok", "cmd", "history")
	bob.send("search hello")
	check("search", bob.expect("message", "kind", "history", "text", "hello there"))
	carol := login(t, ts.addr, "carol", "password1")
	check("replay", carol.expect("message", "kind", "history", "text", "hello there"))
	check("replay", carol.expect("message", "kind", "history", "text", "waves"))
}

// A private message's delivery statuses and its copies share its id; mail
// for someone offline keeps it until their next login. Broadcasts and
// notices have ids too.
func TestMessageIDsPrivateBroadcastNotice(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	alice.send("send (bob carol) psst")
	d1 := alice.expect("delivery", "to", "bob", "status", "delivered")
	d2 := alice.expect("delivery", "to", "carol", "status", "stored")
	id := idOf(t, d1)
	if idOf(t, d2) != id {
		t.Fatalf("one message, two ids in its statuses: %v, %v", d1, d2)
	}
	if got := idOf(t, bob.expect("message", "kind", "private", "text", "psst")); got != id {
		t.Fatalf("bob's copy has id %q; the delivery said %q", got, id)
	}
	carol := login(t, ts.addr, "carol", "password1")
	if got := idOf(t, carol.expect("message", "kind", "offline", "text", "psst")); got != id {
		t.Fatalf("carol's offline copy has id %q; the delivery said %q", got, id)
	}

	alice.send("broadcast all hands")
	b := idOf(t, alice.expect("message", "kind", "broadcast", "text", "all hands"))
	if got := idOf(t, bob.expect("message", "kind", "broadcast", "text", "all hands")); got != b || b <= id {
		t.Fatalf("broadcast ids: alice %q, bob %q (after the private message's %q)", b, got, id)
	}
	if err := ts.store.Notice(context.Background(), "maintenance at noon", "root"); err != nil {
		t.Fatal(err)
	}
	n := idOf(t, bob.expect("notice", "text", "maintenance at noon"))
	if got := idOf(t, carol.expect("notice", "text", "maintenance at noon")); got != n {
		t.Fatalf("one notice, two ids: %q, %q", n, got)
	}
}

// Text mode shows no ids until set ids on; then each message line ends
// with its id in brackets.
func TestMessageIDsTextMode(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	var id string
	out := bob.textWith(func() {
		alice.send("plain line")
		id = idOf(t, alice.expect("message", "kind", "room", "text", "plain line"))
	})
	if got := strings.Join(out, "\n"); !strings.Contains(got, "<alice> plain line") || strings.Contains(got, id) {
		t.Fatalf("bob's text output with ids off: %q; want the line without %s", out, id)
	}
	bob.send("set ids on")
	bob.expect("ok", "cmd", "set")
	out = bob.textWith(func() {
		alice.send("with id")
		id = idOf(t, alice.expect("message", "kind", "room", "text", "with id"))
	})
	if !strings.Contains(strings.Join(out, "\n"), "[lobby] <alice> with id ["+id+"]") {
		t.Fatalf("bob's text output with ids on: %q; want the line ending in [%s]", out, id)
	}
}

// Ids after a restart are greater than before, even with the clock set
// back.
func TestMessageIDsAfterRestart(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("before")
	before := idOf(t, alice.expect("message", "kind", "room", "text", "before"))
	ts = ts.restart() // the line is stored as the daemon stops
	ts.clock.advance(-time.Hour)
	alice = login(t, ts.addr, "alice", "password1")
	alice.send("after")
	if after := idOf(t, alice.expect("message", "kind", "room", "text", "after")); after <= before {
		t.Fatalf("id after the restart %q is not greater than %q before it", after, before)
	}
}

// In a cluster a room line has one id on every node, and lines said on
// two nodes into one room reach every member with strictly increasing
// ids, in the order delivered. Private messages and broadcasts keep the
// id their node gave them.
func TestClusterMessageIDs(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	carol := login(t, n[2].addr, "carol", "password1")
	alice.expect("presence", "user", "carol", "event", "login")
	bob.expect("presence", "user", "carol", "event", "login")

	const lines = 15
	for i := range lines {
		alice.send(fmt.Sprintf("@a%d a%d", i, i))
		bob.send(fmt.Sprintf("b%d", i))
	}
	ids := map[string]string{} // text -> id, as the first reader saw it
	for _, c := range []*client{alice, bob, carol} {
		last := ""
		for range 2 * lines {
			ev := c.expect("message", "kind", "room")
			id, text := idOf(t, ev), ev.str("text")
			if id <= last {
				t.Fatalf("%s: %q has id %q, not above the line before's %q", c.name, text, id, last)
			}
			last = id
			if c == alice && strings.HasPrefix(text, "a") && ev.str("label") != text {
				t.Fatalf("alice's own copy of %q has label %q", text, ev.str("label"))
			}
			if seen, ok := ids[text]; ok && seen != id {
				t.Fatalf("%s: %q has id %q; another node gave it %q", c.name, text, id, seen)
			}
			ids[text] = id
		}
	}
	if len(ids) != 2*lines {
		t.Fatalf("%d distinct lines, want %d", len(ids), 2*lines)
	}

	alice.send("send bob across")
	d := idOf(t, alice.expect("delivery", "to", "bob", "status", "delivered"))
	if got := idOf(t, bob.expect("message", "kind", "private", "text", "across")); got != d {
		t.Fatalf("bob's copy has id %q; the delivery on n1 said %q", got, d)
	}
	if !strings.HasSuffix(d, "-n1") {
		t.Fatalf("a private message of node n1 has id %q, without its tag", d)
	}
	bob.send("broadcast from n2")
	b := idOf(t, bob.expect("message", "kind", "broadcast"))
	for _, c := range []*client{alice, carol} {
		if got := idOf(t, c.expect("message", "kind", "broadcast")); got != b {
			t.Fatalf("%s: broadcast id %q; n2 gave %q", c.name, got, b)
		}
	}
	if b == d || !strings.HasSuffix(b, "-n2") {
		t.Fatalf("broadcast id %q (private %q)", b, d)
	}
}
