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
	"sync"
	"sync/atomic"
	"time"

	"chatd"
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

	// LiveLog, when set, is where Log comes from; Reload applies the
	// [log] settings to it.
	LiveLog *LiveLog
	// OnReady runs once Serve accepts on every listener; OnStopping when
	// it starts to shut down (systemd's READY=1 and STOPPING=1).
	OnReady, OnStopping func()
	// ManageMemory lets the server set the process's soft memory limit
	// from the argon2 settings (unless GOMEMLIMIT is set) and return hash
	// memory to the system when logins quieten down; and keep password
	// hashing off one P, raising GOMAXPROCS on a small machine (unless
	// GOMAXPROCS is set; see hashSlots). Only a process that runs one
	// server should set it (chatd serve does).
	ManageMemory bool
	// Hasher computes password hashes; nil: InProcessHasher.
	Hasher PasswordHasher
}

// defaultParkAfter is how long a logged-in client is quiet before its
// session parks: long enough that one who chats keeps its goroutine, short
// against any idle spell worth the memory.
const defaultParkAfter = 2 * time.Second

// Server is a chat daemon.
type Server struct {
	// live is the configuration in force: one immutable value, swapped
	// whole by Reload and read at each use through cfg(). Nothing may
	// modify a Config once it is stored here.
	live      atomic.Pointer[chatd.Config]
	store     chatd.Store
	log       *slog.Logger
	connLog   *connLog // connection events, rate-limited
	now       func() time.Time
	hub       Hub         // who is online: this node's sessions, and the community
	cluster   *clusterHub // the same hub when this node is one of several; else nil
	hashes    *hashGate
	pw        PasswordHasher // computes what the gate admits
	nameLocks *keyLocks      // one password check per name at a time
	sids      atomic.Uint64  // logins so far, for session ids
	// parkAfter is how long a logged-in client may be quiet before its
	// session parks (session.park); 0 never. Tests shorten it.
	parkAfter atomic.Int64
	startedAt int64      // unix nanoseconds, for session ids
	names     *userNames // registered spellings of names that exist
	// Process memory (with Options.ManageMemory): envMemLimit is true when
	// GOMEMLIMIT decides instead; lastFree is when hash memory was last
	// handed back (unix nanoseconds).
	manageMemory bool
	envMemLimit  bool
	lastFree     atomic.Int64
	dummyHash    string         // what unknown names are checked against
	history      *historyWriter // database copy of room chat
	logs         *roomLogs      // in-memory recent room chat, replayed on join

	ln, tlsLn net.Listener // tlsLn already wraps TLS around its socket
	cert      atomic.Pointer[tls.Certificate]
	webLn     net.Listener // the web client's; nil when it is off
	webCert   atomic.Pointer[tls.Certificate]
	web       *http.Server // serves webLn

	// mu guards conns and perIP (connection accounting, including sessions
	// that have not logged in). Lock order: Server.mu, then hub.mu, then
	// session.mu; none is held across I/O.
	mu      sync.Mutex
	closing bool // Serve is stopping: no new sessions
	conns   map[*session]bool
	perIP   map[string]int
	wg      sync.WaitGroup // one per session goroutine

	stopOnce sync.Once
	stop     chan struct{}
	stopMsg  string

	liveLog             *LiveLog
	onReady, onStopping func()

	// presence writes presence events (logins, logouts, joins) to idle
	// recipients a wave at a time (presence.go).
	presence presenceFlusher

	metrics    *metrics
	writes     writeHealth  // how the database's writes went lately, for Check
	metricsLn  net.Listener // nil when metrics are off
	metricsWeb *http.Server
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
		connLog:      newConnLog(o.Log),
		now:          o.Now,
		nameLocks:    newKeyLocks(),
		names:        newUserNames(),
		manageMemory: o.ManageMemory,
		envMemLimit:  os.Getenv("GOMEMLIMIT") != "",
		conns:        map[*session]bool{},
		perIP:        map[string]int{},
		stop:         make(chan struct{}),
		ln:           o.Plain,
		tlsLn:        o.TLS,
		webLn:        o.Web,

		metricsLn:  o.Metrics,
		liveLog:    o.LiveLog,
		onReady:    o.OnReady,
		onStopping: o.OnStopping,
	}
	cfg := o.Config
	s.live.Store(&cfg)
	if o.Cluster != nil {
		s.cluster = newClusterHub(s, o.Cluster)
		s.hub = s.cluster
	} else {
		s.hub = newLocalHub(s)
	}
	s.startedAt = time.Now().UnixNano()
	s.parkAfter.Store(int64(defaultParkAfter))
	s.pw = o.Hasher
	if s.pw == nil {
		s.pw = InProcessHasher{}
	}
	s.hashes = newHashGate(s.hashSlots)
	if s.manageMemory {
		s.presence.onQuiet = s.freeQuietMemory
		s.hashes.idle = s.freeHashMemory
		s.applyMemoryLimit()
		s.applyProcs()
	}
	s.metrics = newMetrics(s)
	s.store = timedStore{Store: watchedStore{Store: o.Store, w: &s.writes}, m: s.metrics}
	s.history = newHistoryWriter(s.store, func() int { return s.cfg().Messages.HistoryKeep }, s.log)
	s.logs = newRoomLogs(s.cfg().Messages.HistoryOnJoin)
	return s
}

