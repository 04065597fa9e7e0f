package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chatd"
)

// Presence at scale (PROTOCOL.md 13).

// members makes the users members of room only (out of the lobby, in
// which every account starts), creating room, owned by its first user,
// unless it is the lobby or "".
func (ts *testServer) members(room string, users ...string) {
	ts.t.Helper()
	ctx := context.Background()
	if room != "" {
		err := ts.store.CreateRoomLimited(ctx, chatd.Room{Name: room, Owner: users[0], Created: time.Now()}, 0, 0)
		if err != nil && chatd.ErrorCode(err) != chatd.ERoomExists {
			ts.t.Fatal(err)
		}
	}
	for _, u := range users {
		if _, err := ts.store.RemoveMember(ctx, u, chatd.Lobby); err != nil {
			ts.t.Fatal(err)
		}
		if room != "" {
			if err := ts.store.AddMember(ctx, u, room, time.Now(), 0); err != nil {
				ts.t.Fatal(err)
			}
		}
	}
}

// hears reads c's events up to the presence event of user, which must
// come before the reply to a `time` c sends afterwards.
func (c *client) hears(user, what string) {
	c.t.Helper()
	c.send("time")
	for {
		ev := c.next()
		if ev.str("type") == "presence" && ev.str("user") == user && ev.str("event") == what {
			c.expect("ok", "cmd", "time")
			return
		}
		if ev.str("type") == "ok" && ev.str("cmd") == "time" {
			c.t.Fatalf("%s: no %s of %s before the reply to time (skipped: %v)", c.name, what, user, c.seen)
		}
		c.seen = append(c.seen, ev)
	}
}

// hearsNothing asserts that c has no presence event of user queued: the
// reply to a `time` sent now comes first. Call it once the change has
// been shown to someone of this node (the fan-out queues to everyone at
// once).
func (c *client) hearsNothing(user string) {
	c.t.Helper()
	c.send("time")
	for {
		ev := c.next()
		if ev.str("type") == "ok" && ev.str("cmd") == "time" {
			return
		}
		if ev.str("type") == "presence" && ev.str("user") == user {
			c.t.Fatalf("%s: unexpected presence event: %v", c.name, ev)
		}
	}
}

// Above presence.everyone_limit a login, away and logout reach the
// user's watchers and the members of the user's small rooms, and nobody
// else; at or below it, everyone. A reload changes the limit live.
func TestPresenceAboveEveryoneLimit(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Presence.EveryoneLimit = 3 })
	ts.addUsers("alice", "bob", "carol", "dave", "eve")
	ts.members("den", "bob", "eve")
	ts.members("", "alice", "carol", "dave")

	alice := login(t, ts.addr, "alice", "password1")
	alice.do("watch eve", "watch")
	bob := login(t, ts.addr, "bob", "password1")
	alice.hears("bob", "login")
	carol := login(t, ts.addr, "carol", "password1")
	// The third user online: still everyone hears.
	alice.hears("carol", "login")
	bob.hears("carol", "login")
	dave := login(t, ts.addr, "dave", "password1")
	// The fourth, with no watcher and no room: nobody hears.
	eve := login(t, ts.addr, "eve", "password1")
	alice.hears("eve", "login") // a watcher
	bob.hears("eve", "login")   // a member of a small room of hers
	carol.hearsNothing("dave")
	carol.hearsNothing("eve")
	dave.hearsNothing("eve")

	eve.do("away lunch", "away")
	alice.hears("eve", "away")
	bob.hears("eve", "away")
	carol.hearsNothing("eve")
	eve.do("back", "back")
	alice.hears("eve", "back")
	carol.hearsNothing("eve")

	eve.send("logout")
	eve.expect("bye")
	alice.hears("eve", "logout")
	bob.hears("eve", "logout")
	carol.hearsNothing("eve")
	dave.hearsNothing("eve")

	// Raised by a reload, the limit is above the count again: everyone
	// hears.
	cfg := ts.cfg
	cfg.Presence.EveryoneLimit = 10
	if _, err := ts.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	login(t, ts.addr, "eve", "password1")
	carol.hears("eve", "login")
	dave.hears("eve", "login")
}

// welcome logs name in and returns the client and its welcome.
func welcome(t *testing.T, addr, name string) (*client, event) {
	t.Helper()
	c := dial(t, addr)
	c.name = name
	c.send(name)
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	return c, c.expect("welcome", "user", name)
}

