package daemon_test

import (
	"fmt"
	"slices"
	"testing"

	"chatd"
)

// Tests of the login replay after the read marker (PROTOCOL.md 9.6).

// replayed logs name in and returns the texts of the history lines its
// login replayed, room by room ("room: text"), in the order they came.
func replayed(t *testing.T, addr, name string) (*client, []string) {
	t.Helper()
	c := login(t, addr, name, "password1")
	c.send("time") // its answer comes after everything the login queued
	var got []string
	for {
		ev := c.next()
		if ev.str("type") == "ok" && ev.str("cmd") == "time" {
			return c, got
		}
		if ev.str("type") == "message" && ev.str("kind") == "history" {
			got = append(got, ev.str("room")+": "+ev.str("text"))
		}
	}
}

// say has c say each line in its current room and returns their ids.
func say(t *testing.T, c *client, lines ...string) []string {
	t.Helper()
	var ids []string
	for _, l := range lines {
		c.send(l)
		ids = append(ids, idOf(t, c.expect("message", "kind", "room", "text", l)))
	}
	return ids
}

func texts(room string, lines ...string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = room + ": " + l
	}
	return out
}

// The replay is the lines after my marker, at most history_on_join of
// them, the newest; nothing where nothing is unread (read to the end, or
// only my own lines since); a user without a marker gets the last lines.
func TestLoginReplayAfterMarker(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Messages.HistoryOnJoin = 4 })
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	ids := say(t, alice, "l1", "l2", "l3")

	bob := login(t, ts.addr, "bob", "password1")
	bob.send("read lobby " + ids[1])
	bob.expect("ok", "cmd", "read")
	bob.send("logout")
	bob.closed()
	bob, got := replayed(t, ts.addr, "bob")
	if want := texts("lobby", "l3"); !slices.Equal(got, want) {
		t.Fatalf("replay after the marker = %q, want %q", got, want)
	}

	// More unread lines than history_on_join: the newest of them, so the
	// replay meets the live lines.
	ids = say(t, alice, "l4", "l5", "l6", "l7", "l8")
	bob.send("logout")
	bob.closed()
	bob, got = replayed(t, ts.addr, "bob")
	if want := texts("lobby", "l5", "l6", "l7", "l8"); !slices.Equal(got, want) {
		t.Fatalf("replay of many unread lines = %q, want %q", got, want)
	}

	// Read to the end: nothing. Only my own lines since: nothing either.
	bob.send("read lobby " + ids[len(ids)-1])
	bob.expect("ok", "cmd", "read")
	bob.send("logout")
	bob.closed()
	if bob, got = replayed(t, ts.addr, "bob"); len(got) != 0 {
		t.Fatalf("replay with nothing unread = %q", got)
	}
	say(t, bob, "mine")
	bob.send("logout")
	bob.closed()
	if _, got = replayed(t, ts.addr, "bob"); len(got) != 0 {
		t.Fatalf("replay with only my own lines unread = %q", got)
	}

	// No marker yet: the room's last lines, as before markers.
	if _, got = replayed(t, ts.addr, "carol"); !slices.Equal(got, texts("lobby", "l6", "l7", "l8", "mine")) {
		t.Fatalf("replay without a marker = %q", got)
	}
}

// With history_on_join raised by a reload the room logs hold fewer lines
// than a replay takes: the older ones come from the database, none twice.
func TestLoginReplayReachesPastTheLog(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Messages.HistoryOnJoin = 2 })
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	ids := say(t, alice, "l1")
	bob.send("read lobby " + ids[0])
	bob.expect("ok", "cmd", "read")
	bob.send("logout")
	bob.closed()
	say(t, alice, "l2", "l3", "l4", "l5")

	cfg := ts.cfg
	cfg.Messages.HistoryOnJoin = 6
	if _, err := ts.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	bob, got := replayed(t, ts.addr, "bob")
	if want := texts("lobby", "l2", "l3", "l4", "l5"); !slices.Equal(got, want) {
		t.Fatalf("replay reaching past the log = %q, want %q", got, want)
	}
	// The log grows to the new size; the same again once it has.
	say(t, alice, "l6")
	bob.send("logout")
	bob.closed()
	if _, got = replayed(t, ts.addr, "bob"); !slices.Equal(got, texts("lobby", "l2", "l3", "l4", "l5", "l6")) {
		t.Fatalf("replay after one more line = %q", got)
	}
}

