package daemon_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"chatd"
	"chatd/daemon"
)

// startWeb starts a daemon with the web client on an ephemeral port and
// returns it with the web address.
func startWeb(t *testing.T, mutate ...func(*chatd.Config)) (*testServer, string) {
	t.Helper()
	ts := startServer(t, append([]func(*chatd.Config){func(c *chatd.Config) {
		c.Web.Listen = "127.0.0.1:0"
	}}, mutate...)...)
	a := ts.srv.WebAddr()
	if a == nil {
		t.Fatal("WebAddr is nil with web.listen set")
	}
	return ts, a.String()
}

// wsDialRaw opens a WebSocket to /ws with the given request headers.
func wsDialRaw(t *testing.T, addr string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPHeader: header})
	if err == nil {
		t.Cleanup(func() { ws.CloseNow() })
	}
	return ws, resp, err
}

// wsDial connects like the web page does (Origin: the page's own host) and
// wraps the WebSocket as a client of the test harness: each send is one
// text message, and the messages received are read as one stream of lines.
// The first event must be the username prompt: no banner, JSON at once.
func wsDial(t *testing.T, addr string, header http.Header) *client {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Origin") == "" {
		header.Set("Origin", "http://"+addr)
	}
	ws, _, err := wsDialRaw(t, addr, header)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageText)
	c := &client{t: t, conn: nc, r: bufio.NewReader(nc)}
	c.expectNext("prompt", "field", "username")
	return c
}

func wsLogin(t *testing.T, addr, name, password string, header http.Header) *client {
	t.Helper()
	c := wsDial(t, addr, header)
	c.name = name
	c.send(name)
	c.expectNext("prompt", "field", "password")
	c.send(password)
	c.expect("welcome", "user", name)
	return c
}

// readMessage reads one whole WebSocket message.
func readMessage(t *testing.T, ws *websocket.Conn) (websocket.MessageType, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, p, err := ws.Read(ctx)
	return typ, string(p), err
}

// TestWebSocketChatsWithTCP: a TCP user and a WebSocket user talk, both
// ways, in the room and privately; the WebSocket user is known by the
// client's address and on the "web" listener.
func TestWebSocketChatsWithTCP(t *testing.T) {
	ts, web := startWeb(t)
	ts.addUser("root", "password1", true)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := wsLogin(t, web, "bob", "password1", nil)
	alice.expect("presence", "user", "bob", "event", "login")

	bob.send("hello from the browser")
	alice.expect("message", "kind", "room", "from", "bob", "text", "hello from the browser")
	alice.send("hello from telnet")
	bob.expect("message", "kind", "room", "from", "alice", "text", "hello from telnet")

	// Several lines in one message, the last without LF: each is a command.
	bob.send("send alice one\nsend alice two")
	alice.expect("message", "kind", "private", "from", "bob", "text", "one")
	alice.expect("message", "kind", "private", "from", "bob", "text", "two")
	alice.send("send bob back at you")
	bob.expect("message", "kind", "private", "from", "alice", "text", "back at you")

	root := login(t, ts.addr, "root", "password1")
	root.send("check bob")
	info, _ := root.expect("ok", "cmd", "check")["info"].(map[string]any)
	if info["addr"] != "127.0.0.1" {
		t.Errorf("check bob shows addr %v, want 127.0.0.1", info["addr"])
	}

	bob.send("logout")
	bob.expect("bye", "reason", "logout")
	alice.expect("presence", "user", "bob", "event", "logout")
}

