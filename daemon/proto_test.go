package daemon_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"chatd"
)

// Helpers for the tests of issue 8 (protocol additions).

// textOf runs line in text mode and returns the text lines it produced (up
// to the answer of an echo sent after it), then goes back to JSON mode.
func (c *client) textOf(lines ...string) []string {
	c.t.Helper()
	return c.textWith(nil, lines...)
}

// textWith is textOf that runs meanwhile (others talking) once c is in
// text mode.
func (c *client) textWith(meanwhile func(), lines ...string) []string {
	c.t.Helper()
	m := nextMarker()
	c.send("mode text")
	for {
		l, err := c.readLine(5 * time.Second)
		if err != nil {
			c.t.Fatalf("%s: waiting for text mode: %v", c.name, err)
		}
		if strings.Contains(l, "output mode is now text") {
			break
		}
	}
	if meanwhile != nil {
		meanwhile()
	}
	c.send(lines...)
	c.send("echo "+m, "mode json")
	var out []string
	for {
		l, err := c.readLine(5 * time.Second)
		if err != nil {
			c.t.Fatalf("%s: text of %q: %v after %q", c.name, lines, err, out)
		}
		if l == m {
			break
		}
		out = append(out, l)
	}
	c.expect("ok", "cmd", "mode")
	return out
}

// ---- labels (PROTOCOL.md section 8) ----

func TestLabels(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	settleAll(a, b)

	labelOf := func(ev event) string { return ev.str("label") }
	t.Run("OK", func(t *testing.T) {
		a := a.in(t)
		a.send("@e-1 echo hi")
		if ev := a.expectNext("ok", "cmd", "echo"); labelOf(ev) != "e-1" || ev.str("text") != "hi" {
			t.Fatalf("echo: %v", ev)
		}
	})
	t.Run("Error", func(t *testing.T) {
		a := a.in(t)
		a.send("@E_2 nosuchcommand x")
		a.send("@E3 /nosuch")
		if ev := a.expectNext("message", "kind", "room"); labelOf(ev) != "E_2" {
			t.Fatalf("chat copy: %v", ev) // not a command word: it is chat
		}
		if ev := a.expectNext("error", "code", "unknown_command"); labelOf(ev) != "E3" {
			t.Fatalf("unknown command: %v", ev)
		}
		if ev := b.in(t).expect("message", "kind", "room"); has(ev, "label") {
			t.Fatalf("bob's copy carries a label: %v", ev)
		}
		a.send("@E4 join nowhere")
		if ev := a.expectNext("error", "code", "no_such_room"); labelOf(ev) != "E4" {
			t.Fatalf("join error: %v", ev)
		}
	})
	t.Run("DeliveryAndOthers", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.send("@d1 send bob,ghost hi")
		if ev := a.expectNext("delivery", "to", "bob"); labelOf(ev) != "d1" {
			t.Fatalf("delivery: %v", ev)
		}
		if ev := a.expectNext("delivery", "to", "ghost", "status", "no_such_user"); labelOf(ev) != "d1" {
			t.Fatalf("delivery: %v", ev)
		}
		if ev := b.expect("message", "kind", "private"); has(ev, "label") {
			t.Fatalf("private message carries the sender's label: %v", ev)
		}
	})
	t.Run("OwnCopies", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.send("@c1 hello room", "@c2 broadcast hello all", "@c3 me waves")
		for _, want := range []struct{ kind, label string }{{"room", "c1"}, {"broadcast", "c2"}, {"room", "c3"}} {
			ev := a.expectNext("message", "kind", want.kind)
			if labelOf(ev) != want.label {
				t.Fatalf("own copy: %v", ev)
			}
			if ev := b.expect("message", "kind", want.kind); has(ev, "label") {
				t.Fatalf("others' copy: %v", ev)
			}
		}
	})
	t.Run("NotALabel", func(t *testing.T) {
		a := a.in(t)
		long := strings.Repeat("x", 33)
		for _, line := range []string{"@ echo x", "@" + long + " echo x", "@a.b echo x"} {
			a.send(line)
			if ev := a.expectNext("message", "kind", "room"); ev.str("text") != line || has(ev, "label") {
				t.Fatalf("%q: %v", line, ev)
			}
		}
		a.send("@" + long[:32] + " echo x")
		if ev := a.expectNext("ok", "cmd", "echo"); labelOf(ev) != long[:32] {
			t.Fatalf("32 characters: %v", ev)
		}
	})
	t.Run("PromptsAndMode", func(t *testing.T) {
		a := a.in(t)
		a.send("@p1 passwd")
		if ev := a.expectNext("prompt", "field", "old_password"); labelOf(ev) != "p1" {
			t.Fatalf("prompt: %v", ev)
		}
		a.send("@p2 wrong") // a password is never read as a label
		if ev := a.expectNext("prompt", "field", "new_password"); labelOf(ev) != "p1" {
			t.Fatalf("prompt: %v", ev)
		}
		a.send("x", "x")
		a.expectNext("prompt", "field", "repeat_password")
		if ev := a.expectNext("error", "cmd", "passwd"); labelOf(ev) != "p1" || ev.str("code") != "bad_credentials" {
			t.Fatalf("passwd: %v", ev)
		}
		a.send("@m1 mode json")
		if ev := a.expectNext("ok", "cmd", "mode"); labelOf(ev) != "m1" {
			t.Fatalf("mode: %v", ev)
		}
	})
	t.Run("TextModePrintsNone", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		got := a.textOf("@t1 echo plain", "@bob are you there?")
		if len(got) != 2 || got[0] != "plain" || !strings.HasSuffix(got[1], "<alice> @bob are you there?") {
			t.Fatalf("text mode: %q", got)
		}
		// In text mode "@bob ..." is chat as typed.
		if ev := b.expect("message", "kind", "room", "from", "alice", "text", "@bob are you there?"); has(ev, "label") {
			t.Fatalf("bob got %v", ev)
		}
	})
	t.Run("LoginAndLogout", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.send("@l1 bob")
		if ev := c.expectNext("prompt", "field", "password"); labelOf(ev) != "l1" {
			t.Fatalf("password prompt: %v", ev)
		}
		c.send("password1")
		if ev := c.expectNext("error", "code", "already_online"); labelOf(ev) != "l1" {
			t.Fatalf("login: %v", ev)
		}
		if ev := c.expectNext("prompt", "field", "username"); has(ev, "label") {
			t.Fatalf("a new login is not an answer: %v", ev)
		}
		b.in(t).send("@bye1 logout")
		if ev := b.in(t).expect("bye"); labelOf(ev) != "bye1" {
			t.Fatalf("bye: %v", ev)
		}
		c.send("@l2 bob", "password1")
		c.expectNext("prompt", "field", "password")
		if ev := c.expect("welcome"); labelOf(ev) != "l2" {
			t.Fatalf("welcome: %v", ev)
		}
		if ev := a.in(t).expect("presence", "event", "login", "user", "bob"); has(ev, "label") {
			t.Fatalf("presence: %v", ev)
		}
	})
}

