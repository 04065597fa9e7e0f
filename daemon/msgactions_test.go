package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
	"chatd/db"
	"chatd/internal/pgtest"
)

// startBackend is startServer on the store of the pgtest.EachBackend
// subtest t runs in: the SQLite file of the config, or a fresh PostgreSQL
// database.
func startBackend(t *testing.T, mutate ...func(*chatd.Config)) *testServer {
	t.Helper()
	if !pgtest.IsPostgres(t) {
		return startServer(t, mutate...)
	}
	cfg := testConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	store, err := db.OpenPostgres(pgtest.URL(t))
	if err != nil {
		t.Fatalf("open postgres: %v\n%s", err, pgtest.Log())
	}
	return serveStore(t, cfg, &clock{}, store, nil)
}

// said sends a chat line from c and returns its id (from c's own copy).
func (c *client) said(line string) string {
	c.t.Helper()
	c.send(line)
	id := c.expect("message", "kind", "room", "from", c.name, "text", line).str("id")
	if id == "" {
		c.t.Fatalf("%s: no id on %q", c.name, line)
	}
	return id
}

// searchIDs runs a search and returns the ids found.
func (c *client) searchIDs(line string) []string {
	c.t.Helper()
	c.send(line)
	var ids []string
	for {
		ev := c.next()
		switch {
		case ev.str("type") == "message" && ev.str("kind") == "history":
			ids = append(ids, ev.str("id"))
		case ev.str("type") == "ok" && ev.str("cmd") == "search":
			return ids
		case ev.str("type") == "error":
			c.t.Fatalf("%s: %q: %v", c.name, line, ev)
		}
	}
}

