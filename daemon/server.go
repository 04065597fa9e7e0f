// Package daemon serves the chatd line protocol: it owns the listeners, one
// session per connection, the hub of who is online, and fan-out.
package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"chatd"
	"chatd/internal/logging"
	"chatd/internal/password"
)

// Options configure a Server.
type Options struct {
	Config chatd.Config
	Store  chatd.Store
	// Cluster, when set, makes this server one node of several sharing
	// it (docs/cluster.md); nil serves the community alone.
	Cluster chatd.Cluster
	Log     *slog.Logger
	Now     func() time.Time // nil: time.Now

	// Listeners made outside the server (socket activation, tests): plain
	// TCP, and the raw TCP socket for TLS (the server runs the handshake).
	// Listen binds the ones left nil from server.listen and
	// server.tls_listen.
	Plain, TLS net.Listener
	// Web is the raw TCP socket of the web client (the server adds TLS
	// when web.tls_cert is set); nil: Listen binds web.listen, if set.
	Web net.Listener
	// Metrics is the socket for /metrics and /healthz; nil: Listen binds
	// metrics.listen, if set.
	Metrics net.Listener
	// SSH is the raw TCP socket of the SSH listener (ssh.go); nil: Listen
	// binds ssh.listen, if set.
	SSH net.Listener

	// LiveLog, when set, is where Log comes from; Reload applies the
	// [log] settings to it.
	LiveLog *logging.Live
	// OnReady runs once Serve accepts on every listener; OnStopping when
	// it starts to shut down (systemd's READY=1 and STOPPING=1).
	OnReady, OnStopping func()
	// ManageMemory lets the server set the process's soft memory limit
	// from the argon2 settings (unless GOMEMLIMIT is set) and return hash
	// memory to the system when logins quieten down; and keep password
	// hashing off one P, raising GOMAXPROCS on a small machine (unless
	// GOMAXPROCS is set; see password.Slots). Only a process that runs one
	// server should set it (chatd serve does).
	ManageMemory bool
	// Hasher computes password hashes; nil: password.InProcess.
	Hasher password.Hasher

	// IRC and IRCTLS are the raw TCP sockets of irc.listen and
	// irc.tls_listen (a hand-over passes them); nil: Listen binds them.
	IRC, IRCTLS net.Listener
	// Adopt: the sessions come from an older process (upgrade.go): Serve
	// leaves who is online alone and accepts only once Adopt is done.
	Adopt bool
}

// defaultParkAfter is how long a logged-in client is quiet before its
// session parks: long enough that one who chats keeps its goroutine, short
// against any idle spell worth the memory.
const defaultParkAfter = 2 * time.Second