// TestWebSocketMessagesAreWholeLines: every server message is one or more
// JSON lines, each ending in LF alone.
func TestWebSocketMessagesAreWholeLines(t *testing.T) {
	ts, web := startWeb(t)
	ts.addUsers("alice")
	ws, _, err := wsDialRaw(t, web, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ws.Write(ctx, websocket.MessageText, []byte("alice\npassword1\nwho\n"))
	sawWho := false
	for !sawWho {
		typ, msg, err := readMessage(t, ws)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != websocket.MessageText {
			t.Fatalf("message type %v, want text", typ)
		}
		if !strings.HasSuffix(msg, "\n") || strings.Contains(msg, "\r") {
			t.Fatalf("message %q: want whole lines ending in LF, no CR", msg)
		}
		for line := range strings.SplitSeq(strings.TrimSuffix(msg, "\n"), "\n") {
			if !strings.HasPrefix(line, "{") || !strings.HasSuffix(line, "}") {
				t.Fatalf("line %q in message %q is not one JSON object", line, msg)
			}
			sawWho = sawWho || strings.Contains(line, `"cmd":"who"`)
		}
	}
}

// TestWebSocketOrigin: a page from another origin is refused with 403; the
// page's own host, origins matching web.allowed_origins, and programs that
// send no Origin are let in.
func TestWebSocketOrigin(t *testing.T) {
	_, web := startWeb(t, func(c *chatd.Config) {
		c.Web.AllowedOrigins = []string{"*.friendly.example", "https://exact.example"}
	})
	for _, tc := range []struct {
		name, origin string
		ok           bool
	}{
		{"Foreign", "http://evil.example", false},
		{"ForeignSameHostNameOtherPort", "http://127.0.0.1:1", false},
		{"SchemeMismatch", "http://exact.example", false},
		{"NotAURL", "null", false},
		{"OwnHost", "http://" + web, true},
		{"Pattern", "https://chat.friendly.example", true},
		{"WithScheme", "https://exact.example", true},
		{"NoOrigin", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			ws, resp, err := wsDialRaw(t, web, h)
			if !tc.ok {
				if err == nil {
					t.Fatalf("Origin %q was let in", tc.origin)
				}
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("Origin %q: got %v (response %v), want HTTP 403", tc.origin, err, resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("Origin %q refused: %v", tc.origin, err)
			}
			_, msg, err := readMessage(t, ws)
			if err != nil || msg != `{"type":"prompt","field":"username"}`+"\n" {
				t.Fatalf("first message = %q, %v; want the username prompt", msg, err)
			}
		})
	}
}

// TestWebSocketLineTooLong: an oversized line is refused with
// line_too_long, the rest of it discarded, and the connection goes on,
// also for the next line in the same message.
func TestWebSocketLineTooLong(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) { c.Server.MaxLineBytes = 64 })
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	bob := wsLogin(t, web, "bob", "password1", nil)

	long := strings.Repeat("x", 10000)
	bob.send(long + "\nstill here")
	bob.expectError("", "line_too_long")
	alice.expect("message", "from", "bob", "text", "still here")
	if len(alice.seen) > 0 {
		for _, ev := range alice.seen {
			if strings.Contains(ev.str("text"), "xxx") {
				t.Fatalf("part of the long line got through: %v", ev)
			}
		}
	}
	// Exactly the limit is fine; a CR before LF does not count.
	exact := strings.Repeat("y", 64)
	bob.send(exact + "\r")
	alice.expect("message", "from", "bob", "text", exact)
	// A long line that is a whole message without LF is refused too.
	bob.send(long)
	bob.expectError("", "line_too_long")
	bob.send("bad \xff byte")
	bob.expectError("", "bad_encoding")
	bob.send("after all that")
	alice.expect("message", "from", "bob", "text", "after all that")
}

// TestWebSocketBinaryCloses1003: a binary message ends the connection with
// close code 1003 (unsupported data).
func TestWebSocketBinaryCloses1003(t *testing.T) {
	_, web := startWeb(t)
	ws, _, err := wsDialRaw(t, web, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := readMessage(t, ws); err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(context.Background(), websocket.MessageBinary, []byte("alice\n")); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := readMessage(t, ws)
		if err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusUnsupportedData {
				t.Fatalf("closed with %v (%v), want 1003", got, err)
			}
			return
		}
		if strings.Contains(msg, `"field":"password"`) {
			t.Fatalf("the binary message was taken as a line: %q", msg)
		}
	}
}