// TestMessageActions: edit, react, reply and delete of a room line and
// of a private message, seen by the actor's other device and by the other
// user, in history and search, on SQLite and on PostgreSQL.
func TestMessageActions(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		ts := startBackend(t, func(c *chatd.Config) {
			c.Accounts.DuplicateLogin = "multi"
		})
		ts.addUsers("alice", "bob")
		a1 := login(t, ts.addr, "alice", "password1")
		a2 := login(t, ts.addr, "alice", "password1")
		bob := login(t, ts.addr, "bob", "password1")
		a1.settle()

		// An edit right after the line: the writer has not stored it yet.
		id := a1.said("hello wrold")
		a1.send("@e1 edit " + id + " hello world")
		if ev := a1.expect("edit", "id", id); ev.str("label") != "e1" || ev.str("text") != "hello world" || ev.str("conversation") != "#lobby" || ev.str("ts") == "" {
			t.Fatalf("actor's edit: %v", ev)
		}
		for _, c := range []*client{a2, bob} {
			ev := c.expect("edit", "id", id, "conversation", "#lobby", "text", "hello world")
			if ev["label"] != nil {
				t.Errorf("%s: edit carries a label: %v", c.name, ev)
			}
		}
		bob.send("react " + id + " 👍")
		for _, c := range []*client{a1, a2, bob} {
			c.expect("reaction", "id", id, "conversation", "#lobby", "user", "bob", "reaction", "👍", "on", "true")
		}
		bob.send("reply " + id + " nice")
		for _, c := range []*client{a1, a2, bob} {
			c.expect("message", "kind", "room", "from", "bob", "text", "nice", "reply_to", id)
		}
		bob.fails("edit "+id+" mine now", "edit", "not_permitted")
		bob.fails("delete "+id, "delete", "not_permitted")

		h := a2.historyOf("history lobby")
		var line event
		for _, ev := range h {
			if ev.str("id") == id {
				line = ev
			}
		}
		if line == nil || line.str("text") != "hello world" || line.str("edited") == "" || fmt.Sprint(line["reactions"]) != "map[👍:[bob]]" {
			t.Fatalf("history line after edit and reaction: %v", line)
		}
		if got := a1.searchIDs("search wrold"); len(got) != 0 {
			t.Errorf("the old text is found: %v", got)
		}
		if got := a1.searchIDs("search world"); fmt.Sprint(got) != "["+id+"]" {
			t.Errorf("search world = %v", got)
		}

		a2.send("delete last")
		for _, c := range []*client{a1, a2, bob} {
			c.expect("delete", "id", id, "conversation", "#lobby", "by", "alice")
		}
		for _, ev := range bob.historyOf("history lobby") {
			if ev.str("id") == id && (ev["deleted"] != true || ev.str("text") != "" || ev["reactions"] != nil) {
				t.Fatalf("history line after delete: %v", ev)
			}
		}
		if got := bob.searchIDs("search world"); len(got) != 0 {
			t.Errorf("the deleted text is found: %v", got)
		}
		a1.fails("edit "+id+" back", "edit", "no_such_message")

		// A private message: her other device and bob see each action,
		// each in the conversation as they see it.
		a1.send("send bob psst")
		pid := a1.expect("delivery", "to", "bob", "status", "delivered").str("id")
		bob.expect("message", "kind", "private", "id", pid)
		a1.send("edit " + pid + " psst, lunch?")
		a2.expect("edit", "id", pid, "conversation", "@bob", "text", "psst, lunch?")
		bob.expect("edit", "id", pid, "conversation", "@alice", "text", "psst, lunch?")
		bob.send("react " + pid + " ok")
		a1.expect("reaction", "id", pid, "conversation", "@bob", "user", "bob", "on", "true")
		a2.expect("reaction", "id", pid, "conversation", "@bob", "user", "bob")
		bob.expect("reaction", "id", pid, "conversation", "@alice", "user", "bob")
		bob.fails("edit "+pid+" no", "edit", "not_permitted")
		bob.send("reply " + pid + " yes")
		a2.expect("message", "kind", "private", "from", "bob", "text", "yes", "reply_to", pid)
		a1.send("delete " + pid)
		bob.expect("delete", "id", pid, "conversation", "@alice", "by", "alice")
		a2.expect("delete", "id", pid, "conversation", "@bob")
		if got := bob.searchIDs("search @alice lunch"); len(got) != 0 {
			t.Errorf("the deleted private text is found: %v", got)
		}

		// The review: bob may not see the lobby's edits; a private
		// conversation's are its two users'.
		bob.fails("history lobby edits", "history", "not_permitted")
		ev := bob.do("history @alice edits", "history")
		edits, _ := ev["edits"].([]any)
		if len(edits) != 2 {
			t.Fatalf("edits of @alice: %v", ev)
		}
		first, _ := edits[0].(map[string]any)
		if first["old"] != "psst" || first["new"] != "psst, lunch?" || first["by"] != "alice" {
			t.Errorf("first edit: %v", first)
		}
	})
}

// TestMessageActionRights: a room's owner and admins may delete any line
// of the room; others only their own. An id the user cannot see is
// no_such_message, a room they are not in not_in_room.
func TestMessageActionRights(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	ts.addUser("root", "password1", true)
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	root := login(t, ts.addr, "root", "password1")
	alice.do("create den", "create")
	bob.do("join den", "join")
	b1 := bob.said("first")
	b2 := bob.said("second")
	// carol is not in den (an open room): not_in_room; ids nobody has are
	// no_such_message.
	carol.fails("react "+b1+" x", "react", "not_in_room")
	carol.fails("delete "+b1, "delete", "not_in_room")
	carol.fails("react 0000000000000000 x", "react", "no_such_message")
	carol.fails("edit nonsense! x", "edit", "no_such_message")
	carol.fails("react "+b1+" two words", "react", "bad_args")
	// The owner deletes bob's line; so does an admin who is not in den.
	alice.send("delete " + b1)
	bob.expect("delete", "id", b1, "conversation", "#den", "by", "alice")
	root.send("delete " + b2)
	root.expect("delete", "id", b2, "by", "root")
	bob.expect("delete", "id", b2, "by", "root")
	ev := alice.do("history den edits", "history")
	if edits, _ := ev["edits"].([]any); len(edits) != 2 {
		t.Fatalf("edits of den: %v", ev)
	}
	// A locked room's lines are not even there for outsiders.
	alice.do("roompasswd sesame", "roompasswd")
	a1 := alice.said("locked in")
	carol.fails("react "+a1+" x", "react", "no_such_message")
	carol.fails("reply "+a1+" hi", "reply", "no_such_message")
	// A private message between alice and bob is not carol's.
	alice.send("send bob private")
	pid := alice.expect("delivery", "to", "bob").str("id")
	carol.fails("react "+pid+" x", "react", "no_such_message")
	carol.fails("delete "+pid, "delete", "no_such_message")
}

