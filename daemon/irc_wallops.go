// WALLOPS (docs/irc.md "WALLOPS"): a server admin's message to the IRC
// connections that asked for them with user mode +w. It is IRC's own
// channel for operators: it is not stored, and telnet, SSH and the web
// page never see it (chatd's broadcast is the message to everyone).

package daemon

import (
	"context"
	"strings"

	"chatd"
)

// ircWallops is WALLOPS :text, for server admins (OPER, or an admin
// account). The sender gets its line back too.
func ircWallops(ctx context.Context, s *session, m *ircMsg) {
	if !s.admin.Load() {
		s.numeric("481", "Permission Denied: WALLOPS is for server admins")
		return
	}
	text := strings.TrimSpace(chatd.CleanText(m.params[0]))
	if text == "" {
		s.numeric("412", "No text to send")
		return
	}
	if err := s.srv.effect(ctx, &note{Kind: noteWallops, By: s.user, Src: s.sid, Text: text}); err != nil {
		s.ircError("WALLOPS", "*", err)
		return
	}
	s.ircLineOut(userMask(s.user), "WALLOPS", text)
}

// showWallops queues a WALLOPS to this node's IRC sessions with +w but src.
func (s *Server) showWallops(n *note, src *session) {
	ev := &event{typ: "wallops", noText: true, jsonSkip: true, fields: []field{f("from", n.By), f("text", n.Text)}}
	fanout(s.hub.sessions(), ev, src, func(o *session) bool { return o.irc != nil && o.irc.wallops.Load() })
}
