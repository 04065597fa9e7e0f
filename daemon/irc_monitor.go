// MONITOR (IRCv3 monitor, docs/irc.md "MONITOR"): an IRC client's list of
// nicks it wants to hear come online and go offline. The list is the
// account's watch list (watch.go, PROTOCOL.md 13), the one telnet's
// `watch` and `watching` show: stored, at most chatd.MaxWatching, and what
// a watcher hears (its logins and logouts, above presence.everyone_limit
// too) becomes 730 and 731. A nick that is no account (yet), and the
// user's own, cannot be watched; the connection keeps those itself and
// hears of them as of anyone online.

package daemon

import (
	"context"
	"strings"

	"chatd"
)

// ircMonitorMax is how many nicks one client may monitor (ISUPPORT
// MONITOR): the watch list's bound.
const ircMonitorMax = chatd.MaxWatching

// setIRCWatched hands an IRC session the account's watch list, names;
// anything else ignores it.
func (s *session) setIRCWatched(names []string) {
	if s.irc == nil {
		return
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[chatd.Key(n)] = n
	}
	s.irc.watched.Store(&m)
}

// monitored is the client's whole MONITOR list, by key: the account's
// watch list and the connection's own nicks.
func (st *ircState) monitored() map[string]string {
	out := map[string]string{}
	for _, p := range []*map[string]string{st.watched.Load(), st.monitor.Load()} {
		if p != nil {
			for k, v := range *p {
				out[k] = v
			}
		}
	}
	return out
}

// isMonitored reports whether the client monitors the nick whose key is k.
func (st *ircState) isMonitored(k string) bool {
	for _, p := range []*map[string]string{st.watched.Load(), st.monitor.Load()} {
		if p != nil {
			if _, ok := (*p)[k]; ok {
				return true
			}
		}
	}
	return false
}

// ircMonitor answers MONITOR + - C L S.
func ircMonitor(ctx context.Context, s *session, m *ircMsg) {
	st := s.irc
	local := map[string]string{}
	if p := st.monitor.Load(); p != nil {
		for k, v := range *p {
			local[k] = v
		}
	}
	var nicks []string
	for _, n := range strings.Split(m.param(1), ",") {
		if n = strings.TrimSpace(n); n != "" {
			nicks = append(nicks, n)
		}
	}
	fail := func(err error) {
		s.ircLineOut(s.srv.serverName(), "FAIL", "MONITOR", strings.ToUpper(string(chatd.ErrorCode(err))), chatd.ErrorMessage(err))
	}
	changed := false
	switch m.params[0] {
	case "+":
		var added []string
		cur := st.monitored()
	add:
		for i, n := range nicks {
			if strings.ContainsAny(n, "!@*?#:") {
				s.numeric("432", n, "A MONITOR target is a nick, not a mask")
				continue
			}
			k := chatd.Key(n)
			if _, ok := cur[k]; ok {
				continue
			}
			full := func() {
				s.numeric("734", itoa(ircMonitorMax), strings.Join(nicks[i:], ","), "Monitor list is full")
			}
			if len(cur) >= ircMonitorMax {
				full()
				break
			}
			_, err := s.srv.store.Watch(ctx, s.user, n)
			switch code := chatd.ErrorCode(err); {
			case err == nil:
				changed = true
			case code == chatd.ENoSuchUser, code == chatd.ESelf:
				local[k] = n
			case code == chatd.ETooManyWatched:
				full()
				break add
			default:
				fail(err)
				break add
			}
			cur[k] = n
			added = append(added, n)
		}
		st.monitor.Store(&local)
		if changed {
			s.ircRewatch(ctx, fail)
		}
		s.ircMonitorStatus(ctx, added, false)
	case "-":
		var keys []string
		watched := st.watched.Load()
		for _, n := range nicks {
			k := chatd.Key(n)
			delete(local, k)
			keys = append(keys, k)
			if watched == nil {
				continue
			}
			if name, ok := (*watched)[k]; ok {
				if _, err := s.srv.store.Unwatch(ctx, s.user, name); err != nil && chatd.ErrorCode(err) != chatd.ENoSuchUser {
					fail(err)
					break
				}
				changed = true
			}
		}
		st.monitor.Store(&local)
		if changed {
			s.ircRewatch(ctx, fail)
		}
		s.sendMonitor(&monAnswer{forget: keys})
	case "C", "c":
		cur := st.monitored()
		keys := make([]string, 0, len(cur))
		for k := range cur {
			keys = append(keys, k)
		}
		st.monitor.Store(nil)
		if p := st.watched.Load(); p != nil {
			for _, name := range *p {
				if _, err := s.srv.store.Unwatch(ctx, s.user, name); err != nil && chatd.ErrorCode(err) != chatd.ENoSuchUser {
					fail(err)
					break
				}
				changed = true
			}
		}
		if changed {
			s.ircRewatch(ctx, fail)
		}
		s.sendMonitor(&monAnswer{forget: keys})
	case "L", "l":
		var list []string
		for _, n := range st.monitored() {
			list = append(list, n)
		}
		for _, chunk := range nickChunks(sortedNames(list)) {
			s.numeric("732", chunk)
		}
		s.numeric("733", "End of MONITOR list")
	case "S", "s":
		var list []string
		for _, n := range st.monitored() {
			list = append(list, n)
		}
		s.ircMonitorStatus(ctx, sortedNames(list), true)
	default:
		s.ircLineOut(s.srv.serverName(), "FAIL", "MONITOR", "INVALID_PARAMS", m.params[0], "Give +, -, C, L or S")
	}
}