// TestWebSocketForwardedFor: X-Forwarded-For names the client only when
// the connection comes from web.trusted_proxies; per-IP caps count that
// address.
func TestWebSocketForwardedFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     string
		want    string
	}{
		{"Trusted", []string{"127.0.0.1"}, "203.0.113.7", "203.0.113.7"},
		{"TrustedRange", []string{"127.0.0.0/8"}, "203.0.113.7", "203.0.113.7"},
		{"ChainRightmostUntrusted", []string{"127.0.0.1", "10.0.0.0/8"}, "198.51.100.1, 203.0.113.7, 10.1.2.3", "203.0.113.7"},
		{"NotTrusted", []string{"10.0.0.0/8"}, "203.0.113.7", "127.0.0.1"},
		{"NoProxies", nil, "203.0.113.7", "127.0.0.1"},
		{"Garbage", []string{"127.0.0.1"}, "not-an-address", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, web := startWeb(t, func(c *chatd.Config) { c.Web.TrustedProxies = tc.trusted })
			ts.addUser("root", "password1", true)
			ts.addUsers("bob")
			root := login(t, ts.addr, "root", "password1")
			h := http.Header{}
			h.Set("X-Forwarded-For", tc.xff)
			wsLogin(t, web, "bob", "password1", h)
			root.send("check bob")
			info, _ := root.expect("ok", "cmd", "check")["info"].(map[string]any)
			if info["addr"] != tc.want {
				t.Errorf("X-Forwarded-For %q from 127.0.0.1 with trusted %v: addr %v, want %s", tc.xff, tc.trusted, info["addr"], tc.want)
			}
		})
	}

	t.Run("PerIPCap", func(t *testing.T) {
		_, web := startWeb(t, func(c *chatd.Config) {
			c.Web.TrustedProxies = []string{"127.0.0.1"}
			c.Server.MaxConnectionsPerIP = 1
		})
		h := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
		wsDial(t, web, h("203.0.113.1"))
		wsDial(t, web, h("203.0.113.2")) // another client behind the same proxy
		ws, _, err := wsDialRaw(t, web, h("203.0.113.1"))
		if err != nil {
			t.Fatal(err)
		}
		_, msg, _ := readMessage(t, ws)
		if !strings.Contains(msg, `"code":"server_busy"`) {
			t.Fatalf("second connection from 203.0.113.1 got %q, want server_busy", msg)
		}
	})
}

// TestWebSocketTimeouts: the login deadline and the idle timeout end a
// WebSocket session with a bye, as on TCP.
func TestWebSocketTimeouts(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Server.LoginTimeout = chatd.Duration{Duration: 300 * time.Millisecond}
		c.Server.IdleTimeout = chatd.Duration{Duration: 300 * time.Millisecond}
	})
	ts.addUsers("bob")
	c := wsDial(t, web, nil)
	c.expect("bye", "reason", "timeout")

	bob := wsLogin(t, web, "bob", "password1", nil)
	bob.expect("bye", "reason", "timeout")
}

// TestWebSocketShutdown: a stopping daemon says bye to WebSocket users too
// and closes the page's listener.
func TestWebSocketShutdown(t *testing.T) {
	ts, web := startWeb(t)
	ts.addUsers("bob")
	bob := wsLogin(t, web, "bob", "password1", nil)
	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	bob.expect("bye", "reason", "shutdown")
	if _, err := bob.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("after bye: %v, want the connection closed", err)
	}
	<-stopped
	if _, err := http.Get("http://" + web + "/"); err == nil {
		t.Error("the web listener still answers after shutdown")
	}
}

// TestWebPage: / serves the embedded page with a Content-Security-Policy
// that allows no inline script, and its files load from the same origin.
func TestWebPage(t *testing.T) {
	_, web := startWeb(t)
	resp, err := http.Get("http://" + web + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q must allow only the page's own script files", csp)
	}
	for _, f := range []string{"/app.js", "/style.css"} {
		resp, err := http.Get("http://" + web + f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", f, resp.StatusCode)
		}
	}
}

