package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatd"
	"chatd/internal/ratelimit"
)

const (
	// outboxLimit is how many events may wait for one client. A client that
	// lets more pile up is too slow and is disconnected. Fanned-out events
	// are shared by all their recipients, so an entry costs a pointer; the
	// limit is generous so that a busy server's scheduling delays are not
	// mistaken for a client that stopped reading.
	outboxLimit = 4096
	// writeTimeout bounds every write to a client.
	writeTimeout = 10 * time.Second
	// finalWriteTimeout bounds the last write to a session that is ending.
	finalWriteTimeout = 2 * time.Second
	// A session may check room passwords in bursts of roomGuessBurst,
	// then one every five seconds.
	roomGuessRate  = 0.2
	roomGuessBurst = 5
	// loginBurst is the smallest burst allowed before login.
	loginBurst = 10
	// writeChunk caps the bytes rendered for one write, so a long queue
	// does not become one huge buffer.
	writeChunk = 64 << 10
)

// session is one connection. Its reader goroutine (run) reads lines and runs
// commands in order; its output is written as outbox.go describes (by the
// fan-out, or a writer goroutine only while something is queued).
type session struct {
	// Static once the session is made (newSession, ServeConn).
	srv           *Server
	conn          Conn
	info          ConnInfo
	addr          string        // the client's real IP (info.Addr)
	connectedWall time.Time     // wall clock, for socket deadlines
	done          chan struct{} // closed when the output is over and the connection closed
	// irc is the IRC dialect's state (irc.go), nil for other sessions.
	irc *ircState

	// Set once at login by the reader goroutine, before the session enters
	// the registry; read-only after. sid tells this login apart from the
	// user's earlier and later ones on any node.
	user    string
	loginAt time.Time
	sid     string
	// onlineRow is the id of this login's row in the online table: set
	// by hub.add and read under hub.mu.
	onlineRow int64

	// Reader goroutine only.
	bucket      *ratelimit.Bucket // per-connection rate limit (replaced at login)
	refused     int               // lines refused by the rate limiter since the last accepted one
	pendingName string            // name at the latest username prompt
	// label is the label of the line being handled (PROTOCOL.md section
	// 8), "" for none.
	label string
	// aside holds what few sessions ever use (sessionAside), nil until
	// the first of them needs it.
	aside *sessionAside
	// out is this session's flusher: the recipients of the chat it fanned
	// out.
	out flusher
	// waitFrom is when the reader started waiting for the next line, set
	// by park so that a parked spell counts toward the idle timeout.
	waitFrom time.Time

	// The goroutine the transport charges bytes from (its reader, or a
	// WebSocket's pump) only.
	bytes *ratelimit.Bucket // byte budget (chargeBytes)

	// Atomics, read by any goroutine. mode is the input mode (text or
	// JSON), switched by the reader. admin is set at login and changed by
	// an admin action (noteAdmin, applied by the action goroutine).
	// lastActive is the unix nanoseconds of the last line received.
	// blocks are whom the user blocks, settings the user's own (the set
	// command; read by whoever writes the output), away the away message
	// (nil when not away); each is written by the reader only.
	mode       atomic.Int32
	admin      atomic.Bool
	lastActive atomic.Int64
	blocks     atomic.Pointer[map[string]bool]
	settings   atomic.Pointer[chatd.Settings]
	away       atomic.Pointer[string]

	// Guarded by hub.mu (tier 3): the rooms the user is a member of,
	// joined first first (a list replaced, never changed in place, so a
	// copy handed out stays as it was), and the current one, where plain
	// lines go ("" for none).
	rooms []string
	room  string
	// The keys of the users the user watches (scale.go): set before the
	// session enters the hub, then guarded by hub.mu (tier 3) and
	// replaced, never changed in place.
	watching []string

	// The outbox (outbox.go), guarded by mu (tier 4). writing says a
	// goroutine holds the output; scheduled says a flusher will write the
	// queue; lazy says the session is on the presence flusher's list
	// (presence.go), which writes the queue unless someone did first.
	mu        sync.Mutex
	queue     []*event
	spare     []*event // the last batch, emptied, for the next queue
	closed    bool
	writing   bool
	scheduled bool
	lazy      bool

	// Owned by the goroutine holding the output (writing): the mode lines
	// are rendered in (changed in queue order by modeEvent; it starts as
	// the session's mode, since nothing has been read yet), whether the
	// last byte written was not a line end, and what a write-through left
	// unwritten.
	outMode int32
	midLine bool
	// interrupted is set by telnet's IAC IP or BRK (reader goroutine
	// only; here because it fits beside midLine's padding).
	interrupted bool
	// counted says the server counts the connection (ServeConn, or the
	// hand-over that brought it): once the session is over and finish
	// has run, Server.uncount takes it off the books, on that goroutine.
	// Set before the reader starts.
	counted bool
	pending *[]byte

	// Text-mode read progress (markers.go): the newest message id written
	// to a text-mode session per conversation, by the goroutine holding
	// the output, until the marker flusher or the session's end stores
	// it. Guarded by shownMu (leaf).
	shownMu sync.Mutex
	shown   map[string]string

	// The hand-over to a new process (upgrade.go): quiet is made, then
	// handing set to handAsked, by the hand-over; the reader, seeing that
	// at its next wait for input, stops without ending the session
	// (handStopped) and closes quiet, unless the hand-over gave up on it
	// first (back to 0).
	quiet chan struct{}

	// Written once, inside endOnce, by whoever ends the session first.
	endOnce   sync.Once
	handing   atomic.Int32 // with quiet above; here, it fills endOnce's padding
	endReason string
}

