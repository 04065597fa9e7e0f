package daemon_test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
)

// ---- helpers shared by commands_test.go, rooms_test.go and admin_test.go ----

// in returns a copy of c that reports failures to t, for use in a subtest
// (FailNow must be called from the goroutine running the test it fails).
func (c *client) in(t *testing.T) *client {
	cc := *c
	cc.t = t
	return &cc
}

// do sends line and returns the ok reply for cmd; an error reply fails the
// test at once instead of waiting for a timeout. Other events are skipped.
func (c *client) do(line, cmd string) event {
	c.t.Helper()
	c.send(line)
	for {
		ev := c.next()
		switch {
		case ev.str("type") == "ok" && ev.str("cmd") == cmd:
			return ev
		case ev.str("type") == "error":
			c.t.Fatalf("%s: %q: want ok %s, got %v", c.name, line, cmd, ev)
		}
		c.seen = append(c.seen, ev)
	}
}

// fails sends line and asserts that the reply is the error cmd/code; an ok
// reply for cmd fails the test at once.
func (c *client) fails(line, cmd, code string) event {
	c.t.Helper()
	c.send(line)
	for {
		ev := c.next()
		switch {
		case ev.str("type") == "error":
			if ev.str("code") != code || ev.str("cmd") != cmd {
				c.t.Fatalf("%s: %q: want error %s/%s, got %v", c.name, line, cmd, code, ev)
			}
			return ev
		case ev.str("type") == "ok" && ev.str("cmd") == cmd:
			c.t.Fatalf("%s: %q: want error %s/%s, got %v", c.name, line, cmd, code, ev)
		}
		c.seen = append(c.seen, ev)
	}
}

// users runs a who-like command and returns its users joined with commas.
func (c *client) users(line, cmd string) string {
	c.t.Helper()
	return strings.Join(c.do(line, cmd).strs("users"), ",")
}

var markerSeq atomic.Int64

func nextMarker() string { return fmt.Sprintf("marker-%d", markerSeq.Add(1)) }

// settle makes a round trip (an echo) and skips whatever arrives before its
// answer. Commands run in order, so everything c sent earlier has been fully
// handled, fan-out included, when it returns.
func (c *client) settle() {
	c.t.Helper()
	m := nextMarker()
	c.send("echo " + m)
	c.expect("ok", "cmd", "echo", "text", m)
}

// nothingPending asserts that nothing was queued for c: the answer to a fresh
// echo must be the very next event. Unlike a silence timeout this cannot miss
// a late event, provided the sender has settled first.
func (c *client) nothingPending() {
	c.t.Helper()
	m := nextMarker()
	c.send("echo " + m)
	c.expectNext("ok", "cmd", "echo", "text", m)
}

// attempt answers the username and password prompts (the username prompt
// must be the next thing) and returns the welcome or error that follows.
func (c *client) attempt(name, password string) event {
	c.t.Helper()
	c.send(name)
	c.expectNext("prompt", "field", "password")
	c.send(password)
	for {
		ev := c.next()
		if t := ev.str("type"); t == "welcome" || t == "error" {
			return ev
		}
		c.seen = append(c.seen, ev)
	}
}

