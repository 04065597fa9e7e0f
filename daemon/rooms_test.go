package daemon_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
)

// roomInfo is one entry of the rooms reply.
type roomInfo struct {
	name, owner, members string
	locked               bool
}

// rooms runs `rooms` and returns the entries by name, checking the shape of
// each: exactly name, owner, members, created, locked, topic.
func (c *client) rooms() map[string]roomInfo {
	c.t.Helper()
	ev := c.do("rooms", "rooms")
	list, ok := ev["rooms"].([]any)
	if !ok {
		c.t.Fatalf("rooms: no list in %v", ev)
	}
	out := map[string]roomInfo{}
	for _, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			c.t.Fatalf("rooms: entry %v", x)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if got := strings.Join(keys, ","); got != "created,limit,locked,members,modes,name,owner,topic" {
			c.t.Fatalf("rooms: entry keys %s in %v", got, m)
		}
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(m["created"])); err != nil {
			c.t.Fatalf("rooms: created %v", m["created"])
		}
		if _, ok := m["members"].([]any); !ok {
			c.t.Fatalf("rooms: members %v", m["members"])
		}
		owner := "<null>"
		if m["owner"] != nil {
			owner = m["owner"].(string)
		}
		r := roomInfo{name: m["name"].(string), owner: owner,
			members: strings.Join(event(m).strs("members"), ","), locked: m["locked"].(bool)}
		out[r.name] = r
	}
	return out
}

// roomOf returns the room check reports for c's user.
func (c *client) roomOf() string {
	c.t.Helper()
	return fmt.Sprint(c.do("check", "check")["info"].(map[string]any)["room"])
}

func TestCreateRoom(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password2")

	t.Run("OK", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		ev := a.do("create Den", "create")
		if ev.str("room") != "Den" || ev["locked"] != false {
			t.Fatalf("create: %v", ev)
		}
		// alice stays in the lobby too (PROTOCOL.md 9.3): nobody is told
		// she left it.
		if r := a.roomOf(); r != "Den" {
			t.Fatalf("creator is in %s", r)
		}
		rooms := b.rooms()
		if got := rooms["Den"]; got != (roomInfo{"Den", "alice", "alice", false}) {
			t.Fatalf("rooms Den = %+v", got)
		}
		if got := rooms["lobby"]; got != (roomInfo{"lobby", "<null>", "alice,bob", false}) {
			t.Fatalf("rooms lobby = %+v", got)
		}
	})
	t.Run("WithPassword", func(t *testing.T) {
		a := a.in(t)
		ev := a.do("/CREATE vault s3cret", "create")
		if ev.str("room") != "vault" || ev["locked"] != true {
			t.Fatalf("create: %v", ev)
		}
		if got := a.rooms()["vault"]; got != (roomInfo{"vault", "alice", "alice", true}) {
			t.Fatalf("rooms vault = %+v", got)
		}
		// alice is in vault now, and still a member of Den.
		if got := a.rooms()["Den"]; got != (roomInfo{"Den", "alice", "alice", false}) {
			t.Fatalf("rooms Den = %+v", got)
		}
	})
	errs := []struct{ name, line, code string }{
		{"ErrRoomExists", "create Den", "room_exists"},
		{"ErrRoomExistsOtherCase", "create dEN", "room_exists"},
		// The lobby always exists, so its name is taken (not bad_name).
		{"ErrRoomExistsLobby", "create lobby", "room_exists"},
		{"ErrRoomExistsLobbyUpper", "create LOBBY pw", "room_exists"},
		{"ErrBadNameDigit", "create 1room", "bad_name"},
		{"ErrBadNameShort", "create ab", "bad_name"},
		{"ErrBadNameLong", "create abcdefghijklmnopq", "bad_name"},
		{"ErrBadNameChars", "create den!", "bad_name"},
		{"ErrBadArgs", "create", "bad_args"},
		{"ErrBadArgsSpaceInPassword", "create attic two words", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { b.in(t).fails(tc.line, "create", tc.code) })
	}
	if r := b.roomOf(); r != "lobby" {
		t.Fatalf("failed creates moved bob to %s", r)
	}
}