// Server is a chat daemon.
type Server struct {
	// Static after New.
	store     chatd.Store // timed (timedStore)
	log       *slog.Logger
	connLog   *logging.ConnLog // connection events, rate-limited
	now       func() time.Time
	hub       *hub        // the registry: this node's sessions and their rooms
	community community   // the other nodes and everyone online (community.go)
	cluster   *clusterHub // the same community when this node is one of several; else nil
	hashes    *password.Gate
	pw        password.Hasher // computes what the gate admits
	nameLocks *keyLocks       // one password check per name at a time
	seen      seenWriter      // logins' and logouts' times, by group commit (seen.go)
	names     *userNames      // registered spellings of names that exist
	history   *historyWriter  // database copy of room chat (runs from Serve)
	logs      *roomLogs       // in-memory recent room chat, replayed on join
	roomModes roomModeCache   // each room's flags and owner for its lines (roommodes.go; own lock)
	metrics   *metrics
	startedAt int64     // unix nanoseconds, for session ids
	startedAs time.Time // the server's clock at start, shown (IRC's 003)
	// ids gives message ids (newID; atomic, no lock); idTag, static after
	// New, is what this node adds to them in a cluster.
	ids   chatd.IDClock
	idTag string
	// Process memory (with Options.ManageMemory): envMemLimit is true when
	// GOMEMLIMIT decides instead; memLimit (atomic) is the soft limit
	// applyMemoryLimit set last (two callers at once may leave the older
	// figure, which the next second's call puts right).
	manageMemory bool
	envMemLimit  bool
	memLimit     atomic.Int64
	// fdBudget is how many client sockets the descriptor limit leaves
	// room for (fdlimit.go); 0: no limit known.
	fdBudget            int
	liveLog             *logging.Live
	onReady, onStopping func()
	// halt ends when the shutdown grace is over or Serve returns: the
	// database calls that end a session (finishCtx) and the history
	// writer give up then.
	halt    context.Context
	haltNow context.CancelFunc
	stop    chan struct{} // closed by Shutdown
	// startDone is closed when Serve's start is over (started).
	startDone chan struct{}

	// Set by Listen, before Serve; read-only after.
	dummyHash  string       // what unknown names are checked against
	ln, tlsLn  net.Listener // tlsLn already wraps TLS around its socket
	webLn      net.Listener // the web client's; nil when it is off
	web        *http.Server // serves webLn
	metricsLn  net.Listener // nil when metrics are off
	metricsWeb *http.Server
	sshLn      net.Listener // counting accepts; nil when SSH is off
	sshKey     ssh.Signer   // the SSH host key
	// The IRC listeners (irc.listen, irc.tls_listen); nil when off.
	// ircTLSLn already wraps TLS around its socket.
	ircLn, ircTLSLn net.Listener

	// ircIdents maps the key of each user who logged in over IRC on this
	// node to an *ircIdent (irc.go): a sync.Map, written at an IRC
	// registration and a guest's end, read by WHO, WHOIS and the
	// rendering of lines (account tags).
	ircIdents sync.Map
	// bots holds the key of each account known here to be a bot (bot.go):
	// a sync.Map, written by the bot notes, read by WHO, WHOIS and the
	// rendering of IRC lines (the bot tag).
	bots sync.Map
	// whowas remembers the IRC users who left this node lately
	// (irccommands.go).
	whowas ircWhowas
	// ircPeak is the most users online an IRC LUSERS answer counted
	// (atomic).
	ircPeak atomic.Int64

	// Atomics. live is the configuration in force: one immutable value,
	// swapped whole by Reload and read at each use through cfg(); nothing
	// may modify a Config once it is stored here. cert and webCert are the
	// TLS pairs in force, read at each handshake. sids counts logins, for
	// session ids. parkAfter is how long a logged-in client may be quiet
	// before its session parks (session.park; 0 never; tests shorten it).
	// lastFree is when hash memory was last handed back (unix
	// nanoseconds). finishing counts the sessions in finish, for the log
	// of a shutdown that ran out of time.
	live      atomic.Pointer[chatd.Config]
	cert      atomic.Pointer[tls.Certificate]
	webCert   atomic.Pointer[tls.Certificate]
	sids      atomic.Uint64
	parkAfter atomic.Int64
	lastFree  atomic.Int64
	finishing atomic.Int64

	// Guarded by reloadMu (tier 0): one reload at a time, ordered with
	// StartDiscovery and its stop.
	reloadMu sync.Mutex
	disc     discoveryRunner

	// Guarded by mu (tier 1): connection accounting, sessions that have
	// not logged in included; open and pages are the sockets and sessions
	// counted and, of those, the HTTP sockets that are not chat sessions
	// (admitLocked).
	mu          sync.Mutex
	closing     bool // Serve is stopping: no new sessions
	conns       map[*session]bool
	perIP       map[string]int
	open, pages int

	wg sync.WaitGroup // one per session goroutine

	// searching holds the users with a search running (chatd.Key), so
	// that each has at most one, whatever their sessions (sync.Map: no
	// lock of ours).
	searching sync.Map

	// Written once, by the first Shutdown.
	stopOnce sync.Once
	stopMsg  string

	// presence writes presence events (logins, logouts, joins) to idle
	// recipients a wave at a time (presence.go); its own lock.
	presence presenceFlusher
	// sizes sends large rooms' counts (scale.go); its own lock.
	sizes roomSizes
	// writes is how the database's writes went lately, for /healthz
	// (atomics of its own).
	writes writeHealth

	// typing remembers the typing notices sent lately (typing.go); its
	// own lock.
	typing typingGate

	// The hand-over (upgrade.go). raw holds the listening sockets before
	// TLS or counting wraps them, by name (set by Listen; read-only
	// after). adopting, made by New with Options.Adopt, is closed once
	// Adopt is done (adoptOnce); the listeners accept from then on.
	// handedOver is set once HandOver began (atomic).
	raw        map[string]net.Listener
	adopting   chan struct{}
	adoptOnce  sync.Once
	handedOver atomic.Bool
}

