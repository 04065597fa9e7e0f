package daemon_test

import (
	"strings"
	"testing"
)

// until reads lines up to one containing every part, failing if a line
// before it contains bad.
func (c *ircClient) until(bad string, parts ...string) string {
	c.t.Helper()
	for {
		line := c.expect()
		if strings.Contains(line, bad) {
			c.t.Fatalf("irc: got %q while waiting for %q", line, parts)
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
}

// SETNAME changes the real name WHOIS shows, and is relayed to the
// clients with the capability that share a channel with the user or
// monitor it, never to one without it.
func TestIRCSetname(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol", "dave")
	ts.members("den", "alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1", "setname")
	b := ircLogin(t, ts, "bob", "password1", "setname")
	c := ircLogin(t, ts, "carol", "password1")
	d := ircLogin(t, ts, "dave", "password1", "setname", "extended-monitor")
	d.send("MONITOR + alice")
	d.expect(" 730 dave alice!alice@chatd")
	b.expect(" 366 bob #den ")
	c.expect(" 366 carol #den ")
	a.expect(" 366 alice #den ")

	a.send("SETNAME :Alice Liddell")
	a.expect(":alice!alice@chatd SETNAME :Alice Liddell")
	b.expect(":alice!alice@chatd SETNAME :Alice Liddell")
	d.expect(":alice!alice@chatd SETNAME :Alice Liddell")
	c.send("WHOIS alice")
	c.until("SETNAME", " 311 carol alice ", ":Alice Liddell")
	c.send("WHO #den")
	c.until("SETNAME", " 352 carol #den ", " alice ", "Alice Liddell")

	a.send("SETNAME :")
	a.expect("FAIL SETNAME INVALID_REALNAME")
}
