package daemon_test

import (
	"context"
	"strings"
	"testing"

	"chatd"
)

// multiServer is a daemon with duplicate_login = "multi" and the web
// listener on, at most max sessions per account; alice and bob exist.
func multiServer(t *testing.T, max int) (ts *testServer, web string) {
	t.Helper()
	ts, web = startWeb(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.Accounts.MaxSessions = max
	})
	ts.addUsers("alice", "bob")
	return ts, web
}

// TestMultiDevice: alice on TCP and on a WebSocket at once. What each of
// her sessions says shows on the other, what is addressed to her reaches
// both, and everyone else sees her once: one login, one entry in who, one
// logout when the last session ends.
func TestMultiDevice(t *testing.T) {
	ts, web := multiServer(t, 2)
	bob := login(t, ts.addr, "bob", "password1")
	a1 := login(t, ts.addr, "alice", "password1")
	bob.expect("presence", "user", "alice", "event", "login")
	a2 := wsLogin(t, web, "alice", "password1", nil)
	// The first device hears of the second, with its address.
	if n := a1.expect("notice"); !strings.Contains(n.str("text"), "127.0.0.1") || n.str("id") == "" {
		t.Fatalf("notice of the new session: %v", n)
	}
	bob.nothingPending() // no second login

	t.Run("RoomLines", func(t *testing.T) {
		a1 := a1.in(t)
		a2 := a2.in(t)
		a1.send("hello from tcp")
		a2.expect("message", "kind", "room", "from", "alice", "text", "hello from tcp")
		bob.in(t).expect("message", "kind", "room", "from", "alice", "text", "hello from tcp")
		a2.send("hello from the web")
		a1.expect("message", "kind", "room", "from", "alice", "text", "hello from the web")
		bob.in(t).expect("message", "kind", "room", "from", "alice", "text", "hello from the web")
	})
	t.Run("PrivateToHer", func(t *testing.T) {
		bob := bob.in(t)
		bob.send("send alice psst")
		bob.expect("delivery", "to", "alice", "status", "delivered")
		m1 := a1.in(t).expect("message", "kind", "private", "from", "bob", "text", "psst")
		m2 := a2.in(t).expect("message", "kind", "private", "from", "bob", "text", "psst")
		if m1.str("id") == "" || m1.str("id") != m2.str("id") {
			t.Errorf("ids differ: %v / %v", m1, m2)
		}
	})
	t.Run("PrivateFromHer", func(t *testing.T) {
		a1 := a1.in(t)
		a1.send("send bob reply")
		d := a1.expect("delivery", "to", "bob", "status", "delivered")
		bob.in(t).expect("message", "kind", "private", "from", "alice", "text", "reply")
		// Her other device shows what she sent, as bob got it.
		c := a2.in(t).expect("message", "kind", "private", "from", "alice", "text", "reply")
		if to := c.strs("to"); len(to) != 1 || to[0] != "bob" || c.str("id") != d.str("id") {
			t.Errorf("copy to the other device: %v (delivery %v)", c, d)
		}
		a1.nothingPending() // no copy to the sending session itself
	})
	t.Run("Blocks", func(t *testing.T) {
		// A block made on one device holds for the other.
		a2.in(t).do("block bob", "block")
		bob := bob.in(t)
		bob.send("send alice are you there")
		bob.expect("delivery", "to", "alice", "status", "blocked")
		a1.in(t).nothingPending()
		a1.in(t).do("unblock bob", "unblock")
		bob.send("send alice now?")
		bob.expect("delivery", "to", "alice", "status", "delivered")
		a2.in(t).expect("message", "kind", "private", "from", "bob", "text", "now?")
	})
	t.Run("WhoAndCheck", func(t *testing.T) {
		bob := bob.in(t)
		if got := bob.users("who", "who"); got != "alice,bob" {
			t.Errorf("who = %s", got)
		}
		info, _ := bob.do("check alice", "check")["info"].(map[string]any)
		if info["sessions"] != float64(2) || info["online"] != true {
			t.Errorf("check alice: %v", info)
		}
		info, _ = bob.do("check bob", "check")["info"].(map[string]any)
		if info["sessions"] != float64(1) {
			t.Errorf("check bob: %v", info)
		}
	})
	t.Run("MaxSessions", func(t *testing.T) {
		c := dial(t, ts.addr)
		if e := c.attempt("alice", "password1"); e.str("code") != "too_many_sessions" {
			t.Fatalf("third session: %v", e)
		}
		c.expectNext("prompt", "field", "username")
	})
	t.Run("LogoutOnce", func(t *testing.T) {
		bob := bob.in(t)
		a2 := a2.in(t)
		a2.send("logout")
		a2.expect("bye", "reason", "logout")
		bob.nothingPending() // alice is still online
		if got := bob.users("who", "who"); got != "alice,bob" {
			t.Errorf("who with one session left = %s", got)
		}
		a1 := a1.in(t)
		a1.send("logout")
		a1.expect("bye", "reason", "logout")
		bob.expect("presence", "user", "alice", "event", "logout")
		bob.nothingPending()
	})
}

// TestMultiDeviceKick: an admin's kick ends every session of the user, and
// the others see one logout.
func TestMultiDeviceKick(t *testing.T) {
	ts, web := multiServer(t, 5)
	ts.addUser("root", "password0", true)
	root := login(t, ts.addr, "root", "password0")
	a1 := login(t, ts.addr, "alice", "password1")
	a2 := wsLogin(t, web, "alice", "password1", nil)
	root.expect("presence", "user", "alice", "event", "login")
	root.nothingPending()

	// A room owner's kick finds her session in the owner's room, though
	// her first session (the one that stands for her) is in the lobby.
	bob := login(t, ts.addr, "bob", "password1")
	bob.do("create den", "create")
	a2.do("join den", "join")
	bob.do("kick alice", "kick")
	a2.expect("room", "event", "kicked", "room", "den", "user", "alice")

	root.do("kick alice", "kick")
	a1.expect("bye", "reason", "kicked")
	a2.expect("bye", "reason", "kicked")
	a1.closed()
	a2.closed()
	root.expect("presence", "user", "alice", "event", "kicked")
	root.nothingPending()
}

// heldSearchStore holds every room search until release is closed, and
// says on started when one has begun.
type heldSearchStore struct {
	chatd.Store
	started chan struct{}
	release chan struct{}
}

func (s heldSearchStore) SearchHistory(ctx context.Context, room, query string, n, keep int) ([]chatd.HistoryLine, error) {
	s.started <- struct{}{}
	<-s.release
	return s.Store.SearchHistory(ctx, room, query, n, keep)
}

// A user runs one search at a time, however many devices: a second
// device's search while the first runs is refused at once; another
// user's is not.
func TestOneSearchPerUser(t *testing.T) {
	cfg := testConfig(t)
	cfg.Accounts.DuplicateLogin = "multi"
	held := heldSearchStore{started: make(chan struct{}, 4), release: make(chan struct{})}
	ts := startWrapped(t, cfg, &clock{}, func(s chatd.Store) chatd.Store { held.Store = s; return held })
	ts.addUsers("alice", "bob")
	phone := login(t, ts.addr, "alice", "password1")
	laptop := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	phone.send("search hello")
	<-held.started
	laptop.send("search hello")
	laptop.expectError("search", "server_busy")
	bob.send("search hello")
	<-held.started
	close(held.release)
	phone.expect("ok", "cmd", "search")
	bob.expect("ok", "cmd", "search")
	laptop.send("search hello")
	<-held.started
	laptop.expect("ok", "cmd", "search")
}
