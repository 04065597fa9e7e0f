package daemon_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/creack/pty"

	"chatd"
	chatclient "chatd/client"
)

// tcpGate is a TCP proxy in front of a listener that the test opens and
// closes: while closed it drops each connection it accepts, so a client
// that reconnects through it fails until the test lets it through.
type tcpGate struct {
	ln   net.Listener
	mu   sync.Mutex
	open bool
}

func newTCPGate(t *testing.T, target string) *tcpGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &tcpGate{ln: ln, open: true}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			open := g.open
			g.mu.Unlock()
			if !open {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

// set opens or closes the gate to new connections.
func (g *tcpGate) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.mu.Unlock()
}

// dialTLS connects to the server's TLS listener and switches to JSON mode;
// the username prompt is next.
func dialTLS(t *testing.T, ts *testServer, cert *x509.Certificate) *client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.srv.TLSAddr().String(),
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.send("mode json")
	c.expect("ok", "cmd", "mode")
	c.expect("prompt", "field", "username")
	return c
}

// loginTLS logs name in over the TLS listener.
func loginTLS(t *testing.T, ts *testServer, cert *x509.Certificate, name string) *client {
	t.Helper()
	c := dialTLS(t, ts, cert)
	c.name = name
	c.send(name)
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	c.expect("welcome", "user", name)
	return c
}

// expectUsers reads until it has seen the presence event what of each of
// users, in any order.
func (c *client) expectUsers(what string, users ...string) {
	c.t.Helper()
	var pairs []string
	for _, u := range users {
		pairs = append(pairs, what, u)
	}
	c.expectPresences(pairs...)
}

// expectPresences reads until it has seen each of the presence events
// given as pairs of event and user, in any order; the other events it
// reads are kept in c.seen.
func (c *client) expectPresences(pairs ...string) {
	c.t.Helper()
	want := map[string]bool{}
	for i := 0; i+1 < len(pairs); i += 2 {
		want[pairs[i]+" "+pairs[i+1]] = true
	}
	for len(want) > 0 {
		ev := c.expect("presence")
		k := ev.str("event") + " " + ev.str("user")
		if !want[k] {
			c.seen = append(c.seen, ev) // for a later look
		}
		delete(want, k)
	}
}

