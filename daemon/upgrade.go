package daemon

// The live hand-over (PROTOCOL.md section 14): an old process gives its
// listening sockets and every plain TCP session to a new one, which goes on
// serving them as if nothing happened. The process side (starting the new
// binary, the readiness, systemd) is cmd/chatd's; this file is the session
// side, behind three calls: ListenerFiles, HandOver (the old process) and
// Adopt (the new one). They speak over a unix stream socket: frames of a
// length and a JSON handFrame, a session's socket riding with its frame as
// SCM_RIGHTS.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"syscall"
	"time"

	"chatd"
	"chatd/internal/ratelimit"
)

// handVersion is the version of sessionRecord; Adopt refuses others.
const handVersion = 1

// handFrame is one message of the hand-over. Exactly one field is set.
type handFrame struct {
	// Ready: the new process serves (its pid), new -> old.
	Ready int `json:"ready,omitempty"`
	// Failed: the new process cannot start, and why, new -> old.
	Failed string `json:"failed,omitempty"`
	// Session: one session, its socket in the frame, old -> new.
	Session *sessionRecord `json:"session,omitempty"`
	// End: every session was sent, old -> new.
	End bool `json:"end,omitempty"`
	// Adopted: the new process took Adopted sessions over and told
	// systemd it is the service now, new -> old; the old one exits.
	Adopted *int `json:"adopted,omitempty"`
	// Cluster: a cluster node's place in the event log, old -> new,
	// before the sessions: the new process reads the log after it.
	Cluster *clusterRecord `json:"cluster,omitempty"`
}

// clusterRecord is what moves of a cluster node beside its sessions: the
// last event of the log the old process applied. The node's name, its
// row and its sessions' rows stay in the database as they are.
type clusterRecord struct {
	Cursor int64 `json:"cursor"`
}

// sessionRecord is what a session is beyond its socket and what the
// database holds: who it is, where, and what it had read and not yet
// written, and what its login read from the database, so that the new
// process need not read it again.
type sessionRecord struct {
	V          int       `json:"v"`
	User       string    `json:"user"`
	SID        string    `json:"sid"`
	LoginAt    time.Time `json:"login_at"`
	Connected  time.Time `json:"connected"` // wall clock
	Addr       string    `json:"addr"`
	Listener   string    `json:"listener"`
	Telnet     bool      `json:"telnet"`
	Admin      bool      `json:"admin"`
	Mode       int32     `json:"mode"`
	OutMode    int32     `json:"out_mode"`
	MidLine    bool      `json:"mid_line"`
	Rooms      []string  `json:"rooms"`
	Room       string    `json:"room"`
	Away       *string   `json:"away,omitempty"`
	LastActive int64     `json:"last_active"`
	Tokens     float64   `json:"tokens"` // the line bucket's budget left
	Refused    int       `json:"refused"`
	// What the login read from the database, as the session has it now.
	Settings    map[string]string `json:"settings,omitempty"`
	Blocks      []string          `json:"blocks,omitempty"`   // keys
	Watching    []string          `json:"watching,omitempty"` // keys
	RefusedOpts [][2]byte         `json:"refused_opts,omitempty"`
	// IRC is a plain IRC client's state (irc.go); nil for telnet.
	IRC *ircRecord `json:"irc,omitempty"`
	// Input is what was read from the client and not run: a line begun
	// and what followed it. Output is what was queued and not written,
	// rendered.
	Input  []byte `json:"input,omitempty"`
	Output []byte `json:"output,omitempty"`
}

// ircRecord is what an IRC client has beyond a chat session: its
// registration, capabilities, and what it was shown (ircState).
type ircRecord struct {
	Nick     string            `json:"nick"`
	Username string            `json:"username"`
	Realname string            `json:"realname"`
	Guest    bool              `json:"guest"`
	Oper     bool              `json:"oper"`
	Caps     uint64            `json:"caps"`
	Batches  uint64            `json:"batches"`
	Known    []uint64          `json:"known_hashes,omitempty"`
	Watched  map[string]string `json:"watched,omitempty"`
	Monitor  map[string]string `json:"monitor,omitempty"`
	MonTold  map[string]bool   `json:"mon_told,omitempty"`
	Wallops  bool              `json:"wallops,omitempty"`   // user mode +w
	MetaSubs []string          `json:"meta_subs,omitempty"` // METADATA SUB keys
	// A SASL exchange begun (AUTHENTICATE PLAIN) and the chunks that came.
	SASL    bool   `json:"sasl,omitempty"`
	SASLBuf string `json:"sasl_buf,omitempty"`
	// CapNames are the capabilities by name: the bits of Caps are the
	// writer's numbering, which another build may not share.
	CapNames []string `json:"cap_names,omitempty"`
}