// sessionAside is the part of a session that few sessions use, made by
// the reader goroutine the first time one does (session.setAside), and
// read by it only, so that an idle session carries one pointer for it.
type sessionAside struct {
	// farewell is the bye of a logout the user asked for: set by the
	// logout command, it stops the reader, and finish queues it once the
	// user has left the registry.
	farewell *event
	// roomGuesses limits the room password checks.
	roomGuesses *ratelimit.Bucket
	// refusedOpts holds the telnet options already refused (DO or WILL,
	// then the option), so each is refused once and negotiation cannot
	// loop.
	refusedOpts map[[2]byte]bool
}

// setAside returns the session's aside, made on first use; reader
// goroutine only.
func (s *session) setAside() *sessionAside {
	if s.aside == nil {
		s.aside = &sessionAside{}
	}
	return s.aside
}

// refusedOptions are the telnet options refused so far (none for a nil
// aside).
func (a *sessionAside) refusedOptions() map[[2]byte]bool {
	if a == nil {
		return nil
	}
	return a.refusedOpts
}

// markRefused notes that the telnet request k (DO or WILL, then the
// option) was refused, and reports whether it is the first time.
func (a *sessionAside) markRefused(k [2]byte) bool {
	if a.refusedOpts[k] {
		return false
	}
	if a.refusedOpts == nil {
		a.refusedOpts = map[[2]byte]bool{}
	}
	a.refusedOpts[k] = true
	return true
}

// logOut ends the session as a logout the user asked for (the logout
// command, IRC's QUIT, an interrupt): the reader stops, and finish says
// bye once the user is offline, so a client that logs straight back in
// is not refused as already online.
func (s *session) logOut(bye *event) {
	s.setReason(byeLogout)
	s.setAside().farewell = bye
}

// farewell is the bye of the logout the user asked for, nil for none.
func (s *session) farewell() *event {
	if s.aside == nil {
		return nil
	}
	return s.aside.farewell
}

func newSession(srv *Server, conn Conn, info ConnInfo) *session {
	s := &session{
		srv:  srv,
		conn: conn,
		info: info,
		addr: info.Addr,
		done: make(chan struct{}),

		// Before login the burst is at least loginBurst, enough for any
		// login or registration pasted at once.
		bucket:        ratelimit.New(srv.cfg().Rate.LinesPerSecond, float64(max(srv.cfg().Rate.Burst, loginBurst)), srv.now()),
		connectedWall: time.Now(),
	}
	if info.JSON {
		s.mode.Store(modeJSON)
		s.outMode = modeJSON
	}
	if info.IRC {
		s.irc = &ircState{}
	}
	return s
}

