// SASL after registration and account-notify (docs/irc.md "Changing
// account"). An IRC nick is always its account's name, so a client that
// authenticates as another account once registered cannot keep its nick:
// its session logs out of the account it was (a guest is removed) and in
// to the new one, on the same connection, and its nick becomes the new
// account's name. account-notify tells of the one change of account a
// nick can have in place: a guest's REGISTER.

package daemon

import (
	"context"

	"chatd"
)

// ircAuthenticateLater is AUTHENTICATE from a registered client: the same
// SASL PLAIN exchange as at registration. Authenticating as the session's
// own account changes nothing; as another one, the session moves to it
// (ircSwitch).
func ircAuthenticateLater(ctx context.Context, s *session, m *ircMsg) {
	u := s.ircAuthenticate(ctx, m)
	if u == nil || chatd.Key(u.Name) == chatd.Key(s.user) {
		return
	}
	s.ircSwitch(ctx, u)
}

// ircSwitch moves the session from its account to u's, whose password was
// checked: the client leaves its channels, the old user goes offline as by
// a QUIT (others see "logged in as u"), a guest is removed, the nick
// becomes u's name, and u logs in through the shared enter, whose JOINs
// and replay come as at any login (without 001 to 005 and the MOTD again).
func (s *session) ircSwitch(ctx context.Context, u *chatd.User) {
	st := s.irc
	// The 900 and 903 go out first, with the label if there is one; what
	// follows is the login's, not the command's answer.
	s.ircFlush()
	st.label, s.label = "", ""
	st.collecting.Store(nil)

	old := s.user
	why := "logged in as " + u.Name
	for _, r := range s.srv.hub.roomsOf(s) {
		s.ircLineOut(userMask(old), "PART", "#"+r, why)
	}
	s.ircFlush()
	st.quitReason = why
	s.goOffline(byeLogout)
	st.quitReason = ""
	s.away.Store(nil) // the old user's; the new one starts present
	s.srv.whowas.add(s)
	s.srv.connLog.Info("irc account change", "user", old, "to", u.Name, "addr", s.addr)
	if st.guest {
		s.ircDropGuest()
		st.guest = false
	}
	st.account = u
	st.nickNow.Store(&u.Name)
	s.srv.ircIdents.Store(chatd.Key(u.Name), &ircIdent{username: st.username, realname: st.realname, oper: u.Admin})
	s.ircLineOut(userMask(old), "NICK", u.Name)
	s.ircFlush()
	st.relogin = true
	ok := s.enter(ctx, u)
	st.relogin = false
	if !ok {
		s.end(byeError, "login failed")
		return
	}
	s.ircJoinRooms(ctx)
}

// ircAccountRegistered tells the clients that see the guest name that it
// is now an account of the same name (a guest's REGISTER): ACCOUNT, for
// those with account-notify.
func (s *session) ircAccountRegistered(ctx context.Context) {
	n := &note{Kind: noteAccount, User: s.user, By: s.user, Src: s.sid}
	if err := s.srv.effect(ctx, n); err != nil {
		s.srv.log.Error("tell of a registered guest", "user", s.user, "err", err)
	}
}

// showAccount shows an ACCOUNT change to this node's IRC sessions with
// account-notify but src; each renders it when it sees the user.
func (s *Server) showAccount(n *note, src *session) {
	ev := &event{typ: "account", noText: true, jsonSkip: true, fields: []field{f("user", n.User)}}
	fanout(s.hub.sessions(), ev, src, func(o *session) bool { return o.irc != nil && o.irc.has(capAccountNotify) })
}

// appendIRCAccount renders an account event for a client that shares a
// channel with the user, monitors it (extended-monitor), or is the user.
func (s *session) appendIRCAccount(buf []byte, ev *event, me string) []byte {
	st := s.irc
	user := ev.str("user")
	k := chatd.Key(user)
	if !st.has(capAccountNotify) || !(k == chatd.Key(me) || st.known.has(k) || st.has(capExtendedMonitor) && st.isMonitored(k)) {
		return buf
	}
	return appendIRC(buf, nil, userMask(user), "ACCOUNT", user)
}
