package daemon_test

import (
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