func (s *session) setReason(reason string) {
	s.endOnce.Do(func() { s.endReason = reason })
}

func (s *session) reason() string {
	s.setReason(byeLogout) // if nobody chose one, the client just left
	return s.endReason
}

func (s *session) ending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// appendStamp adds the time prefix of a text-mode line: always for replayed
// and offline lines, for live ones when the user turned timestamps on.
func (s *session) appendStamp(buf []byte, ev *event) []byte {
	if ev.stamp == stampNever {
		return buf
	}
	st := s.prefs()
	if ev.stamp == stampLive && !st.Timestamps {
		return buf
	}
	now := s.srv.now()
	at := ev.at
	if at.IsZero() {
		at = now
	}
	buf = append(buf, stampText(at, st.Location, now)...)
	return append(buf, ' ')
}

// prefs returns the user's settings (the defaults before login).
func (s *session) prefs() *chatd.Settings {
	if p := s.settings.Load(); p != nil {
		return p
	}
	d := chatd.DefaultSettings()
	return &d
}

// textTime is a time as this user reads it: date, time and zone.
func (s *session) textTime(t time.Time) string {
	return t.In(s.prefs().Location).Format("2006-01-02 15:04 MST")
}

// run is the reader goroutine: login, then commands until the session ends.
// A logged-in session whose client goes quiet parks instead (see park): the
// goroutine ends, and a new one carries on when input comes.
func (s *session) run(ctx context.Context) {
	if s.irc != nil {
		s.runIRC(ctx)
		return
	}
	s.serve(func() bool {
		if mc, ok := s.conn.(meteredConn); ok {
			mc.OnBytes(s.chargeBytes)
		}
		if tc, ok := s.conn.(telnetConn); ok && s.info.Telnet {
			tc.OnTelnet(s.telnetCommand)
		}
		s.send(textOnly(s.srv.cfg().Server.Banner))
		if u := s.info.account; u != nil {
			// Logged in by the transport (the SSH handshake).
			return s.enter(ctx, u) && s.commands(ctx, false)
		}
		hint := "(Type 'mode json' for JSON lines. New here? Enter the name you want and pick a password.)"
		if s.srv.cfg().Accounts.Registration != "open" {
			hint = "(Type 'mode json' for JSON lines. Accounts are created by the server's admins.)"
		}
		s.send(textOnly(hint))
		if !s.login(ctx) {
			return false
		}
		return s.commands(ctx, false)
	})
}

// serve runs one stretch of the reader's work on the current goroutine.
// step reports whether the session parked; if it did not (or panicked),
// the session is over: finish runs, then uncount.
func (s *session) serve(step func() (parked bool)) {
	parked := false
	defer func() {
		if p := recover(); p != nil {
			s.srv.log.Error("session panic", "addr", s.addr, "user", s.user, "panic", p, "stack", string(debug.Stack()))
			s.end(byeError, "internal server error")
			parked = false
		}
		if !parked {
			s.finish()
			if s.counted {
				s.srv.uncount(s)
			}
			// The session is over; its socket may linger a little.
			if lc, ok := s.conn.(lingerCloser); ok {
				lc.finishClose()
			}
		}
	}()
	parked = step()
}

// commands runs commands until the session ends (false) or parks (true).
// resumed says the poller woke a parked session: the line is read at once
// under the idle deadline fixed when it parked.
func (s *session) commands(ctx context.Context, resumed bool) bool {
	return s.lines(ctx, resumed, s.command)
}

