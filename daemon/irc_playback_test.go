package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// playbackCaps are what a client that asks for event-playback requests.
var playbackCaps = append(append([]string(nil), historyCaps...), "draft/event-playback")

// echoed is the msgid and time an echo (or a relay) carried.
type echoed struct{ command, id, at string }

// historyEntries runs CHATHISTORY cmd and returns the batch's lines as
// command, msgid and time, in order.
func (c *ircClient) historyEntries(cmd, target string) []echoed {
	c.t.Helper()
	c.send("CHATHISTORY " + cmd)
	_, lines := c.readBatch("chathistory", target)
	var out []echoed
	for _, l := range lines {
		out = append(out, echoed{l.command, l.tags["msgid"], l.tags["time"]})
	}
	return out
}

// TestIRCEventPlayback: with draft/event-playback, CHATHISTORY gives back
// a channel's topic changes and persisted TAGMSGs among its lines, with
// the msgids and times their echoes had, and counts them in the limit; a
// client without the capability gets the lines only, counted alone; a
// JSON client's history holds lines only; the entries survive a restart.
func TestIRCEventPlayback(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1", playbackCaps...)
	b := ircLogin(t, ts, "bob", "password1", historyCaps...)
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")
	b.send("JOIN #den")
	b.expect(" 366 bob #den ")

	var all, lines []echoed
	for i := range 3 {
		a.send(fmt.Sprintf("TOPIC #den :topic %d", i))
		echo := parseLine(a.expect("TOPIC #den :topic " + fmt.Sprint(i)))
		e := echoed{"TOPIC", echo.tags["msgid"], echo.tags["time"]}
		if e.id == "" || e.at == "" || echo.source != "alice!alice@chatd" {
			t.Fatalf("TOPIC echo %v: want a msgid and a time, from alice", echo)
		}
		if relay := parseLine(b.expect("TOPIC #den :topic " + fmt.Sprint(i))); relay.tags["msgid"] != e.id || relay.tags["time"] != e.at {
			t.Fatalf("TOPIC relay %v: want msgid %s and time %s as the echo", relay, e.id, e.at)
		}
		all = append(all, e)
		ts.clock.advance(time.Second)
		a.send(fmt.Sprintf("PRIVMSG #den :line %d", i))
		echo = parseLine(a.expect("PRIVMSG #den :line " + fmt.Sprint(i)))
		e = echoed{"PRIVMSG", echo.tags["msgid"], echo.tags["time"]}
		all, lines = append(all, e), append(lines, e)
		ts.clock.advance(time.Second)
	}
	// A TAGMSG with +draft/persist is stored; one without stays live.
	a.send("@+x=y;+draft/persist TAGMSG #den")
	echo := parseLine(a.expect("TAGMSG #den"))
	if echo.tags["+x"] != "y" || echo.tags["msgid"] == "" {
		t.Fatalf("TAGMSG echo %v", echo)
	}
	all = append(all, echoed{"TAGMSG", echo.tags["msgid"], echo.tags["time"]})
	b.expect("TAGMSG #den")
	a.send("@+x=z TAGMSG #den")
	a.expect("+x=z", "TAGMSG #den")
	b.expect("+x=z", "TAGMSG #den")

	same := func(t *testing.T, who string, got, want []echoed) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: history %v\nwant %v", who, got, want)
		}
	}
	same(t, "alice LATEST 50", a.historyEntries("LATEST #den * 50", "#den"), all)
	same(t, "alice LATEST 2", a.historyEntries("LATEST #den * 2", "#den"), all[len(all)-2:])
	same(t, "alice BEFORE", a.historyEntries("BEFORE #den msgid="+all[3].id+" 50", "#den"), all[:3])
	same(t, "alice AFTER", a.historyEntries("AFTER #den msgid="+all[1].id+" 2", "#den"), all[2:4])
	same(t, "bob LATEST 50", b.historyEntries("LATEST #den * 50", "#den"), lines)
	same(t, "bob LATEST 2", b.historyEntries("LATEST #den * 2", "#den"), lines[1:])
	// The stored TAGMSG keeps its client-only tags.
	a.send("CHATHISTORY LATEST #den * 1")
	_, got := a.readBatch("chathistory", "#den")
	if len(got) != 1 || got[0].command != "TAGMSG" || got[0].tags["+x"] != "y" || got[0].source != "alice!alice@chatd" {
		t.Fatalf("stored TAGMSG: %v", got)
	}

	// A private TAGMSG with +draft/persist too; bob, without the
	// capability, does not get it back.
	a.send("@+x=y;+draft/persist TAGMSG bob")
	echo = parseLine(a.expect("TAGMSG bob"))
	b.expect("TAGMSG bob")
	same(t, "alice LATEST bob", a.historyEntries("LATEST bob * 10", "bob"), []echoed{{"TAGMSG", echo.tags["msgid"], echo.tags["time"]}})
	same(t, "bob LATEST alice", b.historyEntries("LATEST alice * 10", "alice"), nil)

	// chatd's own history holds the lines only.
	c := login(t, ts.addr, "carol", "password1")
	got2, _ := c.historyPage("history #den")
	var texts []string
	for _, ev := range got2 {
		texts = append(texts, ev.str("text"))
	}
	if strings.Join(texts, "|") != "line 0|line 1|line 2" {
		t.Errorf("JSON history #den = %q, want the lines only", texts)
	}

	// The entries are in the database: a restart keeps them.
	ts = ts.restart()
	a = ircLogin(t, ts, "alice", "password1", playbackCaps...)
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")
	same(t, "alice LATEST after a restart", a.historyEntries("LATEST #den * 50", "#den"), all)
}