// capNames names the capabilities of the bits caps.
func capNames(caps uint64) []string {
	var names []string
	for _, c := range ircCaps {
		if caps&c.bit != 0 {
			names = append(names, c.name)
		}
	}
	return names
}

// capBits is the record's capabilities as this build numbers them: by
// name, when the process that wrote it named them, or else its bits
// (a build from before the names, which numbered them as this one does).
// A name this build does not know is dropped.
func (ir *ircRecord) capBits() uint64 {
	if ir.CapNames == nil {
		return ir.Caps
	}
	var caps uint64
	for _, name := range ir.CapNames {
		for _, c := range ircCaps {
			if c.name == name {
				caps |= c.bit
			}
		}
	}
	return caps
}

// writeHandFrame sends f, with the socket fd when fd >= 0.
func writeHandFrame(c *net.UnixConn, f handFrame, fd int) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	var head [4]byte
	binary.BigEndian.PutUint32(head[:], uint32(len(data)))
	var oob []byte
	if fd >= 0 {
		oob = syscall.UnixRights(fd)
	}
	// The header carries the socket and is sent alone, so the reader
	// finds it with the first bytes of the frame.
	if _, _, err := c.WriteMsgUnix(head[:], oob, nil); err != nil {
		return err
	}
	_, err = c.Write(data)
	return err
}

// maxHandFrame bounds one frame: a session's unwritten output is at most
// outboxLimit events.
const maxHandFrame = 256 << 20

// readHandFrame reads one frame and the socket that came with it (-1: none).
func readHandFrame(c *net.UnixConn) (handFrame, int, error) {
	var f handFrame
	var head [4]byte
	oob := make([]byte, syscall.CmsgSpace(4*4))
	n, oobn, _, _, err := c.ReadMsgUnix(head[:], oob)
	if err != nil {
		return f, -1, err
	}
	fd := -1
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				fds, err := syscall.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, x := range fds {
					if fd < 0 {
						fd = x
					} else {
						syscall.Close(x)
					}
				}
			}
		}
	}
	if n < len(head) {
		if _, err := io.ReadFull(c, head[n:]); err != nil {
			closeFD(fd)
			return f, -1, err
		}
	}
	size := binary.BigEndian.Uint32(head[:])
	if size > maxHandFrame {
		closeFD(fd)
		return f, -1, fmt.Errorf("hand-over frame of %d bytes", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(c, data); err != nil {
		closeFD(fd)
		return f, -1, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		closeFD(fd)
		return f, -1, fmt.Errorf("hand-over frame: %w", err)
	}
	return f, fd, nil
}

func closeFD(fd int) {
	if fd >= 0 {
		syscall.Close(fd)
	}
}

// SendReady tells the old process at the other end of c that this one
// serves: it hands its sessions over next.
func SendReady(c *net.UnixConn) error {
	return writeHandFrame(c, handFrame{Ready: os.Getpid()}, -1)
}

// SendFailed tells the old process why this one cannot start.
func SendFailed(c *net.UnixConn, why string) error {
	return writeHandFrame(c, handFrame{Failed: why}, -1)
}

// SendAdopted tells the old process that this one took n sessions over
// and is the service now.
func SendAdopted(c *net.UnixConn, n int) error {
	return writeHandFrame(c, handFrame{Adopted: &n}, -1)
}

// WaitReady waits for the new process to report ready (its pid) or why it
// failed. It returns when c fails too (the process exited); the caller
// bounds the wait by closing c.
func WaitReady(c *net.UnixConn) (pid int, err error) {
	f, fd, err := readHandFrame(c)
	closeFD(fd)
	switch {
	case err != nil:
		return 0, err
	case f.Failed != "":
		return 0, errors.New(f.Failed)
	case f.Ready <= 0:
		return 0, errors.New("the new process said something other than ready")
	}
	return f.Ready, nil
}

// WaitAdopted waits for the new process to say it took the sessions over.
func WaitAdopted(c *net.UnixConn) (int, error) {
	f, fd, err := readHandFrame(c)
	closeFD(fd)
	if err != nil {
		return 0, err
	}
	if f.Adopted == nil {
		return 0, errors.New("the new process said something other than adopted")
	}
	return *f.Adopted, nil
}

// ListenerFiles returns a copy of each listening socket, by the name the
// new process gives it in Options (plain, tls, web, metrics, ssh, irc,
// ircs). The caller closes them.
func (s *Server) ListenerFiles() (map[string]*os.File, error) {
	out := map[string]*os.File{}
	for name, ln := range s.raw {
		fl, ok := ln.(interface{ File() (*os.File, error) })
		if !ok {
			continue
		}
		f, err := fl.File()
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, fmt.Errorf("listener %s: %w", name, err)
		}
		out[name] = f
	}
	return out, nil
}

