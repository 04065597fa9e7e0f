package daemon_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"chatd"
)

func TestAdminKick(t *testing.T) {
	ts := startServer(t)
	ts.addUser("root", "password0", true)
	ts.addUsers("alice", "bob", "carol")
	r := login(t, ts.addr, "root", "password0")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	b.do("create den", "create") // an admin's kick disconnects whatever room the user is in
	settleAll(r, a, b)

	errs := []struct {
		name string
		who  *client
		line string
		code string
	}{
		{"ErrNotPermitted", a, "kick bob", "not_permitted"},
		{"ErrSelf", r, "kick ROOT", "self"},
		{"ErrNoSuchUser", r, "kick nobody", "no_such_user"},
		{"ErrNoSuchUserOffline", r, "kick carol", "no_such_user"},
		{"ErrBadArgs", r, "/kick", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { tc.who.in(t).fails(tc.line, "kick", tc.code) })
	}
	t.Run("OK", func(t *testing.T) {
		r, a, b := r.in(t), a.in(t), b.in(t)
		if ev := r.do("kick BOB spamming", "kick"); ev.str("user") != "bob" {
			t.Fatalf("kick: %v", ev)
		}
		bye := b.expect("bye", "reason", "kicked")
		if !strings.Contains(bye.str("text"), "root") || !strings.Contains(bye.str("text"), "spamming") {
			t.Fatalf("bye text %q", bye.str("text"))
		}
		b.closed()
		a.expect("presence", "user", "bob", "event", "kicked", "room", "den")
		r.expect("presence", "user", "bob", "event", "kicked")
		if got := r.users("who", "who"); got != "alice,root" {
			t.Fatalf("who after kick = %s", got)
		}
		// A kick is not a ban.
		login(t, ts.addr, "bob", "password1")
		a.expect("presence", "user", "bob", "event", "login")
	})
}

