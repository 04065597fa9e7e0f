// Registration gates of the IRC dialect that come before an account
// (docs/irc.md, "Server password"): the server password ([irc] password)
// that every IRC client must send with PASS before it registers.

package daemon

import (
	"crypto/subtle"
	"strings"
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