// dialFrom connects from a given local loopback address (Linux routes all of
// 127/8 to lo) and switches to JSON mode. It skips the test when the address
// cannot be bound.
func dialFrom(t *testing.T, addr, ip string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("cannot connect from %s: %v", ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.send("mode json")
	c.expect("ok", "cmd", "mode")
	c.expect("prompt", "field", "username")
	return c
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitSeen waits until name's last_seen in the database is at or after at:
// the session's end has been recorded (it is written after the presence
// event others get).
func waitSeen(t *testing.T, ts *testServer, name string, at time.Time) {
	t.Helper()
	waitFor(t, "last seen of "+name, func() bool {
		u, err := ts.store.UserByName(t.Context(), name)
		return err == nil && !u.LastSeen.Before(at.Truncate(time.Millisecond))
	})
}

// waitHistory waits until the newest history line of room is text: room
// history is written asynchronously.
func waitHistory(t *testing.T, ts *testServer, room, text string) {
	t.Helper()
	waitFor(t, "history of "+room, func() bool {
		h, err := ts.store.History(t.Context(), room, 1)
		return err == nil && len(h) == 1 && h[0].Text == text
	})
}

// waitServe waits for Serve to return (after the shutdown command) and puts
// its result back so that the cleanup's stop still finds it.
func (ts *testServer) waitServe(t *testing.T) {
	t.Helper()
	select {
	case err := <-ts.done:
		ts.done <- err
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
}

// settleAll brings a group of clients to rest. A login fans out its presence
// after the welcome, and create, join and leave answer ok before they move
// the user and tell the rooms; so the first pass makes sure every client's
// own commands are finished, the second drains what they queued to others.
func settleAll(cs ...*client) {
	for range 2 {
		for _, c := range cs {
			c.t.Helper()
			c.settle()
		}
	}
}

func has(ev event, key string) bool {
	_, ok := ev[key]
	return ok
}

// ---- help, time, echo, quote, say, mode, logout ----

// sortedJoin compares name lists whatever order help groups them in.
func sortedJoin(names []string) string {
	return strings.Join(slices.Sorted(slices.Values(names)), ",")
}

func TestHelp(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("root", "password0", true)
	a := login(t, ts.addr, "alice", "password1")
	r := login(t, ts.addr, "root", "password0")

	all := []string{"help", "who", "whoelse", "last", "wholasthr", "whoelsesince", "active",
		"broadcast", "send", "block", "unblock", "blocked", "check", "rooms", "create", "join",
		"leave", "kick", "close", "say", "time", "echo", "quote", "passwd", "mode", "logout",
		"me", "away", "back", "names", "topic", "invite", "roomban", "roomunban", "roompasswd",
		"transfer", "history", "search", "set", "read", "unread",
		"mentions", "typing", "edit", "delete", "reply", "react", "unreact"}
	all = append(all, "keys", "keyadd", "keydel")     // SSH keys (keys.go)
	all = append(all, "watch", "unwatch", "watching") // PROTOCOL.md 13
	all = append(all, "meta")                         // metadata (metadata.go)
	all = append(all, "roommode")                     // room modes (roommodes.go)
	all = append(all, "invites")                      // the invite list (moderation.go)
	all = append(all, "rename")                       // rename.go
	admin := append(slices.Clone(all), "ban", "unban", "shutdown")

	t.Run("ListUser", func(t *testing.T) {
		ev := a.in(t).do("help", "help")
		if got := sortedJoin(ev.strs("commands")); got != sortedJoin(all) {
			t.Fatalf("commands = %s", got)
		}
	})
	t.Run("ListAdmin", func(t *testing.T) {
		ev := r.in(t).do("help", "help")
		if got := sortedJoin(ev.strs("commands")); got != sortedJoin(admin) {
			t.Fatalf("commands = %s", got)
		}
	})
	t.Run("ListAlias", func(t *testing.T) {
		ev := a.in(t).do("?", "help")
		if len(ev.strs("commands")) != len(all) {
			t.Fatalf("? gave %v", ev)
		}
	})
	cases := []struct {
		name, line, command, usage, aliases string
	}{
		{"OneCommand", "help send", "send", "send USER TEXT | (USER USER ...) TEXT", "message,msg"},
		{"ByAlias", "help msg", "send", "send USER TEXT | (USER USER ...) TEXT", "message,msg"},
		{"QuestionMark", "? last", "last", "last N", ""},
		{"SlashAndCase", "/HELP /Who", "who", "who", ""},
		{"HelpOnHelp", "help ?", "help", "help [COMMAND]", "?"},
		{"BlockAlias", "help blacklist", "block", "block USER | (USER USER ...)", "blacklist"},
		{"UnblockAlias", "help whitelist", "unblock", "unblock USER | (USER USER ...)", "whitelist"},
		{"QuitAlias", "help quit", "logout", "logout", "quit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := a.in(t).do(tc.line, "help")
			if ev.str("command") != tc.command || ev.str("usage") != tc.usage ||
				strings.Join(ev.strs("aliases"), ",") != tc.aliases || ev.str("summary") == "" {
				t.Fatalf("%q gave %v", tc.line, ev)
			}
		})
	}
	t.Run("ErrUnknownCommand", func(t *testing.T) {
		a.in(t).fails("help frobnicate", "help", "bad_args")
	})
}

func TestTime(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	check := func(t *testing.T) {
		ev := a.in(t).do("time", "time")
		got, err := time.Parse(time.RFC3339, ev.str("time"))
		if err != nil {
			t.Fatalf("time %v: %v", ev, err)
		}
		if d := ts.clock.now().Sub(got); d < 0 || d > 5*time.Second {
			t.Fatalf("time %s is %v away from the server clock", got, d)
		}
		if !strings.HasPrefix(ev.str("text"), "server time is ") {
			t.Fatalf("text %q", ev.str("text"))
		}
	}
	t.Run("Now", check)
	ts.clock.advance(48 * time.Hour)
	t.Run("FollowsServerClock", check)
}

func TestEcho(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	cases := []struct{ name, line, want string }{
		{"OK", "echo hello world", "hello world"},
		{"InnerSpacesKept", "echo a   b", "a   b"},
		{"Slash", "/echo hi", "hi"},
		{"Upper", "ECHO Hi There", "Hi There"},
		{"CommandWordText", "echo who", "who"},
		{"ControlsStripped", "echo \x1b[31mred\x07", "[31mred"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.in(t).do(tc.line, "echo").str("text"); got != tc.want {
				t.Fatalf("%q echoed %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	for range 5 {
		if ev := a.do("quote", "quote"); strings.TrimSpace(ev.str("text")) == "" {
			t.Fatalf("empty quote %v", ev)
		}
	}
	a.do("/QUOTE", "quote")
}

func TestSay(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password2")
	a.expect("presence", "user", "bob", "event", "login")
	cases := []struct{ name, line, want string }{
		{"CommandWord", "say who is there", "who is there"},
		{"SlashCommandWord", "say /help me", "/help me"},
		{"LogoutWord", "say logout", "logout"},
		{"UpperSay", "SAY quit now", "quit now"},
		{"SlashSay", "/say broadcast nothing", "broadcast nothing"},
		{"PlainChat", "hello there", "hello there"},
		{"NotACommand", "whoami is not a command", "whoami is not a command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := a.in(t), b.in(t)
			a.send(tc.line)
			for _, c := range []*client{a, b} {
				m := c.expect("message", "kind", "room", "from", "alice", "room", "lobby")
				if m.str("text") != tc.want {
					t.Fatalf("%s got %v, want text %q", c.name, m, tc.want)
				}
			}
		})
	}
	t.Run("ErrBadArgs", func(t *testing.T) {
		a := a.in(t)
		a.fails("say", "say", "bad_args")
		a.fails("say    ", "say", "bad_args")
		a.fails("say \x1b", "say", "bad_args") // nothing left after stripping
	})
	t.Run("ErrUnknownCommand", func(t *testing.T) {
		a.in(t).fails("/whoami", "whoami", "unknown_command")
	})
}

func TestModeCommand(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	t.Run("ErrBadArgs", func(t *testing.T) {
		a := a.in(t)
		a.fails("mode xml", "mode", "bad_args")
		a.fails("mode", "mode", "bad_args")
		a.fails("mode json text", "mode", "bad_args")
	})
	t.Run("JSON", func(t *testing.T) {
		a.in(t).do("MODE JSON", "mode")
	})
	t.Run("TextAndBack", func(t *testing.T) {
		a := a.in(t)
		a.send("mode text")
		// The reply comes in the new mode, and so does everything after it.
		line, err := a.readLine(5 * time.Second)
		if err != nil || line != "output mode is now text" {
			t.Fatalf("mode text reply %q %v", line, err)
		}
		a.send("echo plain words")
		line, err = a.readLine(5 * time.Second)
		if err != nil || line != "plain words" {
			t.Fatalf("text-mode echo %q %v", line, err)
		}
		a.send("who")
		line, err = a.readLine(5 * time.Second)
		if err != nil || line != "online: alice" {
			t.Fatalf("text-mode who %q %v", line, err)
		}
		a.send("/mode json")
		a.expectNext("ok", "cmd", "mode")
		a.do("who", "who")
	})
}

func TestLogoutAliases(t *testing.T) {
	ts := startServer(t)
	ts.addUser("watcher", "password0", false)
	w := login(t, ts.addr, "watcher", "password0")
	for i, line := range []string{"logout", "quit", "/QUIT", "Logout", "/logout"} {
		name := fmt.Sprintf("user%d", i)
		t.Run(strings.TrimPrefix(line, "/"), func(t *testing.T) {
			ts.addUser(name, "password1", false)
			c := login(t, ts.addr, name, "password1")
			w := w.in(t)
			w.expect("presence", "user", name, "event", "login")
			c.send(line)
			bye := c.expect("bye", "reason", "logout")
			if bye.str("text") == "" {
				t.Fatalf("bye without text: %v", bye)
			}
			c.closed()
			w.expect("presence", "user", name, "event", "logout", "room", "lobby")
		})
	}
}

func TestCommandNamesCaseInsensitive(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	cases := []struct{ line, cmd string }{
		{"WHO", "who"}, {"/Who", "who"}, {"wHoElSe", "whoelse"}, {"/LAST 5", "last"},
		{"WhoLastHr", "wholasthr"}, {"WHOELSESINCE 10", "whoelsesince"}, {"Active 1", "active"},
		{"BLOCKED", "blocked"}, {"Rooms", "rooms"}, {"/TIME", "time"}, {"Check", "check"},
		{"Leave", "leave"}, {"/Help", "help"},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) { a.in(t).do(tc.line, tc.cmd) })
	}
}

func TestUsernamesCaseInsensitive(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("Bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	b := dial(t, ts.addr)
	b.name = "Bob"
	if w := b.attempt("BOB", "password2"); w.str("type") != "welcome" || w.str("user") != "Bob" {
		t.Fatalf("login as BOB: %v", w)
	}

	t.Run("Send", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.send("send bOB hi")
		a.expect("delivery", "to", "Bob", "status", "delivered")
		b.expect("message", "kind", "private", "from", "alice", "text", "hi")
		a.fails("send ALICE me", "send", "self")
	})
	t.Run("Check", func(t *testing.T) {
		if u := a.in(t).do("check bob", "check")["info"].(map[string]any)["user"]; u != "Bob" {
			t.Fatalf("check bob: user %v", u)
		}
	})
	t.Run("Who", func(t *testing.T) {
		if got := a.in(t).users("whoelse", "whoelse"); got != "Bob" {
			t.Fatalf("whoelse = %s", got)
		}
	})
	t.Run("Block", func(t *testing.T) {
		a := a.in(t)
		ev := a.do("block BOB", "block")
		if got := strings.Join(ev.strs("users"), ","); got != "Bob" {
			t.Fatalf("block BOB answered users %s, want the registered spelling Bob", got)
		}
		a.fails("block bob", "block", "already_blocked")
		if got := strings.Join(a.do("blocked", "blocked").strs("blocked"), ","); got != "Bob" {
			t.Fatalf("blocked = %s", got)
		}
		ev = a.do("unblock bOb", "unblock")
		if got := strings.Join(ev.strs("users"), ","); got != "Bob" {
			t.Fatalf("unblock bOb answered users %s", got)
		}
	})
}

// ---- presence queries ----

func TestPresenceQueryArgs(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	cases := []struct {
		name, line, cmd, code string
	}{
		{"LastMin", "last 1", "last", ""},
		{"LastMax", "last 60", "last", ""},
		{"LastSpaces", "last   7 ", "last", ""},
		{"ErrLastZero", "last 0", "last", "bad_args"},
		{"ErrLast61", "last 61", "last", "bad_args"},
		{"ErrLastNegative", "last -1", "last", "bad_args"},
		{"ErrLastWord", "last x", "last", "bad_args"},
		{"ErrLastFraction", "last 1.5", "last", "bad_args"},
		{"ErrLastMissing", "last", "last", "bad_args"},
		{"ErrLastTwo", "last 1 2", "last", "bad_args"},
		{"WhoElseSince", "whoelsesince 1", "whoelsesince", ""},
		{"WhoElseSinceDay", "whoelsesince 86400", "whoelsesince", ""},
		{"ErrWhoElseSinceZero", "whoelsesince 0", "whoelsesince", "bad_args"},
		{"ErrWhoElseSinceWord", "whoelsesince x", "whoelsesince", "bad_args"},
		{"ErrWhoElseSinceMissing", "whoelsesince", "whoelsesince", "bad_args"},
		{"Active", "active 1", "active", ""},
		{"ErrActiveZero", "active 0", "active", "bad_args"},
		{"ErrActiveWord", "active x", "active", "bad_args"},
		{"ErrActiveMissing", "active", "active", "bad_args"},
		{"WhoLastHr", "wholasthr", "wholasthr", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			if tc.code == "" {
				a.do(tc.line, tc.cmd)
			} else {
				a.fails(tc.line, tc.cmd, tc.code)
			}
		})
	}
}

func TestLastIncludesLoggedOutUsersAcrossRestart(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol") // carol never logs in
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	ts.clock.advance(10 * time.Second) // bob's logout is later than his login
	out := ts.clock.now()
	b.send("logout")
	b.expect("bye", "reason", "logout")
	a.expect("presence", "user", "bob", "event", "logout")
	waitSeen(t, ts, "bob", out)

	queries := func(t *testing.T, a *client) {
		a = a.in(t)
		if got := a.users("who", "who"); got != "alice" {
			t.Fatalf("who = %s", got)
		}
		if got := a.users("last 1", "last"); got != "alice,bob" {
			t.Fatalf("last 1 = %s", got)
		}
		if got := a.users("wholasthr", "wholasthr"); got != "bob" {
			t.Fatalf("wholasthr = %s", got)
		}
		if got := a.users("whoelsesince 30", "whoelsesince"); got != "bob" {
			t.Fatalf("whoelsesince 30 = %s", got)
		}
	}
	t.Run("AfterLogout", func(t *testing.T) { queries(t, a) })

	ts = ts.restart()
	a = login(t, ts.addr, "alice", "password1")
	t.Run("AfterRestart", func(t *testing.T) { queries(t, a) })

	// Move the clock: bob's logout is now 2 minutes old.
	ts.clock.advance(2 * time.Minute)
	t.Run("AfterTwoMinutes", func(t *testing.T) {
		a := a.in(t)
		if got := a.users("last 1", "last"); got != "alice" {
			t.Fatalf("last 1 = %s", got)
		}
		if got := a.users("last 3", "last"); got != "alice,bob" {
			t.Fatalf("last 3 = %s", got)
		}
		if got := a.users("whoelsesince 60", "whoelsesince"); got != "" {
			t.Fatalf("whoelsesince 60 = %s", got)
		}
		if got := a.users("whoelsesince 180", "whoelsesince"); got != "bob" {
			t.Fatalf("whoelsesince 180 = %s", got)
		}
		if got := a.users("wholasthr", "wholasthr"); got != "bob" {
			t.Fatalf("wholasthr = %s", got)
		}
	})
	ts.clock.advance(time.Hour)
	t.Run("AfterAnHour", func(t *testing.T) {
		a := a.in(t)
		if got := a.users("wholasthr", "wholasthr"); got != "" {
			t.Fatalf("wholasthr = %s", got)
		}
		// Online users are always in, however long ago they logged in.
		if got := a.users("last 1", "last"); got != "alice" {
			t.Fatalf("last 1 = %s", got)
		}
	})
}

func TestActive(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password2")
	a.expect("presence", "user", "bob", "event", "login")

	if got := a.users("active 1", "active"); got != "alice,bob" {
		t.Fatalf("active 1 right after login = %s", got)
	}
	ts.clock.advance(2 * time.Minute)
	// alice's own command counts as activity; bob has been idle 2 minutes.
	if got := a.users("active 1", "active"); got != "alice" {
		t.Fatalf("active 1 with bob idle = %s", got)
	}
	if got := a.users("active 5", "active"); got != "alice,bob" {
		t.Fatalf("active 5 = %s", got)
	}
	b.settle()
	if got := a.users("active 1", "active"); got != "alice,bob" {
		t.Fatalf("active 1 after bob's command = %s", got)
	}

	// An offline user's last activity comes from the database.
	out := ts.clock.now()
	b.send("logout")
	b.expect("bye")
	a.expect("presence", "user", "bob", "event", "logout")
	waitSeen(t, ts, "bob", out)
	if got := a.users("active 1", "active"); got != "alice,bob" {
		t.Fatalf("active 1 after bob's logout = %s", got)
	}
	ts.clock.advance(2 * time.Minute)
	if got := a.users("active 1", "active"); got != "alice" {
		t.Fatalf("active 1 two minutes after bob's logout = %s", got)
	}
	if got := a.users("active 3", "active"); got != "alice,bob" {
		t.Fatalf("active 3 = %s", got)
	}
}

// ---- broadcast ----

func TestBroadcast(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	c := login(t, ts.addr, "carol", "password1")
	b.do("create den", "create")
	c.do("create attic", "create")

	a.send("broadcast hello \x1b[2Jeveryone")
	for _, cl := range []*client{a, b, c} {
		m := cl.expect("message", "kind", "broadcast", "from", "alice")
		if m.str("text") != "hello [2Jeveryone" || m.str("ts") == "" || has(m, "room") {
			t.Fatalf("%s got %v", cl.name, m)
		}
	}
	a.fails("broadcast", "broadcast", "bad_args")
	a.fails("/BROADCAST   ", "broadcast", "bad_args")
}

// ---- blocks ----

func TestBlockCommands(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol", "dave")
	a := login(t, ts.addr, "alice", "password1")
	// Each step depends on the ones before it.
	steps := []struct {
		name, line, cmd, code string
		users                 string // ok: the users field
	}{
		{"OK", "block bob", "block", "", "bob"},
		{"ErrAlreadyBlocked", "block bob", "block", "already_blocked", ""},
		{"ErrAlreadyBlockedAlias", "blacklist bob", "block", "already_blocked", ""},
		{"ErrSelf", "block alice", "block", "self", ""},
		{"ErrSelfOtherCase", "block ALICE", "block", "self", ""},
		{"ErrNoSuchUser", "block nobody", "block", "no_such_user", ""},
		{"ErrBadArgs", "block", "block", "bad_args", ""},
		{"ErrBadArgsTwoNames", "block carol dave", "block", "bad_args", ""},
		{"ErrBadArgsUnclosedList", "block (carol dave", "block", "bad_args", ""},
		{"ErrBadArgsEmptyList", "block ()", "block", "bad_args", ""},
		{"ListAlias", "blacklist (carol dave)", "block", "", "carol,dave"},
		{"ErrNotBlocked", "unblock nobody", "unblock", "no_such_user", ""},
		{"UnblockOK", "unblock bob", "unblock", "", "bob"},
		{"ErrNotBlockedAgain", "unblock bob", "unblock", "not_blocked", ""},
		{"ErrNotBlockedAlias", "whitelist bob", "unblock", "not_blocked", ""},
		{"ErrUnblockSelf", "unblock alice", "unblock", "self", ""},
		{"ErrUnblockBadArgs", "whitelist", "unblock", "bad_args", ""},
		{"ListUnblockAlias", "whitelist (carol dave)", "unblock", "", "carol,dave"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			a := a.in(t)
			if st.code != "" {
				a.fails(st.line, st.cmd, st.code)
				return
			}
			if got := strings.Join(a.do(st.line, st.cmd).strs("users"), ","); got != st.users {
				t.Fatalf("%q: users %s, want %s", st.line, got, st.users)
			}
		})
	}
	t.Run("ListReportsEachFailure", func(t *testing.T) {
		a := a.in(t)
		a.do("block carol", "block")
		a.send("block (bob carol nobody alice)")
		for _, code := range []string{"already_blocked", "no_such_user", "self"} {
			a.expectNext("error", "cmd", "block", "code", code)
		}
		ok := a.expectNext("ok", "cmd", "block")
		if strings.Join(ok.strs("users"), ",") != "bob" || !strings.HasPrefix(ok.str("text"), "1 of 4") {
			t.Fatalf("list block answered %v", ok)
		}
		if got := strings.Join(a.do("blocked", "blocked").strs("blocked"), ","); got != "bob,carol" {
			t.Fatalf("blocked = %s", got)
		}
		a.send("whitelist (bob carol dave)")
		a.expectNext("error", "cmd", "unblock", "code", "not_blocked")
		a.expectNext("ok", "cmd", "unblock", "users", "[bob carol]")
		if got := a.do("blocked", "blocked"); len(got.strs("blocked")) != 0 || !has(got, "blocked") {
			t.Fatalf("blocked after unblocking all: %v", got)
		}
	})
}