// TestRestartUnmovable: the sessions an upgrade cannot hand over (TLS,
// WebSocket, IRC over TLS and over WebSocket, SSH) each get their dialect's
// bye with reason restart, after everything queued to them, and then the
// end of the connection. Plain TCP sessions (telnet, IRC) stay. Others see
// what a normal disconnect shows: a logout when it was the user's last
// session, nothing when the user is still online elsewhere.
func TestRestartUnmovable(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.TLSListen = "127.0.0.1:0"
		c.Server.TLSCert, c.Server.TLSKey = certFile, keyFile
		c.IRC.Listen = "127.0.0.1:0"
		c.IRC.TLSListen = "127.0.0.1:0"
		c.Web.Listen = "127.0.0.1:0"
		c.SSH.Listen = "127.0.0.1:0"
		c.Accounts.DuplicateLogin = "multi"
	})
	ts.addUsers("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank")
	web := ts.srv.WebAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Who stays: carol over telnet, hank over plain IRC, and alice's
	// telnet session.
	carol := login(t, ts.addr, "carol", "password1")
	hank := ircLogin(t, ts, "hank", "password1")
	alicePlain := login(t, ts.addr, "alice", "password1")

	// Who is told to reconnect.
	aliceTLS := loginTLS(t, ts, cert, "alice")
	bob := loginTLS(t, ts, cert, "bob")

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.srv.IRCTLSAddr().String(),
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	dave := &ircClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	dave.send("PASS dave:password1", "NICK dave", "USER u 0 * :Dave")
	dave.expect(" 001 dave ")

	erin := wsLogin(t, web, "erin", "password1", nil)

	frank, _, err := websocket.Dial(ctx, "ws://"+web+"/irc", &websocket.DialOptions{Subprotocols: []string{"text.ircv3.net"}})
	if err != nil {
		t.Fatalf("dial /irc: %v", err)
	}
	defer frank.CloseNow()
	for _, l := range []string{"PASS frank:password1", "NICK frank", "USER u 0 * :Frank"} {
		if err := frank.Write(ctx, websocket.MessageText, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	readUntil := func(want string) {
		t.Helper()
		for {
			_, msg, err := frank.Read(ctx)
			if err != nil {
				t.Fatalf("frank over /irc: waiting for %q: %v", want, err)
			}
			if strings.Contains(string(msg), want) {
				return
			}
		}
	}
	readUntil(" 001 frank ")

	h := newSSHHome(t)
	ts.addKey("gina", h.keygen("gina"))
	gina := startTerminal(t, h.command(ctx, ts, "gina", append(h.byKey("gina"), "-tt")))
	gina.waitFor("Welcome, gina!")
	gina.waitFor("> ")
	carol.expectUsers("login", "bob", "dave", "erin", "frank", "gina")

	// Lines queued to bob just before: he reads them all, then the bye.
	const lines = 50
	for i := 1; i <= lines; i++ {
		carol.send(fmt.Sprintf("line %d", i))
	}
	carol.expect("message", "from", "carol", "text", fmt.Sprintf("line %d", lines))

	carol.seen = nil // from here on, what carol was told
	if n := ts.srv.RestartUnmovable(); n != 6 {
		t.Errorf("RestartUnmovable told %d sessions, want 6", n)
	}
	// Once they are all gone, none of them is online any more: they end
	// without waiting for their clients to read the bye.
	start := time.Now()
	if !ts.srv.WaitUnmovable(10 * time.Second) {
		t.Fatal("sessions that cannot move are still there 10 s after the restart")
	}
	t.Logf("the sessions that cannot move ended in %v", time.Since(start))
	for _, u := range []string{"bob", "dave", "erin", "frank", "gina"} {
		if info, _ := alicePlain.do("check "+u, "check")["info"].(map[string]any); info["online"] != false {
			t.Errorf("check %s once the restart's sessions ended: %v", u, info)
		}
	}

	for i := 1; i <= lines; i++ {
		bob.expect("message", "from", "carol", "text", fmt.Sprintf("line %d", i))
	}
	bob.expectNext("bye", "reason", "restart", "text", "the server is restarting; reconnect now")
	bob.closed()
	aliceTLS.expect("bye", "reason", "restart")
	aliceTLS.closed()
	erin.expect("bye", "reason", "restart")
	erin.closed()
	dave.expect("ERROR :Closing link: the server is restarting; reconnect now")
	dave.closed()
	readUntil("ERROR :Closing link: the server is restarting; reconnect now")
	if _, _, err := frank.Read(ctx); err == nil {
		t.Error("frank's /irc WebSocket is still open after the restart's ERROR")
	}
	gina.waitFor("Goodbye: the server is restarting; reconnect now")
	if code := gina.exited(); code != 0 {
		t.Errorf("ssh exit code %d after the restart, want 0", code)
	}

	// Those who stay saw each user whose last session it was log out, as
	// at any disconnect, and nothing of alice, who is still online.
	carol.expectUsers("logout", "bob", "dave", "erin", "frank", "gina")
	quits := map[string]bool{}
	for len(quits) < 5 {
		line := hank.expect("QUIT :Quit: logged out")
		quits[strings.TrimPrefix(strings.SplitN(line, "!", 2)[0], ":")] = true
	}
	if fmt.Sprint(quits) != "map[bob:true dave:true erin:true frank:true gina:true]" {
		t.Errorf("hank saw these quit: %v", quits)
	}
	for i := 0; ; i++ {
		info, _ := carol.do("check alice", "check")["info"].(map[string]any)
		if info["sessions"] == float64(1) {
			break
		}
		if i == 250 {
			t.Fatalf("alice still has %v sessions after the restart, want 1", info["sessions"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := carol.users("who", "who"); got != "alice,carol,hank" {
		t.Errorf("who after the restart = %s, want alice,carol,hank", got)
	}
	for _, ev := range carol.seen {
		if ev.str("type") == "presence" && ev.str("user") == "alice" {
			t.Errorf("carol was told of alice, who stayed online: %v", ev)
		}
	}
	// The plain sessions go on as before.
	alicePlain.send("still here")
	carol.expect("message", "from", "alice", "text", "still here")
	hank.send("PING :x")
	hank.expect("PONG", "x")
}

// ptyOutput collects what a program draws on the far end of a pty.
type ptyOutput struct {
	t   *testing.T
	mu  sync.Mutex
	out strings.Builder
}

// waitFor waits until the output after offset from shows want, and
// returns the offset just past it.
func (p *ptyOutput) waitFor(from int, want string) int {
	p.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		p.mu.Lock()
		out := p.out.String()
		p.mu.Unlock()
		if i := strings.Index(out[min(from, len(out)):], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal never showed %q; it shows:\n%q", want, out[min(from, len(out)):])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *ptyOutput) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// TestConnectResumesAfterRestart: chatd connect's terminal client, logged
// in over TLS on a pty, gets bye restart. It says the server restarts and
// dials again at once; while it cannot get through, bob talks in its room
// and to it privately. Once through, it logs in again with the password
// typed at the start and shows each of those lines once, and none of the
// lines from before a second time.
func TestConnectResumesAfterRestart(t *testing.T) {
	certFile, keyFile, _ := hardCert(t)
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.TLSListen = "127.0.0.1:0"
		c.Server.TLSCert, c.Server.TLSKey = certFile, keyFile
	})
	ts.addUsers("alice", "bob")
	bob := login(t, ts.addr, "bob", "password1")
	g := newTCPGate(t, ts.srv.TLSAddr().String())
	addr := g.ln.Addr().String()

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 200}); err != nil {
		t.Fatal(err)
	}
	term := &ptyOutput{t: t}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := chatclient.Options{TLS: true, Insecure: true}
	conn, err := chatclient.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		ended <- chatclient.RunTerminal(ctx, conn, tty, tty, chatclient.Front{User: "alice",
			Redial: func(ctx context.Context) (*chatclient.Conn, error) { return chatclient.Dial(ctx, addr, opts) }})
	}()
	at := term.waitFor(0, "Password: ")
	typeKeys := func(s string) {
		t.Helper()
		if _, err := ptmx.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	typeKeys("password1\r")
	at = term.waitFor(at, "Welcome, alice!")
	at = term.waitFor(at, "lobby> ")
	bob.expect("presence", "event", "login", "user", "alice")
	bob.send("before one", "send alice before two")
	at = term.waitFor(at, "<bob> before one")
	at = term.waitFor(at, "*bob* before two")

	g.set(false)
	if n := ts.srv.RestartUnmovable(); n != 1 {
		t.Fatalf("RestartUnmovable told %d sessions, want alice's", n)
	}
	at = term.waitFor(at, "Goodbye: the server is restarting; reconnect now")
	at = term.waitFor(at, "the server is restarting; reconnecting")
	at = term.waitFor(at, "trying again") // the gate is closed
	bob.expect("presence", "event", "logout", "user", "alice")
	bob.send("while one", "while two", "send alice while three")
	bob.expect("delivery", "to", "alice", "status", "stored")
	g.set(true)

	at = term.waitFor(at, "reconnected")
	for _, want := range []string{"<bob> while one", "<bob> while two", "<bob> while three"} {
		at = term.waitFor(at, want)
	}
	// Still in lobby, where the line typed next goes.
	term.waitFor(at, "lobby [unread @bob")
	bob.expect("presence", "event", "login", "user", "alice")
	typeKeys("here again\r")
	bob.expect("message", "from", "alice", "text", "here again")
	bob.send("after one")
	term.waitFor(at, "<bob> after one")
	out := term.String()
	for _, line := range []string{"before one", "before two", "while one", "while two", "while three", "after one"} {
		if n := strings.Count(out, line); n != 1 {
			t.Errorf("%q shown %d times:\n%q", line, n, out)
		}
	}
	typeKeys("\x04")
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the client ended with %v, want nil after Ctrl-D", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the client did not end after Ctrl-D")
	}
}
