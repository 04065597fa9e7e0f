package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"chatd"
)

// Conn is one client connection as a session sees it: lines in, rendered
// lines out. The session knows nothing of the transport underneath; TCP
// (with telnet, plain or TLS) and WebSocket each implement Conn.
type Conn interface {
	// ReadLine returns the next line without its terminator. errLineTooLong
	// and errBadEncoding refuse one line and the connection stays usable;
	// any other error ends the session.
	ReadLine() (string, error)
	// Write sends one batch of whole rendered lines from the outbox.
	Write(p []byte) (int, error)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// ConnInfo says what a session needs to know about its transport.
type ConnInfo struct {
	// Addr is the client's real IP address (for a proxied WebSocket, the
	// one a trusted proxy vouched for). Per-IP caps, lockout, logs and
	// check use it.
	Addr string
	// Listener names where the connection came in: "plain", "tls", "web".
	Listener string
	// Telnet: the transport speaks telnet, so echo control may be sent
	// around password prompts.
	Telnet bool
	// JSON: the session starts in json mode (WebSocket), so no text
	// banner is shown.
	JSON bool
	// IRC: the client speaks IRC (irc.go); its output is rendered as IRC
	// lines.
	IRC bool

	// account is the user the transport has logged in already (the SSH
	// handshake, through the same gate as the login prompt); nil: the
	// session runs the login flow.
	account *chatd.User

	// slot is the place the connection's socket took in the accounting
	// when it was accepted (countingListener); nil: ServeConn counts the
	// connection itself.
	slot *connSlot
}

// ServeConn serves one client connection until its session ends; it blocks
// that long, unless the connection parks (parkConn: plain TCP on Linux,
// once a logged-in client is quiet), when it returns and the session goes
// on without it. It is the single entry point for every transport. A connection
// over the server's limits gets one refusal line and is closed. ctx is not
// used to end the session (shutdown does that with a bye); it is there for
// transports whose serving code needs one.
func (s *Server) ServeConn(_ context.Context, c Conn, info ConnInfo) {
	sess := newSession(s, c, info)
	if !s.isStarted() {
		t := time.NewTimer(startWait)
		select {
		case <-s.startDone:
		case <-t.C:
		}
		t.Stop()
	}
	s.mu.Lock()
	var refuse, reason string
	switch {
	case s.closing:
		refuse, reason = "the server is shutting down", "shutting_down"
	case !s.isStarted():
		refuse, reason = "the server is starting (joining its cluster); try again in a few seconds", "starting"
	case info.slot != nil:
		refuse, reason = s.claimLocked(info.slot, sess.addr)
	default:
		refuse, reason = s.admitLocked(sess.addr, false)
	}
	if refuse == "" {
		s.conns[sess] = true
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if refuse != "" {
		s.metrics.refusal(reason)
		s.connLog.Warn("connection refused", "addr", sess.addr, "listener", info.Listener, "why", refuse)
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if info.IRC {
			c.Write(appendIRC(nil, nil, "", "ERROR", "Closing link: "+refuse))
		} else {
			c.Write(errorEvent("connect", chatd.EServerBusy, refuse).render(sess.mode.Load()))
		}
		c.Close()
		return
	}
	s.metrics.connOpened(info.Listener)
	sess.counted = true
	// Not ctx: shutdown ends sessions with a bye, and the database work
	// of a command in flight should finish, not be cancelled.
	sess.run(context.Background())
}

// admitLocked counts one more connection from ip ("": not counted per IP;
// page: an HTTP socket that is not a chat session), or says why it may not
// have one: the server is shutting down, full (server.max_connections, or
// the descriptor budget, or page sockets holding half of that), or ip
// has server.max_connections_per_ip already. Callers hold s.mu.
func (s *Server) admitLocked(ip string, page bool) (refuse, reason string) {
	cfg := s.cfg()
	total := cfg.Server.MaxConnections
	if s.fdBudget > 0 {
		// Lingering closes hold descriptors without a slot.
		total = min(total, s.fdBudget-int(lingeringConns.Load()))
	}
	switch {
	case s.closing:
		return "the server is shutting down", "shutting_down"
	case s.open >= total:
		return "the server is full; try again later", "full"
	case page && s.pages >= max(1, total/2):
		return "the server is full; try again later", "full"
	case ip != "" && s.perIP[ip] >= cfg.Server.MaxConnectionsPerIP:
		return "too many connections from your address", "per_ip"
	}
	s.open++
	if page {
		s.pages++
	}
	if ip != "" {
		s.perIP[ip]++
	}
	return "", ""
}

// releaseLocked gives back what admitLocked counted. Callers hold s.mu.
func (s *Server) releaseLocked(ip string, page bool) {
	s.open--
	if page {
		s.pages--
	}
	if ip != "" {
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}
}

// takeSlot counts a socket an HTTP listener accepted, as a page socket;
// nil and why when it is over a limit.
func (s *Server) takeSlot(ip string) (slot *connSlot, refuse, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refuse, reason = s.admitLocked(ip, true); refuse != "" {
		return nil, refuse, reason
	}
	return &connSlot{ip: ip, page: true}, "", ""
}

// releaseSlot gives a socket's slot back when it is closed; once.
func (s *Server) releaseSlot(slot *connSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slot.released {
		slot.released = true
		s.releaseLocked(slot.ip, slot.page)
	}
}

// claimLocked makes the socket's slot a chat session's: it no longer
// counts as a page, and it counts against the client's address, which
// for a proxied WebSocket is the one the proxy vouched for, not the
// socket's. Callers hold s.mu.
func (s *Server) claimLocked(slot *connSlot, ip string) (refuse, reason string) {
	if slot.released {
		return "the connection is closed", "closed"
	}
	if slot.ip != ip {
		if ip != "" && s.perIP[ip] >= s.cfg().Server.MaxConnectionsPerIP {
			return "too many connections from your address", "per_ip"
		}
		if slot.ip != "" {
			if s.perIP[slot.ip]--; s.perIP[slot.ip] <= 0 {
				delete(s.perIP, slot.ip)
			}
		}
		if ip != "" {
			s.perIP[ip]++
		}
		slot.ip = ip
	}
	if slot.page {
		slot.page = false
		s.pages--
	}
	return "", ""
}

// streamConn is the TCP transport, plain or TLS: a byte stream split into
// lines by lineReader, which also consumes telnet commands.
type streamConn struct {
	net.Conn
	// lines is the line reader, part of the connection's allocation
	// rather than one of its own (a connection at rest keeps both).
	lines lineReader
	meter meterReader     // between the socket and lines
	raw   syscall.RawConn // plain TCP's socket, for tryWrite and parking; nil for TLS

	// tryWrite's call through raw, used only by the holder of the output.
	writeFn func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	// rawRead's call through raw, used only by the goroutine reading.
	readFn func(fd uintptr) bool
	rbuf   []byte
	rn     int
	rerrno syscall.Errno

	// Parking (parkConn), guarded by pmu (tier 5, DEVELOPING.md "Locks").
	pmu        sync.Mutex
	resume     func() // set while parked: what wake starts
	fd         int    // the socket, once registered with the poller
	registered bool
	closed     bool
	// The poller's deadline heap (park_linux.go), guarded by
	// inputPoller.mu: when a parked connection is woken anyway (wall
	// clock, unix nanoseconds), and its place in the heap plus one (0:
	// not in it).
	due     int64
	dueSlot int32
	// lingering is set once a lingering close began (closeWrite): no
	// line is read from then on, and the reader goroutine ends the close
	// (finishClose). lingerFrom is when it began.
	lingering  atomic.Bool
	lingerFrom time.Time // written before lingering is set
	released   bool      // the linger's slot was given back (pmu)
}

func newStreamConn(c net.Conn, maxLine int) *streamConn {
	sc := &streamConn{Conn: c}
	sc.lines = lineReader{src: &sc.meter, max: maxLine}
	sc.meter.r = c
	sc.meter.stop = &sc.lingering
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			sc.raw = raw
			sc.writeFn = sc.rawWrite
			sc.readFn = sc.rawRead
			sc.meter.r = rawReader{sc}
		}
	}
	return sc
}

