package daemon_test

import (
	"fmt"
	"slices"
	"testing"

	"chatd"
)

// loginRooms logs name in and returns the client with the current room and
// the rooms of its welcome.
func loginRooms(t *testing.T, addr, name string) (*client, string, []string) {
	t.Helper()
	c := dial(t, addr)
	c.name = name
	c.send(name)
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	w := c.expect("welcome", "user", name)
	list, ok := w["rooms"].([]any)
	if !ok {
		t.Fatalf("welcome without rooms: %v", w)
	}
	var rooms []string
	for _, x := range list {
		m := x.(map[string]any)
		if _, ok := m["unread"].(float64); !ok {
			t.Fatalf("welcome room without unread: %v", m)
		}
		rooms = append(rooms, m["name"].(string))
	}
	return c, fmt.Sprint(w["room"]), rooms
}

// A user in three rooms (and the lobby) gets the lines of every one of
// them live, each tagged with its room, and speaks to any of them with
// say #ROOM.
func TestLinesOfEveryMemberRoom(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	for _, r := range []string{"den", "attic", "cellar"} {
		a.do("create "+r, "create")
		b.do("join "+r, "join")
	}
	settleAll(a, b)
	for _, r := range []string{"den", "attic", "cellar", "lobby"} {
		b.send("say #" + r + " hello " + r)
		if m := a.expect("message", "kind", "room", "from", "bob"); m.str("room") != r || m.str("text") != "hello "+r {
			t.Fatalf("alice got %v; want bob's line in %s", m, r)
		}
	}
	// Plain lines go to the current room: the one joined last.
	b.send("plain")
	if m := a.expect("message", "kind", "room", "from", "bob"); m.str("room") != "cellar" {
		t.Fatalf("plain line went to %v", m)
	}
}

// join, leave, the current room, not_in_room, say #room, rooms mine and
// rooms.max_joined.
func TestJoinLeaveCurrentRoom(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Rooms.MaxJoined = 3 })
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.do("create den", "create")
	a.do("create attic", "create") // alice: lobby, den, attic
	a.fails("create cellar", "create", "too_many_rooms")
	a.do("join lobby", "join") // a member: only current
	b.do("join den", "join")
	settleAll(a, b)
	// Joining a room one is in makes it current and tells nobody.
	if ev := b.do("join lobby", "join"); ev.str("room") != "lobby" {
		t.Fatalf("join lobby: %v", ev)
	}
	a.settle()
	a.nothingPending()
	b.send("in the lobby")
	a.expect("message", "room", "lobby", "text", "in the lobby")
	b.fails("say #attic hi", "say", "not_in_room")
	b.fails("msg #attic hi", "send", "not_in_room")
	if ev := b.do("rooms mine", "rooms"); ev.str("room") != "lobby" || len(ev["rooms"].([]any)) != 2 {
		t.Fatalf("rooms mine: %v", ev)
	}
	// leave ROOM: a room that is not current; the current one stays.
	if ev := b.do("part #den", "leave"); ev.str("room") != "lobby" || ev.str("left") != "den" {
		t.Fatalf("part #den: %v", ev)
	}
	a.expect("room", "event", "left", "room", "den", "user", "bob")
	b.fails("leave den", "leave", "not_in_room")
	b.do("leave", "leave")
	// In no room: plain lines and say have nowhere to go.
	b.fails("hello?", "say", "not_in_room")
	b.fails("topic", "topic", "not_in_room")
	if ev := b.do("rooms mine", "rooms"); ev["room"] != nil || len(ev["rooms"].([]any)) != 0 {
		t.Fatalf("rooms mine when in none: %v", ev)
	}
	// The one joined most recently becomes current when the current
	// room is left.
	a.do("join den", "join")
	if ev := a.do("leave", "leave"); ev.str("room") != "attic" {
		t.Fatalf("leave den: %v", ev)
	}
}

// Membership is kept in the database: a new login and a restart find the
// user in the same rooms, the one joined last current; kicks, room bans
// and close end it.
func TestMembershipSurvivesLoginAndRestart(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	for _, r := range []string{"den", "attic", "cellar", "vault"} {
		a.do("create "+r, "create")
		b.do("join "+r, "join")
	}
	b.do("leave lobby", "leave")
	a.send("say #attic before")
	a.expect("message", "room", "attic", "text", "before")
	b.send("logout")
	b.expect("bye")
	b, room, rooms := loginRooms(t, ts.addr, "bob")
	if room != "vault" || !slices.Equal(rooms, []string{"den", "attic", "cellar", "vault"}) {
		t.Fatalf("after login: %s %q", room, rooms)
	}
	// Each room's recent lines are replayed.
	if h := b.expect("message", "kind", "history", "room", "attic"); h.str("text") != "before" {
		t.Fatalf("replay: %v", h)
	}
	settleAll(a, b)
	a.do("join den", "join")
	a.do("kick bob", "kick")
	a.do("join attic", "join")
	a.do("roomban bob", "roomban")
	a.do("close cellar", "close")
	b.settle()
	if got := b.do("rooms mine", "rooms"); len(got["rooms"].([]any)) != 1 {
		t.Fatalf("rooms mine after kick, ban and close: %v", got)
	}
	ts = ts.restart()
	_, room, rooms = loginRooms(t, ts.addr, "bob")
	if room != "vault" || !slices.Equal(rooms, []string{"vault"}) {
		t.Fatalf("after restart: %s %q", room, rooms)
	}
}