func TestBan(t *testing.T) {
	ts := startServer(t)
	ts.addUser("root", "password0", true)
	ts.addUsers("alice", "bob", "carol", "dave")
	r := login(t, ts.addr, "root", "password0")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	settleAll(r, a, b)

	errs := []struct {
		name string
		who  *client
		line string
		cmd  string
		code string
	}{
		{"ErrNotPermittedBan", a, "ban bob", "ban", "not_permitted"},
		{"ErrNotPermittedUnban", a, "unban bob", "unban", "not_permitted"},
		{"ErrNotPermittedShutdown", a, "shutdown now", "shutdown", "not_permitted"},
		{"ErrBadArgs", r, "ban", "ban", "bad_args"},
		{"ErrSelf", r, "ban Root 1h", "ban", "self"},
		{"ErrNoSuchUser", r, "ban nobody", "ban", "no_such_user"},
		{"ErrBadDurationNoUnit", r, "ban carol 30 spamming", "ban", "bad_args"},
		{"ErrBadDurationZero", r, "ban carol 0m spamming", "ban", "bad_args"},
		{"ErrBadDurationUnit", r, "ban carol 3weeks", "ban", "bad_args"},
		{"ErrUnbanBadArgs", r, "unban", "unban", "bad_args"},
		{"ErrUnbanNoSuchUser", r, "unban nobody", "unban", "no_such_user"},
		{"ErrUnbanNotBanned", r, "unban carol", "unban", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { tc.who.in(t).fails(tc.line, tc.cmd, tc.code) })
	}

	t.Run("PermanentDisconnectsNow", func(t *testing.T) {
		r, a, b := r.in(t), a.in(t), b.in(t)
		ev := r.do("ban BOB spamming the lobby", "ban")
		if ev.str("user") != "bob" || ev["until"] != nil || !has(ev, "until") || ev.str("reason") != "spamming the lobby" {
			t.Fatalf("ban: %v", ev)
		}
		// The session ends at once with bye "banned" (PROTOCOL: "disconnects
		// now"); whether an error line comes first is not fixed.
		bye := b.expect("bye", "reason", "banned")
		if !strings.Contains(bye.str("text"), "spamming the lobby") {
			t.Fatalf("bob was told %v", bye)
		}
		for _, e := range b.seen {
			if e.str("type") == "error" && (e.str("code") != "banned" || e.str("reason") != "spamming the lobby" || e["until"] != nil) {
				t.Fatalf("bob was told %v", e)
			}
		}
		b.closed()
		a.expect("presence", "user", "bob", "event", "banned")
	})
	bannedLogin := func(t *testing.T, name, reason string, permanent bool) {
		t.Helper()
		c := dial(t, ts.addr)
		c.name = name
		e := c.attempt(name, "password1")
		if e.str("type") != "error" || e.str("cmd") != "login" || e.str("code") != "banned" || e.str("reason") != reason {
			t.Fatalf("banned login: %v", e)
		}
		if permanent != (e["until"] == nil) || !has(e, "until") {
			t.Fatalf("banned login until: %v", e)
		}
		if !permanent {
			if _, err := time.Parse(time.RFC3339, e.str("until")); err != nil {
				t.Fatalf("until %v", e)
			}
		}
		c.expectNext("bye", "reason", "banned")
		c.closed()
	}
	t.Run("LoginRefused", func(t *testing.T) {
		bannedLogin(t, "bob", "spamming the lobby", true)
		// A wrong password does not reveal the ban.
		c := dial(t, ts.addr)
		if e := c.attempt("bob", "wrong-password"); e.str("code") != "bad_credentials" {
			t.Fatalf("wrong password of a banned user: %v", e)
		}
	})
	t.Run("PermanentKeyword", func(t *testing.T) {
		ev := r.in(t).do("ban dave permanent", "ban")
		if ev["until"] != nil || ev.str("reason") != "" {
			t.Fatalf("ban dave permanent: %v", ev)
		}
		bannedLogin(t, "dave", "", true)
	})

	ts = ts.restart()
	t.Run("SurvivesRestart", func(t *testing.T) {
		bannedLogin(t, "bob", "spamming the lobby", true)
	})
	r = login(t, ts.addr, "root", "password0")
	t.Run("Unban", func(t *testing.T) {
		r := r.in(t)
		if ev := r.do("unban BOB", "unban"); ev.str("user") != "bob" {
			t.Fatalf("unban: %v", ev)
		}
		login(t, ts.addr, "bob", "password1")
		r.fails("unban bob", "unban", "bad_args") // not banned any more
	})
	t.Run("Timed", func(t *testing.T) {
		r := r.in(t)
		ev := r.do("ban carol 10m flooding", "ban")
		until, err := time.Parse(time.RFC3339, ev.str("until"))
		if err != nil || ev.str("reason") != "flooding" {
			t.Fatalf("timed ban: %v", ev)
		}
		if d := until.Sub(ts.clock.now()); d < 9*time.Minute || d > 10*time.Minute {
			t.Fatalf("ban until %s is %v away", until, d)
		}
		bannedLogin(t, "carol", "flooding", false)
		ts.clock.advance(9 * time.Minute)
		bannedLogin(t, "carol", "flooding", false)
		ts.clock.advance(2 * time.Minute)
		login(t, ts.addr, "carol", "password1")
	})
	t.Run("DurationUnits", func(t *testing.T) {
		r := r.in(t)
		for _, tc := range []struct {
			arg  string
			want time.Duration
		}{{"2h", 2 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"90s", 90 * time.Second}} {
			ev := r.do("ban dave "+tc.arg+" reason here", "ban")
			until, err := time.Parse(time.RFC3339, ev.str("until"))
			if d := until.Sub(ts.clock.now()); err != nil || d < tc.want-5*time.Second || d > tc.want || ev.str("reason") != "reason here" {
				t.Fatalf("ban dave %s: %v", tc.arg, ev)
			}
		}
	})
}

func TestShutdownCommand(t *testing.T) {
	ts := startServer(t)
	ts.addUser("root", "password0", true)
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password1", false)
	r := login(t, ts.addr, "root", "password0")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	b.do("create den", "create")
	pending := dial(t, ts.addr) // connected, not logged in
	settleAll(r, a, b)

	a.fails("shutdown", "shutdown", "not_permitted")
	r.send("shutdown back in five minutes")
	r.expect("ok", "cmd", "shutdown")
	for _, c := range []*client{r, a, b, pending} {
		bye := c.expect("bye", "reason", "shutdown")
		if bye.str("text") != "back in five minutes" {
			t.Fatalf("%s: bye %v", c.name, bye)
		}
		c.closed()
	}
	ts.waitServe(t)
	if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting connections after shutdown")
	}
}

func TestShutdownDefaultMessage(t *testing.T) {
	ts := startServer(t)
	ts.addUser("root", "password0", true)
	r := login(t, ts.addr, "root", "password0")
	r.send("/SHUTDOWN")
	if bye := r.expect("bye", "reason", "shutdown"); bye.str("text") == "" {
		t.Fatalf("bye %v", bye)
	}
	ts.waitServe(t)
}

