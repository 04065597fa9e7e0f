package daemon

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"chatd"
)

// A live room message is rendered once for each set of the capabilities
// that change its line, and every session with that set gets the same
// bytes as a rendering of its own would give.
func TestIRCRoomMessageRenderedOncePerCapabilitySet(t *testing.T) {
	srv := &Server{}
	newIRC := func(nick string, caps uint64) *session {
		s := &session{srv: srv, user: nick, irc: &ircState{}}
		s.irc.nickNow.Store(&nick)
		s.irc.caps.Store(caps)
		return s
	}
	at := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	id := chatd.FormatID(uint64(at.UnixMilli()) << 16)
	ev := roomMessage(kindRoom, id, "alice", "den", "hello all", at, false).
		withClientTags(map[string]string{"+draft/react": "x"})

	plain := []*session{newIRC("bob", 0), newIRC("carol", capEchoMessage), newIRC("dave", capMultiPrefix)}
	tagged := []*session{newIRC("erin", capServerTime|capMessageTags|capAccountTag), newIRC("frank", capServerTime|capMessageTags|capAccountTag|capEchoMessage)}
	timed := newIRC("gina", capServerTime)
	want := map[*session]string{}
	for _, s := range append(append(plain, tagged...), timed) {
		want[s] = string(s.renderIRCMessage(nil, ev, s.irc.me(), "alice", kindRoom))
	}
	for _, s := range append(append(plain, tagged...), timed) {
		got := string(s.appendIRCMessage([]byte("x"), ev, s.irc.me()))
		if got != "x"+want[s] {
			t.Errorf("%s got %q, want %q", s.user, got, "x"+want[s])
		}
	}
	if l := want[plain[0]]; l != ":alice!alice@chatd PRIVMSG #den :hello all\r\n" {
		t.Errorf("plain line %q", l)
	}
	if l := want[tagged[0]]; !strings.HasPrefix(l, "@time=2026-12-06T17:00:00.000Z;msgid="+id+";account=alice;+draft/react=x :alice!") {
		t.Errorf("tagged line %q", l)
	}
	if l := want[timed]; !strings.HasPrefix(l, "@time=2026-12-06T17:00:00.000Z :alice!") {
		t.Errorf("server-time line %q", l)
	}
	n := 0
	for r := ev.ircOut.Load(); r != nil; r = r.next {
		n++
	}
	if n != 3 {
		t.Errorf("%d renderings kept for 3 capability sets", n)
	}

	// The sender's own line is skipped without echo-message, and a
	// private message is the recipient's own (its target is their nick).
	alice := newIRC("alice", 0)
	if got := alice.appendIRCMessage(nil, ev, "alice"); len(got) != 0 {
		t.Errorf("the sender got its own line without echo-message: %q", got)
	}
	pm := privateMessage(kindPrivate, id, "alice", []string{"bob", "carol"}, "psst", at)
	for _, s := range plain[:2] {
		got := string(s.appendIRCMessage(nil, pm, s.irc.me()))
		if want := ":alice!alice@chatd PRIVMSG " + s.user + " psst\r\n"; got != want {
			t.Errorf("%s got %q, want %q", s.user, got, want)
		}
	}
	if pm.ircOut.Load() != nil {
		t.Error("a private message was shared between its recipients")
	}
}

// BenchmarkIRCRoomLine renders one live room line for 1,000 IRC members
// with the same capabilities, into one buffer as a flush does: "shared"
// as the output does now, "each" as every member rendering its own (what
// it did before). ns/op divided by 1,000 is the cost per delivery.
func BenchmarkIRCRoomLine(b *testing.B) {
	srv := &Server{}
	members := make([]*session, 1000)
	for i := range members {
		nick := "user" + strings.Repeat("x", i%7)
		s := &session{srv: srv, user: nick, irc: &ircState{}}
		s.irc.nickNow.Store(&nick)
		members[i] = s
	}
	at := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	id := chatd.FormatID(uint64(at.UnixMilli()) << 16)
	for _, mode := range []string{"shared", "each"} {
		b.Run(mode, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			for b.Loop() {
				ev := roomMessage(kindRoom, id, "alice", "bench", "bench 12 3 1765040400000000000", at, false)
				for _, s := range members {
					if mode == "shared" {
						buf = s.appendIRCMessage(buf[:0], ev, s.irc.me())
					} else {
						buf = s.renderIRCMessage(buf[:0], ev, s.irc.me(), ev.str("from"), ev.str("kind"))
					}
				}
			}
		})
	}
}

// The nicks an IRC client was shown are kept as a set of hashes: what was
// added is there until removed, nothing else is, and the map holds no
// pointer for the garbage collector to follow.
func TestNickSetHoldsNoPointers(t *testing.T) {
	var n nickSet
	if n.has("alice") {
		t.Fatal("an empty set has alice")
	}
	n.remove("alice") // removing from an empty set is fine
	for i := range 1000 {
		n.add(chatd.Key("User" + strings.Repeat("x", i%50) + string(rune('a'+i%26))))
	}
	n.add("alice")
	if !n.has("alice") || n.has("bob") || n.has("Alice") {
		t.Errorf("has alice %v, bob %v, Alice %v; want true, false, false (keys are folded before)", n.has("alice"), n.has("bob"), n.has("Alice"))
	}
	n.remove("alice")
	if n.has("alice") {
		t.Error("alice still there after remove")
	}
	if k := reflect.TypeFor[nickSet]().Key().Kind(); k != reflect.Uint64 {
		t.Errorf("the set's keys are %v, want uint64 (no pointers to scan)", k)
	}
}
