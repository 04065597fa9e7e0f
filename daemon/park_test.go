package daemon_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
)

// parkServer starts a daemon whose logged-in clients park after 20 ms of
// quiet (Linux only: the poller is epoll).
func parkServer(t *testing.T, mutate ...func(*chatd.Config)) *testServer {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("connections park on Linux only")
	}
	ts := startServer(t, mutate...)
	ts.srv.SetParkAfter(20 * time.Millisecond)
	return ts
}

// waitParked waits until n more connections than before are parked.
func waitParked(t *testing.T, before, n int) {
	t.Helper()
	waitFor(t, "parked connections", func() bool { return daemon.Parked() >= before+n })
}

// A parked session is woken by its client's input and carries on as if
// its reader had waited all along: commands, a line cut in two by a pause,
// the line length limit, output to it while it is parked, and the end of
// the server, which must still see every parked session out.
func TestParkedSessionsCarryOn(t *testing.T) {
	ts := parkServer(t)
	ts.addUsers("alice", "bob")
	before := daemon.Parked()
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.expect("presence", "user", "bob", "event", "login")
	waitParked(t, before, 2)

	// Output reaches a parked session; input wakes one.
	a.send("send bob hello")
	a.expect("delivery")
	if m := b.expect("message", "from", "alice"); m.str("text") != "hello" {
		t.Fatalf("bob got %v", m)
	}
	waitParked(t, before, 2)

	// A line whose halves come far apart (the first wakes the session,
	// which then waits in ReadLine for the rest).
	b.conn.Write([]byte("sa"))
	time.Sleep(100 * time.Millisecond)
	b.send("y from two halves")
	if m := a.expect("message", "from", "bob"); m.str("text") != "from two halves" {
		t.Fatalf("alice got %v", m)
	}
	waitParked(t, before, 2)

	// Protections hold after a wake-up: an over-long line is refused.
	b.send("say " + strings.Repeat("x", ts.cfg.Server.MaxLineBytes+10))
	b.expectError("", "line_too_long")
	b.send("time")
	b.expect("ok", "cmd", "time")
	waitParked(t, before, 2)

	// Shutdown ends parked sessions with a bye, and Serve returns: each
	// one's accounting ran.
	ts.stop()
	a.expect("bye", "reason", "shutdown")
	b.expect("bye", "reason", "shutdown")
	a.closed()
	b.closed()
}

// The idle timeout runs while a session is parked.
func TestParkedSessionTimesOut(t *testing.T) {
	ts := parkServer(t, func(c *chatd.Config) {
		c.Server.IdleTimeout = chatd.Duration{Duration: 400 * time.Millisecond}
	})
	ts.addUsers("alice")
	before := daemon.Parked()
	a := login(t, ts.addr, "alice", "password1")
	waitParked(t, before, 1)
	a.expect("bye", "reason", "timeout")
	a.closed()
}

// A client that hangs up while parked is seen to leave, and a session
// replaced by a new login is ended although parked.
func TestParkedSessionsEnd(t *testing.T) {
	ts := parkServer(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "replace" })
	ts.addUsers("bob", "carol")
	before := daemon.Parked()
	b := login(t, ts.addr, "bob", "password1")
	c := login(t, ts.addr, "carol", "password1")
	waitParked(t, before, 2)
	c.conn.Close()
	b.expect("presence", "user", "carol", "event", "logout")

	waitParked(t, before, 1)
	b2 := login(t, ts.addr, "bob", "password1")
	b.expect("bye", "reason", "replaced")
	b.closed()
	b2.send("time")
	b2.expect("ok", "cmd", "time")
}

// What a session keeps aside until it first needs it (the telnet options
// it refused, its room password guesses, the bye of a logout it asked
// for) is made on the first use after the session parked, and kept
// across its next parks.
func TestParkedSessionMakesItsAsideOnUse(t *testing.T) {
	ts := parkServer(t, func(c *chatd.Config) { c.Lockout.Attempts = 10 })
	ts.addUsers("alice", "bob", "carol")
	before := daemon.Parked()
	a := textLogin(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	waitParked(t, before, 2)

	// A telnet option refused once, then not again after another park.
	a.raw(tIAC + tDO + tTT + "echo done\n")
	if got := a.readUntil("done"); !strings.Contains(got, tIAC+tWONT+tTT) {
		t.Fatalf("DO TERMINAL-TYPE was not refused: %q", got)
	}
	waitParked(t, before, 2)
	a.raw(tIAC + tDO + tTT + tIAC + tWILL + tNAWS + "echo again\n")
	if got := a.readUntil("again"); strings.Contains(got, tTT) || !strings.Contains(got, tIAC+tDONT+tNAWS) {
		t.Fatalf("want only WILL NAWS refused the second time, got %q", got)
	}

	// Room password guesses are counted from the first, across parks.
	c := login(t, ts.addr, "carol", "password1")
	c.send("create vault sesame")
	c.expect("ok", "cmd", "create")
	for i := 0; i < 5; i++ {
		waitParked(t, before, 3)
		b.send("join vault wrong")
		b.expectError("join", "bad_room_password")
	}
	waitParked(t, before, 3)
	b.send("join vault sesame")
	b.expectError("join", "rate_limited")

	// A logout asked for by a parked session says bye once it is offline.
	waitParked(t, before, 3)
	b.send("logout")
	b.expect("bye", "reason", "logout")
	b.closed()
}