// TestIRCEventEntriesAreNoMessages: a topic change and a persisted TAGMSG
// have ids, but no line to act on: REDACT, edit and react find no
// message. A +draft/react to no message (no +draft/reply) is relayed as
// any client-only tag, with a msgid that REDACT does not know either.
func TestIRCEventEntriesAreNoMessages(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	caps := append(append([]string(nil), playbackCaps...), "draft/message-redaction")
	a := ircLogin(t, ts, "alice", "password1", caps...)
	b := ircLogin(t, ts, "bob", "password1", caps...)
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")
	b.send("JOIN #den")
	b.expect(" 366 bob #den ")

	a.send("TOPIC #den :cats and dogs")
	topic := parseLine(a.expect("TOPIC #den :cats and dogs")).tags["msgid"]
	a.send("@+x=y;+draft/persist TAGMSG #den")
	tagmsg := parseLine(a.expect("TAGMSG #den")).tags["msgid"]
	b.expect("TAGMSG #den")
	for _, id := range []string{topic, tagmsg} {
		a.send("REDACT #den " + id)
		a.expect("FAIL REDACT UNKNOWN_MSGID #den " + id)
		a.send("PRIVMSG chatd :edit " + id + " dogs")
		a.expect("NOTICE", "no_such_message")
		a.send("@+draft/react=ok;+draft/reply=" + id + " TAGMSG #den")
		a.expect("FAIL", "TAGMSG")
	}

	a.send("@+draft/react=👍 TAGMSG #den")
	echo := parseLine(a.expect("TAGMSG #den"))
	id := echo.tags["msgid"]
	if echo.tags["+draft/react"] != "👍" || id == "" {
		t.Fatalf("reaction to no message: echo %v, want it with a msgid", echo)
	}
	if l := parseLine(b.expect("TAGMSG #den")); l.tags["msgid"] != id || l.tags["+draft/react"] != "👍" {
		t.Fatalf("reaction to no message: relay %v", l)
	}
	a.send("REDACT #den " + id)
	a.expect("FAIL REDACT UNKNOWN_MSGID #den " + id)

	// A private TAGMSG to someone who blocks the sender is not kept.
	b.send("PRIVMSG chatd :block alice")
	b.expect("NOTICE bob")
	a.send("@+x=y;+draft/persist TAGMSG bob")
	a.expect("TAGMSG bob")
	if got := a.historyEntries("LATEST bob * 10", "bob"); len(got) != 0 {
		t.Errorf("history with bob, who blocks alice: %v, want nothing", got)
	}
}