// ---- IRC habits: me, away, names, aliases ----

func TestMeAwayNames(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	settleAll(a, b)

	t.Run("Me", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.send("me waves", "/action nods")
		for _, want := range []string{"waves", "nods"} {
			ev := b.expect("message", "kind", "room", "from", "alice")
			if ev.str("text") != want || ev["action"] != true {
				t.Fatalf("action: %v", ev)
			}
		}
		got := b.textOf("echo x") // sync
		_ = got
		if l := a.textOf("me grins"); len(l) != 1 || l[0] != "[lobby] * alice grins" {
			t.Fatalf("text action: %q", l)
		}
		a.fails("me", "me", "bad_args")
		// Actions are stored room lines like any other.
		h := a.historyOf("history 1")
		if len(h) != 1 || h[0]["action"] != true || h[0].str("text") != "grins" {
			t.Fatalf("history of an action: %v", h)
		}
	})
	t.Run("AwayAndBack", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		if ev := a.do("away lunch, back at 2", "away"); ev.str("text") != "lunch, back at 2" {
			t.Fatalf("away: %v", ev)
		}
		if ev := b.expect("presence", "event", "away", "user", "alice"); ev.str("text") != "lunch, back at 2" {
			t.Fatalf("presence away: %v", ev)
		}
		b.send("msg alice are you there")
		if ev := b.expect("delivery", "to", "alice"); ev.str("status") != "delivered" || ev.str("away") != "lunch, back at 2" {
			t.Fatalf("delivery to someone away: %v", ev)
		}
		a.expect("message", "kind", "private", "from", "bob")
		if info := b.do("whois alice", "check")["info"].(map[string]any); info["away"] != "lunch, back at 2" {
			t.Fatalf("whois: %v", info)
		}
		a.do("back", "back")
		b.expect("presence", "event", "back", "user", "alice")
		b.send("message alice hi")
		if ev := b.expect("delivery", "to", "alice"); has(ev, "away") {
			t.Fatalf("still away: %v", ev)
		}
		if ev := a.do("back", "back"); !strings.Contains(ev.str("text"), "not away") {
			t.Fatalf("back twice: %v", ev)
		}
		if ev := a.do("away", "away"); ev.str("text") == "" {
			t.Fatalf("away without a message: %v", ev)
		}
		a.do("back", "back")
	})
	t.Run("Names", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		if got := a.users("names", "names"); got != "alice,bob" {
			t.Fatalf("names = %s", got)
		}
		a.do("create #den", "create")
		settleAll(a, b)
		if ev := b.do("names #DEN", "names"); ev.str("room") != "den" || strings.Join(ev.strs("users"), ",") != "alice" {
			t.Fatalf("names #DEN: %v", ev)
		}
		// alice is still a member of the lobby too.
		if got := b.users("names", "names"); got != "alice,bob" {
			t.Fatalf("names = %s", got)
		}
		b.fails("names nowhere", "names", "no_such_room")
		b.fails("names a b", "names", "bad_args")
		a.do("part", "leave")
	})
	t.Run("Aliases", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		if ev := a.do("list", "rooms"); len(ev["rooms"].([]any)) != 2 {
			t.Fatalf("list: %v", ev)
		}
		a.send("send bob,carol hi both")
		a.expect("delivery", "to", "bob", "status", "delivered")
		a.expect("delivery", "to", "carol", "status", "stored")
		if ev := b.expect("message", "kind", "private"); strings.Join(ev.strs("to"), ",") != "bob,carol" {
			t.Fatalf("to: %v", ev)
		}
		if ev := b.do("join #den", "join"); ev.str("room") != "den" {
			t.Fatalf("join #den: %v", ev)
		}
		b.do("/part", "leave")
		a.do("close #den", "close")
	})
}