// resumeLines is how many lines go to each of the two rooms, and
// resumePrivate how many private messages, while the resuming client is
// away.
const (
	resumeLines   = 25
	resumePrivate = 5
)

// testResume is the server side of a client's resume (PROTOCOL.md 9.6):
// bob, a JSON client in lobby and den, has read every conversation up to
// the last line it saw and goes away; alice says resumeLines lines in each
// room and sends bob resumePrivate private messages (offline mail, and in
// the private conversation). Bob comes back on to (in a cluster, another
// node than from): the login replays each room's lines after his marker,
// and `history CONV after ID`, asked while more, gives exactly the lines
// he missed, in order, none twice. history_on_join must exceed
// resumeLines, so that a replay of the room's last lines would show the
// line read before.
func testResume(t *testing.T, from, to *testServer) {
	t.Helper()
	alice := login(t, from.addr, "alice", "password1")
	bob := login(t, from.addr, "bob", "password1")
	bob.do("create den", "create")
	alice.do("join den", "join")
	bob.expect("room", "event", "joined", "user", "alice")

	// What bob saw last, per conversation, and read.
	last := map[string]string{}
	alice.send("say #lobby seen in lobby")
	last["#lobby"] = idOf(t, bob.expect("message", "kind", "room", "text", "seen in lobby"))
	alice.send("say #den seen in den")
	last["#den"] = idOf(t, bob.expect("message", "kind", "room", "text", "seen in den"))
	alice.send("send bob seen in private")
	last["@alice"] = idOf(t, bob.expect("message", "kind", "private", "text", "seen in private"))
	for _, conv := range []string{"#lobby", "#den", "@alice"} {
		bob.do("read "+conv+" "+last[conv], "read")
	}
	bob.conn.Close()
	alice.expect("presence", "user", "bob", "event", "logout")

	// What he misses, in the order alice says it.
	want := map[string][]string{}
	for i := range resumeLines {
		for _, room := range []string{"lobby", "den"} {
			text := fmt.Sprintf("%s %02d", room, i)
			alice.send("say #" + room + " " + text)
			alice.expect("message", "kind", "room", "room", room, "text", text)
			want["#"+room] = append(want["#"+room], text)
		}
		if i%(resumeLines/resumePrivate) == 0 {
			text := fmt.Sprintf("private %02d", i)
			alice.send("send bob " + text)
			alice.expect("delivery", "to", "bob", "status", "stored")
			want["@alice"] = append(want["@alice"], text)
		}
	}
	if len(want["@alice"]) != resumePrivate {
		t.Fatalf("sent %d private messages, want %d", len(want["@alice"]), resumePrivate)
	}
	// Each node stores its own senders' lines; a history command waits
	// for its node's writer.
	alice.historyPage("history #den 1")

	bob = login(t, to.addr, "bob", "password1")
	bob.send("time") // its answer follows everything the login queued
	replay, mail := map[string][]string{}, []string{}
	for {
		ev := bob.next()
		if ev.str("type") == "ok" && ev.str("cmd") == "time" {
			break
		}
		switch {
		case ev.str("type") != "message":
		case ev.str("kind") == "history":
			replay["#"+ev.str("room")] = append(replay["#"+ev.str("room")], ev.str("text"))
		case ev.str("kind") == "offline":
			mail = append(mail, ev.str("text"))
		}
	}
	for _, conv := range []string{"#lobby", "#den"} {
		if !slices.Equal(replay[conv], want[conv]) {
			t.Errorf("login replay of %s = %q, want the %d lines after the marker", conv, replay[conv], len(want[conv]))
		}
	}
	if !slices.Equal(mail, want["@alice"]) {
		t.Errorf("offline mail = %q, want %q", mail, want["@alice"])
	}

	// The resume proper: after the last id seen, while more.
	seen := map[string]bool{}
	total := 0
	for _, conv := range []string{"#lobby", "#den", "@alice"} {
		var got []string
		after := last[conv]
		for pages := 0; ; pages++ {
			if pages > 2*resumeLines {
				t.Fatalf("%s: more after %d pages", conv, pages)
			}
			lines, more := bob.historyPage("history " + conv + " after " + after + " 7")
			for _, l := range lines {
				id := idOf(t, l)
				if seen[id] {
					t.Fatalf("%s: %s (%q) came twice", conv, id, l.str("text"))
				}
				seen[id] = true
				if id <= after {
					t.Fatalf("%s: %s is not after %s", conv, id, after)
				}
				after = id
				got = append(got, l.str("text"))
			}
			if !more {
				break
			}
		}
		if !slices.Equal(got, want[conv]) {
			t.Errorf("resume of %s = %q, want %q", conv, got, want[conv])
		}
		total += len(got)
	}
	if total != 2*resumeLines+resumePrivate {
		t.Errorf("resumed %d lines, want %d", total, 2*resumeLines+resumePrivate)
	}
}

