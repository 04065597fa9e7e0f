package daemon_test

import (
	"fmt"
	"strings"
	"testing"

	"chatd"
)

func TestIRCMessageActions(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	tagged := []string{"server-time", "message-tags", "echo-message", "draft/message-redaction"}
	a := ircLogin(t, ts, "alice", "password1", tagged...)
	b := ircLogin(t, ts, "bob", "password1", tagged...)
	c := ircLogin(t, ts, "carol", "password1") // no capabilities: NOTICEs
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")
	for _, x := range []*ircClient{b, c} {
		x.send("JOIN #den")
		x.expect(" 366 ")
	}
	a.send("PRIVMSG #den :hello all")
	id := parseLine(a.expect("PRIVMSG #den :hello all")).tags["msgid"]
	b.expect("PRIVMSG #den :hello all")
	c.expect("PRIVMSG #den :hello all")

	// +draft/reply is reply, and a reply carries it.
	b.send("@+draft/reply=" + id + " PRIVMSG #den :hi back")
	if l := parseLine(a.expect("PRIVMSG #den :hi back")); l.tags["+draft/reply"] != id {
		t.Fatalf("reply %v: want +draft/reply=%s", l, id)
	}
	b.expect("PRIVMSG #den :hi back")
	c.expect("PRIVMSG #den :hi back")

	// TAGMSG +draft/react is react; +draft/unreact unreact.
	b.send("@+draft/react=👍;+draft/reply=" + id + " TAGMSG #den")
	if l := parseLine(a.expect("TAGMSG #den")); l.tags["+draft/react"] != "👍" || l.tags["+draft/reply"] != id || l.source != "bob!bob@chatd" {
		t.Fatalf("reaction %v", l)
	}
	b.expect("TAGMSG #den", "+draft/react=👍")
	c.expect("NOTICE carol :", "bob reacted 👍 to alice")
	b.send("@+draft/unreact=👍;+draft/reply=" + id + " TAGMSG #den")
	a.expect("TAGMSG #den", "+draft/unreact=👍")
	c.expect("NOTICE carol :", "bob took back 👍")

	// An edit is a NOTICE from its author, tagged with the line it edits.
	a.send("PRIVMSG chatd :edit " + id + " hello everyone")
	if l := parseLine(b.expect("NOTICE #den :* edited: hello everyone")); l.tags["+draft/reply"] != id || l.source != "alice!alice@chatd" {
		t.Fatalf("edit %v", l)
	}
	c.expect("NOTICE #den :* edited: hello everyone")

	// REDACT is delete, for whoever may delete the line.
	b.send("REDACT #den " + id)
	b.expect("FAIL REDACT REDACT_FORBIDDEN #den " + id)
	b.send("REDACT #den 0000000000000001")
	b.expect("FAIL REDACT UNKNOWN_MSGID #den 0000000000000001")
	a.send("REDACT #den " + id + " :typo")
	a.expect(":alice!alice@chatd REDACT #den " + id)
	b.expect(":alice!alice@chatd REDACT #den " + id)
	c.expect("NOTICE carol :", "alice deleted a message")

	// In a private conversation the target is the nick, as for PRIVMSG.
	a.send("PRIVMSG bob :psst now")
	pid := parseLine(b.expect("PRIVMSG bob :psst now")).tags["msgid"]
	b.send("@+draft/react=ok;+draft/reply=" + pid + " TAGMSG alice")
	if l := parseLine(a.expect("TAGMSG")); l.params[0] != "alice" || l.tags["+draft/react"] != "ok" {
		t.Fatalf("private reaction %v", l)
	}
	b.expect("TAGMSG alice", "+draft/react=ok")
	b.send("@+draft/reply=" + pid + " PRIVMSG alice :pssst again")
	if l := parseLine(a.expect("PRIVMSG alice :pssst again")); l.tags["+draft/reply"] != pid {
		t.Fatalf("private reply %v", l)
	}
	if l := parseLine(b.expect("PRIVMSG alice :pssst again")); l.tags["+draft/reply"] != pid || !strings.HasPrefix(l.source, "bob!") {
		t.Fatalf("private reply's echo %v", l)
	}
}

func TestIRCMonitor(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1")
	a.expect(" 005 alice ", "MONITOR=100")
	a.send("MONITOR + bob,carol")
	a.expect(" 731 alice bob,carol")
	// bob logs in over telnet, in no channel alice shares.
	b := login(t, ts.addr, "bob", "password1")
	a.expect(" 730 alice bob!bob@chatd")
	a.send("MONITOR S")
	a.expect(" 730 alice bob!bob@chatd")
	a.expect(" 731 alice carol")
	a.send("MONITOR L")
	a.expect(" 732 alice bob,carol")
	a.expect(" 733 alice ")
	b.send("quit")
	a.expect(" 731 alice bob")
	a.send("MONITOR - bob", "MONITOR L")
	a.expect(" 732 alice carol")
	a.send("MONITOR C", "MONITOR L")
	a.expect(" 733 alice ")
	a.send("MONITOR + *!*@*")
	a.expect(" 432 alice *!*@* ")
}

