// What an IRC client does before it registers, besides logging in
// (irc.go): the server password ([irc] password, docs/irc.md "Server
// password") that every IRC client must send with PASS, and REGISTER
// before connect (draft/account-registration's before-connect,
// docs/irc.md "Creating an account"), which creates the account the
// connection then comes in as.

package daemon

import (
	"cmp"
	"context"
	"crypto/subtle"
	"strings"

	"chatd"
)

// ircPass takes a PASS before registration. With a server password set,
// a PASS that is that password, or has no ':', is taken as the server
// password; any other PASS (account:password, or with no server
// password the nick's own password) logs an account in, as before.
func (s *session) ircPass(p string) {
	st := s.irc
	if want := s.srv.cfg().IRC.Password; want != "" && (sameSecret(p, want) || !strings.Contains(p, ":")) {
		st.serverPass = p
		return
	}
	st.pass = p
}

// ircServerPassOK reports whether the connection may register: there is
// no server password, or the client sent it.
func (s *session) ircServerPassOK() bool {
	want := s.srv.cfg().IRC.Password
	return want == "" || sameSecret(s.irc.serverPass, want)
}

// sameSecret compares two secrets in time that does not depend on where
// they differ.
func sameSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// capValue is the value CAP LS 302 shows for the capability bit, whose
// value in ircCaps is value: draft/account-registration says
// before-connect while [irc] register_before_connect is on.
func (s *Server) capValue(bit uint64, value string) string {
	if bit == capAccountRegistration && s.cfg().IRC.RegisterBeforeConnect {
		return "before-connect"
	}
	return value
}

// ircRegisterEarly is REGISTER before the connection has registered:
// with before-connect offered, it creates the account named by the nick
// (the password hashed through the same gate as every registration) and
// the connection comes in as it, as after SASL; else the client is told
// to connect first (ircRegisterAccount then makes a guest's nick an
// account). The e-mail is not used.
func (s *session) ircRegisterEarly(ctx context.Context, m *ircMsg) {
	st := s.irc
	cfg := s.srv.cfg()
	name := m.param(0)
	fail := func(code, text string) {
		s.ircLineOut(s.srv.serverName(), "FAIL", "REGISTER", code, cmp.Or(name, "*"), text)
	}
	switch {
	case len(m.params) < 3:
		s.numeric("461", "REGISTER", "Not enough parameters")
		return
	case cfg.Accounts.Registration != "open":
		fail("TEMPORARILY_UNAVAILABLE", "Accounts are created by the server's admins")
		return
	case !cfg.IRC.RegisterBeforeConnect:
		fail("COMPLETE_CONNECTION_REQUIRED", "Register once you are connected")
		return
	case st.account != nil:
		fail("ALREADY_AUTHENTICATED", "You are logged in to an account already")
		return
	case st.nick == "":
		fail("NEED_NICK", "Send NICK first: the account's name is your nick")
		return
	case name != "*" && chatd.Key(name) != chatd.Key(st.nick):
		fail("ACCOUNT_NAME_MUST_BE_NICK", "The account's name is your nick")
		return
	case !s.ircServerPassOK():
		fail("TEMPORARILY_UNAVAILABLE", "Send the server password (PASS) first")
		return
	}
	name = st.nick
	pw := m.params[2]
	if err := cfg.Accounts.CheckName(name); err != nil {
		fail("BAD_ACCOUNT_NAME", chatd.ErrorMessage(err))
		return
	}
	if err := cfg.Accounts.CheckPassword(pw); err != nil {
		fail("WEAK_PASSWORD", chatd.ErrorMessage(err))
		return
	}
	// An account of that name (a guest's included) is refused before
	// anything is hashed.
	switch _, err := s.srv.store.UserByName(ctx, name); {
	case err == nil:
		fail("ACCOUNT_EXISTS", "That name is an account already")
		return
	case chatd.ErrorCode(err) != chatd.ENoSuchUser:
		fail("TEMPORARILY_UNAVAILABLE", chatd.ErrorMessage(err))
		return
	}
	hash, err := s.hashPassword(pw)
	if err != nil {
		fail("TEMPORARILY_UNAVAILABLE", chatd.ErrorMessage(err))
		return
	}
	u, err := s.srv.store.CreateUser(ctx, name, hash, false)
	switch {
	case chatd.ErrorCode(err) == chatd.EUserExists:
		fail("ACCOUNT_EXISTS", "That name was registered by someone else a moment ago")
		return
	case err != nil:
		fail("TEMPORARILY_UNAVAILABLE", chatd.ErrorMessage(err))
		return
	}
	s.srv.connLog.Info("registered", "user", u.Name, "addr", s.addr, "via", "irc")
	s.srv.metrics.login("registered")
	st.account = u
	s.ircLineOut(s.srv.serverName(), "REGISTER", "SUCCESS", u.Name, "Account created; you are logged in to it")
	s.numeric("900", userMask(u.Name), u.Name, "You are now logged in as "+u.Name)
}