func (c *streamConn) canTryWrite() bool { return c.raw != nil }

// tryWrite is one write(2) on the non-blocking socket, through the
// runtime's RawConn so that it is ordered with Write and Close: the
// function always reports done, so it never waits for the socket.
//
// The write is a raw system call: a write to a non-blocking socket never
// sleeps, so the scheduler need not be told (entersyscall), and telling it
// would wake the runtime's monitor thread after every quiet spell, a
// futex and a run of short sleeps for each line of paced chat. Only the
// holder of the session's output calls tryWrite, so the call's arguments
// and results live in the connection and nothing is allocated per write.
func (c *streamConn) tryWrite(p []byte) (n int, err error) {
	c.wbuf = p
	werr := c.raw.Write(c.writeFn)
	n, errno := c.wn, c.werrno
	c.wbuf = nil
	switch {
	case werr != nil && errors.Is(werr, os.ErrDeadlineExceeded):
		return 0, nil // a passed deadline: the writer sets a new one
	case werr != nil:
		return 0, werr
	case errno == syscall.EAGAIN:
		return 0, nil
	case errno != 0:
		return 0, errno
	}
	return n, nil
}

// rawWrite is the function tryWrite hands to RawConn.Write (c.writeFn).
func (c *streamConn) rawWrite(fd uintptr) bool {
	p := c.wbuf
	for {
		r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if errno == syscall.EINTR {
			continue
		}
		c.wn, c.werrno = int(r), errno
		if errno != 0 {
			c.wn = 0
		}
		return true
	}
}

