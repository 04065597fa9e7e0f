// Presence queries: who is or was online, and check.

package daemon

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatd"
)

func (s *session) replyUsers(cmd, what string, users []string) {
	users = sortedNames(nonNil(users))
	text := what + ": " + strings.Join(users, ", ")
	if len(users) == 0 {
		text = what + ": nobody"
	}
	s.reply(okEvent(cmd, text, nil, f("users", users)))
}

func cmdWho(ctx context.Context, s *session, _ string) error {
	users, err := s.srv.onlineNames(ctx)
	if err != nil {
		return err
	}
	s.replyUsers("who", "online", users)
	return nil
}

func cmdWhoElse(ctx context.Context, s *session, _ string) error {
	users, err := s.srv.onlineNames(ctx)
	if err != nil {
		return err
	}
	s.replyUsers("whoelse", "online besides you", without(users, s.user))
	return nil
}

// intArg parses the single whole-number argument of cmd within [lo, hi].
func intArg(cmd, args string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(args))
	if err != nil || n < lo || n > hi {
		return 0, chatd.Errorf(chatd.EBadArgs, "usage: %s N, with N a whole number from %d to %d", cmd, lo, hi)
	}
	return n, nil
}

// seenSince is everyone online now or at any moment since t.
func (s *session) seenSince(ctx context.Context, t time.Time) ([]string, error) {
	past, err := s.srv.store.UsersSeenSince(ctx, t)
	if err != nil {
		return nil, err
	}
	now, err := s.srv.onlineNames(ctx)
	if err != nil {
		return nil, err
	}
	return union(past, now), nil
}

func cmdLast(ctx context.Context, s *session, args string) error {
	n, err := intArg("last", args, 1, 60)
	if err != nil {
		return err
	}
	users, err := s.seenSince(ctx, s.srv.now().Add(-time.Duration(n)*time.Minute))
	if err != nil {
		return err
	}
	s.replyUsers("last", fmt.Sprintf("online in the last %d minute%s", n, plural(n)), users)
	return nil
}

func cmdWhoLastHr(ctx context.Context, s *session, _ string) error {
	users, err := s.seenSince(ctx, s.srv.now().Add(-time.Hour))
	if err != nil {
		return err
	}
	s.replyUsers("wholasthr", "others online in the last hour", without(users, s.user))
	return nil
}

func cmdWhoElseSince(ctx context.Context, s *session, args string) error {
	n, err := intArg("whoelsesince", args, 1, 10*365*24*3600)
	if err != nil {
		return err
	}
	users, err := s.seenSince(ctx, s.srv.now().Add(-time.Duration(n)*time.Second))
	if err != nil {
		return err
	}
	s.replyUsers("whoelsesince", fmt.Sprintf("others online in the last %d second%s", n, plural(n)), without(users, s.user))
	return nil
}

func cmdActive(ctx context.Context, s *session, args string) error {
	n, err := intArg("active", args, 1, 10*365*24*60)
	if err != nil {
		return err
	}
	since := s.srv.now().Add(-time.Duration(n) * time.Minute)
	past, err := s.srv.store.UsersActiveSince(ctx, since)
	if err != nil {
		return err
	}
	// Online users' activity lives with their sessions until it is
	// flushed, so the users table answers for offline users only.
	all, err := s.srv.community.everyone(ctx)
	if err != nil {
		return err
	}
	online := map[string]bool{}
	var users []string
	for _, p := range all {
		online[chatd.Key(p.User)] = true
		if p.LastActive.Compare(since) >= 0 {
			users = append(users, p.User)
		}
	}
	for _, name := range past {
		if !online[chatd.Key(name)] {
			users = append(users, name)
		}
	}
	s.replyUsers("active", fmt.Sprintf("active in the last %d minute%s", n, plural(n)), users)
	return nil
}