// MONITOR is the account's watch list (PROTOCOL.md 13): stored, shared
// with telnet's watch, and heard above presence.everyone_limit, where
// only watchers hear of a login.
func TestIRCMonitorIsTheWatchList(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) {
		c.Presence.EveryoneLimit = 1
		c.Rooms.PresenceLimit = 1
		c.Accounts.DuplicateLogin = "multi"
	})
	ts.addUsers("alice", "bob", "carol", "dave")
	a := ircLogin(t, ts, "alice", "password1")
	a.send("MONITOR + bob,nobody")
	a.expect(" 731 alice bob,nobody")
	// The list is alice's watch list, whatever the transport.
	at := login(t, ts.addr, "alice", "password1")
	if ev := at.do("watching", "watching"); !strings.Contains(fmt.Sprint(ev["users"]), "user:bob") {
		t.Fatalf("watching after MONITOR + = %v", ev["users"])
	}
	at.do("watch carol", "watch")
	a.send("MONITOR L")
	a.expect(" 732 alice bob,carol,nobody")
	a.expect(" 733 alice ")
	// Above presence.everyone_limit only watchers hear bob come and go.
	login(t, ts.addr, "dave", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.expect(" 730 alice bob!bob@chatd")
	b.send("quit")
	a.expect(" 731 alice bob")
	a.send("MONITOR - bob", "MONITOR L")
	a.expect(" 732 alice carol,nobody")
	a.expect(" 733 alice ")
	if ev := at.do("watching", "watching"); strings.Contains(fmt.Sprint(ev["users"]), "user:bob") {
		t.Fatalf("watching after MONITOR - = %v", ev["users"])
	}
	a.send("MONITOR C", "MONITOR L")
	a.expect(" 733 alice ")
	if ev := at.do("watching", "watching"); ev.str("text") != "you watch nobody" {
		t.Fatalf("watching after MONITOR C = %v", ev)
	}
}

// Client-only tags ride along PRIVMSG and TAGMSG, live, to the clients
// that asked for message-tags, and to no one else.
func TestIRCClientOnlyTags(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	ts.members("den", "alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1", "message-tags", "echo-message")
	b := ircLogin(t, ts, "bob", "password1", "message-tags")
	c := ircLogin(t, ts, "carol", "password1")
	b.expect("JOIN #den")
	c.expect("JOIN #den")
	a.send("@+baz=bat;fizz=buzz PRIVMSG #den :hi all")
	a.expect("+baz=bat", "PRIVMSG #den :hi all")
	if l := b.expect("PRIVMSG #den :hi all"); !strings.Contains(l, "+baz=bat") || strings.Contains(l, "fizz") {
		t.Fatalf("bob got %q", l)
	}
	if l := c.expect("PRIVMSG #den :hi all"); strings.HasPrefix(l, "@") {
		t.Fatalf("carol got %q", l)
	}
	a.send("@+steel=wootz;cat=dog TAGMSG #den")
	echo := a.expect("+steel=wootz", ":alice!alice@chatd TAGMSG #den")
	relay := b.expect("+steel=wootz", ":alice!alice@chatd TAGMSG #den")
	if msgid := func(l string) string {
		_, v, _ := strings.Cut(l, "msgid=")
		v, _, _ = strings.Cut(v, ";")
		v, _, _ = strings.Cut(v, " ")
		return v
	}; msgid(echo) == "" || msgid(echo) != msgid(relay) || strings.Contains(relay, "cat=") {
		t.Fatalf("echo %q, relay %q", echo, relay)
	}
	a.send("@+x=y PRIVMSG bob :psst")
	b.expect("+x=y", ":alice!alice@chatd PRIVMSG bob psst")
	// carol, without message-tags, got no TAGMSG: the next line is
	// alice's next message.
	a.send("PRIVMSG #den :bye")
	if l := c.expect("#den"); !strings.Contains(l, "PRIVMSG #den bye") {
		t.Fatalf("carol got %q", l)
	}
}

// The reason of a REDACT reaches the others with the delete: IRC clients
// in the REDACT line, JSON clients as the delete event's reason.
func TestIRCRedactReason(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	ts.members("den", "alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1", "message-tags", "draft/message-redaction")
	b := ircLogin(t, ts, "bob", "password1", "message-tags", "draft/message-redaction")
	b.expect("JOIN #den")
	c := login(t, ts.addr, "carol", "password1")
	a.send("PRIVMSG #den :wrong room")
	l := b.expect("PRIVMSG #den :wrong room")
	_, id, _ := strings.Cut(l, "msgid=")
	id, _, _ = strings.Cut(id, ";")
	id, _, _ = strings.Cut(id, " ")
	a.send("REDACT #den " + id + " :posted in the wrong room")
	b.expect(":alice!alice@chatd REDACT #den " + id + " :posted in the wrong room")
	if ev := c.expect("delete", "id", id); ev.str("reason") != "posted in the wrong room" {
		t.Fatalf("carol got %v", ev)
	}
}

// With extended-monitor (and away-notify) a client hears the monitored
// users go away and come back, in no channel with them.
func TestIRCExtendedMonitorAway(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	a := ircLogin(t, ts, "alice", "password1", "extended-monitor", "away-notify")
	a.send("MONITOR + bob")
	a.expect(" 731 alice bob")
	b := login(t, ts.addr, "bob", "password1")
	a.expect(" 730 alice bob!bob@chatd")
	b.do("away lunch", "away")
	a.expect(":bob!bob@chatd AWAY lunch")
	b.do("back", "back")
	a.expect(":bob!bob@chatd AWAY")
}