func TestBlockedPrivateMessagesAreNotStored(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.expect("presence", "user", "bob", "event", "login")
	a.do("block bob", "block")

	// Online recipient.
	b.send("send alice are you there")
	b.expectNext("delivery", "to", "alice", "status", "blocked")
	b.settle()
	a.nothingPending()

	// Offline recipient: not stored either.
	a.send("logout")
	a.expect("bye")
	b.expect("presence", "user", "alice", "event", "logout")
	b.send("msg alice hello while you were out")
	b.expectNext("delivery", "to", "alice", "status", "blocked")
	b.send("message (alice carol) to both")
	b.expectNext("delivery", "to", "alice", "status", "blocked")
	b.expectNext("delivery", "to", "carol", "status", "stored")

	a = dial(t, ts.addr)
	if w := a.attempt("alice", "password1"); w.str("type") != "welcome" || w["offline"] != float64(0) {
		t.Fatalf("alice's welcome %v", w)
	}
	c := dial(t, ts.addr)
	if w := c.attempt("carol", "password1"); w.str("type") != "welcome" || w["offline"] != float64(1) {
		t.Fatalf("carol's welcome %v", w)
	}

	// Unblocked, messages flow again.
	a.do("unblock bob", "unblock")
	b.send("send alice friends again")
	b.expect("delivery", "to", "alice", "status", "delivered")
	a.expect("message", "kind", "private", "from", "bob", "text", "friends again")
}

