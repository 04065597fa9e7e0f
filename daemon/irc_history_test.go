package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd"
)

// ircLine is a line the server sent, split for assertions.
type ircLine struct {
	tags    map[string]string
	source  string
	command string
	params  []string
}

func parseLine(line string) ircLine {
	var l ircLine
	l.tags = map[string]string{}
	if strings.HasPrefix(line, "@") {
		tags, rest, _ := strings.Cut(line[1:], " ")
		for _, kv := range strings.Split(tags, ";") {
			k, v, _ := strings.Cut(kv, "=")
			l.tags[k] = v
		}
		line = rest
	}
	if strings.HasPrefix(line, ":") {
		l.source, line, _ = strings.Cut(line[1:], " ")
	}
	l.command, line, _ = strings.Cut(line, " ")
	for line != "" {
		if strings.HasPrefix(line, ":") {
			l.params = append(l.params, line[1:])
			break
		}
		var p string
		p, line, _ = strings.Cut(line, " ")
		l.params = append(l.params, p)
	}
	return l
}

// readBatch reads the batch an answer opens, up to its end, and returns
// the texts of its PRIVMSGs. It fails unless the BATCH line names kind
// and target.
func (c *ircClient) readBatch(kind, target string) ([]string, []ircLine) {
	c.t.Helper()
	start := parseLine(c.expect("BATCH +"))
	if len(start.params) < 2 || start.params[1] != kind || target != "" && (len(start.params) < 3 || start.params[2] != target) {
		c.t.Fatalf("batch start %v, want %s %s", start, kind, target)
	}
	id := start.params[0][1:]
	var texts []string
	var lines []ircLine
	for {
		l := parseLine(c.expect(""))
		if l.command == "BATCH" && len(l.params) > 0 && l.params[0] == "-"+id {
			return texts, lines
		}
		if l.tags["batch"] != id {
			c.t.Fatalf("line %v is not in batch %s", l, id)
		}
		lines = append(lines, l)
		if l.command == "PRIVMSG" {
			texts = append(texts, l.params[len(l.params)-1])
		}
	}
}

// historyCaps are what a client that pages history asks for.
var historyCaps = []string{"server-time", "message-tags", "batch", "echo-message", "labeled-response", "draft/chathistory"}

