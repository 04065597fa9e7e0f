package daemon_test

import (
	"fmt"
	"strings"
	"testing"

	"chatd"
)

// presenceLog reads c's events until it has n of the kinds the order tests
// follow (presence, room events and room messages), as short strings.
func presenceLog(c *client, n int) []string {
	c.t.Helper()
	var got []string
	for len(got) < n {
		ev := c.next()
		switch ev.str("type") {
		case "presence":
			got = append(got, ev.str("event")+" "+ev.str("user"))
		case "room":
			got = append(got, ev.str("event")+" "+ev.str("user")+" "+ev.str("room"))
		case "message":
			got = append(got, "say "+ev.str("from")+" "+ev.str("text"))
		}
	}
	return got
}

func samePresenceLog(t *testing.T, got, want []string) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %q, want %q\ngot  %q\nwant %q", i, got[i], want[i], got, want)
		}
	}
}

// Presence events wait a little to share a write with the next ones; a
// chat line queued meanwhile must not overtake them, and they must not
// overtake it. Each step below is queued to the watcher only after the
// one before it was (the client that caused it saw its answer), so the
// watcher must read them in exactly this order.
func TestPresenceKeepsOrderWithChat(t *testing.T) {
	ts := startServer(t)
	const n = 6
	names := []string{"watcher", "talker"}
	for i := range n {
		names = append(names, fmt.Sprintf("u%d", i))
	}
	ts.addUsers(names...)
	w := login(t, ts.addr, "watcher", "password1")
	a := login(t, ts.addr, "talker", "password1")
	w.expect("presence", "user", "talker", "event", "login")

	var want []string
	for i := range n {
		u := fmt.Sprintf("u%d", i)
		// The login is queued to the watcher before the welcome is.
		c := login(t, ts.addr, u, "password1")
		want = append(want, "login "+u)
		a.send(fmt.Sprintf("say m%d", i))
		a.expect("message", "from", "talker", "text", fmt.Sprintf("m%d", i))
		want = append(want, fmt.Sprintf("say talker m%d", i))
		// The logout is queued to the others before the bye.
		c.send("logout")
		c.expect("bye")
		want = append(want, "logout "+u)
	}
	samePresenceLog(t, presenceLog(w, len(want)), want)
}

// The same for joins and leaves: a member sees a joiner join before the
// joiner's first line, and leave after its last.
func TestRoomPresenceKeepsOrderWithChat(t *testing.T) {
	ts := startServer(t)
	const n = 6
	names := []string{"watcher"}
	for i := range n {
		names = append(names, fmt.Sprintf("u%d", i))
	}
	ts.addUsers(names...)
	var users []*client
	for _, name := range names {
		users = append(users, login(t, ts.addr, name, "password1"))
	}
	w := users[0]
	w.send("create den")
	w.expect("ok", "cmd", "create")

	var want []string
	for i, c := range users[1:] {
		u := names[i+1]
		c.send("join den")
		c.expect("ok", "cmd", "join")
		want = append(want, "joined "+u+" den")
		for j := range 3 {
			c.send(fmt.Sprintf("say %s-%d", u, j))
			want = append(want, fmt.Sprintf("say %s %s-%d", u, u, j))
		}
		// A join is announced after its answer is queued, but before the
		// joiner's next command runs.
		c.send("leave den", "who")
		c.expect("ok", "cmd", "who")
		want = append(want, "left "+u+" den")
	}
	samePresenceLog(t, presenceLog(w, len(want)), want)
}

// The welcome lists everyone online in name order (case-insensitive),
// whatever order they came in and after some have left or been replaced:
// the hub keeps that list sorted as users come and go.
func TestWelcomeListStaysSorted(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "replace" })
	names := []string{"mike", "Alice", "zed", "bob", "Carl", "dora"}
	ts.addUsers(names...)
	var cs []*client
	for _, n := range names[:5] {
		cs = append(cs, login(t, ts.addr, n, "password1"))
	}
	cs[3].send("logout") // bob
	cs[3].expect("bye")
	login(t, ts.addr, "zed", "password1") // replaces zed's first session
	cs[2].expect("bye")
	login(t, ts.addr, "dora", "password1")
	// mike again, replacing his session: the list he is welcomed with
	// has him once.
	c := dial(t, ts.addr)
	c.send("mike")
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	got := strings.Join(c.expect("welcome").strs("online"), ",")
	if want := "Alice,Carl,dora,mike,zed"; got != want {
		t.Fatalf("online = %s, want %s", got, want)
	}
}
