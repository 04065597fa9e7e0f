package main

import (
	"testing"
	"time"
)

// TestConnectMessageActions is a person at a terminal acting on lines:
// /edit and /delete without an id take their last line, /reply and /react
// without one the room's last line, /delete with an id that line; what
// they and others do renders as short lines, and a reply quotes its
// original.
func TestConnectMessageActions(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	bob := d.login("bob", "password-b")

	p := startPTY(t, []string{"NO_COLOR="}, "-ids", "-user", "alice", d.addr)
	at := p.waitOutput(0, "Password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "Welcome, alice!")
	bob.waitFor(5*time.Second, "presence", "user", "alice")
	at = p.waitOutput(at, "lobby> ")

	// /edit TEXT: my last line.
	p.typeKeys("hello bbo\r")
	hello := bob.waitFor(5*time.Second, "message", "text", "hello bbo")["id"].(string)
	at = p.waitOutput(at, "hello bbo \x1b[2m["+hello+"]") // -ids
	p.typeKeys("/edit hello bob\r")
	if ev := bob.waitFor(5*time.Second, "edit", "id", hello); ev["text"] != "hello bob" {
		t.Fatalf("bob got the edit %v", ev)
	}
	at = p.waitOutput(at, "* alice edited:\x1b[0m hello bob")

	// /reply and /react without an id: the last line of the room, bob's.
	bob.send("are you there?")
	asked := bob.waitFor(5*time.Second, "message", "text", "are you there?")["id"].(string)
	at = p.waitOutput(at, "are you there?")
	p.typeKeys("/react 👍\r")
	if ev := bob.waitFor(5*time.Second, "reaction", "id", asked); ev["user"] != "alice" || ev["reaction"] != "👍" || ev["on"] != true {
		t.Fatalf("bob got the reaction %v", ev)
	}
	at = p.waitOutput(at, "* alice reacted 👍 to bob's line: are you there?")

	p.typeKeys("/reply yes, here\r")
	reply := bob.waitFor(5*time.Second, "message", "text", "yes, here")
	if reply["reply_to"] != asked {
		t.Fatalf("alice's reply is %v, want reply_to %s", reply, asked)
	}
	at = p.waitOutput(at, "↪ in reply to bob: are you there?")

	// What bob does to her lines.
	bob.send("react " + hello + " 🎉")
	at = p.waitOutput(at, "* bob reacted 🎉 to your line: hello bob")

	// /delete: my last line (the reply), then one by its id.
	p.typeKeys("/delete\r")
	bob.waitFor(5*time.Second, "delete", "id", reply["id"].(string))
	at = p.waitOutput(at, "* alice deleted their line: yes, here")
	p.typeKeys("/delete " + hello + "\r")
	bob.waitFor(5*time.Second, "delete", "id", hello)
	at = p.waitOutput(at, "* alice deleted their line: hello bob")

	// A line that starts by naming someone is chat, not a label.
	p.typeKeys("@bob thanks\r")
	bob.waitFor(5*time.Second, "message", "text", "@bob thanks")
	p.waitOutput(at, "@bob thanks")

	p.typeKeys("\x04")
	p.wait(0)
}