// TestWebTLS: with web.tls_cert the page and /ws are served over HTTPS and
// wss://.
func TestWebTLS(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Web.TLSCert = certFile
		c.Web.TLSKey = keyFile
	})
	ts.addUsers("bob")
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Get("https://" + web + "/")
	if err != nil {
		t.Fatalf("GET https://%s/: %v", web, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / over TLS = %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+web+"/ws", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte("bob\npassword1"))
	for {
		_, p, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if strings.Contains(string(p), `"type":"welcome"`) {
			return
		}
	}
}

// TestWebListenerPassedIn: the web client serves on a listener made
// outside the server (socket activation) instead of binding web.listen.
func TestWebListenerPassedIn(t *testing.T) {
	cfg := testConfig(t)
	cfg.Web.Listen = "127.0.0.1:1" // would fail to bind: must not be used
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveOptions(t, cfg, daemon.Options{Web: ln})
	if got := srv.WebAddr().String(); got != ln.Addr().String() {
		t.Fatalf("WebAddr = %s, want the passed-in %s", got, ln.Addr())
	}
	c := wsDial(t, ln.Addr().String(), nil)
	c.send("newbie")
	c.expectNext("prompt", "field", "new_password")
}

// TestWebOff: with web.listen empty there is no web listener.
func TestWebOff(t *testing.T) {
	ts := startServer(t)
	if a := ts.srv.WebAddr(); a != nil {
		t.Fatalf("WebAddr = %v with web.listen empty", a)
	}
}

// TestWebSocketRateLimit: lines that arrive together in one message are
// still counted one by one by the rate limiter.
func TestWebSocketRateLimit(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 0.001
		c.Rate.Burst = 12 // the login takes some of the minimum burst of 10
	})
	ts.addUsers("bob")
	bob := wsLogin(t, web, "bob", "password1", nil)
	lines := make([]string, 30)
	for i := range lines {
		lines[i] = "echo x"
	}
	bob.send(strings.Join(lines, "\n"))
	bob.expectError("echo", "rate_limited")
}

// TestWebOriginsReload: web.allowed_origins and web.trusted_proxies are
// read at each request, so a reload applies to the next connection.
func TestWebOriginsReload(t *testing.T) {
	ts, web := startWeb(t)
	h := http.Header{"Origin": {"https://chat.example"}}
	if _, resp, err := wsDialRaw(t, web, h); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("before the reload: %v, want 403", err)
	}
	cfg := ts.cfg
	cfg.Web.AllowedOrigins = []string{"chat.example"}
	if _, err := ts.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := wsDialRaw(t, web, h); err != nil {
		t.Fatalf("after the reload allowed chat.example: %v", err)
	}
}

// TestWebSocketFloodDisconnects: bytes sent over a WebSocket count against
// the byte budget as they arrive, like on TCP, so one endless line (a huge
// message with no line end) ends the session as flooding instead of being
// read and thrown away for ever.
func TestWebSocketFloodDisconnects(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Server.MaxLineBytes = 256
		c.Rate.LinesPerSecond = 10
		c.Rate.Burst = 30
	})
	ts.addUsers("alice", "bob", "flood")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	f := wsLogin(t, web, "flood", "password1", nil)
	go func() {
		// The server may close while this is still writing.
		f.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		f.conn.Write([]byte(strings.Repeat("x", 4<<20)))
	}()
	for {
		ev, err := f.tryNext(30 * time.Second)
		if err != nil {
			t.Fatalf("a 4 MiB line was not stopped: %v", err)
		}
		if ev.str("type") == "bye" {
			if !strings.Contains(ev.str("text"), "flooding") {
				t.Fatalf("bye %v, want flooding", ev)
			}
			break
		}
	}
	alice.send("still here")
	bob.expect("message", "kind", "room", "text", "still here")
}
