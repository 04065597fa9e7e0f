package main

import (
	"strings"
	"testing"
	"time"
)

// TestConnectMention: a room line naming me rings the bell and stands out
// (reverse video); one naming nobody does neither.
func TestConnectMention(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	bob := d.login("bob", "password-b")

	p := startPTY(t, []string{"NO_COLOR="}, "-user", "alice", d.addr)
	at := p.waitOutput(0, "Password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "Welcome, alice!")
	bob.waitFor(5*time.Second, "presence", "user", "alice")
	at = p.waitOutput(at, "lobby> ")

	bob.send("say @alice look")
	at = p.waitOutput(at, "\a")
	at = p.waitOutput(at, "\x1b[7m@alice look")
	bob.send("plain line")
	if end := p.waitOutput(at, "plain line"); strings.Contains(p.output()[at:end], "\a") {
		t.Fatalf("a line naming nobody rang the bell:\n%q", p.output()[at:end])
	}

	p.typeKeys("\x04")
	p.wait(0)
}