// keepRaw remembers a listening socket before TLS or counting wraps it,
// for ListenerFiles. Listen only.
func (s *Server) keepRaw(name string, ln net.Listener) {
	if s.raw == nil {
		s.raw = map[string]net.Listener{}
	}
	s.raw[name] = ln
}

// movable reports whether the session can go to a new process now: its
// transport moves (movesOnUpgrade, the one rule for what restartUnmovable
// leaves alone), it holds the raw socket, it is logged in and not ending.
// Logins in progress cannot move.
func (s *session) movable() bool {
	sc, ok := s.conn.(*streamConn)
	return ok && sc.raw != nil && s.movesOnUpgrade() && s.user != "" && s.info.account == nil && !s.ending()
}

// The states of session.handing.
const (
	handAsked   = 1 // HandOver wants the reader to stop
	handStopped = 2 // the reader stopped; HandOver has the session
)

// stopForHandOver ends the reader's part for the hand-over: what its chat
// queued to others goes out, and HandOver takes the session from here. It
// reports true to serve (the session is not over), or false when the
// hand-over gave up on the session meanwhile: it then ends as usual.
func (s *session) stopForHandOver() bool {
	if !s.handing.CompareAndSwap(handAsked, handStopped) {
		return false
	}
	s.out.flush()
	close(s.quiet)
	return true
}

// handWake is how often HandOver wakes a reader that has not stopped yet;
// handBusy how long it waits, after the other sessions, for the writes
// still going to clients; unmovableWait how long it waits for the
// sessions told to reconnect (a WebSocket's close handshake) to end.
const (
	handWake      = 20 * time.Millisecond
	handBusy      = time.Second
	unmovableWait = 2 * time.Second
)