// historyOf runs a history or search line and returns the history messages
// before its ok.
func (c *client) historyOf(line string) []event {
	c.t.Helper()
	return c.historyOfWithin(line, 5*time.Second)
}

// historyOfWithin is historyOf for an answer that may take up to d per
// event (a heavy search under the race detector).
func (c *client) historyOfWithin(line string, d time.Duration) []event {
	c.t.Helper()
	c.send(line)
	var out []event
	for {
		ev, err := c.tryNext(d)
		if err != nil {
			c.t.Fatalf("%s: reading: %v", line, err)
		}
		switch {
		case ev.str("type") == "message" && ev.str("kind") == "history":
			out = append(out, ev)
		case ev.str("type") == "ok" && (ev.str("cmd") == "history" || ev.str("cmd") == "search"):
			if n, _ := ev["count"].(float64); int(n) != len(out) {
				c.t.Fatalf("%s: count %v but %d lines", line, ev["count"], len(out))
			}
			return out
		case ev.str("type") == "error":
			c.t.Fatalf("%s: %v", line, ev)
		}
	}
}

// ---- room moderation ----

func TestTopic(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	ts.addUser("root", "password0", true)
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	r := login(t, ts.addr, "root", "password0")
	a.do("create den", "create")
	b.do("join den", "join")
	settleAll(a, b, r)

	if ev := b.do("topic", "topic"); ev.str("topic") != "" || ev.str("room") != "den" {
		t.Fatalf("no topic: %v", ev)
	}
	b.fails("topic mine now", "topic", "not_permitted")
	if ev := a.do("topic cats and \x1b[2Jdogs", "topic"); ev.str("topic") != "cats and [2Jdogs" {
		t.Fatalf("set: %v", ev)
	}
	if ev := b.expect("room", "event", "topic", "room", "den"); ev.str("topic") != "cats and [2Jdogs" || ev.str("user") != "alice" {
		t.Fatalf("topic event: %v", ev)
	}
	a.fails("topic "+strings.Repeat("x", 301), "topic", "bad_args")
	a.do("topic cats only", "topic")
	b.expect("room", "event", "topic")
	if got := r.do("rooms", "rooms"); !strings.Contains(fmt.Sprint(got["rooms"]), "topic:cats only") {
		t.Fatalf("rooms: %v", got)
	}
	if l := strings.Join(r.textOf("list"), "\n"); !strings.Contains(l, "topic: cats only") {
		t.Fatalf("rooms in text:\n%s", l)
	}
	// An admin may set any room's topic, the lobby's too; others may not
	// touch the lobby's.
	r.do("topic welcome all", "topic")
	b.do("leave", "leave")
	b.fails("topic mine", "topic", "not_permitted")

	ts = ts.restart()
	b = login(t, ts.addr, "bob", "password1")
	if ev := b.do("topic", "topic"); ev.str("topic") != "welcome all" {
		t.Fatalf("lobby topic after restart: %v", ev)
	}
	b.send("join den")
	b.expectNext("ok", "cmd", "join")
	if ev := b.expectNext("room", "event", "topic"); ev.str("topic") != "cats only" || has(ev, "user") {
		t.Fatalf("topic on join after restart: %v", ev)
	}
	if l := b.textOf("leave", "join den"); !slicesContains(l, "* topic of den: cats only") {
		t.Fatalf("text join: %q", l)
	}
	a = login(t, ts.addr, "alice", "password1")
	a.do("join den", "join")
	a.do("topic -", "topic")
	if ev := b.expect("room", "event", "topic"); ev.str("topic") != "" {
		t.Fatalf("cleared: %v", ev)
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if strings.HasSuffix(x, s) {
			return true
		}
	}
	return false
}