// cfg returns the configuration in force. Callers read it at each use and
// keep it no longer than one operation, so a reload reaches them at once.
func (s *Server) cfg() *chatd.Config { return s.live.Load() }

// hasher hashes new passwords at the argon2 cost in force.
func (s *Server) hasher() chatd.Hasher { return chatd.NewHasher(s.cfg().Argon2) }

// restartOnly lists the settings a running server cannot change: Reload
// reports them as changed but keeps the old values until a restart.
var restartOnly = []struct {
	key  string
	same func(a, b *chatd.Config) bool
}{
	{"server.listen", func(a, b *chatd.Config) bool { return a.Server.Listen == b.Server.Listen }},
	{"server.tls_listen", func(a, b *chatd.Config) bool { return a.Server.TLSListen == b.Server.TLSListen }},
	{"database.driver", func(a, b *chatd.Config) bool { return a.Database.Driver == b.Database.Driver }},
	{"database.path", func(a, b *chatd.Config) bool { return a.Database.Path == b.Database.Path }},
	{"database.url", func(a, b *chatd.Config) bool { return a.Database.URL == b.Database.URL }},
	{"web.listen", func(a, b *chatd.Config) bool { return a.Web.Listen == b.Web.Listen }},
	{"web.tls_cert", func(a, b *chatd.Config) bool { return (a.Web.TLSCert == "") == (b.Web.TLSCert == "") }},
	{"metrics.listen", func(a, b *chatd.Config) bool { return a.Metrics.Listen == b.Metrics.Listen }},
	{"cluster.node", func(a, b *chatd.Config) bool { return a.Cluster.Node == b.Cluster.Node }},
	{"argon2.worker", func(a, b *chatd.Config) bool { return a.Argon2.Worker == b.Argon2.Worker }},
}

// Reload makes next the configuration in force, all at once: every
// session reads it at its next use (banner, limits, timeouts, rate, lockout,
// accounts, messages, argon2 cost of new hashes), the [log] settings apply
// to the live logger, and new TLS handshakes use the pair the files hold
// now. Settings that only a restart can change keep their running values;
// their keys are returned so the caller can say so. When a TLS pair cannot
// be loaded, nothing changes and the error says why. next must already be
// validated.
func (s *Server) Reload(next chatd.Config) (needRestart []string, err error) {
	defer func() { s.metrics.reload(err == nil) }()
	cur := s.cfg()
	for _, r := range restartOnly {
		if !r.same(cur, &next) {
			needRestart = append(needRestart, r.key)
		}
	}
	next.Server.Listen = cur.Server.Listen
	next.Server.TLSListen = cur.Server.TLSListen
	next.Database = cur.Database
	next.Web.Listen = cur.Web.Listen
	next.Metrics = cur.Metrics
	next.Cluster.Node = cur.Cluster.Node
	next.Argon2.Worker = cur.Argon2.Worker
	if (next.Web.TLSCert == "") != (cur.Web.TLSCert == "") {
		// Whether the web listener speaks TLS is fixed at start.
		next.Web.TLSCert, next.Web.TLSKey = cur.Web.TLSCert, cur.Web.TLSKey
	}
	// Load every pair before anything changes, so a bad file changes
	// nothing.
	var cert, webCert *tls.Certificate
	if s.tlsLn != nil {
		c, err := tls.LoadX509KeyPair(next.Server.TLSCert, next.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS key pair (server.tls_cert, server.tls_key): %w", err)
		}
		cert = &c
	}
	if s.webCert.Load() != nil && next.Web.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(next.Web.TLSCert, next.Web.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS key pair (web.tls_cert, web.tls_key): %w", err)
		}
		webCert = &c
	}
	if s.liveLog != nil {
		if err := s.liveLog.apply(next.Log); err != nil {
			return nil, err
		}
	}
	s.live.Store(&next)
	if s.manageMemory {
		s.applyMemoryLimit() // the argon2 settings may have changed
		s.applyProcs()
	}
	if cert != nil {
		s.cert.Store(cert)
	}
	if webCert != nil {
		s.webCert.Store(webCert)
	}
	return needRestart, nil
}

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
	s.hashes.avg = time.Since(start) // the gate's first estimate
	if err != nil {
		return fmt.Errorf("hash dummy password: %w", err)
	}
	s.dummyHash = h
	if err := s.logs.load(context.Background(), s.store); err != nil {
		return fmt.Errorf("load room history: %w", err)
	}
	cfg := s.cfg()
	if s.ln == nil {
		if s.ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			return fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
		}
	}
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
		s.metricsWeb = &http.Server{Handler: s.metricsHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	if s.tlsLn == nil && cfg.Server.TLSListen == "" {
		return nil
	}
	if err := s.LoadCertificate(); err != nil {
		s.closeListeners()
		return err
	}
	if s.tlsLn == nil {
		if s.tlsLn, err = net.Listen("tcp", cfg.Server.TLSListen); err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s (server.tls_listen): %w", cfg.Server.TLSListen, err)
		}
	}
	s.tlsLn = tls.NewListener(s.tlsLn, &tls.Config{
		// Read at each handshake, so a reloaded pair serves the next client.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
	})
	return nil
}