// ircRewatch hands the account's changed watch list to all its sessions
// (session.rewatch), this one included.
func (s *session) ircRewatch(ctx context.Context, fail func(error)) {
	if err := s.rewatch(ctx); err != nil {
		fail(err)
	}
}

// monAnswer is a MONITOR answer, rendered by the goroutine holding the
// output (appendMonitorAnswer) so that it agrees with the presence events
// rendered there: a login queued before the answer is not told twice.
type monAnswer struct {
	on, off []string // masks of those online, nicks of those offline
	all     bool     // MONITOR S: tell all, told before or not
	forget  []string // MONITOR - and C: keys no longer monitored
}

// ircMonitorStatus answers which of nicks are online (730, with their
// masks) and which are not (731); all says to tell even what the client
// was told already. The answer goes out at once, after what the command
// answered before it.
func (s *session) ircMonitorStatus(ctx context.Context, nicks []string, all bool) {
	a := &monAnswer{all: all}
	for _, n := range nicks {
		if o, _ := s.srv.community.find(ctx, n); o != nil {
			a.on = append(a.on, userMask(o.User))
		} else {
			a.off = append(a.off, n)
		}
	}
	s.sendMonitor(a)
}

// sendMonitor queues a, with the lines the command answered so far.
func (s *session) sendMonitor(a *monAnswer) {
	out := s.irc.out
	s.irc.out = nil
	s.sendVia(&s.out, &event{typ: "irc", text: string(out), fields: []field{f("monitor", a)}})
}

// appendMonitorAnswer renders the MONITOR answer ev carries, if any, on
// the goroutine holding the output.
func (s *session) appendMonitorAnswer(buf []byte, ev *event) []byte {
	a, ok := ev.get("monitor").(*monAnswer)
	if !ok {
		return buf
	}
	st := s.irc
	if st.monTold == nil {
		st.monTold = map[string]bool{}
	}
	for _, k := range a.forget {
		delete(st.monTold, k)
	}
	tell := func(names []string, on bool) []string {
		var out []string
		for _, n := range names {
			nick, _, _ := strings.Cut(n, "!")
			k := chatd.Key(nick)
			if was, told := st.monTold[k]; a.all || !told || was != on {
				out = append(out, n)
			}
			st.monTold[k] = on
		}
		return out
	}
	server, me := s.srv.serverName(), st.me()
	on := tell(a.on, true)
	for _, chunk := range nickChunks(on) {
		buf = appendIRC(buf, nil, server, "730", me, chunk)
	}
	buf = s.appendMetaLater(buf, on)
	for _, chunk := range nickChunks(tell(a.off, false)) {
		buf = appendIRC(buf, nil, server, "731", me, chunk)
	}
	return buf
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

// awayNotified reports whether the client is told (away-notify) that the
// user whose key is k went away or came back: when it was shown the user
// in one of its channels, or, with extended-monitor, monitors them.
func (s *session) awayNotified(k string) bool {
	st := s.irc
	if !st.has(capAwayNotify) {
		return false
	}
	return st.known.has(k) || st.has(capExtendedMonitor) && st.isMonitored(k)
}

// appendMonitor adds 730 or 731 when the presence event ev is the login
// or the logout of a nick this client monitors.
func (s *session) appendMonitor(buf []byte, ev *event) []byte {
	user := ev.str("user")
	k := chatd.Key(user)
	if !s.irc.isMonitored(k) {
		return buf
	}
	var on bool
	switch ev.str("event") {
	case presLogin:
		on = true
	case presAway, presBack:
		return buf
	}
	st := s.irc
	if was, told := st.monTold[k]; told && was == on {
		return buf // the client knows
	}
	if st.monTold == nil {
		st.monTold = map[string]bool{}
	}
	st.monTold[k] = on
	server, me := s.srv.serverName(), st.me()
	if on {
		buf = appendIRC(buf, nil, server, "730", me, userMask(user))
		return s.appendMetaLater(buf, []string{user})
	}
	return appendIRC(buf, nil, server, "731", me, user)
}