func TestBlocksApplyToBroadcast(t *testing.T) {
	for _, apply := range []bool{true, false} {
		t.Run(fmt.Sprintf("Apply=%v", apply), func(t *testing.T) {
			ts := startServer(t, func(c *chatd.Config) { c.Messages.BlocksApplyToBroadcast = apply })
			ts.addUsers("alice", "bob", "carol")
			a := login(t, ts.addr, "alice", "password1")
			b := login(t, ts.addr, "bob", "password1")
			c := login(t, ts.addr, "carol", "password1")
			a.do("block bob", "block")
			settleAll(a, b, c)

			// Lobby chat and a broadcast from bob, then a marker from carol.
			b.send("lobby line from bob", "broadcast broadcast from bob")
			b.settle()
			c.send("broadcast marker from carol")
			c.settle()
			if apply {
				a.expectNext("message", "kind", "broadcast", "from", "carol")
			} else {
				a.expectNext("message", "kind", "room", "from", "bob", "text", "lobby line from bob")
				a.expectNext("message", "kind", "broadcast", "from", "bob", "text", "broadcast from bob")
				a.expectNext("message", "kind", "broadcast", "from", "carol")
			}
			// Chat in another room.
			a.do("create den", "create")
			b.do("join den", "join")
			c.do("join den", "join")
			settleAll(a, b, c)
			b.send("den line from bob")
			b.settle()
			c.send("den line from carol")
			c.settle()
			if !apply {
				a.expectNext("message", "kind", "room", "room", "den", "from", "bob")
			}
			a.expectNext("message", "kind", "room", "room", "den", "from", "carol")
			a.nothingPending()

			// Private messages stay blocked either way.
			b.send("send alice psst")
			b.expect("delivery", "to", "alice", "status", "blocked")
		})
	}
}