// closeListeners closes what Listen has bound so far, on its way out with
// an error.
func (s *Server) closeListeners() {
	s.ln.Close()
	if s.webLn != nil {
		s.webLn.Close()
	}
	if s.metricsLn != nil {
		s.metricsLn.Close()
	}
}

// LoadCertificate reads server.tls_cert and server.tls_key (and
// web.tls_cert and web.tls_key when the web client speaks TLS); the next TLS
// handshake uses the new pair. On error the pair in use stays.
func (s *Server) LoadCertificate() error {
	cfg := s.cfg()
	if s.webCert.Load() != nil && cfg.Web.TLSCert != "" {
		if err := s.loadWebCertificate(); err != nil {
			return err
		}
	}
	if cfg.Server.TLSCert == "" && s.tlsLn == nil {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey)
	if err != nil {
		return fmt.Errorf("load TLS key pair (server.tls_cert, server.tls_key): %w", err)
	}
	s.cert.Store(&cert)
	return nil
}

// tls12Suites are the TLS 1.2 suites offered: forward-secret AEAD only
// (no CBC, no SHA-1 MACs). TLS 1.3 suites are not configurable and are all
// AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
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

// Serve accepts connections until ctx is cancelled or Shutdown is called
// (the admin `shutdown` command), then stops gracefully: every client gets
// bye "shutdown", last-seen times are written. It returns nil after a clean
// stop.
func (s *Server) Serve(ctx context.Context) error {
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Admin actions recorded before now are already in the tables each
	// login reads; act on those that come after. Who was online belongs
	// to an earlier run.
	cursor, err := s.store.LastActionID(sctx)
	var events int64
	switch {
	case err != nil:
	case s.cluster != nil:
		// The cluster's sessions table says who is online; the node
		// first clears what a previous run of it left there.
		events, err = s.cluster.join(sctx)
	default:
		err = s.store.SetOnline(sctx, nil)
	}
	if err != nil {
		s.closeListeners()
		if s.tlsLn != nil {
			s.tlsLn.Close()
		}
		return fmt.Errorf("start: %w", err)
	}
	var loops sync.WaitGroup
	for name, ln := range map[string]net.Listener{"plain": s.ln, "tls": s.tlsLn} {
		if ln != nil {
			loops.Add(1)
			go func() { defer loops.Done(); s.acceptLoop(sctx, name, ln) }()
		}
	}
	if s.web != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
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
	// The cluster's loops outlive the listeners: sessions that end at
	// shutdown still publish (their logout) and deliver (room lines).
	cctx, cancelCluster := context.WithCancel(context.Background())
	defer cancelCluster()
	clusterDone := make(chan struct{})
	if s.cluster != nil {
		go func() { defer close(clusterDone); s.cluster.run(cctx, events) }()
	} else {
		close(clusterDone)
		loops.Add(1)
		go func() { defer loops.Done(); s.syncOnline(sctx) }()
	}
	loops.Add(3)
	go func() { defer loops.Done(); s.watchActions(sctx, cursor) }()
	go func() { defer loops.Done(); s.flushSeen(sctx) }()
	go func() { defer loops.Done(); s.pruneAttempts(sctx) }()
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
	s.ln.Close()
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	if s.web != nil {
		// Closes the listener and idle page requests; WebSocket sessions
		// were taken over from net/http and end with the others below.
		s.web.Close()
	}
	if s.metricsWeb != nil {
		s.metricsWeb.Close()
	}
	cancel()
	loops.Wait()
	s.mu.Lock()
	s.closing = true // other transports may still hand in connections
	s.mu.Unlock()

	for _, sess := range s.allConns() {
		sess.end(byeShutdown, s.stopMsg)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg().Server.ShutdownGrace.Duration):
		s.log.Warn("shutdown grace over; closing the remaining connections")
		for _, sess := range s.allConns() {
			sess.conn.Close()
		}
		<-done
	}
	cancelCluster()
	<-clusterDone
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.cluster.c.Leave(ctx); err != nil {
			s.log.Error("leave the cluster", "err", err)
		}
		cancel()
	}
	s.history.close()
	return nil
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
		go s.ServeConn(ctx, newStreamConn(conn, s.cfg().Server.MaxLineBytes), ConnInfo{
			Addr:     hostOf(conn.RemoteAddr().String()),
			Listener: name,
			Telnet:   true,
		})
	}
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, sess)
	if s.perIP[sess.addr]--; s.perIP[sess.addr] <= 0 {
		delete(s.perIP, sess.addr)
	}
}

