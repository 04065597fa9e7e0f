package daemon

import "chatd"

// User mode +i (invisible) is a setting of one IRC connection, never
// stored: MODE nick +i sets it until the connection ends or -i. It hides
// the user from a WHO with a mask (* or ?), unless the one asking shares
// a room with it, is the user or is an admin; WHO with the exact nick
// still answers, as IRC servers do. Only this node's sessions are known:
// a user on another node of a cluster is never hidden.

// hiddenFrom reports whether p is invisible to s's masked WHO.
func (s *session) hiddenFrom(p *presence) bool {
	if chatd.Key(p.User) == chatd.Key(s.user) || s.admin.Load() {
		return false
	}
	invisible := false
	for _, o := range s.srv.hub.sessionsOf(p.User, "") {
		if o.irc != nil && o.irc.invisible.Load() {
			invisible = true
			break
		}
	}
	if !invisible {
		return false
	}
	for _, r := range s.srv.hub.roomsOf(s) {
		if p.in(r) {
			return false
		}
	}
	return true
}