// At or below presence.everyone_limit the welcome lists everyone online;
// above it only whom the user hears of (watched users, members of small
// rooms) and the user, with online_count counting everyone.
func TestWelcomeAboveEveryoneLimit(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Presence.EveryoneLimit = 3
		c.Rooms.PresenceLimit = 2
	})
	ts.addUsers("alice", "bob", "carol", "dave", "eve", "frank")
	ts.members("den", "bob", "eve")
	ts.members("", "alice")
	if _, err := ts.store.Watch(context.Background(), "eve", "alice"); err != nil {
		t.Fatal(err)
	}
	check := func(ev event, online string, count float64) {
		t.Helper()
		if got := fmt.Sprint(ev.strs("online")); got != online {
			t.Errorf("%s: online %s, want %s", ev.str("user"), got, online)
		}
		n, has := ev["online_count"]
		if count == 0 && has {
			t.Errorf("%s: online_count %v at or below the limit", ev.str("user"), n)
		}
		if count != 0 && n != count {
			t.Errorf("%s: online_count %v, want %v", ev.str("user"), n, count)
		}
	}
	_, w := welcome(t, ts.addr, "alice")
	check(w, "[alice]", 0)
	welcome(t, ts.addr, "bob")
	_, w = welcome(t, ts.addr, "carol") // the third: the limit, not above
	check(w, "[alice bob carol]", 0)
	// Above: the lobby (carol and dave) is still small.
	_, w = welcome(t, ts.addr, "dave")
	check(w, "[carol dave]", 4)
	// The lobby is large now: its members are no peers.
	_, w = welcome(t, ts.addr, "frank")
	check(w, "[frank]", 5)
	// A watched user and a small room's member.
	_, w = welcome(t, ts.addr, "eve")
	check(w, "[alice bob eve]", 6)
}

// nextRoomEvent reads c's events up to the next room event, allowing for
// the wait of a coalesced count.
func (c *client) nextRoomEvent() event {
	c.t.Helper()
	for {
		ev, err := c.tryNext(3 * roomCountEvery)
		if err != nil {
			c.t.Fatalf("%s: no room event: %v", c.name, err)
		}
		if ev.str("type") == "room" {
			return ev
		}
	}
}

// roomCountEvery is daemon.roomCountEvery.
const roomCountEvery = 10 * time.Second

// A room with more than rooms.presence_limit members online is large: its
// members hear the count, coalesced, instead of joins and leaves; its
// owner and server admins still hear each join.
func TestLargeRoomShowsCount(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Rooms.PresenceLimit = 3 })
	ts.addUsers("owner", "m1", "m2", "m3", "m4")
	ts.addUser("root", "password0", true)
	ts.members("den", "owner", "m1", "root")
	ts.members("", "m2", "m3", "m4")

	owner := login(t, ts.addr, "owner", "password1")
	m1 := login(t, ts.addr, "m1", "password1")
	root := login(t, ts.addr, "root", "password0")
	m2 := login(t, ts.addr, "m2", "password1")
	m3 := login(t, ts.addr, "m3", "password1")
	m4 := login(t, ts.addr, "m4", "password1")

	// The fourth member online: the room is large from this join on.
	m2.do("join den", "join")
	if ev := m1.nextRoomEvent(); ev.str("event") != "members" || ev["count"] != 4.0 || ev.str("room") != "den" {
		t.Fatalf("m1: want the count 4 of den, got %v", ev)
	}
	owner.expect("room", "event", "joined", "user", "m2")
	root.expect("room", "event", "joined", "user", "m2")
	m3.do("join den", "join")
	m4.do("join den", "join")
	m4.do("leave den", "leave")
	owner.expect("room", "event", "joined", "user", "m3")
	owner.expect("room", "event", "joined", "user", "m4")
	owner.expect("room", "event", "left", "user", "m4")
	root.expect("room", "event", "joined", "user", "m4")
	root.expect("room", "event", "left", "user", "m4")
	// Two more joins and a leave within the interval: one count, the
	// newest, and no join or leave.
	if ev := m2.nextRoomEvent(); ev.str("event") != "members" || ev["count"] != 4.0 {
		t.Fatalf("m2: want the count 4 of den it made large, got %v", ev)
	}
	for _, c := range []*client{m1, m2} {
		if ev := c.nextRoomEvent(); ev.str("event") != "members" || ev["count"] != 5.0 {
			t.Fatalf("%s: want one count 5 of den after two joins and a leave, got %v", c.name, ev)
		}
	}
}