// lines reads the client's lines and hands each to handle (a command, or
// an IRC line) until the session ends (false), parks or stops to be
// handed over (true, upgrade.go). resumed: as for commands.
func (s *session) lines(ctx context.Context, resumed bool, handle func(context.Context, string)) bool {
	for !s.ending() && s.farewell() == nil {
		if !resumed && s.park(ctx) {
			return true
		}
		resumed = false
		line, ok := s.readLine()
		if !ok && s.handing.Load() == handAsked && !s.ending() {
			return s.stopForHandOver()
		}
		if !ok || s.ending() {
			return false
		}
		s.lastActive.Store(s.srv.now().UnixNano())
		handle(ctx, line)
	}
	return false
}

// command runs one line of the command language, with its label.
func (s *session) command(ctx context.Context, line string) {
	s.label = ""
	if rest, label, ok := splitLabel(line); ok {
		// In text mode a chat line that starts like a label is said
		// as typed: "@bob hi" is addressed chat, and text mode shows
		// no labels anyway.
		if _, _, isCmd := lookupCommand(rest); isCmd || s.mode.Load() == modeJSON {
			line, s.label = rest, label
		}
	}
	s.execute(ctx, line)
}

// park lets a logged-in client's silence cost no goroutine. The reader
// first waits up to parkAfter for input on its own goroutine (a client that
// chats never parks); if none comes, the connection is handed to the
// poller (parkConn) and the goroutine ends, and the poller starts
// commands(resumed) on a new goroutine when input comes, the idle deadline
// passes or the connection is closed. It reports whether the session
// parked. Nothing changes for the client: the idle deadline runs from the
// same moment as if the reader had waited in ReadLine all along.
func (s *session) park(ctx context.Context) bool {
	pc, ok := s.conn.(parkConn)
	after := time.Duration(s.srv.parkAfter.Load())
	if !ok || after <= 0 || s.interrupted || s.user == "" || s.irc != nil || !pc.canPark() {
		return false
	}
	// What this reader's chat queued to others goes out before it waits:
	// nothing of the client's is buffered, so no line is coming at once.
	s.out.flush()
	s.waitFrom = time.Now()
	idle := s.idleDeadline()
	wait := s.waitFrom.Add(after)
	if !idle.IsZero() && idle.Before(wait) {
		return false // it times out first: ReadLine waits for that
	}
	s.conn.SetReadDeadline(wait)
	if s.handing.Load() == handAsked {
		return false // readLine stops for the hand-over
	}
	if err := pc.waitInput(); !errors.Is(err, os.ErrDeadlineExceeded) || s.handing.Load() == handAsked {
		return false // input, or an error the read will report
	}
	return pc.park(idle, func() { s.serve(func() bool { return s.commands(ctx, true) }) })
}

// idleDeadline is when a logged-in session times out without a line:
// idle_timeout after it started waiting (zero: never, for an admin exempt
// by idle_exempt_admins). park sets waitFrom before it waits, so the wait
// on its own goroutine and the parked spell both count.
func (s *session) idleDeadline() time.Time {
	from := s.waitFrom
	if from.IsZero() {
		from = time.Now()
	}
	if s.admin.Load() && s.srv.cfg().Server.IdleExemptAdmins {
		return time.Time{}
	}
	return from.Add(s.srv.cfg().Server.IdleTimeout.Duration)
}