// HandOver gives this server's movable sessions to the process at the
// other end of c, which has reported ready: it stops accepting, stops each
// session's reader at its next wait for input, writes the history that
// waits, and sends each session with its socket. The sessions that cannot
// move are closed (closeUnmovable). Every session it sends is gone
// from here without a logout; the caller then shuts the server down. It
// waits at most within for the readers to stop (one busy in a command
// finishes it first); a session that does not stop in time stays and ends
// with this server.
func (s *Server) HandOver(c *net.UnixConn, within time.Duration) (moved int, err error) {
	s.handedOver.Store(true)
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.closeListeners() // copies: the new process accepts on them
	// The sessions that cannot move are told to reconnect first, while
	// the plain ones are still served here: their logouts reach the users
	// who move (in their queued output), as their logins in the new
	// process will. Waiting for them costs the plain users no pause.
	s.restartUnmovable()
	wait, stop := context.WithTimeout(context.Background(), unmovableWait)
	s.waitUnmovable(wait)
	stop()
	all := s.allConns()
	var moving []*session
	for _, sess := range all {
		if sess.movable() {
			sess.quiet = make(chan struct{})
			sess.handing.Store(handAsked)
			moving = append(moving, sess)
		}
	}
	for _, sess := range moving {
		sess.wakeForHandOver()
	}
	deadline := time.Now().Add(within)
	tick := time.NewTicker(handWake)
	defer tick.Stop()
	var quiet []*session
	for _, sess := range moving {
	wait:
		for {
			select {
			case <-sess.quiet:
				quiet = append(quiet, sess)
				break wait
			case <-sess.done:
				break wait // it ended meanwhile: its reader finishes it
			case <-tick.C:
				if time.Now().After(deadline) && sess.handing.CompareAndSwap(handAsked, 0) {
					// Its reader finishes it when it comes back, or the
					// stop that follows does.
					s.log.Warn("hand-over: a session did not stop in time; it stays", "user", sess.user, "addr", sess.addr)
					break wait
				}
				sess.wakeForHandOver()
			}
		}
	}
	s.log.Info("hand-over: the sessions stopped", "stopped", len(quiet), "of", len(moving),
		"took", time.Since(deadline.Add(-within)).Round(time.Millisecond))
	// A cluster node stops reading the log here, where no session that
	// moves waits for a line of its own, and the new process reads on
	// from the same place: every event reaches the sessions once.
	// If the node cannot move, its sessions do not: they end here.
	if s.cluster != nil {
		err = s.handCluster(c)
	}
	// What was said is in the database before the new process reads it.
	s.history.flush()
	var marks []chatd.ReadMarker // what the sessions showed, stored at once
	taken := map[*session]bool{}
	defer func() { s.hub.leave(taken) }() // no logout: they go on elsewhere
	// send takes sess over and sends it; busy when its output is being
	// written until until.
	send := func(sess *session, until time.Time) (busy bool) {
		if err != nil {
			// The new process is gone: the sessions not sent end here
			// as usual (their readers stopped; finish runs now).
			go sess.serve(func() bool { return false })
			return false
		}
		rec, ok, busy := sess.takeOver(until)
		if busy || !ok {
			return busy
		}
		taken[sess] = true
		marks = sess.takeShown(marks)
		sc := sess.conn.(*streamConn)
		var serr error
		cerr := sc.raw.Control(func(fd uintptr) {
			serr = writeHandFrame(c, handFrame{Session: rec}, int(fd))
		})
		if serr == nil {
			serr = cerr
		}
		// This process's copy of the socket goes; the new one keeps its
		// own. If the send failed, the client is disconnected.
		sess.conn.Close()
		s.uncount(sess)
		if serr != nil {
			err = fmt.Errorf("send a session: %w", serr)
			return false
		}
		moved++
		return false
	}
	// Those whose output is being written go last, so that a client that
	// does not read holds nobody else up; after handBusy more they end
	// here, as a client too slow to read would.
	var later []*session
	for _, sess := range quiet {
		if send(sess, time.Time{}) {
			later = append(later, sess)
		}
	}
	until := time.Now().Add(handBusy)
	for _, sess := range later {
		if send(sess, until) {
			s.log.Warn("hand-over: a client does not read its output; it stays", "user", sess.user, "addr", sess.addr)
			go sess.serve(func() bool { return false })
		}
	}
	ctx, cancel := s.finishCtx()
	if merr := s.store.AdvanceMarkers(ctx, marks); merr != nil {
		s.log.Error("hand-over: store read markers", "err", merr)
	}
	cancel()
	if err == nil {
		err = writeHandFrame(c, handFrame{End: true}, -1)
	}
	s.log.Info("hand-over: the sessions were sent", "sessions", moved,
		"took", time.Since(deadline.Add(-within)).Round(time.Millisecond))
	s.closeUnmovable()
	return moved, err
}

// handCluster freezes this node's part in the cluster and sends the new
// process its position in the log. Once sent, the node (its heartbeat,
// its sessions' rows) is the new process's: this one does not leave the
// cluster when it stops. On an error no session moves; the new process,
// without a position, joins the cluster as after a restart.
func (s *Server) handCluster(c *net.UnixConn) error {
	cursor, err := s.cluster.freeze(5 * time.Second)
	if err != nil {
		return fmt.Errorf("stop reading the cluster's log: %w", err)
	}
	if err := writeHandFrame(c, handFrame{Cluster: &clusterRecord{Cursor: cursor}}, -1); err != nil {
		return fmt.Errorf("send the position in the cluster's log: %w", err)
	}
	s.cluster.handed.Store(true)
	s.log.Info("hand-over: the node goes to the new process", "node", s.cluster.me(), "cursor", cursor)
	return nil
}