// watch, unwatch and watching: persisted across a restart, with the
// state of each user watched, at most chatd.MaxWatching.
func TestWatchersPersist(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "Bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	if ev := alice.do("watch bob", "watch"); ev.str("user") != "Bob" {
		t.Fatalf("watch answered %v", ev)
	}
	alice.do("watch bob", "watch")
	alice.do("watch carol", "watch")
	alice.fails("watch alice", "watch", "self")
	alice.fails("watch ghost", "watch", "no_such_user")
	alice.fails("watch", "watch", "bad_args")
	bob := login(t, ts.addr, "Bob", "password1")
	bob.do("away lunch", "away")
	ev := alice.do("watching", "watching")
	if got := fmt.Sprint(ev["users"]); got != "[map[away:lunch state:away user:Bob] map[away:<nil> state:offline user:carol]]" {
		t.Fatalf("watching = %s", got)
	}

	ts = ts.restart()
	alice = login(t, ts.addr, "alice", "password1")
	alice.do("unwatch carol", "unwatch")
	ev = alice.do("watching", "watching")
	if got := fmt.Sprint(ev["users"]); got != "[map[away:<nil> state:offline user:Bob]]" {
		t.Fatalf("watching after a restart = %s", got)
	}
	if ev := alice.do("unwatch carol", "unwatch"); ev.str("text") != "you were not watching carol" {
		t.Fatalf("second unwatch: %v", ev)
	}

	ctx := context.Background()
	for i := range chatd.MaxWatching - 1 {
		name := fmt.Sprintf("u%03d", i)
		if _, err := ts.store.CreateUser(ctx, name, "x", false); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.store.Watch(ctx, "alice", name); err != nil {
			t.Fatal(err)
		}
	}
	alice.fails("watch carol", "watch", "too_many_watched")
	alice.do("unwatch u000", "unwatch")
	alice.do("watch carol", "watch")
}

// In a cluster presence.everyone_limit counts the whole community: a
// node with few users of its own scopes a login once the community is
// above it, and a watcher or room member on another node still hears it.
func TestClusterEveryoneLimitCountsCommunity(t *testing.T) {
	n := threeNodes(t, func(c *chatd.Config) { c.Presence.EveryoneLimit = 3 })
	n[0].addUsers("eve")
	n[0].members("den", "bob", "eve")
	n[0].members("side", "carol", "dave")
	n[0].members("", "alice")
	if _, err := n[0].store.Watch(context.Background(), "alice", "eve"); err != nil {
		t.Fatal(err)
	}
	alice := login(t, n[0].addr, "alice", "password1")
	bob := login(t, n[0].addr, "bob", "password1")
	carol := login(t, n[1].addr, "carol", "password1")
	dave := login(t, n[1].addr, "dave", "password1")
	carol.expect("presence", "user", "dave", "event", "login")
	// Alone on its node, and the fifth user of the community.
	login(t, n[2].addr, "eve", "password1")
	alice.expect("presence", "user", "eve", "event", "login")
	bob.expect("presence", "user", "eve", "event", "login")
	dave.send("say hi")
	noPresence(t, carol.upTo("hi"), "eve")
}

// In a cluster a room's size counts its members on every node: a join on
// a node where the room has nobody else finds it large by the others'
// members (counted at their heartbeats, hence the retries).
func TestClusterLargeRoomCountsCommunity(t *testing.T) {
	n := threeNodes(t, func(c *chatd.Config) { c.Rooms.PresenceLimit = 2 })
	n[0].members("den", "carol", "alice", "bob") // carol, the owner, stays away
	alice := login(t, n[0].addr, "alice", "password1")
	login(t, n[1].addr, "bob", "password1")
	dave := login(t, n[2].addr, "dave", "password1")
	for try := 1; ; try++ {
		dave.do("join den", "join")
		ev := alice.nextRoomEvent()
		if ev.str("event") == "members" {
			if ev["count"] != 3.0 {
				t.Fatalf("count of den = %v, want 3", ev)
			}
			return
		}
		if try == 30 {
			t.Fatalf("dave's join into den was still announced, not counted: %v", ev)
		}
		dave.do("leave den", "leave")
		alice.expect("room", "event", "left", "user", "dave")
		time.Sleep(200 * time.Millisecond)
	}
}