func TestBlocksPersistAcrossRestart(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	a.do("block (bob)", "block")
	ts = ts.restart()

	a = login(t, ts.addr, "alice", "password1")
	if got := strings.Join(a.do("blocked", "blocked").strs("blocked"), ","); got != "bob" {
		t.Fatalf("blocked after restart = %s", got)
	}
	b := login(t, ts.addr, "bob", "password2")
	a.expect("presence", "user", "bob", "event", "login")
	b.send("broadcast can you hear me", "send alice hello?")
	b.expect("delivery", "to", "alice", "status", "blocked")
	a.nothingPending()
	a.fails("block bob", "block", "already_blocked")
}

// ---- check ----

func TestCheck(t *testing.T) {
	ts := startServer(t)
	ts.addUser("root", "password0", true)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false) // offline
	ts.addUser("carol", "password3", false)
	a := login(t, ts.addr, "alice", "password1")
	r := login(t, ts.addr, "root", "password0")

	// carol was online once and left.
	c := login(t, ts.addr, "carol", "password3")
	c.send("logout")
	c.expect("bye")
	a.expect("presence", "user", "carol", "event", "logout")

	info := func(t *testing.T, asker *client, line string) map[string]any {
		t.Helper()
		ev := asker.in(t).do(line, "check")
		m, ok := ev["info"].(map[string]any)
		if !ok {
			t.Fatalf("%q: no info in %v", line, ev)
		}
		return m
	}
	keys := func(m map[string]any) string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	const base = "admin,idle_seconds,last_active,last_seen,online,room,sessions,since,user"
	const withAddr = "addr," + base

	t.Run("Self", func(t *testing.T) {
		m := info(t, a, "check")
		if keys(m) != base || m["user"] != "alice" || m["admin"] != false || m["online"] != true ||
			m["room"] != "lobby" || m["since"] == nil || m["last_active"] == nil {
			t.Fatalf("check: %v", m)
		}
		if _, ok := m["idle_seconds"].(float64); !ok {
			t.Fatalf("idle_seconds %v", m["idle_seconds"])
		}
	})
	t.Run("OnlineUser", func(t *testing.T) {
		m := info(t, a, "check ROOT")
		if keys(m) != base || m["user"] != "root" || m["admin"] != true || m["online"] != true || m["room"] != "lobby" {
			t.Fatalf("check root: %v", m)
		}
	})
	t.Run("RoomShown", func(t *testing.T) {
		r.in(t).do("create den", "create")
		r.in(t).settle() // the ok comes before the move
		if m := info(t, a, "check root"); m["room"] != "den" {
			t.Fatalf("check root in den: %v", m)
		}
		r.in(t).do("leave", "leave")
	})
	t.Run("OfflineUser", func(t *testing.T) {
		m := info(t, a, "check carol")
		// Offline: when they were last seen, not a login time or an
		// idle count.
		if keys(m) != base || m["user"] != "carol" || m["online"] != false || m["room"] != "" ||
			m["since"] != nil || m["idle_seconds"] != nil || m["last_active"] == nil || m["last_seen"] == nil {
			t.Fatalf("check carol: %v", m)
		}
		text := strings.Join(a.in(t).textOf("check carol"), "\n")
		if !strings.Contains(text, "last seen:") || strings.Contains(text, "logged in") || strings.Contains(text, "idle") {
			t.Fatalf("check carol in text mode:\n%s", text)
		}
	})
	t.Run("NeverLoggedIn", func(t *testing.T) {
		m := info(t, a, "check bob")
		if keys(m) != base || m["online"] != false || m["since"] != nil || m["last_active"] != nil || m["idle_seconds"] != nil || m["last_seen"] != nil {
			t.Fatalf("check bob: %v", m)
		}
	})
	t.Run("AdminSeesAddr", func(t *testing.T) {
		m := info(t, r, "check alice")
		if keys(m) != withAddr || m["addr"] != "127.0.0.1" {
			t.Fatalf("admin check alice: %v", m)
		}
		if m := info(t, r, "check"); keys(m) != withAddr || m["addr"] != "127.0.0.1" {
			t.Fatalf("admin check self: %v", m)
		}
		// An offline user has no address.
		if m := info(t, r, "check carol"); keys(m) != base {
			t.Fatalf("admin check carol: %v", m)
		}
	})
	t.Run("IdleSeconds", func(t *testing.T) {
		ts.clock.advance(90 * time.Second)
		m := info(t, a, "check root")
		if s, _ := m["idle_seconds"].(float64); s < 90 || s > 100 {
			t.Fatalf("idle_seconds after 90s: %v", m)
		}
	})
	errs := []struct{ name, line, code string }{
		{"ErrNoSuchUser", "check nobody", "no_such_user"},
		{"ErrBadArgs", "check alice bob", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { a.in(t).fails(tc.line, "check", tc.code) })
	}
}