func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	t.Run("UserTimesOutAdminExempt", func(t *testing.T) {
		ts := startServer(t, func(c *chatd.Config) {
			c.Server.IdleTimeout = chatd.Duration{Duration: idle}
			c.Server.IdleExemptAdmins = true
		})
		ts.addUser("root", "password0", true)
		ts.addUser("alice", "password1", false)
		r := login(t, ts.addr, "root", "password0")
		start := time.Now()
		a := login(t, ts.addr, "alice", "password1")
		bye := a.expect("bye", "reason", "timeout")
		if time.Since(start) < idle {
			t.Fatalf("timed out after %v, before the %v idle timeout", time.Since(start), idle)
		}
		if bye.str("text") == "" {
			t.Fatalf("bye %v", bye)
		}
		a.closed()
		r.expect("presence", "user", "alice", "event", "timeout", "room", "lobby")
		r.quiet(3 * idle) // the admin idles on
		if got := r.users("who", "who"); got != "root" {
			t.Fatalf("who = %s", got)
		}
	})
	t.Run("ActivityKeepsAlive", func(t *testing.T) {
		ts := startServer(t, func(c *chatd.Config) { c.Server.IdleTimeout = chatd.Duration{Duration: idle} })
		ts.addUser("alice", "password1", false)
		a := login(t, ts.addr, "alice", "password1")
		for range 6 {
			time.Sleep(idle / 3)
			a.do("time", "time")
		}
		a.expect("bye", "reason", "timeout")
	})
	t.Run("AdminNotExempt", func(t *testing.T) {
		ts := startServer(t, func(c *chatd.Config) {
			c.Server.IdleTimeout = chatd.Duration{Duration: idle}
			c.Server.IdleExemptAdmins = false
		})
		ts.addUser("root", "password0", true)
		r := login(t, ts.addr, "root", "password0")
		r.expect("bye", "reason", "timeout")
		r.closed()
	})
}