func TestInviteRoomPasswdTransfer(t *testing.T) {
	top := t
	// Room password failures lock like login failures (issue 10); this
	// test makes several before the right one.
	ts := startServer(t, func(c *chatd.Config) { c.Lockout.Attempts = 10 })
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.do("create vault secret1", "create")
	settleAll(a, b)

	errs := []struct{ name, who, line, cmd, code string }{
		{"InviteSelf", "a", "invite alice", "invite", "self"},
		{"InviteNobody", "a", "invite ghost", "invite", "no_such_user"},
		{"InviteBadArgs", "a", "invite", "invite", "bad_args"},
		{"InviteNotOwner", "b", "invite carol", "invite", "not_permitted"},
		{"RoomPasswdNotOwner", "b", "roompasswd x", "roompasswd", "not_permitted"},
		{"RoomPasswdBadArgs", "a", "roompasswd a b", "roompasswd", "bad_args"},
		{"TransferNotOwner", "b", "transfer bob", "transfer", "not_permitted"},
		{"TransferSelf", "a", "transfer alice", "transfer", "self"},
		{"TransferNobody", "a", "transfer ghost", "transfer", "no_such_user"},
		{"TransferNotMember", "a", "transfer bob", "transfer", "not_permitted"},
		{"TransferBadArgs", "a", "transfer", "transfer", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			c := a
			if tc.who == "b" {
				c = b
			}
			c.in(t).fails(tc.line, tc.cmd, tc.code)
		})
	}
	t.Run("Invite", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		b.fails("join vault", "join", "bad_room_password")
		a.do("invite bob", "invite")
		if ev := b.expect("room", "event", "invited"); ev.str("room") != "vault" || ev.str("by") != "alice" {
			t.Fatalf("invited: %v", ev)
		}
		b.do("join #vault", "join")
		b.do("leave", "leave")
		// Once only.
		b.fails("join vault", "join", "bad_room_password")
	})
	t.Run("InviteSurvivesRestart", func(t *testing.T) {
		a.in(t).do("invite carol", "invite")
		ts = ts.restart()
		c := login(t, ts.addr, "carol", "password1")
		c.do("join vault", "join")
		a = login(top, ts.addr, "alice", "password1")
		b = login(top, ts.addr, "bob", "password1")
	})
	t.Run("RoomPasswd", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.do("join vault secret1", "join")
		if ev := a.do("roompasswd", "roompasswd"); ev["locked"] != false {
			t.Fatalf("remove: %v", ev)
		}
		b.do("join vault", "join")
		b.do("leave", "leave")
		a.do("roompasswd newsecret", "roompasswd")
		b.fails("join vault secret1", "join", "bad_room_password")
		b.do("join vault newsecret", "join")
	})
	t.Run("Transfer", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		settleAll(a, b)
		if ev := a.do("transfer BOB", "transfer"); ev.str("user") != "bob" {
			t.Fatalf("transfer: %v", ev)
		}
		if ev := b.expect("room", "event", "owner"); ev.str("user") != "bob" || ev.str("by") != "alice" {
			t.Fatalf("owner event: %v", ev)
		}
		if got := a.rooms()["vault"].owner; got != "bob" {
			t.Fatalf("owner = %s", got)
		}
		a.fails("topic mine", "topic", "not_permitted")
		b.do("topic bob's now", "topic")
		ts = ts.restart()
		c := login(t, ts.addr, "carol", "password1")
		if got := c.rooms()["vault"].owner; got != "bob" {
			t.Fatalf("owner after restart = %s", got)
		}
	})
}