func without(names []string, self string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if chatd.Key(n) != chatd.Key(self) {
			out = append(out, n)
		}
	}
	return out
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range [][]string{a, b} {
		for _, n := range list {
			if k := chatd.Key(n); !seen[k] {
				seen[k] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// ---- check ----

func cmdCheck(ctx context.Context, s *session, args string) error {
	name := strings.TrimSpace(args)
	if name == "" {
		name = s.user
	}
	if strings.ContainsAny(name, " \t") {
		return badArgs("check")
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	info := []field{f("user", u.Name), f("admin", u.Admin)}
	body := []string{}
	o, err := s.srv.community.find(ctx, u.Name)
	if err != nil {
		return err
	}
	if o == nil {
		// Offline: when they were last here is what matters; a login
		// time or an idle count would read as if they were online.
		info = append(info, f("online", false), f("room", ""), f("since", nil),
			f("last_active", jsonTime(u.LastActive)), f("idle_seconds", nil), f("last_seen", jsonTime(u.LastSeen)),
			f("sessions", 0))
		seen := "never"
		if !u.LastSeen.IsZero() {
			seen = s.textTime(u.LastSeen)
		}
		body = append(body, "  status:      offline", "  admin:       "+yesNo(u.Admin), "  last seen:   "+seen)
		s.reply(okEvent("check", "about "+u.Name+":", body, f("info", object(info))))
		return nil
	}
	now := s.srv.now()
	room := o.Room
	active := o.LastActive
	idle := max(0, int(now.Sub(active).Seconds()))
	info = append(info, f("online", true), f("room", room), f("since", jsonTime(o.Since)),
		f("last_active", jsonTime(active)), f("idle_seconds", idle), f("last_seen", nil),
		f("sessions", max(1, o.Sessions)))
	away := o.Away
	if away != nil {
		info = append(info, f("away", *away))
	}
	if s.admin.Load() {
		info = append(info, f("addr", o.Addr))
	}
	body = append(body, "  status:      online in "+room, "  admin:       "+yesNo(u.Admin),
		"  logged in:   "+s.textTime(o.Since),
		fmt.Sprintf("  last active: %s (idle %ds)", s.textTime(active), idle))
	if o.Sessions > 1 {
		body = append(body, fmt.Sprintf("  sessions:    %d", o.Sessions))
	}
	if away != nil {
		body = append(body, "  away:        "+*away)
	}
	if s.admin.Load() {
		body = append(body, "  address:     "+o.Addr)
	}
	s.reply(okEvent("check", "about "+u.Name+":", body, f("info", object(info))))
	return nil
}

func cmdNames(ctx context.Context, s *session, args string) error {
	name := roomArg(args)
	if strings.ContainsAny(name, " \t") {
		return badArgs("names")
	}
	if name == "" {
		name = s.srv.hub.roomOf(s)
	}
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	users, err := s.srv.roomNames(ctx, r.Name)
	if err != nil {
		return err
	}
	if !s.seesRoom(r) {
		users = nil // a secret room's members are for its members
	}
	users = sortedNames(nonNil(users))
	text := fmt.Sprintf("in %s: %s", r.Name, strings.Join(users, ", "))
	if len(users) == 0 {
		text = "nobody is in " + r.Name
	}
	s.reply(okEvent("names", text, nil, f("room", r.Name), f("users", users)))
	return nil
}

func cmdAway(ctx context.Context, s *session, args string) error {
	msg := strings.TrimSpace(chatd.CleanText(args))
	if msg == "" {
		msg = "away"
	}
	s.away.Store(&msg)
	room := s.srv.hub.roomOf(s)
	n := s.awayNote(&note{Kind: noteAway, User: s.user, SID: s.sid, Room: room, Text: msg})
	if err := s.srv.effect(ctx, n); err != nil {
		return err
	}
	s.reply(okEvent("away", "you are marked away: "+msg+" (type back when you return)", nil, f("text", msg)))
	return nil
}

func cmdBack(ctx context.Context, s *session, _ string) error {
	if s.away.Swap(nil) == nil {
		s.reply(okEvent("back", "you were not away", nil))
		return nil
	}
	room := s.srv.hub.roomOf(s)
	n := s.awayNote(&note{Kind: noteBack, User: s.user, SID: s.sid, Room: room})
	if err := s.srv.effect(ctx, n); err != nil {
		return err
	}
	s.reply(okEvent("back", "welcome back", nil))
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ---- presence fan-out ----

// presenceDelay is how long a presence event may wait for others to share
// its write: a wave of logins or joins reaches each idle recipient as a
// few writes carrying many lines, instead of one write (and, for a
// recipient whose socket is full, one writer goroutine) per line.
const presenceDelay = 20 * time.Millisecond

// presenceFlusher holds the idle sessions that presence events were queued
// to (session.lazy set on each) and writes them presenceDelay after the
// first, with the flusher's write-through: one non-blocking write per
// session for everything queued to it by then. A session that is sent
// anything else meanwhile is written at once as usual, its queued presence
// first; its entry here then finds nothing to do. While a wave is being
// written, the next waits until it is done and then presenceDelay more,
// so the busier the server, the more lines each write carries.
type presenceFlusher struct {
	mu    sync.Mutex // leaf (DEVELOPING.md, "Locks"); guards the fields below
	fl    flusher    // list only; fl.lazy is set on the copy that writes
	armed bool       // a timer or a wave in progress will write fl.list
	// onQuiet, if set (before the server starts), runs once waves have
	// stopped for presenceQuiet; settle is its timer.
	onQuiet func()
	settle  *time.Timer
	// wave is the timer of the next wave; stopped is set by stop (Serve's
	// end), after which no timer is armed and what is listed is dropped.
	wave    *time.Timer
	stopped bool
}

func (p *presenceFlusher) add(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return // the server has stopped: nobody is left to read it
	}
	p.fl.add(s)
	if !p.armed {
		p.armed = true
		p.arm()
	}
}

// arm starts the timer of the next wave. p.mu is held.
func (p *presenceFlusher) arm() {
	if p.wave == nil {
		p.wave = time.AfterFunc(presenceDelay, p.run)
	} else {
		p.wave.Reset(presenceDelay)
	}
}

// stop ends the flusher's timers for good: once Serve returns, nothing of
// the server runs on a timer.
func (p *presenceFlusher) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.fl.list = nil
	if p.wave != nil {
		p.wave.Stop()
	}
	if p.settle != nil {
		p.settle.Stop()
	}
}

// run writes the sessions listed so far, then rearms for those listed
// meanwhile.
func (p *presenceFlusher) run() {
	p.mu.Lock()
	wave := flusher{list: p.fl.list, lazy: true}
	p.fl.list = nil
	p.mu.Unlock()
	wave.flush()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = p.fl.list != nil
	switch {
	case p.stopped:
	case p.armed:
		p.arm()
	case p.onQuiet != nil:
		if p.settle == nil {
			p.settle = time.AfterFunc(presenceQuiet, p.quiet)
		} else {
			p.settle.Reset(presenceQuiet)
		}
	}
}

// presenceQuiet is how long presence waves must have stopped before the
// server counts as quiet again (onQuiet).
const presenceQuiet = 2 * time.Second

func (p *presenceFlusher) quiet() {
	p.mu.Lock()
	busy := p.armed // a new wave rearms settle when it ends
	p.mu.Unlock()
	if !busy {
		p.onQuiet()
	}
}

// freeQuietMemory hands the memory a wave of logins or joins used back to
// the system once it is over (the presence flusher's onQuiet, when the
// server manages its memory): the welcomes listing everyone online, the
// events and the writers' buffers are garbage by then, and without this
// the runtime would keep them (up to twice the live heap) until its next
// collection, which a server at rest makes only every two minutes. At
// most one every 5 s, shared with the hash gate's (freeHashMemory); one
// that comes too soon waits for its turn.
func (s *Server) freeQuietMemory() {
	wait, ok := s.claimFree()
	if wait > 0 {
		s.presence.mu.Lock()
		if !s.presence.stopped {
			s.presence.settle.Reset(wait)
		}
		s.presence.mu.Unlock()
		return
	}
	if ok {
		debug.FreeOSMemory()
	}
}

// shedLocked lets the outbox's arrays go once a presence wave left s
// idle: a session that is only told of others' comings and goings holds
// none between waves, however many lines the last one carried. s.mu is
// held.
func (s *session) shedLocked() {
	if cap(s.queue) > 4 {
		s.queue = nil
	}
	if cap(s.spare) > 4 {
		s.spare = nil
	}
}

// fanoutPresence is fanout for presence events: idle recipients get ev
// through the presence flusher, within presenceDelay.
func fanoutPresence(to []*session, ev *event, skip *session) {
	for _, s := range to {
		if s != skip {
			s.sendLazy(ev)
		}
	}
}