// New returns a server that has not started listening.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		store:        o.Store,
		log:          o.Log,
		connLog:      logging.NewConnLog(o.Log),
		now:          o.Now,
		nameLocks:    newKeyLocks(),
		names:        newUserNames(),
		manageMemory: o.ManageMemory,
		envMemLimit:  os.Getenv("GOMEMLIMIT") != "",
		conns:        map[*session]bool{},
		perIP:        map[string]int{},
		fdBudget:     descriptorBudget(),
		stop:         make(chan struct{}),
		startDone:    make(chan struct{}),
		ln:           o.Plain,
		tlsLn:        o.TLS,
		webLn:        o.Web,

		metricsLn:  o.Metrics,
		sshLn:      o.SSH,
		ircLn:      o.IRC,
		ircTLSLn:   o.IRCTLS,
		liveLog:    o.LiveLog,
		onReady:    o.OnReady,
		onStopping: o.OnStopping,
	}
	if o.Adopt {
		s.adopting = make(chan struct{})
	}
	cfg := o.Config
	s.live.Store(&cfg)
	s.hub = newHub()
	if o.Cluster != nil {
		s.cluster = newClusterHub(s, o.Cluster)
		s.community = s.cluster
		s.idTag = "-" + chatd.NodeTag(o.Cluster.Node())
	} else {
		s.community = localHub{s}
	}
	s.halt, s.haltNow = context.WithCancel(context.Background())
	s.startedAt = time.Now().UnixNano()
	s.startedAs = s.now()
	s.parkAfter.Store(int64(defaultParkAfter))
	s.pw = o.Hasher
	if s.pw == nil {
		s.pw = password.InProcess{}
	}
	s.metrics = newMetrics(s)
	gate := password.GateOptions{Slots: s.hashSlots, Waited: s.metrics.waited}
	if s.manageMemory {
		s.presence.onQuiet = s.freeQuietMemory
		gate.Idle = s.freeHashMemory
		s.applyMemoryLimit()
		s.applyProcs()
	}
	s.hashes = password.NewGate(gate)
	s.store = timedStore{Store: o.Store, m: s.metrics, w: &s.writes}
	s.history = newHistoryWriter(s.store, func() int { return s.cfg().Messages.HistoryKeep }, s.log)
	s.logs = newRoomLogs(s.cfg().Messages.HistoryOnJoin)
	return s
}

// cfg returns the configuration in force. Callers read it at each use and
// keep it no longer than one operation, so a reload reaches them at once.
func (s *Server) cfg() *chatd.Config { return s.live.Load() }

// hasher hashes new passwords at the argon2 cost in force.
func (s *Server) hasher() chatd.Hasher { return chatd.NewHasher(s.cfg().Argon2) }