func TestRoomBan(t *testing.T) {
	top := t
	ts, a, b, c, r := denWithAdmin(t)

	errs := []struct {
		name            string
		who             *client
		line, cmd, code string
	}{
		{"BanSelf", a, "roomban alice", "roomban", "self"},
		{"BanNobody", a, "roomban ghost", "roomban", "no_such_user"},
		{"BanBadArgs", a, "roomban", "roomban", "bad_args"},
		{"BanBadDuration", a, "roomban bob 30", "roomban", "bad_args"},
		{"BanBadDurationWord", a, "roomban bob for spam", "roomban", "bad_args"},
		{"BanNotOwner", b, "roomban carol", "roomban", "not_permitted"},
		{"BanInLobby", r, "roomban bob", "roomban", "not_permitted"},
		{"UnbanNotBanned", a, "roomunban bob", "roomunban", "bad_args"},
		{"UnbanNotOwner", b, "roomunban carol", "roomunban", "not_permitted"},
		{"UnbanNobody", a, "roomunban ghost", "roomunban", "no_such_user"},
		{"UnbanBadArgs", a, "roomunban", "roomunban", "bad_args"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) { tc.who.in(t).fails(tc.line, tc.cmd, tc.code) })
	}
	t.Run("ForGood", func(t *testing.T) {
		a, b, c := a.in(t), b.in(t), c.in(t)
		if ev := a.do("roomban bob", "roomban"); ev["until"] != nil || ev.str("user") != "bob" {
			t.Fatalf("roomban: %v", ev)
		}
		if ev := b.expect("room", "event", "banned"); ev.str("by") != "alice" || ev["until"] != nil {
			t.Fatalf("banned event to bob: %v", ev)
		}
		c.expect("room", "event", "banned", "user", "bob")
		b.settle()
		if room := b.roomOf(); room != "lobby" {
			t.Fatalf("bob is in %s", room)
		}
		if e := b.fails("join den", "join", "not_permitted"); !has(e, "until") || e["until"] != nil {
			t.Fatalf("join while banned: %v", e)
		}
		// The owner cannot be banned from their own room, even by an admin.
		r.in(t).do("join den", "join")
		r.in(t).fails("roomban alice", "roomban", "not_permitted")
	})
	t.Run("SurvivesRestart", func(t *testing.T) {
		ts = ts.restart()
		b = login(top, ts.addr, "bob", "password1")
		b.in(t).fails("join den", "join", "not_permitted")
		a = login(top, ts.addr, "alice", "password1")
		a.in(t).do("join den", "join")
		c = login(top, ts.addr, "carol", "password1")
	})
	t.Run("Unban", func(t *testing.T) {
		a.in(t).do("roomunban BOB", "roomunban")
		b.in(t).do("join den", "join")
		b.in(t).do("leave", "leave")
	})
	t.Run("WithDuration", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		ev := a.do("roomban bob 1h", "roomban")
		until, err := time.Parse(time.RFC3339, ev.str("until"))
		if err != nil || until.Sub(ts.clock.now()) > time.Hour || until.Sub(ts.clock.now()) < 59*time.Minute {
			t.Fatalf("until: %v", ev)
		}
		if e := b.fails("join den", "join", "not_permitted"); e.str("until") != ev.str("until") {
			t.Fatalf("join: %v", e)
		}
		ts.clock.advance(time.Hour + time.Second)
		b.do("join den", "join")
	})
	t.Run("InvitationDoesNotBeatABan", func(t *testing.T) {
		a, c := a.in(t), c.in(t)
		a.do("roomban carol", "roomban")
		a.fails("invite carol", "invite", "not_permitted")
		c.fails("join den", "join", "not_permitted")
	})
}

// ---- history and search ----