func TestIRCChathistory(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	a := ircLogin(t, ts, "alice", "password1", historyCaps...)
	a.expect(" 005 alice ", "CHATHISTORY=200", "MSGREFTYPES=msgid,timestamp")
	a.send("JOIN #den")
	a.expect(" 366 alice #den ")
	// Ten lines a second apart, with their ids and times from the echoes.
	var ids, times []string
	for i := range 10 {
		a.send(fmt.Sprintf("PRIVMSG #den :line %d", i))
		l := parseLine(a.expect("PRIVMSG #den :line " + fmt.Sprint(i)))
		ids, times = append(ids, l.tags["msgid"]), append(times, l.tags["time"])
		ts.clock.advance(time.Second)
	}
	want := func(from, to int) string {
		var w []string
		for i := from; i < to; i++ {
			w = append(w, fmt.Sprintf("line %d", i))
		}
		return strings.Join(w, "|")
	}
	for _, tc := range []struct{ name, cmd, want string }{
		{"LatestAll", "LATEST #den * 50", want(0, 10)},
		{"LatestFew", "LATEST #den * 3", want(7, 10)},
		{"LatestAfterMsgid", "LATEST #den msgid=" + ids[4] + " 50", want(5, 10)},
		{"LatestAfterTime", "LATEST #den timestamp=" + times[4] + " 50", want(5, 10)},
		{"BeforeMsgid", "BEFORE #den msgid=" + ids[6] + " 50", want(0, 6)},
		{"BeforeTime", "BEFORE #den timestamp=" + times[6] + " 2", want(4, 6)},
		{"AfterMsgid", "AFTER #den msgid=" + ids[3] + " 50", want(4, 10)},
		{"AfterTime", "AFTER #den timestamp=" + times[3] + " 3", want(4, 7)},
		{"AroundOne", "AROUND #den msgid=" + ids[7] + " 1", want(7, 8)},
		{"AroundThree", "AROUND #den msgid=" + ids[7] + " 3", want(6, 9)},
		{"AroundTime", "AROUND #den timestamp=" + times[7] + " 3", want(6, 9)},
		{"Between", "BETWEEN #den msgid=" + ids[0] + " msgid=" + ids[9] + " 50", want(1, 9)},
		{"BetweenLimited", "BETWEEN #den msgid=" + ids[0] + " msgid=" + ids[9] + " 3", want(1, 4)},
		{"BetweenBackwards", "BETWEEN #den timestamp=" + times[9] + " timestamp=" + times[0] + " 3", want(6, 9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.t = t
			a.send("CHATHISTORY " + tc.cmd)
			got, lines := a.readBatch("chathistory", "#den")
			if strings.Join(got, "|") != tc.want {
				t.Fatalf("CHATHISTORY %s: %q, want %q", tc.cmd, got, tc.want)
			}
			for _, l := range lines {
				i := strings.TrimPrefix(l.params[1], "line ")
				if n := int(i[0] - '0'); l.tags["msgid"] != ids[n] || l.tags["time"] != times[n] || l.source != "alice!alice@chatd" {
					t.Fatalf("history line %v: want msgid %s, time %s, as the echo had", l, ids[n], times[n])
				}
			}
		})
	}
	a.t = t

	// A private conversation, by the other side's nick.
	b := ircLogin(t, ts, "bob", "password1", historyCaps...)
	a.send("PRIVMSG bob :hello bob")
	echo := parseLine(a.expect("PRIVMSG bob :hello bob"))
	b.expect("PRIVMSG bob :hello bob")
	b.send("PRIVMSG alice :hello alice")
	a.expect("PRIVMSG alice :hello alice")
	a.send("@label=q1 CHATHISTORY LATEST bob * 10")
	start := a.expect("BATCH +")
	if !strings.Contains(start, "label=q1") || !strings.HasSuffix(start, " chathistory bob") {
		t.Fatalf("batch start %q: want the label and chathistory bob", start)
	}
	l1, l2 := parseLine(a.expect("PRIVMSG")), parseLine(a.expect("PRIVMSG"))
	if l1.source != "alice!alice@chatd" || l1.params[0] != "bob" || l2.source != "bob!bob@chatd" || l2.params[0] != "alice" {
		t.Fatalf("private history: %v, %v", l1, l2)
	}
	// A line has one time, its id's: the echo's is the history's.
	if l1.tags["time"] != echo.tags["time"] || l1.tags["msgid"] != echo.tags["msgid"] {
		t.Fatalf("private history line %v, echo %v: want the same time and id", l1, echo)
	}
	a.expect("BATCH -")

	// TARGETS lists the conversations with lines in the window.
	a.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2999-01-01T00:00:00.000Z 10")
	_, targets := a.readBatch("draft/chathistory-targets", "")
	var names []string
	for _, l := range targets {
		names = append(names, l.params[1])
	}
	if strings.Join(names, " ") != "#den bob" {
		t.Fatalf("TARGETS: %q, want #den bob", names)
	}
	// The window excludes its ends: #den's newest line is at times[9].
	a.send("CHATHISTORY TARGETS timestamp=" + times[9] + " timestamp=2999-01-01T00:00:00.000Z 10")
	if _, targets = a.readBatch("draft/chathistory-targets", ""); len(targets) != 1 || targets[0].params[1] != "bob" {
		t.Fatalf("TARGETS after #den's last line: %v, want bob alone", targets)
	}

	// Errors.
	a.send("CHATHISTORY LATEST #nowhere * 10")
	a.expect("FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere")
	a.send("CHATHISTORY BEFORE #den junk 10")
	a.expect("FAIL CHATHISTORY INVALID_PARAMS BEFORE junk")
	a.send("CHATHISTORY LATEST #den * 0")
	a.expect("FAIL CHATHISTORY INVALID_PARAMS LATEST 0")
	a.send("CHATHISTORY SIDEWAYS #den * 1")
	a.expect("FAIL CHATHISTORY UNKNOWN_COMMAND SIDEWAYS")
	a.send("CHATHISTORY AFTER #den")
	a.expect("FAIL CHATHISTORY NEED_MORE_PARAMS AFTER")
}