// leave takes the sessions of gone out of the registry at once and with
// no logout (they go on in a new process): one pass over each list, where
// a removal each (removeLocked) would copy the long lists once per session.
func (h *hub) leave(gone map[*session]bool) {
	if len(gone) == 0 {
		return
	}
	keep := func(list []*session) []*session {
		out := make([]*session, 0, len(list))
		for _, s := range list {
			if !gone[s] {
				out = append(out, s)
			}
		}
		return out
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.all = keep(h.all)
	for k, list := range h.users {
		if l := keep(list); len(l) > 0 {
			h.users[k] = l
		} else {
			delete(h.users, k)
		}
	}
	names := make([]keyedName, 0, len(h.users))
	for _, n := range h.names {
		if len(h.users[n.key]) > 0 {
			names = append(names, n)
		}
	}
	h.names = names
	for rk, list := range h.rooms {
		l := keep(list)
		if len(l) == 0 {
			delete(h.rooms, rk)
			delete(h.roomUsers, rk)
			continue
		}
		h.rooms[rk] = l
		users := map[string]bool{}
		for _, s := range l {
			users[chatd.Key(s.user)] = true
		}
		h.roomUsers[rk] = len(users)
	}
	for k, list := range h.watchers {
		if l := keep(list); len(l) > 0 {
			h.watchers[k] = l
		} else {
			delete(h.watchers, k)
		}
	}
}

// wakeForHandOver makes a stopping session's reader look at handing: a
// read in progress returns, a parked session resumes.
func (s *session) wakeForHandOver() {
	sc := s.conn.(*streamConn)
	sc.Conn.SetReadDeadline(time.Unix(1, 0))
	sc.wake()
}

// takeOver takes a quiet session out of this process: out of the registry
// without a logout, its output taken and rendered, its read markers stored.
// ok is false when the session ended meanwhile; it is then finished here.
func (s *session) takeOver(until time.Time) (rec *sessionRecord, ok, busy bool) {
	srv := s.srv
	// The output: wait until until for whoever writes it now (a writer
	// blocked on a client that does not read would hold it up to its
	// write deadline), then hold it for good.
	var batch []*event
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			go s.serve(func() bool { return false }) // finish as usual
			return nil, false, false
		}
		if !s.writing && !s.scheduled {
			s.writing, s.closed = true, true
			batch = s.takeLocked()
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		if !time.Now().Before(until) {
			return nil, false, true
		}
		// A writer blocked on a client that does not read gives the
		// output up, keeping what it did not write (writeLoop).
		s.conn.SetWriteDeadline(time.Unix(1, 0))
		time.Sleep(time.Millisecond)
	}
	// Its rooms; HandOver takes it out of the hub (hub.leave) with the
	// others once all are taken.
	h := srv.hub
	h.mu.RLock()
	rooms, room, watching := s.rooms, s.room, s.watching
	h.mu.RUnlock()
	var out []byte
	if s.pending != nil {
		out = append(out, *s.pending...)
		putBuf(s.pending)
		s.pending = nil
	}
	for _, ev := range batch {
		out = s.appendEvent(out, ev)
	}
	settings := map[string]string{}
	p := s.prefs()
	for _, k := range chatd.SettingKeys {
		settings[k] = p.Get(k)
	}
	var blocks []string
	if m := s.blocks.Load(); m != nil {
		for k := range *m {
			blocks = append(blocks, k)
		}
	}
	rec = &sessionRecord{
		Settings: settings, Blocks: blocks, Watching: watching,
		V: handVersion, User: s.user, SID: s.sid, LoginAt: s.loginAt, Connected: s.connectedWall,
		Addr: s.addr, Listener: s.info.Listener, Telnet: s.info.Telnet, Admin: s.admin.Load(),
		Mode: s.mode.Load(), OutMode: s.outMode, MidLine: s.midLine,
		Rooms: rooms, Room: room, Away: s.away.Load(), LastActive: s.lastActive.Load(),
		Tokens: s.bucket.Take(0, srv.now()), Refused: s.refused,
		Input: s.conn.(*streamConn).lines.unread(), Output: out,
	}
	for k := range s.aside.refusedOptions() {
		rec.RefusedOpts = append(rec.RefusedOpts, k)
	}
	if st := s.irc; st != nil {
		ir := &ircRecord{Nick: st.me(), Username: st.username, Realname: st.realname, Guest: st.guest,
			Caps: st.caps.Load(), CapNames: capNames(st.caps.Load()), Batches: st.batches, Known: st.known.hashes(), MonTold: st.monTold,
			Wallops: st.wallops.Load(), MetaSubs: st.meta.subscriptions(), SASL: st.saslMech, SASLBuf: st.saslBuf}
		if v, ok := srv.ircIdents.Load(chatd.Key(s.user)); ok {
			ir.Oper = v.(*ircIdent).oper
		}
		if m := st.watched.Load(); m != nil {
			ir.Watched = *m
		}
		if m := st.monitor.Load(); m != nil {
			ir.Monitor = *m
		}
		rec.IRC = ir
	}
	return rec, true, false
}