func TestJoinLeave(t *testing.T) {
	// Room password failures lock like login failures; these cases make
	// three of them before the right password.
	ts := startServer(t, func(c *chatd.Config) { c.Lockout.Attempts = 10 })
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	ts.addUser("root", "password0", true)
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password2")
	r := login(t, ts.addr, "root", "password0")
	a.do("create vault pw123", "create")
	a.do("create den", "create")
	// Out of both again (PROTOCOL.md 9.3: a creator is a member).
	a.do("leave", "leave")
	a.do("leave vault", "leave")

	errs := []struct{ name, line, code string }{
		{"ErrNoSuchRoom", "join nowhere", "no_such_room"},
		{"ErrBadRoomPasswordMissing", "join vault", "bad_room_password"},
		{"ErrBadRoomPasswordWrong", "join vault pw124", "bad_room_password"},
		{"ErrBadRoomPasswordCase", "join vault PW123", "bad_room_password"},
		{"ErrBadArgs", "join", "bad_args"},
		{"ErrBadArgsExtra", "join vault pw123 more", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { b.in(t).fails(tc.line, "join", tc.code) })
	}
	t.Run("OK", func(t *testing.T) {
		b := b.in(t)
		if ev := b.do("join DEN", "join"); ev.str("room") != "den" {
			t.Fatalf("join DEN: %v", ev)
		}
		if got := b.rooms()["den"].members; got != "bob" {
			t.Fatalf("den members %s", got)
		}
		b.do("join den", "join") // already there: fine, nothing happens
	})
	t.Run("WithPassword", func(t *testing.T) {
		b := b.in(t)
		if ev := b.do("join vault pw123", "join"); ev.str("room") != "vault" {
			t.Fatalf("join vault: %v", ev)
		}
		if b.roomOf() != "vault" {
			t.Fatal("bob is not in vault")
		}
	})
	t.Run("OwnerNeedsNoPassword", func(t *testing.T) {
		a.in(t).do("join vault", "join")
		b.in(t).expect("room", "event", "joined", "room", "vault", "user", "alice")
	})
	t.Run("AdminNeedsNoPassword", func(t *testing.T) {
		r.in(t).do("join vault", "join")
		b.in(t).expect("room", "event", "joined", "room", "vault", "user", "root")
		if got := b.in(t).rooms()["vault"].members; got != "alice,bob,root" {
			t.Fatalf("vault members %s", got)
		}
	})
	t.Run("Leave", func(t *testing.T) {
		b := b.in(t)
		// Leaving vault makes den, joined before it, current again.
		if ev := b.do("leave", "leave"); ev.str("room") != "den" || ev.str("left") != "vault" {
			t.Fatalf("leave: %v", ev)
		}
		a.in(t).expect("room", "event", "left", "room", "vault", "user", "bob")
		if b.roomOf() != "den" {
			t.Fatal("bob is not in den")
		}
		if ev := b.do("/LEAVE", "leave"); ev.str("room") != "lobby" {
			t.Fatalf("leave den: %v", ev)
		}
		if ev := b.do("join lobby", "join"); ev.str("room") != "lobby" {
			t.Fatalf("join lobby: %v", ev)
		}
	})
}

func TestRoomChatReachesOnlyMembers(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	c := login(t, ts.addr, "carol", "password1")
	a.do("create den", "create")
	b.do("join den", "join")
	settleAll(a, b, c)

	a.send("in the den")
	for _, cl := range []*client{a, b} {
		m := cl.expect("message", "kind", "room", "room", "den", "from", "alice")
		if m.str("text") != "in the den" {
			t.Fatalf("%s got %v", cl.name, m)
		}
	}
	a.settle()
	c.nothingPending()

	// alice and bob are still members of the lobby: its lines reach them
	// too, tagged with its name.
	c.send("say in the lobby")
	for _, cl := range []*client{a, b, c} {
		cl.expect("message", "kind", "room", "room", "lobby", "from", "carol")
	}
}

