package daemon_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"chatd"
)

// Tests of mentions (PROTOCOL.md 10, issue 21 item 3).

// mentionsOf is the mentions a message event carries; absent is nil.
func mentionsOf(ev event) []string {
	if _, ok := ev["mentions"]; !ok {
		return nil
	}
	return ev.strs("mentions")
}

// A room line that names a member marks them, live (on every device of
// theirs, and on the sender's own copy) and in history; a name that is no
// member of the room, an address and the sender marks nobody.
func TestMentionsLiveAndInHistory(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Accounts.DuplicateLogin = "multi"
		c.Accounts.MaxSessions = 2
	})
	ts.addUsers("alice", "bob", "carol", "dave")
	alice := login(t, ts.addr, "alice", "password1")
	bob1 := login(t, ts.addr, "bob", "password1")
	bob2 := login(t, ts.addr, "bob", "password1")
	carol := login(t, ts.addr, "carol", "password1")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	for _, c := range []*client{bob1, bob2, carol} {
		c.send("join den")
		c.expect("ok", "cmd", "join")
	}

	// dave exists and is no member of den; bob is named three times, once
	// with a comma after, once in another case; alice names herself.
	text := "@BOB, look: @dave @nobody mail bob@example.com @alice and @bob again"
	alice.send("say #den " + text)
	own := alice.expect("message", "kind", "room", "text", text)
	if got := mentionsOf(own); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("sender's copy: mentions %v, want [bob]: %v", got, own)
	}
	for _, c := range []*client{bob1, bob2, carol} {
		ev := c.expect("message", "kind", "room", "text", text)
		if got := mentionsOf(ev); !slices.Equal(got, []string{"bob"}) {
			t.Fatalf("%s: mentions %v, want [bob]: %v", c.name, got, ev)
		}
	}
	// Several members, in the order the line names them; none at all is
	// no "mentions" member.
	alice.send("say #den @carol and @bob.")
	if got := mentionsOf(bob1.expect("message", "kind", "room", "text", "@carol and @bob.")); !slices.Equal(got, []string{"carol", "bob"}) {
		t.Fatalf("mentions %v, want [carol bob]", got)
	}
	alice.send("say #den nobody here")
	if ev := bob1.expect("message", "kind", "room", "text", "nobody here"); ev["mentions"] != nil {
		t.Fatalf("a line naming nobody carries mentions: %v", ev)
	}

	// History keeps them, and a new login's replay too.
	waitHistory(t, ts, "den", "nobody here")
	bob1.send("history #den")
	for _, want := range []struct {
		text string
		who  []string
	}{{text, []string{"bob"}}, {"@carol and @bob.", []string{"carol", "bob"}}, {"nobody here", nil}} {
		ev := bob1.expect("message", "kind", "history", "text", want.text)
		if got := mentionsOf(ev); !slices.Equal(got, want.who) {
			t.Fatalf("history of %q: mentions %v, want %v", want.text, got, want.who)
		}
	}
	bob1.expect("ok", "cmd", "history")

	dave := login(t, ts.addr, "dave", "password1")
	dave.send("join den")
	ev := dave.expect("message", "kind", "history", "text", text)
	if got := mentionsOf(ev); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("replay on join: mentions %v, want [bob]", got)
	}
}

// At most chatd.MentionsMax distinct @words of a line are looked at.
func TestMentionsBounded(t *testing.T) {
	ts := startServer(t)
	var names []string
	for i := range chatd.MentionsMax + 2 {
		names = append(names, fmt.Sprintf("user%02d", i))
	}
	ts.addUsers(append([]string{"alice"}, names...)...)
	alice := login(t, ts.addr, "alice", "password1")
	text := "hi @" + strings.Join(names, " @")
	alice.send(text)
	got := mentionsOf(alice.expect("message", "kind", "room", "text", text))
	if !slices.Equal(got, names[:chatd.MentionsMax]) {
		t.Fatalf("mentions %v, want the first %d: %v", got, chatd.MentionsMax, names[:chatd.MentionsMax])
	}
}

// Text mode: the line that names bob rings his bell and starts with ">> ";
// carol, in the same room, sees it as any other line, and so does bob a
// line that does not name him.
func TestMentionBellOnlyForTheMentioned(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	bob := textLogin(t, ts.addr, "bob", "password1")
	carol := textLogin(t, ts.addr, "carol", "password1")
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("hello @bob", "hello all")
	alice.expect("message", "text", "hello all")

	got := bob.readUntil("<alice> hello all\r\n")
	if !strings.Contains(got, "\a>> [lobby] <alice> hello @bob\r\n") {
		t.Fatalf("bob's line is not belled and marked: %q", got)
	}
	if strings.Count(got, "\a") != 1 || strings.Count(got, ">>") != 1 {
		t.Fatalf("bob: more than the one line is marked: %q", got)
	}
	got = carol.readUntil("<alice> hello all\r\n")
	if strings.ContainsAny(got, "\a") || strings.Contains(got, ">>") || !strings.Contains(got, "\r\n[lobby] <alice> hello @bob\r\n") {
		t.Fatalf("carol sees a mention of bob as hers: %q", got)
	}
}

