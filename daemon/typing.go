// Typing notices (PROTOCOL.md 10): typing CONV tells the others in a
// conversation, for a moment, that the user is writing to it. Nothing is
// stored; text mode shows nothing.

package daemon

import (
	"context"
	"strings"
	"sync"
	"time"

	"chatd"
)

// typingEvery is the least time between two typing notices of one user in
// one conversation; the ones between are answered ok and dropped. A client
// may then send one on every keystroke.
const typingEvery = 3 * time.Second

// typingPrune is how many remembered notices make the gate forget the
// ones too old to matter, so the map holds about the users typing now.
const typingPrune = 1024

// typingGate remembers when each user last sent a typing notice to each
// conversation, whichever of their sessions sent it (on this node).
type typingGate struct {
	mu   sync.Mutex           // leaf (DEVELOPING.md, "Locks")
	last map[string]time.Time // chatd.Key(user) NUL conversation's key; guarded by mu
}

// allow reports whether user's notice to conv at now goes out, and if so
// remembers it.
func (g *typingGate) allow(user, conv string, now time.Time) bool {
	k := chatd.Key(user) + "\x00" + chatd.Key(conv)
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.last[k]; ok && now.Sub(t) < typingEvery && !now.Before(t) {
		return false
	}
	if g.last == nil {
		g.last = map[string]time.Time{}
	}
	if len(g.last) >= typingPrune {
		for old, t := range g.last {
			if now.Sub(t) >= typingEvery || now.Before(t) {
				delete(g.last, old)
			}
		}
	}
	g.last[k] = now
	return true
}

// cmdTyping answers typing #ROOM (a room of mine) or typing @USER.
func cmdTyping(ctx context.Context, s *session, args string) error {
	arg := strings.TrimSpace(args)
	if arg == "" || strings.ContainsAny(arg, " \t") {
		return badArgs("typing")
	}
	conv, err := parseConversation(arg)
	if err != nil {
		return err
	}
	n := &note{Kind: noteTyping, By: s.user}
	if conv.Room != "" {
		if n.Room, err = s.memberArg(conv.Room); err != nil {
			return err
		}
		conv.Room = n.Room
	} else {
		if conv, _, err = s.srv.resolveConversation(ctx, s.user, conv); err != nil {
			return err
		}
		n.User = conv.User
	}
	if s.srv.typing.allow(s.user, conv.String(), s.srv.now()) {
		if err := s.srv.effect(ctx, n); err != nil {
			return err
		}
	}
	s.reply(okEvent("typing", "others in "+conv.String()+" see that you are typing", nil, f("conversation", conv.String())))
	return nil
}

// showTyping shows a typing note to this node's sessions: the members of
// the room, or the other user of a private conversation, who sees it as
// the conversation with the typist; never the typist's own sessions, nor
// anyone who blocks them (in a room, when blocks apply to room chat).
func (s *Server) showTyping(n *note) {
	if n.Room != "" {
		ev, notBlocking := typingEvent("#"+n.Room, n.By), s.notBlockingName(n.By)
		for _, o := range s.hub.members(n.Room) {
			if o.user != n.By && notBlocking(o) {
				o.sendLazy(ev)
			}
		}
		return
	}
	ev := typingEvent("@"+n.By, n.By)
	for _, o := range s.hub.sessionsOf(n.User, "") {
		if !o.blocking(n.By) {
			o.sendLazy(ev)
		}
	}
}

// typingEvent tells that user is typing in conv, as the recipient names
// the conversation. Text mode shows nothing: typing is for clients.
func typingEvent(conv, user string) *event {
	return &event{typ: "typing", noText: true, fields: []field{f("conversation", conv), f("user", user)}}
}