// readLine reads the next line, answering framing errors itself. It sets the
// read deadline: the login deadline before login, the idle timeout after.
// ok is false when the session is over (the reason is already set).
func (s *session) readLine() (string, bool) {
	for {
		if s.interrupted {
			// Keep the short deadline telnetCommand set: what the client
			// sent with the interrupt is read (and a timing mark
			// answered), then the session ends.
		} else if s.user == "" {
			s.conn.SetReadDeadline(s.srv.loginDeadline(s))
		} else {
			s.conn.SetReadDeadline(s.idleDeadline())
		}
		s.waitFrom = time.Time{} // a line or a refusal: the next wait starts anew
		s.flushOutput()
		if s.handing.Load() == handAsked {
			return "", false // after the deadline is set: see HandOver
		}
		line, err := s.conn.ReadLine()
		if s.interrupted {
			if err == nil || errors.Is(err, errLineTooLong) || errors.Is(err, errBadEncoding) {
				continue // typed before the interrupt: discarded, as telnet does
			}
			s.logOut(interruptedBye())
			return "", false
		}
		switch {
		case err == nil:
			if s.allow(line) {
				return line, true
			}
			if s.ending() {
				return "", false
			}
		case errors.Is(err, errLineTooLong):
			if !s.chargeBadLine() {
				return "", false
			}
			s.send(errorEvent("", chatd.ELineTooLong,
				fmt.Sprintf("line longer than %d bytes; it was ignored", s.srv.cfg().Server.MaxLineBytes)))
		case errors.Is(err, errBadEncoding):
			if !s.chargeBadLine() {
				return "", false
			}
			cmd := ""
			var ee *encodingError
			if s.irc != nil && errors.As(err, &ee) {
				cmd = ee.command // IRC's FAIL names it
			}
			s.send(errorEvent(cmd, chatd.EBadEncoding, "line is not valid UTF-8; it was ignored"))
		case errors.Is(err, errFlood):
			s.srv.metrics.limited()
			s.end(byeError, "flooding: too much data too fast")
			return "", false
		case errors.Is(err, errInterrupted):
			s.logOut(interruptedBye())
			return "", false
		case errors.Is(err, os.ErrDeadlineExceeded):
			if s.handing.Load() == handAsked {
				return "", false // woken for the hand-over
			}
			if s.user == "" {
				s.end(byeTimeout, "login took too long")
			} else {
				s.end(byeTimeout, "idle for too long")
			}
			return "", false
		default:
			s.setReason(byeLogout) // the client went away
			return "", false
		}
	}
}

// flushOutput writes what this reader's chat queued to others, unless
// another whole line is already waiting and fewer than flushEvery lines
// were handled since the last write: a client's burst of lines goes out to
// each recipient in one write, a lone line at once.
func (s *session) flushOutput() {
	if !s.out.pending() {
		return
	}
	s.out.lines++
	if lw, ok := s.conn.(lineWaiter); ok && s.out.lines < flushEvery && lw.lineWaiting() {
		return
	}
	s.out.flush()
}

// chargeBadLine counts a refused line (too long, not UTF-8) against the
// line bucket like any other line: bad lines are not free. It reports false
// when persistent flooding ended the session.
func (s *session) chargeBadLine() bool {
	rate := s.srv.cfg().Rate
	if s.bucket.Allow(s.srv.now()) {
		return true
	}
	s.refused++
	s.srv.metrics.limited()
	if s.refused > 2*rate.Burst {
		s.end(byeError, "flooding: too many lines too fast")
		return false
	}
	return true // answered as a bad line; the line bucket is already empty
}

// errFlood ends a stream whose client sent far more bytes than its budget.
var errFlood = errors.New("byte budget exceeded")

// chargeBytes is the byte budget beside the line bucket: every byte read
// from the client counts, those of over-long, invalid and telnet-only input
// included, at lines_per_second × max_line_bytes per second with a burst of
// burst × max_line_bytes. A client may run up a debt of twice the burst
// (what a legitimate one could never do, its lines being limited too);
// beyond that the session ends as flooding. The transport calls it from
// one goroutine only: the reader's, inside ReadLine (TCP), or its own
// socket reader (WebSocket).
func (s *session) chargeBytes(n int) error {
	cfg := s.srv.cfg()
	lineMax := float64(cfg.Server.MaxLineBytes)
	burst := float64(max(cfg.Rate.Burst, loginBurst)) * lineMax
	now := s.srv.now()
	if s.bytes == nil {
		s.bytes = ratelimit.New(0, burst, now)
	}
	s.bytes.SetRate(cfg.Rate.LinesPerSecond*lineMax, burst)
	if left := s.bytes.Take(float64(n), now); left < -2*burst {
		return errFlood
	}
	return nil
}