// Listen binds server.listen (and server.tls_listen when set) unless
// Options gave those listeners, loads the TLS pair, and prepares the dummy
// password hash.
func (s *Server) Listen() error {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("read random: %w", err)
	}
	start := time.Now()
	h, err := s.pw.Hash(s.hasher(), hex.EncodeToString(secret))
	s.hashes.Estimate(time.Since(start)) // the gate's first estimate
	if err != nil {
		return fmt.Errorf("hash dummy password: %w", err)
	}
	s.dummyHash = h
	if err := s.logs.load(context.Background(), s.store); err != nil {
		return fmt.Errorf("load room history: %w", err)
	}
	// Ids go on above the stored ones, whatever the wall clock says.
	last, err := s.store.LastMessageID(context.Background())
	if err != nil {
		return fmt.Errorf("read the last message id: %w", err)
	}
	if v, ok := chatd.ParseID(last); ok {
		s.ids.Observe(v)
	}
	cfg := s.cfg()
	if s.ln == nil {
		if s.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			return fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
		}
	}
	s.keepRaw("plain", s.ln)
	if err := s.listenWeb(); err != nil {
		s.ln.Close()
		return err
	}
	if s.metricsLn == nil && cfg.Metrics.Listen != "" {
		if s.metricsLn, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s (metrics.listen): %w", cfg.Metrics.Listen, err)
		}
	}
	if s.metricsLn != nil {
		s.keepRaw("metrics", s.metricsLn)
		s.serveMetricsOn()
	}
	if err := s.listenSSH(); err != nil {
		s.closeListeners()
		return err
	}
	if err := s.listenIRC(); err != nil {
		s.closeListeners()
		return err
	}
	if s.tlsLn == nil && cfg.Server.TLSListen == "" {
		return nil
	}
	if cfg.Server.TLSCert == "" || cfg.Server.TLSKey == "" {
		s.closeListeners()
		return errors.New("server.tls_cert, server.tls_key: must be set to serve the TLS listener")
	}
	cert, err := loadPair("server", cfg.Server.TLSCert, cfg.Server.TLSKey)
	if err != nil {
		s.closeListeners()
		return err
	}
	s.cert.Store(cert)
	if s.tlsLn == nil {
		if s.tlsLn, err = net.Listen("tcp", cfg.Server.TLSListen); err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s (server.tls_listen): %w", cfg.Server.TLSListen, err)
		}
	}
	s.keepRaw("tls", s.tlsLn)
	s.tlsLn = tls.NewListener(s.tlsLn, tlsConfig(&s.cert))
	return nil
}

// closeListeners closes every listener bound so far, and the page
// servers on them (which also drop their idle page requests; WebSocket
// sessions were taken over from net/http and end with the other
// sessions): on Listen's way out with an error, when Serve fails to start,
// and when it stops. Closing a listener twice is harmless.
func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.ln, s.tlsLn, s.webLn, s.metricsLn, s.sshLn, s.ircLn, s.ircTLSLn} {
		if ln != nil {
			ln.Close()
		}
	}
	if s.web != nil {
		s.web.Close()
	}
	if s.metricsWeb != nil {
		s.metricsWeb.Close()
	}
}

// startWait is how long a connection made while the server starts waits
// for the start to finish before it is refused: a single node's start takes
// a moment, a cluster node may wait out its previous run for seconds.
const startWait = time.Second

// started ends the start: sessions are admitted from now on, or, when the
// start failed (ok false), refused as at shutdown.
func (s *Server) started(ok bool) {
	s.mu.Lock()
	s.closing = s.closing || !ok
	close(s.startDone)
	s.mu.Unlock()
}

// isStarted reports whether Serve's start is over.
func (s *Server) isStarted() bool {
	select {
	case <-s.startDone:
		return true
	default:
		return false
	}
}

// Addr is the bound plain-TCP address (valid after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// MetricsAddr is the bound metrics address, or nil when metrics are off.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// TLSAddr is the bound TLS address, or nil when TLS is off.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Shutdown asks Serve to stop gracefully, telling clients msg.
func (s *Server) Shutdown(msg string) {
	s.stopOnce.Do(func() {
		s.stopMsg = msg
		close(s.stop)
	})
}

// shutdownExtra is how long Serve waits, once shutdown_grace is over and
// the remaining connections are closed, for what still runs (sessions
// finishing, the cluster's loops, the history writer) before it logs what
// is left and returns anyway.
const shutdownExtra = 5 * time.Second

// finishTimeout bounds each database call that ends a session (last seen,
// the cluster's logout) outside shutdown; at shutdown they end with the
// grace (Server.halt) at the latest.
const finishTimeout = 30 * time.Second

// finishCtx is the context of the database calls that end a session.
func (s *Server) finishCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.halt, finishTimeout)
}