// denWithAdmin starts a server where alice owns the room den, bob and
// carol are in it, and the server admin root is in the lobby, everyone
// settled.
func denWithAdmin(t *testing.T) (ts *testServer, a, b, c, r *client) {
	t.Helper()
	ts = startServer(t)
	ts.addUsers("alice", "bob", "carol")
	ts.addUser("root", "password0", true)
	a = login(t, ts.addr, "alice", "password1")
	b = login(t, ts.addr, "bob", "password1")
	c = login(t, ts.addr, "carol", "password1")
	r = login(t, ts.addr, "root", "password0")
	a.do("create den", "create")
	b.do("join den", "join")
	c.do("join den", "join")
	settleAll(a, b, c, r)
	return ts, a, b, c, r
}

func TestCloseRoom(t *testing.T) {
	_, a, b, c, r := denWithAdmin(t)

	errs := []struct {
		name string
		who  *client
		line string
		code string
	}{
		{"ErrNotPermittedMember", c, "close", "not_permitted"},
		{"ErrNotPermittedByName", b, "close den", "not_permitted"},
		{"ErrNotPermittedLobby", a, "close lobby", "not_permitted"},
		{"ErrNotPermittedLobbyAdmin", r, "close", "not_permitted"}, // root is in the lobby
		{"ErrNoSuchRoom", a, "close nowhere", "no_such_room"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { tc.who.in(t).fails(tc.line, "close", tc.code) })
	}

	t.Run("Owner", func(t *testing.T) {
		a, b, c := a.in(t), b.in(t), c.in(t)
		a.send("close")
		// Members, the owner included, hear of it first; then the owner's ok.
		a.expect("room", "event", "closed", "room", "den", "user", "alice")
		if ev := a.expect("ok", "cmd", "close"); ev.str("room") != "den" {
			t.Fatalf("close: %v", ev)
		}
		for _, cl := range []*client{a, b, c} {
			if cl != a {
				cl.expect("room", "event", "closed", "room", "den", "user", "alice")
			}
			if got := cl.roomOf(); got != "lobby" {
				t.Fatalf("%s is in %s after close", cl.name, got)
			}
		}
		if _, ok := a.rooms()["den"]; ok {
			t.Fatal("den is still listed")
		}
		b.fails("join den", "join", "no_such_room")
		if got := a.rooms()["lobby"].members; got != "alice,bob,carol,root" {
			t.Fatalf("lobby members %s", got)
		}
		// The name is free again.
		b.do("create den", "create")
		b.do("leave", "leave")
	})
	t.Run("Admin", func(t *testing.T) {
		a := a.in(t)
		a.do("create attic", "create")
		r.in(t).do("close ATTIC", "close")
		a.expect("room", "event", "closed", "room", "attic", "user", "root")
		if got := a.roomOf(); got != "lobby" {
			t.Fatalf("alice is in %s", got)
		}
	})
}

