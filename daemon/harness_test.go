package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
	"chatd/db"
)

// testConfig is the default config made fast for tests: cheap argon2, a
// database in a temp dir, an ephemeral port.
func testConfig(t *testing.T) chatd.Config {
	t.Helper()
	cfg := chatd.DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(t.TempDir(), "chatd.db")
	cfg.Argon2 = chatd.Argon2Config{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, MaxConcurrent: 4}
	cfg.Rate.LinesPerSecond = 1000
	cfg.Rate.Burst = 1000
	cfg.Server.ShutdownGrace = chatd.Duration{Duration: 2 * time.Second}
	return cfg
}

// testServer is a real daemon on a real socket with a real SQLite file.
type testServer struct {
	t      *testing.T
	cfg    chatd.Config
	srv    *daemon.Server
	store  *db.DB
	addr   string
	cancel context.CancelFunc
	done   chan error
	clock  *clock
}

// clock is an injectable clock that can be moved forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func startServer(t *testing.T, mutate ...func(*chatd.Config)) *testServer {
	t.Helper()
	cfg := testConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	return startWith(t, cfg, &clock{})
}

func startWith(t *testing.T, cfg chatd.Config, clk *clock) *testServer {
	t.Helper()
	return startWrapped(t, cfg, clk, nil)
}

// startWrapped is startWith with the daemon's store wrapped by wrap (nil:
// not wrapped), for tests that count or fail store calls; ts.store stays
// the database itself.
func startWrapped(t *testing.T, cfg chatd.Config, clk *clock, wrap func(chatd.Store) chatd.Store) *testServer {
	t.Helper()
	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	return serveStore(t, cfg, clk, store, wrap)
}