// Serve accepts connections until ctx is cancelled or Shutdown is called
// (the admin `shutdown` command), then stops gracefully: every client gets
// bye "shutdown", last-seen times are written. It returns nil after a clean
// stop.
//
// The stop is bounded: sessions have shutdown_grace to end, then the
// connections left are closed and their database calls cancelled, and
// after shutdownExtra more Serve logs what still runs and returns anyway.
// Every goroutine and timer Serve starts is stopped before it returns, on
// every path, a failed start included.
func (s *Server) Serve(ctx context.Context) error {
	defer s.haltNow()
	defer s.presence.stop()
	defer s.sizes.stop()
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The listeners answer from the start, so that a client never waits
	// on a silent socket: a connection made before the start below is done
	// waits for it up to startWait, and is then refused with server_busy
	// and the reason (a cluster node may wait out its previous run's
	// heartbeat for seconds).
	var loops sync.WaitGroup
	for name, ln := range map[string]net.Listener{"plain": s.ln, "tls": s.tlsLn, "irc": s.ircLn, "ircs": s.ircTLSLn} {
		if ln != nil {
			loops.Add(1)
			go func() {
				defer loops.Done()
				if s.waitAdopted(sctx) {
					s.acceptLoop(sctx, name, ln)
				}
			}()
		}
	}
	if s.sshLn != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if s.waitAdopted(sctx) {
				s.sshAcceptLoop(sctx, s.sshLn)
			}
		}()
	}
	if s.web != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if !s.waitAdopted(sctx) {
				return
			}
			if err := s.web.Serve(s.webLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("web listener", "err", err)
			}
		}()
	}
	if s.metricsWeb != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if err := s.metricsWeb.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("metrics listener", "err", err)
			}
		}()
	}
	// Admin actions recorded before now are already in the tables each
	// login reads; act on those that come after. Who was online belongs
	// to an earlier run.
	cursor, err := s.store.LastActionID(sctx)
	var events int64
	switch {
	case err != nil:
	case s.adopting != nil:
		// Who is online comes from the old process (Adopt), which
		// removed its IRC guests' rows as they ended.
	case s.cluster != nil:
		// The cluster's sessions table says who is online; the node
		// first clears what a previous run of it left there.
		events, err = s.cluster.join(sctx)
	default:
		err = s.store.SetOnline(sctx, nil)
		if err == nil {
			// IRC guests of an earlier run that ended without
			// removing them (a crash).
			var n int64
			if n, err = s.store.DeleteGuests(sctx); n > 0 {
				s.log.Info("removed the IRC guests of an earlier run", "guests", n)
			}
		}
	}
	if err != nil {
		s.started(false)
		cancel()
		s.closeListeners()
		loops.Wait()
		return fmt.Errorf("start: %w", err)
	}
	acquirePoller()
	defer releasePoller()
	s.history.start(s.halt)
	// The cluster's loops outlive the listeners: sessions that end at
	// shutdown still publish (their logout) and deliver (room lines).
	cctx, cancelCluster := context.WithCancel(context.Background())
	defer cancelCluster()
	clusterDone := make(chan struct{})
	switch {
	case s.cluster != nil && s.adopting != nil:
		// The node moves from the old process: it reads the log from
		// where that one stopped, once Adopt has the position.
		go func() {
			defer close(clusterDone)
			cursor, err := s.cluster.resumeFrom(cctx)
			if err != nil {
				if cctx.Err() == nil {
					s.log.Error("upgrade: take the node over in the cluster", "err", err)
				}
				return
			}
			s.cluster.run(cctx, cursor)
		}()
	case s.cluster != nil:
		go func() { defer close(clusterDone); s.cluster.run(cctx, events) }()
	default:
		close(clusterDone)
		loops.Add(1)
		go func() { defer loops.Done(); s.syncOnline(sctx) }()
	}
	loops.Add(4)
	go func() { defer loops.Done(); s.watchActions(sctx, cursor) }()
	go func() { defer loops.Done(); s.flushSeen(sctx) }()
	go func() { defer loops.Done(); s.flushMarkers(sctx) }()
	go func() { defer loops.Done(); s.pruneAttempts(sctx) }()
	s.started(true)
	if s.onReady != nil {
		s.onReady()
	}

	select {
	case <-ctx.Done():
		s.Shutdown("the server is shutting down")
	case <-s.stop:
	}
	s.log.Info("shutting down", "message", s.stopMsg)
	if s.onStopping != nil {
		s.onStopping()
	}
	graceOver := time.NewTimer(s.cfg().Server.ShutdownGrace.Duration)
	defer graceOver.Stop()
	s.closeListeners()
	cancel()
	s.mu.Lock()
	s.closing = true // other transports may still hand in connections
	s.mu.Unlock()

	for _, sess := range s.allConns() {
		sess.end(byeShutdown, s.stopMsg)
	}
	// The loops stop on their own (cancel above); the sessions end with
	// their bye. Both get the grace, then what is left gets the extra
	// bound.
	stages := []struct {
		name string
		done <-chan struct{}
	}{
		{"sessions", waitDone(s.wg.Wait)},
		// The logins' times still waiting for company (seen.go).
		{"seen", waitDone(func() { s.seen.flush(s) })},
		{"loops", waitDone(loops.Wait)},
		{"cluster", clusterDone},
		{"history", s.history.done},
	}
	var hardStop <-chan time.Time
	historyClosed := false
	hardEnd := time.Now().Add(s.cfg().Server.ShutdownGrace.Duration + shutdownExtra)
	for i, st := range stages {
		if st.name == "cluster" {
			cancelCluster() // every session is done, or out of time
		}
		if st.name == "history" {
			s.history.close()
			historyClosed = true
		}
		select {
		case <-st.done:
			continue
		case <-graceOver.C:
		case <-hardStop:
		}
		if hardStop == nil {
			// The grace is over: close what is left, cancel its
			// database calls, and wait a little more.
			s.log.Warn("shutdown grace over; closing the remaining connections")
			for _, sess := range s.allConns() {
				sess.conn.Close()
			}
			s.haltNow()
			t := time.NewTimer(shutdownExtra)
			defer t.Stop()
			hardStop, hardEnd = t.C, time.Now().Add(shutdownExtra)
			select {
			case <-st.done:
				continue
			case <-hardStop:
			}
		}
		// Out of time: say what is left and return. The writer still
		// stops once it can (its writes end with halt).
		if !historyClosed {
			s.history.close()
		}
		var left []string
		for _, st := range stages[i:] {
			select {
			case <-st.done:
			default:
				left = append(left, st.name)
			}
		}
		s.mu.Lock()
		sessions := len(s.conns)
		s.mu.Unlock()
		s.log.Error("shutdown bound over; returning with work still running",
			"waiting_for", left, "sessions", sessions, "sessions_finishing", s.finishing.Load(),
			"grace", s.cfg().Server.ShutdownGrace.Duration, "extra", shutdownExtra)
		return nil
	}
	if s.cluster != nil && !s.cluster.handed.Load() {
		// Within the same bound: a stalled database does not hold the
		// stop any longer. A node handed to a new process stays.
		ctx, cancel := context.WithDeadline(context.Background(), hardEnd)
		if err := s.cluster.c.Leave(ctx); err != nil {
			s.log.Error("leave the cluster", "err", err)
		}
		cancel()
	}
	return nil
}