// allow applies the per-connection rate limit, from the first line on (so
// the login prompts cannot be hammered either). A refused line is answered
// with rate_limited and not run; persistent flooding ends the session.
func (s *session) allow(line string) bool {
	// The rate in force applies to sessions already open too.
	rate := s.srv.cfg().Rate
	burst := rate.Burst
	if s.user == "" {
		burst = max(burst, loginBurst)
	}
	s.bucket.SetRate(rate.LinesPerSecond, float64(burst))
	if s.bucket.Allow(s.srv.now()) {
		s.refused = 0
		return true
	}
	s.refused++
	s.srv.metrics.limited()
	if s.refused > 2*s.srv.cfg().Rate.Burst {
		s.end(byeError, "flooding: too many lines too fast")
		return false
	}
	cmd := "login"
	rest, label, _ := splitLabel(line)
	if s.user != "" {
		cmd = commandName(rest)
	}
	s.send(errorEvent(cmd, chatd.ERateLimited, "slow down: that line was not run, send it again in a moment").labeled(label))
	return false
}

// finish runs when the reader stops: the user goes offline, others are
// told, last-seen is written, and the writer is given time to flush.
func (s *session) finish() {
	s.srv.finishing.Add(1)
	defer s.srv.finishing.Add(-1)
	s.out.flush()
	reason := s.reason()
	if s.irc != nil && s.user != "" {
		s.srv.whowas.add(s)
	}
	// A user who logs out is told bye only once they are offline, so a
	// client that logs straight back in is not refused as already online.
	// Every other ending closes the outbox now.
	bye := s.farewell()
	if bye == nil {
		s.end(reason, "closing")
	}
	if s.user != "" {
		s.goOffline(reason)
	}
	if s.irc != nil && s.irc.guest {
		// Before the bye: a client that sees it may take the name
		// again at once.
		s.ircDropGuest()
	}
	if bye != nil {
		s.endWith(reason, bye)
	}
	s.out.flush() // its own bye may be among what its chat queued
	select {
	case <-s.done:
	case <-time.After(writeTimeout):
		s.conn.Close()
		<-s.done
	}
	if s.user != "" {
		// The output is over: what it showed a text-mode user is read.
		ctx, cancel := s.srv.finishCtx()
		defer cancel()
		s.storeShown(ctx)
	}
}

// goOffline takes the logged-in user of s offline, as the session ends
// for reason (or, over IRC, as it logs in to another account: the
// connection goes on): last seen is written, the session leaves the
// registry and whoever sees it is told.
func (s *session) goOffline(reason string) {
	// Last seen is written before the user leaves the hub, so the
	// who-was-online queries never miss them in between.
	now := s.srv.now()
	seen := chatd.Seen{Name: s.user, LastSeen: now, LastActive: time.Unix(0, s.lastActive.Load())}
	s.srv.seen.write(s.srv, seen)
	ctx, cancel := s.srv.finishCtx() // at shutdown, ends with the grace
	defer cancel()
	n := &note{Kind: noteLogout, User: s.user, SID: s.sid, Text: presenceFor(reason), Reason: s.irc.quitting()}
	// With several sessions per user in a cluster, whether this was
	// the user's last one anywhere is decided by the database as the
	// row goes (clusterHub.tell); every node, this one included,
	// shows the logout from the log then.
	elsewhere := s.srv.cluster != nil && s.srv.cfg().Accounts.DuplicateLogin == loginMulti
	// Who hears of it (scale.go): by the users online, the user
	// included, and each room's.
	c := s.srv.community.elsewhere()
	h := s.srv.hub
	_, ok := h.remove(s, func(room string, others []*session, last bool) {
		n.Room = room
		if !last {
			n.Text = "" // other devices are still online: no logout
		}
		// The user's rooms, each counted with the user in it.
		n.Rooms = s.rooms
		s.srv.scopePresence(n, len(h.users)+1+c.users, func(r string) int {
			return c.roomCount(r, h.roomUsers[chatd.Key(r)]+1)
		})
		if elsewhere {
			n.Everywhere = true
			return
		}
		if n.Scoped {
			others = h.audienceLocked(n.User, n.smallRooms())
		}
		s.srv.showPresence(n, others, []*session{s})
	})
	if ok && !elsewhere && n.Text != "" {
		s.srv.showCounts(n)
	}
	if ok {
		if err := s.srv.community.tell(ctx, n); err != nil {
			s.srv.log.Error("tell the cluster of a logout", "user", s.user, "err", err)
		}
	}
	s.srv.connLog.Info("logout", "user", s.user, "addr", s.addr, "reason", reason)
}