// closeUnmovable ends what is left once the sessions were sent: the
// sessions the hand-over gave up on, and connections that were still
// logging in (restartUnmovable told the others to reconnect before).
func (s *Server) closeUnmovable() {
	for _, sess := range s.allConns() {
		if sess.handing.Load() == 0 {
			sess.end(byeShutdown, "the server is being upgraded; reconnect in a moment")
		}
	}
}

// HandedOver reports whether this server gave its sessions to a new
// process (the caller then does not tell systemd it stops).
func (s *Server) HandedOver() bool { return s.handedOver.Load() }

// Adopt takes over the sessions an old process sends over c (HandOver)
// until it says that was all, then opens the listeners, which wait until
// then (Options.Adopt). Each session goes on where it was: no welcome, no
// presence, its unwritten output first, then its unread input.
func (s *Server) Adopt(c *net.UnixConn) (n int, err error) {
	defer s.adoptDone()
	var adopted []*session
	var cluster *clusterRecord
	start := time.Now()
	defer func() {
		s.log.Info("hand-over: the sessions came", "sessions", len(adopted), "took", time.Since(start).Round(time.Millisecond))
		// The lines said in the old process meanwhile, and its last id.
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		defer cancel()
		if lerr := s.logs.load(ctx, s.store); lerr != nil {
			s.log.Error("hand-over: reload room history", "err", lerr)
		}
		if last, lerr := s.store.LastMessageID(ctx); lerr == nil {
			if v, ok := chatd.ParseID(last); ok {
				s.ids.Observe(v)
			}
		}
		if s.cluster != nil {
			// Before the listeners open (adoptDone): the node reads
			// the log on from the old process's place.
			r := resumeAt{ok: cluster != nil}
			if cluster != nil {
				r.cursor = cluster.Cursor
			}
			s.cluster.resume <- r
		}
		for _, sess := range adopted {
			sess.start()
		}
		s.log.Info("hand-over: the sessions run", "took", time.Since(start).Round(time.Millisecond))
	}()
	for {
		f, fd, err := readHandFrame(c)
		if err != nil {
			return len(adopted), fmt.Errorf("hand-over: %w", err)
		}
		if f.End {
			closeFD(fd)
			return len(adopted), nil
		}
		if f.Cluster != nil {
			closeFD(fd)
			cluster = f.Cluster
			continue
		}
		if f.Session == nil || fd < 0 {
			closeFD(fd)
			continue
		}
		sess, err := s.adoptOne(f.Session, fd)
		if err != nil {
			s.log.Error("hand-over: a session could not be taken over", "user", f.Session.User, "err", err)
			continue
		}
		adopted = append(adopted, sess)
	}
}

// adoptDone opens the listeners of an adopting server; once.
func (s *Server) adoptDone() {
	if s.adopting != nil {
		s.adoptOnce.Do(func() { close(s.adopting) })
	}
}

// waitAdopted holds an accept loop until the sessions came (Adopt).
func (s *Server) waitAdopted(ctx context.Context) bool {
	if s.adopting == nil {
		return true
	}
	select {
	case <-s.adopting:
		return true
	case <-ctx.Done():
		return false
	}
}