// serveStore runs a daemon on store, an open database (SQLite or
// PostgreSQL), until the test ends; wrap as for startWrapped.
func serveStore(t *testing.T, cfg chatd.Config, clk *clock, store *db.DB, wrap func(chatd.Store) chatd.Store) *testServer {
	t.Helper()
	store.Now = clk.now
	logLevel := slog.LevelWarn
	if os.Getenv("CHATD_TEST_LOG") != "" {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	var daemonStore chatd.Store = store
	if wrap != nil {
		daemonStore = wrap(store)
	}
	ready := make(chan struct{})
	srv := daemon.New(daemon.Options{Config: cfg, Store: daemonStore, Log: log, Now: clk.now,
		OnReady: func() { close(ready) }})
	if err := srv.Listen(); err != nil {
		store.Close()
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, cfg: cfg, srv: srv, store: store, addr: srv.Addr().String(),
		cancel: cancel, done: make(chan error, 1), clock: clk}
	served := make(chan struct{})
	go func() { ts.done <- srv.Serve(ctx); close(served) }()
	t.Cleanup(ts.stop)
	// A server that has not finished starting refuses connections
	// (server_busy): tests talk to it once it is ready.
	select {
	case <-ready:
	case <-served:
		t.Fatal("the server stopped before it was ready")
	}
	return ts
}

// stop shuts the daemon down as SIGTERM would and closes the database.
func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil {
			ts.t.Errorf("Serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		ts.t.Errorf("server did not stop within 15s")
	}
	ts.store.Close()
}

// restart stops the daemon and starts a new one on the same database.
func (ts *testServer) restart() *testServer {
	ts.t.Helper()
	ts.stop()
	return startWith(ts.t, ts.cfg, ts.clock)
}

// addUser registers an account directly in the store, like `chatd useradd`.
func (ts *testServer) addUser(name, password string, admin bool) {
	ts.t.Helper()
	h, err := chatd.NewHasher(ts.cfg.Argon2).Hash(password)
	if err != nil {
		ts.t.Fatal(err)
	}
	if _, err := ts.store.CreateUser(context.Background(), name, h, admin); err != nil {
		ts.t.Fatalf("create user %s: %v", name, err)
	}
}

// addUsers registers ordinary accounts, all with the password "password1".
func (ts *testServer) addUsers(names ...string) {
	ts.t.Helper()
	for _, n := range names {
		ts.addUser(n, "password1", false)
	}
}

// event is one JSON line from the server.
type event map[string]any

func (e event) str(k string) string {
	s, _ := e[k].(string)
	return s
}

func (e event) strs(k string) []string {
	raw, _ := e[k].([]any)
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// client talks to the daemon like a bot would, in JSON mode.
type client struct {
	t    *testing.T
	name string
	conn net.Conn
	r    *bufio.Reader
	seen []event // events skipped by expect
}

// dialRaw connects without doing anything.
func dialRaw(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dial connects and switches to JSON mode; the username prompt is next.
func dial(t *testing.T, addr string) *client {
	t.Helper()
	c := dialRaw(t, addr)
	c.send("mode json")
	c.expect("ok", "cmd", "mode")
	c.expect("prompt", "field", "username")
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// readLine returns the next raw line without CRLF.
func (c *client) readLine(timeout time.Duration) (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// next returns the next JSON event; text before the first '{' (a text-mode
// prompt without line end) is skipped.
func (c *client) next() event {
	c.t.Helper()
	ev, err := c.tryNext(5 * time.Second)
	if err != nil {
		c.t.Fatalf("%s: reading: %v (skipped so far: %v)", c.name, err, c.seen)
	}
	return ev
}

func (c *client) tryNext(timeout time.Duration) (event, error) {
	for {
		line, err := c.readLine(timeout)
		if err != nil {
			return nil, err
		}
		i := strings.IndexByte(line, '{')
		if i < 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal([]byte(line[i:]), &ev); err != nil {
			return nil, fmt.Errorf("bad JSON %q: %v", line, err)
		}
		return ev, nil
	}
}

// expect reads until an event of type typ whose fields match kv (pairs of
// key, string value); other events are kept in c.seen.
func (c *client) expect(typ string, kv ...string) event {
	c.t.Helper()
	for {
		ev := c.next()
		if ev.str("type") == typ && matches(ev, kv) {
			return ev
		}
		c.seen = append(c.seen, ev)
	}
}

// expectNext asserts the very next event.
func (c *client) expectNext(typ string, kv ...string) event {
	c.t.Helper()
	ev := c.next()
	if ev.str("type") != typ || !matches(ev, kv) {
		c.t.Fatalf("%s: want %s %v, got %v", c.name, typ, kv, ev)
	}
	return ev
}

func matches(ev event, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if fmt.Sprint(ev[kv[i]]) != kv[i+1] {
			return false
		}
	}
	return true
}

// expectError reads until an error event and checks its code.
func (c *client) expectError(cmd, code string) event {
	c.t.Helper()
	ev := c.expect("error")
	if ev.str("code") != code || (cmd != "" && ev.str("cmd") != cmd) {
		c.t.Fatalf("%s: want error %s/%s, got %v", c.name, cmd, code, ev)
	}
	return ev
}

// quiet asserts nothing arrives for a short while.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	if ev, err := c.tryNext(d); err == nil {
		c.t.Fatalf("%s: expected silence, got %v", c.name, ev)
	}
}

// closed asserts the server closes the connection (after any lines).
func (c *client) closed() {
	c.t.Helper()
	for {
		_, err := c.readLine(5 * time.Second)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("%s: connection still open", c.name)
			}
			return
		}
	}
}

// login logs an existing user in and returns the welcome.
func login(t *testing.T, addr, name, password string) *client {
	t.Helper()
	c := dial(t, addr)
	c.name = name
	c.send(name)
	c.expectNext("prompt", "field", "password")
	c.send(password)
	c.expect("welcome", "user", name)
	return c
}

// register creates an account through the open-registration flow.
func register(t *testing.T, addr, name, password string) *client {
	t.Helper()
	c := dial(t, addr)
	c.name = name
	c.send(name)
	c.expectNext("prompt", "field", "new_password")
	c.send(password)
	c.expectNext("prompt", "field", "repeat_password")
	c.send(password)
	c.expect("welcome", "user", name)
	return c
}