func TestRoomOwnerKick(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol", "dave")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	c := login(t, ts.addr, "carol", "password1")
	l := login(t, ts.addr, "dave", "password1") // stays in the lobby
	a.do("create den", "create")
	b.do("join den", "join")
	c.do("join den", "join")
	settleAll(a, b, c, l)

	errs := []struct {
		name string
		who  *client
		line string
		code string
	}{
		{"ErrNotPermittedMember", c, "kick bob", "not_permitted"},
		{"ErrNotPermittedLobby", a, "kick dave", "not_permitted"}, // dave is not in alice's room
		{"ErrSelf", a, "kick ALICE", "self"},
		{"ErrNoSuchUser", a, "kick nobody", "no_such_user"},
		{"ErrBadArgs", a, "kick", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { tc.who.in(t).fails(tc.line, "kick", tc.code) })
	}
	t.Run("OK", func(t *testing.T) {
		a, b, c := a.in(t), b.in(t), c.in(t)
		a.send("kick BOB too loud")
		for _, cl := range []*client{a, b, c} {
			ev := cl.expect("room", "event", "kicked", "room", "den", "user", "bob")
			if ev.str("by") != "alice" || ev.str("reason") != "too loud" {
				t.Fatalf("%s: kick event %v", cl.name, ev)
			}
		}
		if ev := a.expect("ok", "cmd", "kick"); ev.str("user") != "bob" {
			t.Fatalf("kick: %v", ev)
		}
		if got := b.roomOf(); got != "lobby" {
			t.Fatalf("bob is in %s", got)
		}
		// Still connected, and may come back.
		b.do("join den", "join")
		a.expect("room", "event", "joined", "room", "den", "user", "bob")
	})
	t.Run("ErrNoSuchUserOffline", func(t *testing.T) {
		l := l.in(t)
		l.send("logout")
		l.expect("bye")
		a.in(t).expect("presence", "user", "dave", "event", "logout")
		a.in(t).fails("kick dave", "kick", "no_such_user")
	})
}

func TestHistoryOnJoin(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Messages.HistoryOnJoin = 3 })
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.do("create den", "create")
	for i := 1; i <= 5; i++ {
		a.send(fmt.Sprintf("line %d", i))
	}
	waitHistory(t, ts, "den", "line 5")
	b.settle()

	b.send("join den")
	b.expectNext("ok", "cmd", "join")
	for i := 3; i <= 5; i++ {
		m := b.expectNext("message", "kind", "history", "room", "den", "from", "alice")
		if m.str("text") != fmt.Sprintf("line %d", i) || m.str("ts") == "" {
			t.Fatalf("history %d: %v", i, m)
		}
	}
	b.nothingPending()

	// The lobby's history is replayed at login.
	b.do("leave", "leave")
	b.send("lobby line")
	waitHistory(t, ts, "lobby", "lobby line")
	c := dial(t, ts.addr)
	c.attempt("carol", "password1")
	m := c.expectNext("message", "kind", "history", "room", "lobby", "from", "bob")
	if m.str("text") != "lobby line" {
		t.Fatalf("login history: %v", m)
	}

	// History survives a restart, and goes with the room when it is closed.
	ts = ts.restart()
	b = login(t, ts.addr, "bob", "password1")
	b.settle() // the lobby's history
	b.send("join den")
	b.expectNext("ok", "cmd", "join")
	b.expectNext("message", "kind", "history", "text", "line 3")
	a = login(t, ts.addr, "alice", "password1")
	a.do("close den", "close")
	a.do("create den", "create")
	a.settle() // alice is in the new den
	b.do("join den", "join")
	b.nothingPending()
}

func TestHistoryOnJoinSkipsBlockedSenders(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password2")
	a.do("block bob", "block")
	b.do("create den", "create")
	b.send("from bob")
	waitHistory(t, ts, "den", "from bob")
	settleAll(a, b)
	a.send("join den")
	a.expectNext("ok", "cmd", "join")
	a.nothingPending()
}

func TestRoomsPersistAcrossRestart(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	a.do("create den", "create")
	a.do("create vault pw123", "create")
	before := a.rooms()
	ts = ts.restart()

	b := login(t, ts.addr, "bob", "password2")
	after := b.rooms()
	if len(after) != 3 {
		t.Fatalf("rooms after restart: %v", after)
	}
	if after["den"] != (roomInfo{"den", "alice", "", false}) || after["vault"] != (roomInfo{"vault", "alice", "", true}) {
		t.Fatalf("rooms after restart: %v (before %v)", after, before)
	}
	b.fails("join vault", "join", "bad_room_password")
	b.fails("join vault pw12", "join", "bad_room_password")
	b.do("join vault pw123", "join")
	b.fails("close", "close", "not_permitted")

	// Ownership survived too.
	a = login(t, ts.addr, "alice", "password1")
	a.do("join vault", "join")
	a.do("close vault", "close")
	b.expect("room", "event", "closed", "room", "vault", "user", "alice")
}