func TestHistoryAndSearch(t *testing.T) {
	top := t
	ts := startServer(t, func(c *chatd.Config) {
		c.Messages.HistoryOnJoin = 3
		c.Messages.HistoryKeep = 30
	})
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	a.do("create den", "create")
	for i := range 40 {
		word := "plain"
		if i%2 == 0 {
			word = "needle"
		}
		a.send(fmt.Sprintf("line %d %s", i, word))
	}
	a.settle()
	texts := func(evs []event) string {
		var out []string
		for _, e := range evs {
			if e.str("room") != "den" || e.str("from") != "alice" {
				t.Fatalf("line %v", e)
			}
			if _, err := time.Parse(time.RFC3339, e.str("ts")); err != nil {
				t.Fatalf("no time: %v", e)
			}
			out = append(out, e.str("text"))
		}
		return strings.Join(out, "|")
	}
	t.Run("History", func(t *testing.T) {
		a := a.in(t)
		if got := texts(a.historyOf("history 2")); got != "line 38 needle|line 39 plain" {
			t.Fatalf("history 2: %s", got)
		}
		if got := a.historyOf("history"); len(got) != 20 || got[19].str("text") != "line 39 plain" {
			t.Fatalf("history: %d lines", len(got))
		}
		// history_keep = 30: the oldest ten are gone.
		if got := a.historyOf("history 200"); len(got) != 30 || got[0].str("text") != "line 10 needle" {
			t.Fatalf("history 200: %d lines, first %v", len(got), got[0])
		}
		a.fails("history 0", "history", "bad_args")
		a.fails("history 201", "history", "bad_args")
		a.fails("history x", "history", "no_such_room") // a conversation, not a count
	})
	t.Run("Search", func(t *testing.T) {
		a := a.in(t)
		got := a.historyOf("search NEEDLE")
		if len(got) != 15 || got[0].str("text") != "line 38 needle" || got[14].str("text") != "line 10 needle" {
			t.Fatalf("search: %s", texts(got))
		}
		if got := texts(a.historyOf("search 38 needle")); got != "line 38 needle" {
			t.Fatalf("two words: %s", got)
		}
		if got := a.historyOf("search zebra"); len(got) != 0 {
			t.Fatalf("no match: %v", got)
		}
		a.fails("search", "search", "bad_args")
		a.fails("search ***", "search", "bad_args")
		// Only the room you are in.
		a.do("leave", "leave")
		if got := a.historyOf("search needle"); len(got) != 0 {
			t.Fatalf("lobby search found den's lines: %v", got)
		}
		a.do("join den", "join")
		a.settle() // the replay on join
	})
	t.Run("AtMost20", func(t *testing.T) {
		a := a.in(t)
		for i := range 25 {
			a.send(fmt.Sprintf("haystack %d", i))
		}
		got := a.historyOf("search haystack")
		if len(got) != 20 || got[0].str("text") != "haystack 24" || got[19].str("text") != "haystack 5" {
			t.Fatalf("search: %s", texts(got))
		}
	})
	t.Run("SurvivesRestart", func(t *testing.T) {
		ts = ts.restart()
		a = login(top, ts.addr, "alice", "password1")
		a.in(t).do("join den", "join")
		a.in(t).settle() // the replay on join
		if got := a.in(t).historyOf("search haystack 24"); len(got) != 1 {
			t.Fatalf("after restart: %v", got)
		}
		if got := a.in(t).historyOf("history 200"); len(got) != 30 {
			t.Fatalf("after restart: %d lines", len(got))
		}
	})
	t.Run("TextMode", func(t *testing.T) {
		l := a.in(t).textOf("search haystack 24")
		if len(l) != 2 || !regexp.MustCompile(`^\d\d:\d\d \[den\] <alice> haystack 24$`).MatchString(l[0]) {
			t.Fatalf("text search: %q", l)
		}
	})
}

// ---- settings: timestamps and timezone ----