// rawReader reads a plain TCP socket as net.Conn's Read does (waiting in
// the runtime's poller, under the read deadline), with a raw read(2) for
// the reason tryWrite has: the call never sleeps, and telling the
// scheduler of it would wake the runtime's monitor thread for every line a
// quiet client sends.
type rawReader struct{ c *streamConn }

func (r rawReader) Read(p []byte) (int, error) {
	c := r.c
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf = p
	err := c.raw.Read(c.readFn)
	n, errno := c.rn, c.rerrno
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, err // the deadline passed, or the connection was closed
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawRead is the function rawReader hands to RawConn.Read (c.readFn): it
// reports false, to wait for input, while there is none.
func (c *streamConn) rawRead(fd uintptr) bool {
	p := c.rbuf
	for {
		r, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.rn, c.rerrno = int(r), 0
		default:
			c.rn, c.rerrno = 0, errno
		}
		return true
	}
}

// lineWaiter is a Conn that can tell whether ReadLine would return
// without waiting.
type lineWaiter interface {
	lineWaiting() bool
}

func (c *streamConn) lineWaiting() bool { return c.lines.lineWaiting() }

// parkConn is a Conn that can wait for its client's input without a
// goroutine: plain TCP on Linux (the poller is epoll). Not TLS, whose
// records may hold input the socket no longer shows, nor WebSocket.
type parkConn interface {
	// canPark reports whether the connection could park now: it is plain
	// TCP, the poller runs, and no input is buffered.
	canPark() bool
	// waitInput waits, without reading, until input can be read, the
	// read deadline passes (os.ErrDeadlineExceeded) or the connection
	// fails.
	waitInput() error
	// park hands the wait to the poller: resume runs on a new goroutine
	// once input can be read, the connection is closed, or at deadline
	// (zero: none), whichever is first. It reports false, and changes
	// nothing, when the connection cannot park.
	park(deadline time.Time, resume func()) bool
}

// parkedConns counts the connections parked now.
var parkedConns atomic.Int64

// errNoPark: the connection cannot wait for input without reading.
var errNoPark = errors.New("connection cannot park")

func (c *streamConn) canPark() bool {
	return c.raw != nil && c.lines.idle() && theInputPoller() != nil
}

func (c *streamConn) park(deadline time.Time, resume func()) bool {
	p := theInputPoller()
	if p == nil || c.raw == nil || !c.lines.idle() {
		return false
	}
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.closed || c.lingering.Load() {
		return false
	}
	armed := false
	c.raw.Control(func(fd uintptr) {
		if armed = p.arm(int(fd), c); armed {
			c.fd, c.registered = int(fd), true
		}
	})
	if !armed {
		return false
	}
	c.resume = resume
	parkedConns.Add(1)
	if !deadline.IsZero() {
		p.wakeAt(c, deadline.UnixNano())
	}
	return true
}

// wake resumes a parked connection; it does nothing when the connection is
// not parked (a late event, or a timer that lost the race).
func (c *streamConn) wake() {
	c.pmu.Lock()
	resume := c.resume
	c.resume = nil
	if resume != nil {
		theInputPoller().noWake(c)
	}
	c.pmu.Unlock()
	if resume != nil {
		parkedConns.Add(-1)
		go resume()
	}
}

// Close unregisters the socket from the poller before closing it, and
// wakes the connection if parked, so that its session sees the close.
func (c *streamConn) Close() error {
	c.pmu.Lock()
	c.closed = true
	if c.registered {
		theInputPoller().forget(c.fd, c)
		c.registered = false
	}
	c.pmu.Unlock()
	err := c.Conn.Close()
	c.wake()
	return err
}