// adoptOne makes the session rec describes on socket fd, in the registry
// and counted, its reader not started yet.
func (s *Server) adoptOne(rec *sessionRecord, fd int) (*session, error) {
	f := os.NewFile(uintptr(fd), "session")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if rec.V != handVersion {
		nc.Close()
		return nil, fmt.Errorf("session record version %d, want %d", rec.V, handVersion)
	}
	cfg := s.cfg()
	sc := newStreamConn(nc, cfg.Server.MaxLineBytes)
	sc.lines.preload(rec.Input)
	sess := newSession(s, sc, ConnInfo{Addr: rec.Addr, Listener: rec.Listener, Telnet: rec.Telnet, IRC: rec.IRC != nil})
	if ir := rec.IRC; ir != nil {
		st := sess.irc
		nick := ir.Nick
		st.nick, st.username, st.realname, st.guest = nick, ir.Username, ir.Realname, ir.Guest
		st.nickNow.Store(&nick)
		st.caps.Store(ir.capBits())
		st.batches, st.known, st.monTold = ir.Batches, nickSetOf(ir.Known), ir.MonTold
		if ir.Watched != nil {
			st.watched.Store(&ir.Watched)
		}
		if ir.Monitor != nil {
			st.monitor.Store(&ir.Monitor)
		}
		st.wallops.Store(ir.Wallops)
		st.saslMech, st.saslBuf = ir.SASL, ir.SASLBuf
		if ir.MetaSubs != nil {
			st.meta.subs.Store(&ir.MetaSubs)
		}
		st.account = &chatd.User{Name: rec.User, Admin: rec.Admin}
		s.ircIdents.Store(chatd.Key(rec.User), &ircIdent{username: ir.Username, realname: ir.Realname, guest: ir.Guest, oper: ir.Oper})
	}
	sess.connectedWall = rec.Connected
	sess.user, sess.loginAt, sess.sid = rec.User, rec.LoginAt, rec.SID
	sess.admin.Store(rec.Admin)
	sess.mode.Store(rec.Mode)
	sess.outMode, sess.midLine = rec.OutMode, rec.MidLine
	sess.away.Store(rec.Away)
	sess.lastActive.Store(rec.LastActive)
	settings := chatd.ParseSettings(rec.Settings)
	sess.settings.Store(&settings)
	if settings.Bot {
		// The login told the old process; this one learns it here.
		s.setBotHere(rec.User, true)
	}
	sess.setBlocks(rec.Blocks)
	sess.watching = rec.Watching
	burst := float64(cfg.Rate.Burst)
	sess.bucket = ratelimit.New(cfg.Rate.LinesPerSecond, burst, s.now())
	sess.bucket.Take(max(burst-rec.Tokens, 0), s.now())
	sess.refused = rec.Refused
	for _, k := range rec.RefusedOpts {
		sess.setAside().markRefused(k)
	}
	s.names.put(rec.User)
	// Counted as ServeConn counts, whatever the limits: it was counted
	// in the old process.
	s.mu.Lock()
	s.open++
	if sess.addr != "" {
		s.perIP[sess.addr]++
	}
	s.conns[sess] = true
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connOpened(sess.info.Listener)
	sess.counted = true
	s.hub.add(sess, rec.Rooms, loginMulti, math.MaxInt, nil) // no welcome, no presence
	s.hub.mu.Lock()
	sess.room = rec.Room
	s.hub.mu.Unlock()
	if len(rec.Output) > 0 {
		sess.mu.Lock()
		sess.writing = true
		sess.pending = getBuf()
		*sess.pending = append(*sess.pending, rec.Output...)
		sess.mu.Unlock()
		go sess.writeLoop()
	}
	return sess, nil
}

// start runs an adopted session's reader, as run does after the login.
func (s *session) start() {
	go s.serve(func() bool {
		sc := s.conn.(*streamConn)
		sc.OnBytes(s.chargeBytes)
		if s.irc != nil {
			return s.ircLines(context.Background())
		}
		if s.info.Telnet {
			sc.OnTelnet(s.telnetCommand)
		}
		return s.commands(context.Background(), false)
	})
}

// UpgradeTimeout is server.upgrade_timeout in force.
func (s *Server) UpgradeTimeout() time.Duration { return s.cfg().Server.UpgradeTimeout.Duration }