func TestSetTimestampsAndTimezone(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	settleAll(a, b)

	if ev := a.do("set", "set"); fmt.Sprint(ev["settings"]) != "map[bot:off ids:off timestamps:off timezone:UTC]" {
		t.Fatalf("defaults: %v", ev)
	}
	for _, line := range []string{"set colour red", "set timestamps maybe", "set timestamps", "set timezone Mars/Olympus", "set timezone Local", "set timezone Europe/Paris extra"} {
		a.fails(line, "set", "bad_args")
	}
	live := regexp.MustCompile(`^(\d\d):(\d\d) \[lobby\] <bob> hello$`)
	hello := func() { b.send("hello"); b.settle() }
	// Off: live lines carry no time.
	if l := a.textWith(hello); len(l) != 1 || l[0] != "[lobby] <bob> hello" {
		t.Fatalf("timestamps off: %q", l)
	}
	a.do("set timestamps on", "set")
	l := a.textWith(hello)
	m := live.FindStringSubmatch(l[0])
	if m == nil {
		t.Fatalf("timestamps on: %q", l)
	}
	utc := ts.clock.now().UTC()
	if m[1]+":"+m[2] != utc.Format("15:04") && m[1]+":"+m[2] != utc.Add(-time.Minute).Format("15:04") {
		t.Fatalf("time %s:%s, now %s UTC", m[1], m[2], utc.Format("15:04"))
	}
	if ev := a.do("set timezone Asia/Kolkata", "set"); ev.str("value") != "Asia/Kolkata" {
		t.Fatalf("set timezone: %v", ev)
	}
	l = a.textWith(hello)
	m = live.FindStringSubmatch(l[0])
	kolkata := ts.clock.now().In(time.FixedZone("IST", 5*3600+1800))
	if m == nil || (m[1]+":"+m[2] != kolkata.Format("15:04") && m[1]+":"+m[2] != kolkata.Add(-time.Minute).Format("15:04")) {
		t.Fatalf("Asia/Kolkata: %q, want about %s", l, kolkata.Format("15:04"))
	}
	// JSON times stay UTC whatever the setting.
	a.settle()
	b.send("hello")
	if ev := a.expect("message", "kind", "room"); !strings.HasSuffix(ev.str("ts"), "Z") {
		t.Fatalf("ts %v", ev)
	}

	// Replayed and offline lines use the same format, timestamps on or
	// off; a line from an earlier day shows its date.
	b.send("logout")
	b.closed()
	a.send("send bob an offline note")
	a.expect("delivery", "status", "stored")
	ts = ts.restart()
	ts.clock.advance(48 * time.Hour)
	c := dialRaw(t, ts.addr)
	c.send("bob", "password1")
	var got []string
	for {
		l, err := c.readLine(5 * time.Second)
		if err != nil {
			t.Fatalf("text login: %v after %q", err, got)
		}
		got = append(got, l)
		if strings.Contains(l, "an offline note") {
			break
		}
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d \[offline\] \*alice\* an offline note$`).MatchString(got[len(got)-1]) {
		t.Fatalf("offline line: %q", got[len(got)-1])
	}
	c.send("history 2")
	dated := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d \[lobby\] <bob> hello$`)
	for range 2 {
		l, err := c.readLine(5 * time.Second)
		for err == nil && !strings.Contains(l, "hello") {
			l, err = c.readLine(5 * time.Second)
		}
		if err != nil || !dated.MatchString(l) {
			t.Fatalf("replayed line %q, %v", l, err)
		}
	}

	// Settings survive a restart.
	a = login(t, ts.addr, "alice", "password1")
	if ev := a.do("set", "set"); fmt.Sprint(ev["settings"]) != "map[bot:off ids:off timestamps:on timezone:Asia/Kolkata]" {
		t.Fatalf("after restart: %v", ev)
	}
	if l := a.textOf("time"); !strings.Contains(l[0], "in Asia/Kolkata") {
		t.Fatalf("time: %q", l)
	}
}

// ---- wording ----

func TestRoomNameWording(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := login(t, ts.addr, "alice", "password1")
	e := a.fails("create x", "create", "bad_name")
	if !strings.Contains(e.str("text"), "room name") || strings.Contains(e.str("text"), "user name (") {
		t.Fatalf("create x: %v", e)
	}
}

func TestHelpShowsNewCommands(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := login(t, ts.addr, "alice", "password1")
	for _, tc := range []struct{ line, command, usage string }{
		{"help topic", "topic", "topic [TEXT]"},
		{"help roomban", "roomban", "roomban USER [DURATION] | MASK"},
		{"help whois", "check", "check [USER]"},
		{"help part", "leave", "leave [ROOM]"},
		{"help list", "rooms", "rooms [mine]"},
		{"help action", "me", "me TEXT"},
		{"help search", "search", "search [#ROOM|@USER] WORDS"},
		{"help set", "set", "set [KEY VALUE]"},
	} {
		ev := a.do(tc.line, "help")
		if ev.str("command") != tc.command || ev.str("usage") != tc.usage {
			t.Fatalf("%s: %v", tc.line, ev)
		}
	}
}