func TestIRCMarkread(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "multi" })
	ts.addUsers("alice", "bob")
	caps := []string{"server-time", "message-tags", "echo-message", "draft/read-marker"}
	a := ircLogin(t, ts, "alice", "password1", caps...)
	// At login, each room's JOIN comes with the marker, before its names.
	a.expect("JOIN #lobby")
	a.expect("MARKREAD #lobby *")
	a.expect(" 366 alice #lobby ")
	a.send("JOIN #den")
	a.expect("JOIN #den")
	a.expect("MARKREAD #den *")
	a.expect(" 366 alice #den ")
	b := ircLogin(t, ts, "bob", "password1", caps...)
	b.send("JOIN #den")
	b.expect(" 366 bob #den ")
	var times []string
	for i := range 3 {
		b.send(fmt.Sprintf("PRIVMSG #den :line %d", i))
		times = append(times, parseLine(a.expect("PRIVMSG #den :line " + fmt.Sprint(i))).tags["time"])
		ts.clock.advance(time.Second)
	}
	// alice's second session hears where the first one read to.
	a2 := ircLogin(t, ts, "alice", "password1", caps...)
	a2.expect("MARKREAD #den *")
	a2.expect(" 366 alice #den ")

	// A time between two lines marks the one before it read, and is
	// the time the marker stands at.
	mid, _ := time.Parse(time.RFC3339Nano, times[1])
	between := mid.Add(300 * time.Millisecond).UTC().Format("2006-01-02T15:04:05.000Z")
	a.send("MARKREAD #den timestamp=" + between)
	a.expect("MARKREAD #den timestamp=" + between)
	a2.expect("MARKREAD #den timestamp=" + between)
	// The marker never moves back; the answer says where it is.
	a.send("MARKREAD #den timestamp=" + times[0])
	a.expect("MARKREAD #den timestamp=" + between)
	a.send("MARKREAD #den")
	a.expect("MARKREAD #den timestamp=" + between)
	// It is chatd's read marker: the unread count agrees.
	a.send("PRIVMSG chatd :unread")
	a.expect("NOTICE alice :", "#den 1")

	// A private conversation is named by the other's nick.
	b.send("PRIVMSG alice :hi")
	at := parseLine(a.expect("PRIVMSG alice hi")).tags["time"]
	a.send("MARKREAD bob timestamp=" + at)
	a.expect("MARKREAD bob timestamp=" + at)
	a.send("MARKREAD bob")
	a.expect("MARKREAD bob timestamp=" + at)

	a.send("MARKREAD")
	a.expect("FAIL MARKREAD NEED_MORE_PARAMS")
	a.send("MARKREAD #den *")
	a.expect("FAIL MARKREAD INVALID_PARAMS #den")
	a.send("MARKREAD #den timestamp=yesterday")
	a.expect("FAIL MARKREAD INVALID_PARAMS #den")
	a.send("MARKREAD #nowhere")
	a.expect("MARKREAD #nowhere *")
}