// TestJoinReplyMeansJoined: once a client reads the ok to its join, it is a
// member, so a line a member says right then reaches it. The reply used to
// be queued before the move, and a fast writer could deliver it before the
// joiner was in the room.
func TestJoinReplyMeansJoined(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	bob := login(t, ts.addr, "bob", "password1")
	bob.send("create den")
	bob.expect("ok", "cmd", "create")
	alice := login(t, ts.addr, "alice", "password1")
	for i := range 40 {
		alice.send("join den")
		alice.expect("ok", "cmd", "join")
		line := fmt.Sprintf("round %d", i)
		bob.send(line)
		alice.expect("message", "kind", "room", "text", line)
		alice.send("leave")
		alice.expect("ok", "cmd", "leave")
	}
}

// TestJoinWhileCreating: people joining a room the moment it is created
// stay in it. Creating used to empty the new room of anyone in it (meant
// for a room deleted behind the daemon's back), so a join that landed
// between the creation and that sweep was thrown back to the lobby.
func TestJoinWhileCreating(t *testing.T) {
	ts := startServer(t)
	names := []string{"owner", "amy", "ben", "cat", "dan"}
	ts.addUsers(names...)
	var cs []*client
	for _, n := range names {
		cs = append(cs, login(t, ts.addr, n, "password1"))
	}
	for round := range 15 {
		room := fmt.Sprintf("room%d", round)
		// The joiners keep trying until the room exists.
		var wg sync.WaitGroup
		for _, c := range cs[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					c.send("join " + room)
					ev := c.next()
					for ev.str("type") != "ok" && ev.str("type") != "error" {
						ev = c.next()
					}
					if ev.str("type") == "ok" {
						return
					}
				}
				t.Errorf("%s never got into %s", c.name, room)
			}()
		}
		cs[0].send("create " + room)
		cs[0].expect("ok", "cmd", "create")
		wg.Wait()
		cs[0].send("names")
		got := cs[0].expect("ok", "cmd", "names").strs("users")
		if len(got) != len(names) {
			t.Fatalf("round %d: %s holds %v, want all %d who joined", round, room, got, len(names))
		}
		cs[0].send("close") // everyone back to the lobby; owners may keep only a few rooms
		cs[0].expect("ok", "cmd", "close")
		for _, c := range cs[1:] {
			c.expect("room", "event", "closed", "room", room)
		}
	}
}

// TestCloseRoomTellsMembersOnceMoved checks that a member who reads the
// "closed" event is already in the lobby: a command sent the moment it
// arrives must not find them in the room that is gone. The members are
// checked last first, since the server moves them in join order.
func TestCloseRoomTellsMembersOnceMoved(t *testing.T) {
	const n = 30
	ts := startServer(t, func(c *chatd.Config) { c.Server.MaxConnectionsPerIP = n })
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("member%02d", i)
	}
	ts.addUsers(names...)
	cs := make([]*client, n)
	for i, name := range names {
		cs[i] = login(t, ts.addr, name, "password1")
	}
	cs[0].do("create den", "create")
	for _, c := range cs[1:] {
		c.do("join den", "join")
	}
	settleAll(cs...)
	cs[0].send("close")
	for i := n - 1; i >= 0; i-- {
		c := cs[i]
		c.expect("room", "event", "closed", "room", "den")
		if got := c.roomOf(); got != chatd.Lobby {
			t.Fatalf("%s read that den was closed but is still in %s", c.name, got)
		}
	}
}
