// SETNAME (IRCv3 setname): an IRC user's real name, which USER gives at
// registration and SETNAME changes. It belongs to the user's IRC
// connections, not to the account: chatd stores no real name, and telnet,
// the web page and SSH never show one. WHOIS (311), WHO (352, WHOX r) and
// extended-join show the latest one set by any of the user's IRC
// connections; every node learns it from the setname note.

package daemon

import (
	"context"
	"strings"

	"chatd"
)

// realnameMax is the longest real name, in bytes (NAMELEN in ISUPPORT).
const realnameMax = 200

// ircSetname is SETNAME :new real name. The client is answered with the
// SETNAME itself; the clients with the capability that share a channel
// with the user, or monitor it with extended-monitor, are told.
func ircSetname(ctx context.Context, s *session, m *ircMsg) {
	name := strings.TrimSpace(chatd.CleanText(m.params[0]))
	if name == "" || len(name) > realnameMax {
		s.ircLineOut(s.srv.serverName(), "FAIL", "SETNAME", "INVALID_REALNAME", "A real name is 1 to "+itoa(realnameMax)+" bytes of text")
		return
	}
	s.irc.realname = name
	n := &note{Kind: noteSetname, User: s.user, By: s.user, Src: s.sid, Text: name}
	if err := s.srv.effect(ctx, n); err != nil {
		s.ircError("SETNAME", "*", err)
		return
	}
	if s.irc.has(capSetname) {
		s.ircLineOut(userMask(s.user), "SETNAME", name)
	}
}

// setRealname records name's real name as this node's WHOIS shows it.
func (s *Server) setRealname(name, realname string) {
	id := ircIdent{username: "~" + name, realname: realname}
	if len(id.username) > 11 {
		id.username = id.username[:11]
	}
	if v, ok := s.ircIdents.Load(chatd.Key(name)); ok {
		id = *v.(*ircIdent)
		id.realname = realname
	}
	s.ircIdents.Store(chatd.Key(name), &id)
}

// showSetname records the new real name and shows it to this node's IRC
// sessions with the capability (but src, which has its answer); each
// decides by what it knows whether the user is one it sees (setnameShown).
func (s *Server) showSetname(n *note, src *session) {
	s.setRealname(n.User, n.Text)
	ev := &event{typ: "setname", noText: true, jsonSkip: true, fields: []field{f("user", n.User), f("text", n.Text)}}
	fanout(s.hub.sessions(), ev, src, func(o *session) bool { return o.irc != nil && o.irc.has(capSetname) })
}

// appendIRCSetname renders a setname event for a client that shares a
// channel with the user, monitors it (extended-monitor), or is the user.
func (s *session) appendIRCSetname(buf []byte, ev *event, me string) []byte {
	st := s.irc
	user := ev.str("user")
	k := chatd.Key(user)
	if !st.has(capSetname) || !(k == chatd.Key(me) || st.known.has(k) || st.has(capExtendedMonitor) && st.isMonitored(k)) {
		return buf
	}
	return appendIRC(buf, nil, userMask(user), "SETNAME", ev.str("text"))
}