// TestReactBeforeThePrivateLineIsQueued: a private message reaches its
// recipient before its sender's session queues it for the history writer,
// so a quick reaction can look for it first; it waits for the line instead
// of answering no_such_message.
func TestReactBeforeThePrivateLineIsQueued(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	release := daemon.HoldPrivateDelivery()
	defer release()
	alice.send("send bob quick")
	id := bob.expect("message", "kind", "private", "text", "quick").str("id")
	bob.send("react " + id + " ok")
	bob.quiet(100 * time.Millisecond) // the reaction waits for the line
	release()
	bob.expect("reaction", "id", id, "reaction", "ok", "on", "true")
	alice.expect("reaction", "id", id, "user", "bob")
}

// TestOfflineMailFollowsActions: mail not yet delivered is delivered as
// edited, and not at all once deleted.
func TestOfflineMailFollowsActions(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("send bob first draft")
	p1 := alice.expect("delivery", "to", "bob", "status", "stored").str("id")
	alice.send("send bob oops")
	p2 := alice.expect("delivery", "to", "bob", "status", "stored").str("id")
	alice.send("edit " + p1 + " final text")
	alice.expect("edit", "id", p1)
	alice.send("delete " + p2)
	alice.expect("delete", "id", p2)
	bob := dial(t, ts.addr)
	bob.name = "bob"
	bob.send("bob", "password1")
	welcome := bob.expect("welcome")
	if welcome["offline"] != float64(1) {
		t.Fatalf("welcome: %v", welcome)
	}
	bob.expect("message", "kind", "offline", "id", p1, "text", "final text")
	bob.nothingPending()
}

// TestReactFloodIsRateLimited: every action is a line the rate limit
// counts.
func TestReactFloodIsRateLimited(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1
		c.Rate.Burst = 5
	})
	ts.addUsers("alice")
	alice := login(t, ts.addr, "alice", "password1")
	id := alice.said("hello there")
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("react %s r%d", id, i))
	}
	alice.send(lines...)
	alice.expectError("react", "rate_limited")
}

// TestMessageActionsTextMode: a terminal user sees short, clean lines.
func TestMessageActionsTextMode(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	alice.settle()
	id := alice.said("the first line of a rather long story")
	out := strings.Join(bob.textWith(func() {
		alice.send("edit "+id+" the first line\x1b[31m", "react "+id+" 👍")
		alice.expect("reaction", "id", id)
	}, "reply "+id+" go on"), "\n")
	for _, want := range []string{
		"[lobby] * alice edited: the first line[31m",
		`[lobby] * alice reacted 👍 to alice: "the first line[31m"`,
		`[lobby] <bob> (re alice: "the first line[31m") go on`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text mode lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape reached the terminal: %q", out)
	}
	out = strings.Join(bob.textOf("delete "+id, "history lobby 5"), "\n")
	if !strings.Contains(out, "! you can only delete your own lines") {
		t.Errorf("bob deleting alice's line:\n%s", out)
	}
	alice.send("delete " + id)
	alice.expect("delete", "id", id)
	out = strings.Join(bob.textOf("history lobby 5"), "\n")
	if !strings.Contains(out, "<alice> (deleted)") || !strings.Contains(out, "(reply) go on") {
		t.Errorf("history in text mode:\n%s", out)
	}
}