func TestDuplicateLoginReject(t *testing.T) {
	ts := startServer(t) // accounts.duplicate_login = "reject" is the default
	ts.addUser("alice", "password1", false)
	a := login(t, ts.addr, "alice", "password1")
	c := dial(t, ts.addr)
	for _, name := range []string{"alice", "ALICE"} {
		if e := c.attempt(name, "password1"); e.str("type") != "error" || e.str("cmd") != "login" || e.str("code") != "already_online" {
			t.Fatalf("second login as %s: %v", name, e)
		}
		c.expectNext("prompt", "field", "username")
	}
	// The first session is untouched.
	if got := a.users("who", "who"); got != "alice" {
		t.Fatalf("who = %s", got)
	}
	a.send("logout")
	a.expect("bye")
	a.closed()
	// The session leaves the hub just after the connection closes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := c.attempt("alice", "password1")
		if e.str("type") == "welcome" {
			break
		}
		if e.str("code") != "already_online" || time.Now().After(deadline) {
			t.Fatalf("login after logout: %v", e)
		}
		c.expectNext("prompt", "field", "username")
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLockout(t *testing.T) {
	for _, scope := range []string{"user", "user+ip"} {
		t.Run(scope, func(t *testing.T) {
			ts := startServer(t, func(c *chatd.Config) {
				c.Lockout.Attempts = 3
				c.Lockout.Duration = chatd.Duration{Duration: time.Minute}
				c.Lockout.Scope = scope
			})
			ts.addUser("alice", "password1", false)
			ts.addUser("bob", "password2", false)
			c := dial(t, ts.addr)
			for i := range 2 {
				if e := c.attempt("alice", "wrong"); e.str("code") != "bad_credentials" {
					t.Fatalf("attempt %d: %v", i+1, e)
				}
				c.expectNext("prompt", "field", "username")
			}
			// The failure that sets the lock is answered locked_out at
			// once, with its end.
			if e := c.attempt("alice", "wrong"); e.str("code") != "locked_out" || e.str("until") == "" {
				t.Fatalf("attempt 3: %v", e)
			}
			c.expectNext("prompt", "field", "username")
			locked := func(t *testing.T, c *client, name string) {
				t.Helper()
				e := c.attempt(name, "password1") // the right password
				if e.str("type") != "error" || e.str("cmd") != "login" || e.str("code") != "locked_out" {
					t.Fatalf("while locked: %v", e)
				}
				until, err := time.Parse(time.RFC3339, e.str("until"))
				if err != nil {
					t.Fatalf("until: %v", e)
				}
				if d := until.Sub(ts.clock.now()); d <= 0 || d > time.Minute {
					t.Fatalf("until %s is %v away", until, d)
				}
				c.expectNext("prompt", "field", "username")
			}
			t.Run("RightPasswordRefused", func(t *testing.T) { locked(t, c, "alice") })
			t.Run("OtherCase", func(t *testing.T) { locked(t, c, "ALICE") })
			t.Run("OtherConnection", func(t *testing.T) { locked(t, dial(t, ts.addr), "alice") })
			t.Run("OtherUserUnaffected", func(t *testing.T) {
				if e := c.in(t).attempt("bob", "password2"); e.str("type") != "welcome" {
					t.Fatalf("bob: %v", e)
				}
			})
			// Both connections above come from 127.0.0.1. Connecting from
			// 127.0.0.2 shows the difference between the scopes.
			t.Run("OtherAddress", func(t *testing.T) {
				c2 := dialFrom(t, ts.addr, "127.0.0.2")
				if scope == "user" {
					locked(t, c2, "alice")
					return
				}
				if e := c2.attempt("alice", "password1"); e.str("type") != "welcome" {
					t.Fatalf("user+ip: login from another address: %v", e)
				}
				c2.send("logout")
				c2.expect("bye")
				c2.closed()
			})

			ts = ts.restart()
			t.Run("SurvivesRestart", func(t *testing.T) { locked(t, dial(t, ts.addr), "alice") })

			ts.clock.advance(time.Minute + time.Second)
			t.Run("ExpiresAndCountsAfresh", func(t *testing.T) {
				c := dial(t, ts.addr)
				if e := c.attempt("alice", "wrong"); e.str("code") != "bad_credentials" {
					t.Fatalf("first failure after the lock: %v", e)
				}
				c.expectNext("prompt", "field", "username")
				if e := c.attempt("alice", "password1"); e.str("type") != "welcome" {
					t.Fatalf("after the lock ran out: %v", e)
				}
			})
		})
	}
}

// TestLoginRecordsSuccessOnlyAfterFailures: a right password resets the
// count of failures, so it is recorded when there are failures to reset;
// the usual login, with none, writes no attempt at all.
func TestLoginRecordsSuccessOnlyAfterFailures(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Lockout.Attempts = 3
		c.Lockout.Duration = chatd.Duration{Duration: time.Minute}
	})
	ts.addUser("alice", "password1", false)
	attempts := func() []chatd.LoginAttempt {
		t.Helper()
		a, err := ts.store.Attempts(t.Context(), "alice", "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	c := dial(t, ts.addr)
	if e := c.attempt("alice", "password1"); e.str("type") != "welcome" {
		t.Fatalf("login: %v", e)
	}
	if a := attempts(); len(a) != 0 {
		t.Fatalf("a clean login recorded %v", a)
	}
	c.send("logout")
	c.expect("bye")
	c.closed()

	c = dial(t, ts.addr)
	for range 2 {
		if e := c.attempt("alice", "wrong"); e.str("code") != "bad_credentials" {
			t.Fatalf("wrong password: %v", e)
		}
		c.expectNext("prompt", "field", "username")
	}
	if e := c.attempt("alice", "password1"); e.str("type") != "welcome" {
		t.Fatalf("login after two failures: %v", e)
	}
	if a := attempts(); len(a) != 3 || a[0].Success || a[1].Success || !a[2].Success {
		t.Fatalf("after two failures and a login: %v", a)
	}
	c.send("logout")
	c.expect("bye")
	c.closed()
	// The success reset the count: two more failures do not lock.
	c2 := dial(t, ts.addr)
	for range 2 {
		if e := c2.attempt("alice", "wrong"); e.str("code") != "bad_credentials" {
			t.Fatalf("failure after the reset: %v", e)
		}
		c2.expectNext("prompt", "field", "username")
	}
	if e := c2.attempt("alice", "password1"); e.str("type") != "welcome" {
		t.Fatalf("login after the reset: %v", e)
	}
}

// TestLockoutUnknownName: with registration closed an unknown name locks out
// exactly like a real one, so the lockout does not reveal which names exist.
func TestLockoutUnknownName(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Accounts.Registration = "closed"
		c.Lockout.Attempts = 2
	})
	c := dial(t, ts.addr)
	if e := c.attempt("ghost", "whatever"); e.str("code") != "bad_credentials" {
		t.Fatalf("unknown name: %v", e)
	}
	c.expectNext("prompt", "field", "username")
	if e := c.attempt("ghost", "whatever"); e.str("code") != "locked_out" || e.str("until") == "" {
		t.Fatalf("unknown name, second failure: %v", e)
	}
	c.expectNext("prompt", "field", "username")
	if e := c.attempt("ghost", "whatever"); e.str("code") != "locked_out" || e.str("until") == "" {
		t.Fatalf("unknown name while locked: %v", e)
	}
}
