package daemon_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/internal/pgtest"
)

// Tests of typing notices (PROTOCOL.md 10, issue 21 item 4).

// typing #room reaches the room's other members, typing @bob reaches bob
// as the conversation @alice; never the typist's own sessions, nor anyone
// outside the conversation. Within 3 s a second notice to the same
// conversation is answered ok and dropped.
func TestTyping(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.Accounts.MaxSessions = 2
	})
	ts.addUsers("alice", "bob", "carol")
	alice1 := login(t, ts.addr, "alice", "password1")
	alice2 := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	alice1.send("create den")
	alice1.expect("ok", "cmd", "create")
	alice2.send("join den")
	alice2.expect("ok", "cmd", "join")
	alice1.expect("room", "event", "joined", "user", "alice")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")
	alice1.expect("room", "event", "joined", "user", "bob")
	alice2.expect("room", "event", "joined", "user", "bob")
	// Everything so far read: from here on each must get exactly what
	// is expected, nothing else.
	for _, c := range []*client{alice1, alice2, bob, carol} {
		c.send("echo ready")
		c.expect("ok", "cmd", "echo", "text", "ready")
	}

	alice1.send("@t1 typing #DEN")
	alice1.expectNext("ok", "cmd", "typing", "conversation", "#den", "label", "t1")
	bob.expectNext("typing", "conversation", "#den", "user", "alice")
	bob.nothingPending()
	alice2.nothingPending()
	carol.nothingPending()

	alice1.send("typing @Bob")
	alice1.expectNext("ok", "cmd", "typing", "conversation", "@bob")
	bob.expectNext("typing", "conversation", "@alice", "user", "alice")
	bob.nothingPending()
	alice2.nothingPending()
	carol.nothingPending()

	// Again at once, from either device: accepted, dropped.
	alice2.send("typing den", "typing @bob")
	alice2.expectNext("ok", "cmd", "typing", "conversation", "#den")
	alice2.expectNext("ok", "cmd", "typing", "conversation", "@bob")
	bob.nothingPending()
	// Another user's notice is their own.
	bob.send("typing #den")
	bob.expectNext("ok", "cmd", "typing")
	alice1.expectNext("typing", "conversation", "#den", "user", "bob")
	alice2.expectNext("typing", "conversation", "#den", "user", "bob")
	// 3 s on, alice's go out again.
	ts.clock.advance(3 * time.Second)
	alice1.send("typing #den")
	alice1.expectNext("ok", "cmd", "typing")
	bob.expectNext("typing", "conversation", "#den", "user", "alice")

	for _, bad := range []struct{ line, code string }{
		{"typing", "bad_args"},
		{"typing #den extra", "bad_args"},
		{"typing #nosuch", "not_in_room"},
		{"typing @nobody", "no_such_user"},
		{"typing @alice", "self"},
	} {
		alice1.send(bad.line)
		alice1.expectNext("error", "cmd", "typing", "code", bad.code)
	}
	carol.send("typing #den")
	carol.expectNext("error", "cmd", "typing", "code", "not_in_room")
	bob.nothingPending()
}

// Text mode shows nobody's typing, and a user who blocks the typist is
// not told.
func TestTypingNotShownInTextModeNorToBlockers(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	bob := textLogin(t, ts.addr, "bob", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	carol.send("block alice")
	carol.expect("ok", "cmd", "block")
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("typing #lobby", "typing @bob", "typing @carol", "say done")
	alice.expect("message", "text", "done")
	if got := bob.readUntil("<alice> done\r\n"); strings.Contains(got, "typing") {
		t.Fatalf("text mode shows typing: %q", got)
	}
	carol.send("echo ready")
	carol.expect("ok", "cmd", "echo", "text", "ready")
	for _, ev := range carol.seen {
		if ev.str("type") == "typing" {
			t.Fatalf("carol, who blocks alice, was told: %v", ev)
		}
	}
}

// Typing is a line like any other: it pays into the rate limit.
func TestTypingPaysIntoTheRateLimit(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1
		c.Rate.Burst = 3
	})
	a := register(t, ts.addr, "alice", "password1")
	a.send("typing #lobby", "typing #lobby", "typing #lobby", "typing #lobby")
	for range 3 {
		a.expectNext("ok", "cmd", "typing")
	}
	a.expectNext("error", "cmd", "typing", "code", "rate_limited")
}

// Across two nodes: typing reaches the room's members and the other side
// of a private conversation on the other node, once per 3 s; a mention
// made on one node marks the line on the other, and the mentions command
// finds it there.
func TestClusterTypingAndMentions(t *testing.T) {
	url := pgtest.URL(t)
	path := filepath.Join(t.TempDir(), "chatd.db")
	n1 := startNode(t, url, path, "n1")
	n2 := startNode(t, url, path, "n2")
	n1.addUsers("alice", "bob", "carol")
	alice := login(t, n1.addr, "alice", "password1")
	bob := login(t, n2.addr, "bob", "password1")
	carol := login(t, n2.addr, "carol", "password1")
	alice.expect("presence", "user", "carol", "event", "login")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")
	alice.expect("room", "event", "joined", "user", "bob")
	for _, c := range []*client{alice, bob, carol} {
		c.send("echo ready")
		c.expect("ok", "cmd", "echo", "text", "ready")
	}

	alice.send("typing #den")
	alice.expectNext("ok", "cmd", "typing")
	bob.expectNext("typing", "conversation", "#den", "user", "alice")
	alice.send("typing @carol")
	alice.expectNext("ok", "cmd", "typing")
	carol.expectNext("typing", "conversation", "@alice", "user", "alice")
	alice.send("typing #den", "say #den @bob, @carol: see?")
	alice.expectNext("ok", "cmd", "typing")
	// The line comes next: the second notice was dropped. carol is no
	// member of den: only bob is marked.
	ev := bob.expectNext("message", "kind", "room", "text", "@bob, @carol: see?")
	if got := mentionsOf(ev); fmt.Sprint(got) != "[bob]" {
		t.Fatalf("mentions on the other node: %v", ev)
	}
	carol.nothingPending()

	waitHistory(t, n2, "den", "@bob, @carol: see?")
	bob.send("mentions")
	bob.expectNext("message", "kind", "history", "room", "den", "text", "@bob, @carol: see?")
	bob.expectNext("ok", "cmd", "mentions", "count", "1")
}