// TestClusterMessageActions: actions on one node are seen on the other in
// the order they were taken, a reaction to a line said a moment ago on
// another node included.
func TestClusterMessageActions(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[1].addr, "bob", "password1")
	alice.expect("presence", "user", "bob", "event", "login")
	id := alice.said("helo")
	alice.send("edit "+id+" hello", "react "+id+" wave", "edit "+id+" hello all")
	bob.expect("message", "kind", "room", "id", id)
	bob.expectNext("edit", "id", id, "text", "hello")
	bob.expectNext("reaction", "id", id, "user", "alice", "reaction", "wave", "on", "true")
	bob.expectNext("edit", "id", id, "text", "hello all")
	// bob on the other node reacts at once to a line alice just said.
	alice.send("fresh line")
	fresh := bob.expect("message", "kind", "room", "text", "fresh line").str("id")
	bob.send("react " + fresh + " ok")
	alice.expect("reaction", "id", fresh, "user", "bob", "on", "true")
	var line event
	for _, ev := range bob.historyOf("history lobby") {
		if ev.str("id") == id {
			line = ev
		}
	}
	if line == nil || line.str("text") != "hello all" || fmt.Sprint(line["reactions"]) != "map[wave:[alice]]" {
		t.Fatalf("history on the other node: %v", line)
	}
}

// TestJoinReplayShowsActions: the replay on join comes from the room's
// recent lines in memory, which follow edits, deletions and reactions.
func TestJoinReplayShowsActions(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	alice.do("create den", "create")
	kept := alice.said("typo hre")
	gone := alice.said("regret this")
	alice.send("edit "+kept+" typo here", "react "+kept+" +1", "delete "+gone)
	alice.expect("delete", "id", gone)
	bob := login(t, ts.addr, "bob", "password1")
	bob.send("join den")
	seen := map[string]event{}
	for len(seen) < 2 {
		ev := bob.expect("message", "kind", "history", "room", "den")
		seen[ev.str("id")] = ev
	}
	if ev := seen[kept]; ev.str("text") != "typo here" || ev.str("edited") == "" || fmt.Sprint(ev["reactions"]) != "map[+1:[alice]]" {
		t.Errorf("replayed edited line: %v", ev)
	}
	if ev := seen[gone]; ev["deleted"] != true || ev.str("text") != "" {
		t.Errorf("replayed deleted line: %v", ev)
	}
}

// TestBlockedSendersActionsHidden: who blocks a line's sender (blocks
// apply to room chat by default) hears nothing of what becomes of it.
func TestBlockedSendersActionsHidden(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	bob.do("block alice", "block")
	id := alice.said("you cannot see this")
	alice.send("edit "+id+" nor this", "delete "+id)
	carol.expect("delete", "id", id)
	bob.settle()
	for _, ev := range bob.seen {
		if ev.str("id") == id {
			t.Fatalf("bob, who blocks alice, got %v", ev)
		}
	}
}

// TestMessageActionsAcrossTransports: alice on TCP acts, her WebSocket
// session and bob on a WebSocket see it; text mode with ids on ends the
// line with the message's id.
func TestMessageActionsAcrossTransports(t *testing.T) {
	ts, web := multiServer(t, 2)
	a1 := login(t, ts.addr, "alice", "password1")
	a2 := wsLogin(t, web, "alice", "password1", nil)
	bob := wsLogin(t, web, "bob", "password1", nil)
	a1.settle()
	id := a1.said("over tcp")
	a1.send("edit " + id + " over the wire")
	a2.expect("edit", "id", id, "text", "over the wire")
	bob.expect("edit", "id", id, "text", "over the wire")
	a1.do("set ids on", "set")
	out := strings.Join(a1.textOf("react "+id+" ok"), "\n")
	if !strings.Contains(out, `* alice reacted ok to alice: "over the wire" [`+id+`]`) {
		t.Errorf("text mode with ids on:\n%s", out)
	}
	bob.expect("reaction", "id", id, "user", "alice", "reaction", "ok")
}