// ---- passwd ----

func TestPasswd(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	a := login(t, ts.addr, "alice", "password1")
	cases := []struct {
		name, old, pw, repeat, code string
	}{
		{"ErrBadCredentials", "wrong-password", "newpassword1", "newpassword1", "bad_credentials"},
		{"ErrWeakPassword", "password1", "short", "short", "weak_password"},
		{"ErrPasswordMismatch", "password1", "newpassword1", "newpassword2", "password_mismatch"},
		{"OK", "password1", "newpassword1", "newpassword1", ""}, // the failures changed nothing
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := a.in(t)
			a.send("passwd")
			a.expectNext("prompt", "field", "old_password")
			a.send(tc.old)
			a.expectNext("prompt", "field", "new_password")
			a.send(tc.pw)
			a.expectNext("prompt", "field", "repeat_password")
			a.send(tc.repeat)
			if tc.code != "" {
				a.expectNext("error", "cmd", "passwd", "code", tc.code)
			} else {
				a.expectNext("ok", "cmd", "passwd")
			}
		})
	}
	t.Run("ErrBadArgs", func(t *testing.T) {
		a.in(t).fails("passwd newpassword1", "passwd", "bad_args")
	})

	a.send("logout")
	a.expect("bye")
	c := dial(t, ts.addr)
	if ev := c.attempt("alice", "password1"); ev.str("code") != "bad_credentials" {
		t.Fatalf("old password: %v", ev)
	}
	c.expectNext("prompt", "field", "username")
	if ev := c.attempt("alice", "newpassword1"); ev.str("type") != "welcome" {
		t.Fatalf("new password: %v", ev)
	}
}

// TestPresenceIgnoresBlocks: blocks cover messages, not presence. A blocker
// still sees the blocked user in who; login and logout must agree (logout
// presence used to be filtered by blocks, login presence not).
func TestPresenceIgnoresBlocks(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	a := login(t, ts.addr, "alice", "password1")
	a.do("block bob", "block")
	b := login(t, ts.addr, "bob", "password2")
	a.expect("presence", "user", "bob", "event", "login")
	b.send("logout")
	b.expect("bye")
	b.closed()
	ev := a.next()
	if ev.str("type") != "presence" || ev.str("user") != "bob" || ev.str("event") != "logout" {
		t.Fatalf("alice got %v, want bob's logout presence", ev)
	}
}