func TestResumeAfterReconnect(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Messages.HistoryOnJoin = resumeLines + 5 })
	ts.addUsers("alice", "bob")
	testResume(t, ts, ts)
}

// The same, coming back on another node of a cluster.
func TestClusterResumeOnAnotherNode(t *testing.T) {
	n := threeNodes(t, func(c *chatd.Config) { c.Messages.HistoryOnJoin = resumeLines + 5 })
	testResume(t, n[0], n[1])
}

// A read marker set on one node is what unread, the welcome and the login
// replay go by on another.
func TestClusterMarkerSeenOnAnotherNode(t *testing.T) {
	n := threeNodes(t)
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[0].addr, "bob", "password1")
	ids := say(t, alice, "m1", "m2", "m3")
	bob.expect("message", "kind", "room", "text", "m3")
	bob.do("read lobby "+ids[0], "read")
	bob.send("logout")
	bob.closed()
	// Each node stores its own senders' lines; a history command waits
	// for its node's writer, so the counts below see alice's lines.
	alice.historyPage("history 1")

	bob = dial(t, n[1].addr)
	bob.name = "bob"
	bob.send("bob")
	bob.expectNext("prompt", "field", "password")
	bob.send("password1")
	w := bob.expect("welcome", "user", "bob")
	if got := fmt.Sprint(w["unread"]); got != "[map[conversation:#lobby count:2 more:false]]" {
		t.Errorf("welcome unread on the other node = %s", got)
	}
	var replay []string
	bob.send("unread")
	for {
		ev := bob.next()
		if ev.str("type") == "message" && ev.str("kind") == "history" {
			replay = append(replay, ev.str("text"))
		}
		if ev.str("type") == "ok" && ev.str("cmd") == "unread" {
			if got := fmt.Sprint(ev["unread"]); got != "[map[conversation:#lobby count:2 more:false]]" {
				t.Errorf("unread on the other node = %s", got)
			}
			break
		}
	}
	if !slices.Equal(replay, []string{"m2", "m3"}) {
		t.Errorf("login replay on the other node = %q, want the lines after the marker", replay)
	}
	// And back: a read there moves the marker the first node sees.
	bob.do("read lobby "+ids[2], "read")
	bob.send("logout")
	bob.closed()
	bob2 := login(t, n[0].addr, "bob", "password1")
	if ev := bob2.do("unread", "unread"); fmt.Sprint(ev["unread"]) != "[]" {
		t.Errorf("unread on the first node after reading on the second = %v", ev["unread"])
	}
}