// waitDone runs wait on a goroutine of its own and returns a channel
// closed when it returns.
func waitDone(wait func()) <-chan struct{} {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	return done
}

func (s *Server) allConns() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// acceptLoop hands every connection ln accepts to ServeConn as a telnet
// stream. name is the listener's name for logs and metrics.
func (s *Server) acceptLoop(ctx context.Context, name string, ln net.Listener) {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		irc := name == "irc" || name == "ircs"
		go s.ServeConn(ctx, newStreamConn(conn, s.cfg().Server.MaxLineBytes), ConnInfo{
			Addr:     hostOf(conn.RemoteAddr().String()),
			Listener: name,
			Telnet:   !irc,
			IRC:      irc,
		})
	}
}

// uncount takes a connection that ServeConn (or a hand-over) counted off
// the server's books once its session is over.
func (s *Server) uncount(sess *session) {
	s.metrics.connClosed(sess.info.Listener)
	s.forget(sess)
	s.wg.Done()
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, sess)
	if sess.info.slot == nil {
		s.releaseLocked(sess.addr, false)
	} // else the socket's close gives the slot back
}

func (s *Server) loginDeadline(sess *session) time.Time {
	// Deadlines on sockets use the wall clock, not the injectable one.
	return sess.connectedWall.Add(s.cfg().Server.LoginTimeout.Duration)
}