// mentions lists the lines that named me in my rooms, newest first, with
// their rooms, a page at a time; the ok says whether there are more.
func TestMentionsCommand(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	bob.send("join den")
	bob.expect("ok", "cmd", "join")

	said := []string{"say #lobby one @bob", "say #den two @bob", "say #den three", "say #lobby four @Bob", "say #den five @bob"}
	for _, l := range said {
		alice.send(l)
		alice.expect("message", "kind", "room", "text", strings.SplitN(l, " ", 3)[2])
	}
	page := func(line string) (texts []string, ok event) {
		t.Helper()
		bob.send(line)
		for {
			ev := bob.next()
			switch ev.str("type") {
			case "message":
				if ev.str("kind") == "room" {
					continue // said live, before the command
				}
				if ev.str("kind") != "history" || ev.str("from") != "alice" || idOf(t, ev) == "" {
					t.Fatalf("%s: %v", line, ev)
				}
				texts = append(texts, ev.str("room")+": "+ev.str("text"))
			case "ok":
				if ev.str("cmd") != "mentions" {
					t.Fatalf("%s: %v", line, ev)
				}
				return texts, ev
			case "error":
				t.Fatalf("%s: %v", line, ev)
			}
		}
	}
	texts, ok := page("mentions")
	if want := []string{"den: five @bob", "lobby: four @Bob", "den: two @bob", "lobby: one @bob"}; !slices.Equal(texts, want) || ok["more"] != false || ok["count"] != float64(4) {
		t.Fatalf("mentions = %q, %v; want %q", texts, ok, want)
	}
	texts, ok = page("mentions 2")
	if want := []string{"den: five @bob", "lobby: four @Bob"}; !slices.Equal(texts, want) || ok["more"] != true {
		t.Fatalf("mentions 2 = %q, %v; want %q and more", texts, ok, want)
	}
	// The next page starts before the oldest id shown.
	bob.send("history #lobby 1")
	last := idOf(t, bob.expect("message", "kind", "history", "text", "four @Bob"))
	bob.expect("ok", "cmd", "history")
	texts, ok = page("mentions before " + last + " 2")
	if want := []string{"den: two @bob", "lobby: one @bob"}; !slices.Equal(texts, want) || ok["more"] != false {
		t.Fatalf("mentions before = %q, %v; want %q", texts, ok, want)
	}
	// Out of den, its lines are not mine to list.
	bob.send("leave den")
	bob.expect("ok", "cmd", "leave")
	if texts, _ = page("mentions"); !slices.Equal(texts, []string{"lobby: four @Bob", "lobby: one @bob"}) {
		t.Fatalf("mentions after leaving den = %q", texts)
	}
	carol := login(t, ts.addr, "carol", "password1")
	carol.send("echo past the replay")
	carol.expect("ok", "cmd", "echo")
	carol.send("mentions")
	carol.expectNext("ok", "cmd", "mentions", "count", "0", "more", "false")
	for _, bad := range []string{"mentions 0", "mentions 101", "mentions x", "mentions before", "mentions before no/such", "mentions 1 2"} {
		carol.send(bad)
		carol.expectNext("error", "cmd", "mentions", "code", "bad_args")
	}
}

// The welcome counts the mentions after my read marker of each room, and
// says so in text mode; read moves the count with the marker.
func TestWelcomeCountsUnreadMentions(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	bob.send("logout")
	bob.closed()
	var ids []string
	for _, l := range []string{"hi @bob", "plain", "hey @bob again", "and @bob a third time"} {
		alice.send(l)
		ids = append(ids, idOf(t, alice.expect("message", "kind", "room", "text", l)))
	}
	welcome := func() event {
		t.Helper()
		c := dial(t, ts.addr)
		c.send("bob", "password1")
		w := c.expect("welcome", "user", "bob")
		c.send("logout")
		c.closed()
		return w
	}
	if w := welcome(); w["mentions"] != float64(3) {
		t.Fatalf("welcome: mentions %v, want 3: %v", w["mentions"], w)
	}
	// Text mode says it in words.
	tb := dialRaw(t, ts.addr)
	tb.name = "bob"
	tb.send("bob", "password1")
	if got := tb.readUntil("Type help for the list of commands."); !strings.Contains(got, "You were mentioned 3 times while away") {
		t.Fatalf("text welcome: %q", got)
	}
	// (Replayed lines move no marker: only live ones do.)
	tb.send("logout")
	tb.closed()

	c := login(t, ts.addr, "bob", "password1")
	c.send("read #lobby " + ids[0])
	c.expect("ok", "cmd", "read")
	c.send("logout")
	c.closed()
	w := welcome()
	if w["mentions"] != float64(2) {
		t.Fatalf("welcome after read: %v", w)
	}
}
