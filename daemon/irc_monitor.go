// MONITOR (IRCv3 monitor, docs/irc.md "MONITOR"): an IRC client's list of
// nicks it wants to hear come online and go offline. chatd has no
// watchers of its own, so MONITOR watches the online set: the answers ask
// who is online now, and the login and logout presence events the
// session is sent become 730 and 731 for the nicks on its list.

package daemon

import (
	"context"
	"strings"

	"chatd"
)

// ircMonitorMax is how many nicks one client may monitor (ISUPPORT
// MONITOR).
const ircMonitorMax = 100

// ircMonitor answers MONITOR + - C L S.
func ircMonitor(ctx context.Context, s *session, m *ircMsg) {
	st := s.irc
	cur := map[string]string{}
	if p := st.monitor.Load(); p != nil {
		for k, v := range *p {
			cur[k] = v
		}
	}
	var nicks []string
	for _, n := range strings.Split(m.param(1), ",") {
		if n = strings.TrimSpace(n); n != "" {
			nicks = append(nicks, n)
		}
	}
	switch m.params[0] {
	case "+":
		var added []string
		for i, n := range nicks {
			if _, ok := cur[chatd.Key(n)]; ok {
				continue
			}
			if len(cur) >= ircMonitorMax {
				s.numeric("734", itoa(ircMonitorMax), strings.Join(nicks[i:], ","), "Monitor list is full")
				break
			}
			cur[chatd.Key(n)] = n
			added = append(added, n)
		}
		st.monitor.Store(&cur)
		s.ircMonitorStatus(ctx, added)
	case "-":
		for _, n := range nicks {
			delete(cur, chatd.Key(n))
		}
		st.monitor.Store(&cur)
	case "C", "c":
		st.monitor.Store(nil)
	case "L", "l":
		var list []string
		for _, n := range cur {
			list = append(list, n)
		}
		for _, chunk := range nickChunks(sortedNames(list)) {
			s.numeric("732", chunk)
		}
		s.numeric("733", "End of MONITOR list")
	case "S", "s":
		var list []string
		for _, n := range cur {
			list = append(list, n)
		}
		s.ircMonitorStatus(ctx, sortedNames(list))
	default:
		s.ircLineOut(s.srv.serverName(), "FAIL", "MONITOR", "INVALID_PARAMS", m.params[0], "Give +, -, C, L or S")
	}
}

// ircMonitorStatus answers which of nicks are online (730, with their
// masks) and which are not (731).
func (s *session) ircMonitorStatus(ctx context.Context, nicks []string) {
	var on, off []string
	for _, n := range nicks {
		if o, _ := s.srv.community.find(ctx, n); o != nil {
			on = append(on, userMask(o.User))
		} else {
			off = append(off, n)
		}
	}
	for _, chunk := range nickChunks(on) {
		s.numeric("730", chunk)
	}
	for _, chunk := range nickChunks(off) {
		s.numeric("731", chunk)
	}
}

// nickChunks joins names with commas, a line's worth (about 400 bytes)
// at a time.
func nickChunks(names []string) []string {
	var out []string
	cur := ""
	for _, n := range names {
		if cur != "" && len(cur)+1+len(n) > 400 {
			out = append(out, cur)
			cur = ""
		}
		if cur != "" {
			cur += ","
		}
		cur += n
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// appendMonitor adds 730 or 731 when the presence event ev is the login
// or the logout of a nick this client monitors.
func (s *session) appendMonitor(buf []byte, ev *event) []byte {
	p := s.irc.monitor.Load()
	if p == nil {
		return buf
	}
	user := ev.str("user")
	if _, ok := (*p)[chatd.Key(user)]; !ok {
		return buf
	}
	server, me := s.srv.serverName(), s.irc.me()
	switch ev.str("event") {
	case presLogin:
		return appendIRC(buf, nil, server, "730", me, userMask(user))
	case presAway, presBack:
		return buf
	}
	return appendIRC(buf, nil, server, "731", me, user)
}