// presenceFor maps how a session ended to the presence event others see;
// "" means none (a replaced session's user is still online).
func presenceFor(reason string) string {
	switch reason {
	case byeTimeout:
		return presTimeout
	case byeKicked:
		return presKicked
	case byeBanned:
		return presBanned
	case byeShutdown:
		return presShutdown
	case byeReplaced:
		return ""
	default:
		return presLogout
	}
}

// ask sends a prompt and returns the answer. A `mode json|text` line switches
// mode and asks again, as the protocol requires.
func (s *session) ask(field string, secret bool) (string, bool) {
	return s.askText(field, secret, "")
}

// askText is ask with a text-mode prompt of its own ("" for the usual one).
func (s *session) askText(field string, secret bool, text string) (string, bool) {
	for {
		textMode := s.mode.Load() == modeText
		hide := secret && s.info.Telnet && s.srv.cfg().Server.Telnet && textMode
		p := promptEvent(field)
		if text != "" {
			p.text = text
		}
		if sc, ok := s.conn.(secretConn); ok && secret {
			shown := ""
			if textMode {
				shown = p.text
			}
			sc.readSecret(shown)
		}
		if hide {
			s.send(telnetEvent(string([]byte{tnIAC, tnWILL, tnEcho})))
		}
		s.reply(p)
		line, ok := s.readLine()
		if hide {
			// The client's own newline was not echoed: end the prompt line.
			s.send(telnetEvent(string([]byte{tnIAC, tnWONT, tnEcho}) + "\r\n"))
		}
		if !ok {
			return "", false
		}
		if !secret {
			// A password is never read as a label: it may start with @.
			line, s.label, _ = splitLabel(line)
		}
		if m, isMode := modeSwitch(line); isMode {
			s.setMode(m)
			continue
		}
		return line, true
	}
}

// modeSwitch recognises "mode json" / "/mode text".
func modeSwitch(line string) (int32, bool) {
	w := strings.Fields(line)
	if len(w) != 2 || strings.ToLower(strings.TrimPrefix(w[0], "/")) != "mode" {
		return 0, false
	}
	switch strings.ToLower(w[1]) {
	case "json":
		return modeJSON, true
	case "text":
		return modeText, true
	}
	return 0, false
}

// setMode switches the output mode. The switch is queued, so lines already
// queued (such as the telnet "echo on" after a password prompt) still go
// out in the mode they were meant for; the reply comes in the new mode.
func (s *session) setMode(m int32) {
	s.mode.Store(m)
	s.send(modeEvent(m))
	s.reply(okEvent("mode", "output mode is now "+modeName(m), nil))
}

func modeName(m int32) string {
	if m == modeJSON {
		return "json"
	}
	return "text"
}

// blocking reports whether this session's user blocks name.
func (s *session) blocking(name string) bool {
	m := s.blocks.Load()
	return m != nil && len(*m) > 0 && (*m)[chatd.Key(name)]
}

func (s *session) setBlocks(names []string) {
	if len(names) == 0 {
		s.blocks.Store(nil) // most users block nobody: fan-out skips the lookup
		return
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[chatd.Key(n)] = true
	}
	s.blocks.Store(&m)
}

