package daemon_test

import (
	"strings"
	"testing"
)

// User mode +i hides a user from a WHO with a mask, but not from WHO with
// its nick, nor from one who shares a room with it; -i shows it again.
func TestIRCInvisibleWho(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("evan", "shiv")
	e := ircLogin(t, ts, "evan", "password1")
	s := ircLogin(t, ts, "shiv", "password1")
	// Both start in the lobby; they must share no room.
	e.send("PART #lobby")
	e.until("\x00", "PART #lobby")
	s.send("PART #lobby")
	s.until("\x00", "PART #lobby")
	e.send("MODE evan +i")
	e.expect(":evan!evan@chatd MODE evan +i")
	e.send("MODE evan")
	e.expect(" 221 evan +i")

	s.send("WHO eva*")
	s.until(" 352 ", " 315 shiv eva* ")
	s.send("WHO evan")
	s.expect(" 352 shiv * ", " evan H")
	s.expect(" 315 shiv evan ")

	e.send("JOIN #den")
	e.expect(" 366 evan #den ")
	s.send("JOIN #den")
	s.expect(" 366 shiv #den ")
	s.send("WHO eva*")
	s.expect(" 352 shiv * ", " evan H")
	s.expect(" 315 shiv eva* ")

	s.send("PART #den")
	s.expect(" PART #den")
	e.send("MODE evan -i")
	e.expect(":evan!evan@chatd MODE evan -i")
	s.send("WHO eva*")
	s.expect(" 352 shiv * ", " evan H")
	s.expect(" 315 shiv eva* ")
}

// A draft/multiline batch is one room line: one id, the lines joined by
// "\n" (a concat line without one), which a JSON client gets in text. An
// IRC client with the capability gets the batch as sent; one without it
// gets one PRIVMSG per line that is not blank, the first with the msgid.
// A concat tag on a blank line fails the batch.
func TestIRCMultiline(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol", "dave", "erin", "frank")
	ts.members("den", "alice", "bob", "carol", "dave", "erin", "frank")
	caps := []string{"draft/multiline", "batch", "message-tags", "echo-message", "labeled-response"}
	a := ircLogin(t, ts, "alice", "password1", caps...)
	b := ircLogin(t, ts, "bob", "password1", caps...)
	c := ircLogin(t, ts, "carol", "password1", "message-tags")
	d := login(t, ts.addr, "dave", "password1")
	e := textLogin(t, ts.addr, "erin", "password1")
	a.expect(" 366 alice #den ")
	b.expect(" 366 bob #den ")
	c.expect(" 366 carol #den ")

	a.send("@label=x1 BATCH +r1 draft/multiline #den",
		"@batch=r1 PRIVMSG #den :first",
		"@batch=r1 PRIVMSG #den :",
		"@batch=r1 PRIVMSG #den :sec",
		"@batch=r1;draft/multiline-concat PRIVMSG #den :ond",
		"BATCH -r1")
	start := a.expect("label=x1", " BATCH +ml", " draft/multiline #den")
	a.expect("PRIVMSG #den first")
	a.expect("PRIVMSG #den :")
	a.expect("PRIVMSG #den sec")
	a.expect("draft/multiline-concat", "PRIVMSG #den ond")
	a.expect(" BATCH -ml")
	id := start[strings.Index(start, "msgid=")+6:]
	id = id[:strings.IndexAny(id, "; ")]

	b.expect("msgid="+id, " BATCH +ml", " draft/multiline #den")
	b.expect("PRIVMSG #den first")
	b.expect("PRIVMSG #den :")
	b.expect("PRIVMSG #den sec")
	b.expect("draft/multiline-concat", "PRIVMSG #den ond")
	b.expect(" BATCH -ml")

	first := c.expect("PRIVMSG #den first")
	if !strings.Contains(first, "msgid="+id) {
		t.Fatalf("carol: first line %q lacks msgid %s", first, id)
	}
	if l := c.expect("PRIVMSG #den"); l != ":alice!alice@chatd PRIVMSG #den sec" {
		t.Fatalf("carol: second line %q", l)
	}
	if l := c.expect("PRIVMSG #den"); l != ":alice!alice@chatd PRIVMSG #den ond" {
		t.Fatalf("carol: third line %q", l)
	}
	d.expect("message", "id", id, "from", "alice", "text", "first\n\nsecond")
	// Text mode: the continuation lines are indented.
	e.readUntil("<alice> first\r\n    \r\n    second")

	// From history, even with the capability: a PRIVMSG per line.
	h := ircLogin(t, ts, "frank", "password1", "draft/chathistory", "batch", "draft/multiline")
	h.send("CHATHISTORY LATEST #den * 5")
	h.until(" BATCH +ml", " BATCH +", "chathistory")
	h.until(" BATCH +ml", "PRIVMSG #den first")
	h.until(" BATCH +ml", "PRIVMSG #den second")

	a.send("BATCH +r2 draft/multiline #den",
		"@batch=r2 PRIVMSG #den :hi",
		"@batch=r2;draft/multiline-concat PRIVMSG #den :",
		"BATCH -r2")
	a.expect("FAIL BATCH MULTILINE_INVALID")
	a.send("@batch=r9 PRIVMSG #den :stray")
	a.expect("FAIL BATCH MULTILINE_INVALID")
}

// RENAME by the room's owner renames it everywhere: an IRC client with
// draft/channel-rename gets RENAME, one without a PART and a JOIN, a
// JSON client the room event; the room's history and members stay with
// it, and the old name is gone. Anyone else gets 482.
func TestIRCRename(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("bar", "baz", "dave")
	bar := ircLogin(t, ts, "bar", "password1", "draft/channel-rename")
	baz := ircLogin(t, ts, "baz", "password1")
	bar.send("JOIN #den")
	bar.expect(" 366 bar #den ")
	baz.send("JOIN #den")
	baz.expect(" 366 baz #den ")
	d := login(t, ts.addr, "dave", "password1")
	d.send("join den")
	d.expect("ok", "cmd", "join")
	bar.send("PRIVMSG #den :before")
	d.expect("message", "room", "den", "text", "before")

	baz.send("RENAME #den #hall :tidy")
	baz.expect(" 482 baz #den ")
	bar.send("RENAME #den #hall :tidy")
	bar.expect(":bar!bar@chatd RENAME #den #hall tidy")
	baz.expect(":baz!baz@chatd PART #den ")
	baz.expect(":baz!baz@chatd JOIN #hall")
	d.expect("room", "event", "renamed", "room", "den", "to", "hall", "user", "bar")

	baz.send("PRIVMSG #hall :after")
	bar.expect(":baz!baz@chatd PRIVMSG #hall after")
	d.expect("message", "room", "hall", "text", "after")
	d.send("history #hall 5")
	d.expect("message", "kind", "history", "room", "hall", "text", "before")
	// The old name is free: a new room, which baz creates and owns.
	baz.send("JOIN #den")
	baz.expect(" 353 baz = #den @baz")
	baz.expect(" 366 baz #den ")
}