// node is the name of this node in a cluster, "" on its own.
func (s *Server) node() string {
	if s.cluster != nil {
		return s.cluster.me()
	}
	return ""
}

// newID returns a new message id (PROTOCOL.md 9.1): greater than every
// id this node gave or saw before, and in a cluster tagged with the node.
func (s *Server) newID() string {
	return chatd.FormatID(s.ids.Next(s.now())) + s.idTag
}

// actionID is the message id of a notice that an admin action (row id,
// at) causes: every node reads the action and shows it with the same id.
// The "_" sets it apart from the ids of newID.
func actionID(id int64, at time.Time) string {
	return chatd.FormatID(uint64(max(at.UnixMilli(), 0))<<16) + "_" + strconv.FormatInt(id, 10)
}

// newSID returns an id no other login of any node shares.
func (s *Server) newSID() string {
	return fmt.Sprintf("%s/%d/%d", s.node(), s.startedAt, s.sids.Add(1))
}

// seenEvery is how often (server clock) flushSeen writes the presence
// times of the users online.
const seenEvery = 30 * time.Second

// flushSeen writes online users' last-seen and last-active times every
// seenEvery, so that a crash loses at most that much of them (a second
// more when the online table lags behind a login). Without a cluster the
// last-seen times are one statement over the online table that
// syncOnline keeps (MarkOnlineSeen), and last-active is written only for
// the users active since the last pass: at rest that is no row at all
// from here. A cluster's node has no such table: it writes both times of
// every user online, as before.
func (s *Server) flushSeen(ctx context.Context) {
	t := time.NewTicker(onlinePoll)
	defer t.Stop()
	// since is when the times were last written, due when they are to be
	// written next (a failed write is tried again then, from since).
	since := s.now()
	due := since.Add(seenEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		if now.Before(since) {
			since, due = now, now.Add(seenEvery) // the clock went back
		}
		if now.Before(due) {
			continue
		}
		due = now.Add(seenEvery)
		var seen []chatd.Seen
		if s.cluster != nil {
			for _, p := range s.hub.presences("") {
				seen = append(seen, chatd.Seen{Name: p.User, LastSeen: now, LastActive: p.LastActive})
			}
		} else {
			seen = s.hub.activeSince(activeFrom(since))
		}
		var err error
		if len(seen) > 0 {
			err = s.store.SetSeen(ctx, seen)
		}
		if err == nil && s.cluster == nil {
			err = s.store.MarkOnlineSeen(ctx, now)
		}
		switch {
		case err == nil:
			since = now
		case ctx.Err() == nil:
			s.log.Error("write last seen", "err", err)
		}
		s.freeRestMemory(len(seen))
	}
}

// attemptRetention is how long login attempts are kept: a day, or longer if
// the lockout rule needs more to decide.
func (s *Server) attemptRetention() time.Duration {
	lc := s.cfg().Lockout
	return max(24*time.Hour, time.Duration(lc.Attempts+1)*lc.Duration.Duration)
}

// pruneAttempts deletes old login attempts and admin actions at start and
// then hourly, so neither grows the database without bound.
func (s *Server) pruneAttempts(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := s.store.PruneAttempts(ctx, s.now().Add(-s.attemptRetention()))
		if err != nil && ctx.Err() == nil {
			s.log.Error("prune login attempts", "err", err)
		} else if n > 0 {
			s.log.Info("pruned login attempts", "count", n)
		}
		if _, err := s.store.PruneActions(ctx, s.now().Add(-actionRetention)); err != nil && ctx.Err() == nil {
			s.log.Error("prune admin actions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) rand(n int) int { return mrand.IntN(n) }