// The lingering close. A server that closes a socket whose input it has not
// read makes the kernel send a reset, not an orderly end: the reset can
// overtake what was written last (the bye, an error), and the client's
// kernel then throws away whatever the client had not read yet. So a
// session that ends with a bye is closed as careful servers do it: the
// write side is shut down (the bye, then the end of the stream, go out in
// order), the client's input is read and discarded until the client
// closes too, for at most lingerTime and lingerBytes, and only then is the
// socket closed. The bounds keep a client from holding the socket open;
// the session itself is over before the linger (the user is offline, the
// connection no longer counts against the limits), so at most maxLingering
// sockets linger at once, and beyond that a close is immediate.
const (
	lingerTime   = 2 * time.Second
	lingerBytes  = 512 << 10
	maxLingering = 256
)

// lingeringConns counts the sockets lingering now, in every server of the
// process.
var lingeringConns atomic.Int64

// errLingering is what reads return once a lingering close began.
var errLingering = errors.New("connection closing")

// lingerCloser is a Conn that closes gracefully: closeWrite ends the output
// and starts the close, finishClose (the reader goroutine, once it is
// done with the session) discards input within the bounds and closes.
type lingerCloser interface {
	// closeWrite shuts the write side down after what was written; from
	// then on reads fail at once. It reports false if it could not, when
	// the connection was closed at once instead.
	closeWrite() bool
	// finishClose closes the connection, lingering first if closeWrite
	// began that. Safe on a connection already closed.
	finishClose()
}

func (c *streamConn) closeWrite() bool {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	c.pmu.Lock()
	if !ok || c.closed || c.lingering.Load() {
		c.pmu.Unlock()
		c.Close()
		return false
	}
	if lingeringConns.Add(1) > maxLingering {
		lingeringConns.Add(-1)
		c.pmu.Unlock()
		c.Close()
		return false
	}
	c.lingerFrom = time.Now()
	c.lingering.Store(true)
	if c.registered {
		theInputPoller().forget(c.fd, c)
		c.registered = false
	}
	c.pmu.Unlock()
	if err := cw.CloseWrite(); err != nil {
		c.Close()
		return true // finishClose still gives the slot back
	}
	// A read in progress (the reader waiting for input, or for input to
	// park on) returns now, as it would on a close; a parked connection
	// is woken. Either way the session finishes, then its reader
	// lingers (finishClose).
	c.Conn.SetReadDeadline(time.Unix(1, 0))
	c.wake()
	return true
}

var lingerBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

func (c *streamConn) finishClose() {
	if c.lingering.Load() {
		c.Conn.SetReadDeadline(c.lingerFrom.Add(lingerTime))
		bp := lingerBufs.Get().(*[]byte)
		for read := 0; read < lingerBytes; {
			n, err := c.Conn.Read(*bp)
			read += n
			if err != nil {
				break // the client's end of the stream, the deadline, or an error
			}
		}
		lingerBufs.Put(bp)
	}
	c.Close()
	c.pmu.Lock()
	release := c.lingering.Load() && !c.released
	c.released = true
	c.pmu.Unlock()
	if release {
		lingeringConns.Add(-1)
	}
}

// meteredConn is a Conn that reports every byte it reads from the client,
// telnet commands and the bytes of refused lines included, so that a
// budget can apply to all of them and not only to the lines that come out.
type meteredConn interface {
	// OnBytes makes meter see the size of each read, always from one
	// goroutine (the one calling ReadLine, or the transport's own reader);
	// an error from meter ends the stream with it.
	OnBytes(meter func(n int) error)
}

func (c *streamConn) OnBytes(meter func(n int) error) { c.meter.charge = meter }

// meterReader passes reads through and charges their size.
type meterReader struct {
	r      io.Reader
	charge func(n int) error
	stop   *atomic.Bool // once set, reads fail (a lingering close began)
}

func (m *meterReader) Read(p []byte) (int, error) {
	if m.stop != nil && m.stop.Load() {
		return 0, errLingering
	}
	n, err := m.r.Read(p)
	if m.stop != nil && m.stop.Load() {
		return 0, errLingering // what came meanwhile is discarded
	}
	if n > 0 && m.charge != nil {
		if cerr := m.charge(n); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func (c *streamConn) ReadLine() (string, error) {
	if c.lingering.Load() {
		return "", errLingering // lines already buffered are not run either
	}
	return c.lines.ReadLine()
}

// telnetConn is a Conn that speaks telnet and reports the telnet commands
// it reads (the TCP transport). handle runs on the goroutine calling
// ReadLine, in order with the lines.
type telnetConn interface {
	OnTelnet(handle func(cmd, opt byte))
}

func (c *streamConn) OnTelnet(handle func(cmd, opt byte)) { c.lines.onCommand = handle }

// hostOf is the host part of a "host:port" address, or addr itself when it
// has no port.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