// A MARKREAD time is kept as the client sent it, even where no line is
// that old: answered to MARKREAD, on JOIN, at the next login, to the
// user's other sessions (IRC and JSON, which get it as the read event's
// ts); it never goes back; a marker set by id elsewhere stands at its
// message's time.
func TestIRCMarkreadKeepsTheTime(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "multi" })
	ts.addUsers("alice", "bob")
	caps := []string{"server-time", "message-tags", "draft/read-marker"}
	a := ircLogin(t, ts, "alice", "password1", caps...)
	a.send("JOIN #test")
	a.expect("MARKREAD #test *")
	a.expect(" 366 alice #test ")
	a2 := ircLogin(t, ts, "alice", "password1", caps...)
	a2.expect(" 366 alice #test ")
	web := login(t, ts.addr, "alice", "password1")

	const t1, t0 = "2019-01-04T14:33:26.123Z", "2019-01-01T00:00:00.000Z"
	a.send("MARKREAD #test timestamp=" + t1)
	a.expect("MARKREAD #test timestamp=" + t1)
	a2.expect("MARKREAD #test timestamp=" + t1)
	web.expect("read", "conversation", "#test", "id", "", "ts", t1)
	a.send("MARKREAD #test")
	a.expect("MARKREAD #test timestamp=" + t1)
	a.send("MARKREAD #test timestamp=" + t0)
	a.expect("MARKREAD #test timestamp=" + t1)
	a.send("PART #test", "JOIN #test")
	a.expect("JOIN #test")
	a.expect("MARKREAD #test timestamp=" + t1)
	a.expect(" 366 alice #test ")

	// A private conversation with no message yet.
	const t2 = "2023-07-04T00:00:00.000Z"
	a.send("MARKREAD bob timestamp=" + t2)
	a.expect("MARKREAD bob timestamp=" + t2)
	a.send("MARKREAD bob")
	a.expect("MARKREAD bob timestamp=" + t2)

	// A marker moved by id, from a JSON session, stands at the line's
	// time.
	b := ircLogin(t, ts, "bob", "password1", caps...)
	b.send("JOIN #test", "PRIVMSG #test :hello")
	at := parseLine(a.expect("PRIVMSG #test hello")).tags["time"]
	id := idOf(t, web.expect("message", "kind", "room", "text", "hello"))
	web.send("read #test " + id)
	web.expect("read", "conversation", "#test", "id", id, "ts", at)
	a.expect("MARKREAD #test timestamp=" + at)
	a2.expect("MARKREAD #test timestamp=" + at)

	// The next login hears the stored time.
	a2.send("QUIT")
	a2.closed()
	a3 := ircLogin(t, ts, "alice", "password1", caps...)
	a3.expect("MARKREAD #test timestamp=" + at)
	a3.send("MARKREAD bob")
	a3.expect("MARKREAD bob timestamp=" + t2)

	// A time to come is taken as the server's now.
	before := ts.clock.now().Truncate(time.Millisecond)
	a3.send("MARKREAD bob timestamp=2999-01-01T00:00:00.000Z")
	got, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(parseLine(a3.expect("MARKREAD bob timestamp=")).params[1], "timestamp="))
	if after := ts.clock.now(); err != nil || got.Before(before) || got.After(after) {
		t.Fatalf("a marker set in 2999 stands at %v (%v), not between %v and %v", got, err, before, after)
	}
}

// In a cluster, a MARKREAD time reaches the user's sessions on the other
// nodes (the read note carries it), and every node answers it.
func TestClusterMarkreadCarriesTheTime(t *testing.T) {
	n := threeNodes(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.IRC.Listen = "127.0.0.1:0"
	})
	caps := []string{"draft/read-marker"}
	a1 := ircLogin(t, n[0], "alice", "password1", caps...)
	a1.expect(" 366 alice #lobby ")
	a2 := ircLogin(t, n[1], "alice", "password1", caps...)
	a2.expect(" 366 alice #lobby ")
	web := login(t, n[2].addr, "alice", "password1")

	const at = "2021-05-20T08:30:00.000Z"
	a1.send("MARKREAD #lobby timestamp=" + at)
	a1.expect("MARKREAD #lobby timestamp=" + at)
	a2.expect("MARKREAD #lobby timestamp=" + at)
	web.expect("read", "conversation", "#lobby", "ts", at)
	a2.send("MARKREAD #lobby")
	a2.expect("MARKREAD #lobby timestamp=" + at)
}