func (s *Server) loginDeadline(sess *session) time.Time {
	// Deadlines on sockets use the wall clock, not the injectable one.
	return sess.connectedWall.Add(s.cfg().Server.LoginTimeout.Duration)
}

// kickBanned ends the session of a banned user, if online on this node.
func (s *Server) kickBanned(name string, b *chatd.Ban) {
	o := s.hub.lookup(name)
	if o == nil || o.ending() {
		return
	}
	o.end(byeBanned, banText(b))
}

// endUser ends name's session with reason and text, whichever node it is
// on.
func (s *Server) endUser(ctx context.Context, name, reason, text string) error {
	if o := s.hub.lookup(name); o != nil {
		if !o.ending() {
			o.end(reason, text)
		}
		return nil
	}
	return s.hub.tell(ctx, &note{Kind: noteEnd, User: name, Room: reason, Text: text})
}

// node is the name of this node in a cluster, "" on its own.
func (s *Server) node() string {
	if s.cluster != nil {
		return s.cluster.me()
	}
	return ""
}

// newSID returns an id no other login of any node shares.
func (s *Server) newSID() string {
	return fmt.Sprintf("%s/%d/%d", s.node(), s.startedAt, s.sids.Add(1))
}

// flushSeen writes online users' last-seen and last-active times every
// 30 seconds, so that a crash loses at most that much of them.
func (s *Server) flushSeen(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		var seen []chatd.Seen
		for _, o := range s.hub.sessions() {
			seen = append(seen, chatd.Seen{Name: o.user, LastSeen: now, LastActive: time.Unix(0, o.lastActive.Load())})
		}
		if len(seen) > 0 {
			if err := s.store.SetSeen(ctx, seen); err != nil && ctx.Err() == nil {
				s.log.Error("write last seen", "err", err)
			}
		}
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

// moveTo puts sess into room, tells both rooms and replays the room's
// history. announce=false skips the "left" event (kick and close have told
// the old room already). replies (nil ones skipped) are queued to sess
// once it is in the room and before the replay: a client that reads the
// reply to its join is already a member, so no line said after that can
// miss it.
func (s *Server) moveTo(sess *session, room string, announce bool, replies ...*Event) {
	s.moveInto(sess, room, nil, announce, replies...)
}

// moveInto is moveTo for a room that may be closed concurrently: token
// (from hub.roomToken, taken before the room was looked up) must still be
// current. It reports whether sess moved; replies go out only if it did.
func (s *Server) moveInto(sess *session, room string, token *uint64, announce bool, replies ...*Event) bool {
	l := s.logs.get(room)
	l.mu.Lock()
	from, fromMembers, toMembers, ok := s.hub.move(sess, room, token)
	if ok {
		for _, r := range replies {
			if r != nil {
				sess.send(r)
			}
		}
		l.replay(sess, room)
	}
	l.mu.Unlock()
	if !ok {
		return false
	}
	if announce {
		fanoutPresence(fromMembers, roomEvent(roomLeft, from, sess.user), sess)
	}
	fanoutPresence(toMembers, roomEvent(roomJoined, room, sess.user), sess)
	// The other nodes hear of it before this command returns, so they see
	// the move before anything the user says next.
	n := &note{Kind: noteMove, User: sess.user, SID: sess.sid, Room: from, To: room, Flag: announce}
	if err := s.hub.tell(context.Background(), n); err != nil {
		s.log.Error("tell the cluster of a move", "user", sess.user, "err", err)
	}
	return true
}

// closeRoom empties a room that is gone from the database: its recent
// lines are dropped, joins that looked it up before now fail, and everyone
// in it is told (by whom) and moved to the lobby. Each member hears of the
// close as part of their own move, so by the time they read it they are
// already in the lobby: a names or who sent after it never finds them in
// the closed room.
func (s *Server) closeRoom(room, by string) {
	s.logs.drop(room)
	// Under the hub's lock: whoever is not in it now can no longer get in.
	members := s.hub.closeRoom(room)
	closed := roomEvent(roomClosed, room, by)
	for _, m := range members {
		s.moveTo(m, chatd.Lobby, false, closed)
	}
}

func (s *Server) rand(n int) int { return mrand.IntN(n) }