// reply queues a direct answer to the line being handled: it carries that
// line's label, if it had one. Only the reader goroutine replies, so the
// answer goes through its own flusher like its chat echo: written by this
// goroutine before it next waits for input (readLine's flushOutput), with
// no writer goroutine woken for it.
func (s *session) reply(ev *event) {
	if s.irc != nil {
		switch {
		case s.irc.sink != nil:
			*s.irc.sink = append(*s.irc.sink, ev) // the IRC command translates it
			return
		case ev.typ == "welcome":
			ev = s.ircWelcome(ev)
		}
	}
	s.sendVia(&s.out, s.answer(ev))
}

// answer returns ev as an answer to the line being handled, with its label.
func (s *session) answer(ev *event) *event { return ev.labeled(s.label) }

// splitLabel splits "@LABEL rest" (PROTOCOL.md section 8): LABEL is 1-32
// characters of [A-Za-z0-9_-]. ok is false when line has no label.
func splitLabel(line string) (rest, label string, ok bool) {
	if !strings.HasPrefix(line, "@") {
		return line, "", false
	}
	end := strings.IndexByte(line, ' ')
	if end < 0 {
		end = len(line)
	}
	w := line[1:end]
	if len(w) == 0 || len(w) > 32 {
		return line, "", false
	}
	for _, c := range []byte(w) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return line, "", false
		}
	}
	return strings.TrimLeft(line[end:], " "), w, true
}

// fail answers cmd with err: its domain code and sentence, or "internal"
// after logging what went wrong.
func (s *session) fail(cmd string, err error) {
	code := chatd.ErrorCode(err)
	if cmd == "login" {
		s.srv.metrics.login(string(code))
	}
	if code == chatd.EInternal {
		s.srv.log.Error("command failed", "cmd", cmd, "user", s.user, "err", err)
	}
	var extra []field
	var ue *untilError
	if errors.As(err, &ue) {
		extra = append(extra, f("until", jsonTime(ue.until)))
	}
	s.reply(errorEvent(cmd, code, chatd.ErrorMessage(err), extra...))
}

// commandName is the command a line would run ("say" for chat), for error
// replies to lines that were refused before they ran.
func commandName(line string) string {
	c, _, isCmd := lookupCommand(line)
	switch {
	case !isCmd:
		return "say"
	case c == nil:
		return commandWord(line)
	default:
		return c.name
	}
}

// interruptGrace is how long, after an interrupt (IAC IP or BRK), the
// session keeps reading before it ends: telnet sends IAC DO TIMING-MARK
// right after the interrupt and shows nothing more until it is answered.
const interruptGrace = 250 * time.Millisecond

// telnetCommand handles one telnet command from the client; it runs on the
// reader goroutine, in order with the lines (see telnetConn). Answers are
// queued through the outbox like any output, so a timing mark is answered
// after everything queued before it. They are telnet bytes, so JSON mode
// never sees them (the interrupt still ends the session).
func (s *session) telnetCommand(cmd, opt byte) {
	switch cmd {
	case tnIP, tnBRK:
		// Ctrl-C (or Break) in telnet: the user wants out. Read on
		// briefly for the timing mark that follows, then end.
		if !s.interrupted {
			s.interrupted = true
			s.conn.SetReadDeadline(time.Now().Add(interruptGrace))
		}
	case tnAYT:
		s.send(textOnly("[chatd is here]"))
	case tnDO:
		switch opt {
		case tnTM:
			s.send(telnetEvent(string([]byte{tnIAC, tnWILL, tnTM})))
		case tnEcho:
			// chatd offers echo around password prompts; DO ECHO is the
			// client agreeing.
		default:
			s.refuse(tnDO, opt, tnWONT)
		}
	case tnWILL:
		s.refuse(tnWILL, opt, tnDONT)
	}
	// WONT and DONT are refusals or acknowledgements: never answered.
	// NOP, GA and the rest need nothing.
}

// refuse answers a request for an option chatd does not do, once per
// option and request: a client that asks again gets no second answer.
func (s *session) refuse(req, opt, answer byte) {
	if s.setAside().markRefused([2]byte{req, opt}) {
		s.send(telnetEvent(string([]byte{tnIAC, answer, opt})))
	}
}
