package daemon_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
	"chatd/db"
)

// lineConn is a transport with no telnet and no byte stream semantics of its
// own: one end of a pipe, read line by line, like a WebSocket carries lines.
type lineConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *lineConn) ReadLine() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// TestServeConnAnyTransport serves a connection that did not come from the
// server's own listeners: it starts in JSON mode with no banner and no
// telnet bytes, counts under the address its transport reports, and chats
// with a TCP user.
func TestServeConnAnyTransport(t *testing.T) {
	ts := startServer(t)
	ts.addUser("root", "password1", true)
	ts.addUsers("alice")
	root := login(t, ts.addr, "root", "password1")

	server, far := net.Pipe()
	t.Cleanup(func() { far.Close() })
	served := make(chan struct{})
	go func() {
		defer close(served)
		ts.srv.ServeConn(context.Background(), &lineConn{Conn: server, r: bufio.NewReader(server)},
			daemon.ConnInfo{Addr: "203.0.113.9", Listener: "test", JSON: true})
	}()
	c := &client{t: t, name: "alice", conn: far, r: bufio.NewReader(far)}
	first := c.next()
	if first.str("type") != "prompt" || first.str("field") != "username" {
		t.Fatalf("first line on a JSON transport = %v, want the username prompt", first)
	}
	c.send("alice")
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	c.expect("welcome", "user", "alice")
	root.expect("presence", "user", "alice", "event", "login")

	root.send("check alice")
	info, _ := root.expect("ok", "cmd", "check")["info"].(map[string]any)
	if info["addr"] != "203.0.113.9" {
		t.Errorf("check shows addr %v, want the transport's 203.0.113.9", info["addr"])
	}

	c.send("hello from the pipe")
	root.expect("message", "kind", "room", "from", "alice", "text", "hello from the pipe")
	c.send("logout")
	c.expect("bye", "reason", "logout")
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return after logout")
	}
}

// TestListenersPassedIn serves on listeners made outside the server, as
// systemd socket activation hands them over, instead of binding its own.
func TestListenersPassedIn(t *testing.T) {
	cfg := testConfig(t)
	cfg.Server.Listen = "127.0.0.1:1" // would fail to bind: must not be used
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveOptions(t, cfg, daemon.Options{Plain: ln})
	if got := srv.Addr().String(); got != ln.Addr().String() {
		t.Fatalf("Addr = %s, want the passed-in %s", got, ln.Addr())
	}
	c := dial(t, ln.Addr().String())
	c.send("newbie")
	c.expectNext("prompt", "field", "new_password")
}

// serveOptions starts a daemon with cfg, its own store and the rest of o
// (listeners made outside, say) and stops it when the test ends.
func serveOptions(t *testing.T, cfg chatd.Config, o daemon.Options) *daemon.Server {
	t.Helper()
	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	o.Config, o.Store = cfg, store
	srv := daemon.New(o)
	if err := srv.Listen(); err != nil {
		store.Close()
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		store.Close()
	})
	return srv
}
