package daemon_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
)

// httpConn is one keep-alive HTTP/1.1 connection made by hand, from a
// chosen loopback source address.
type httpConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialHTTPFrom(t *testing.T, src, addr string) *httpConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &httpConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// get sends GET path with the Host header host and reads the response;
// a connection closed or reset instead of answered gives an error.
func (c *httpConn) get(path, host string, header http.Header) (*http.Response, error) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+host+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(c.conn); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// TestWebPerIPCapCountsHTTP: plain page requests on keep-alive
// connections count against server.max_connections_per_ip from their
// accept, before any WebSocket, and one address's share does not touch
// another's.
func TestWebPerIPCapCountsHTTP(t *testing.T) {
	_, web := startWeb(t, func(c *chatd.Config) { c.Server.MaxConnectionsPerIP = 3 })
	for range 3 {
		c := dialHTTPFrom(t, "127.0.0.2", web)
		if resp, err := c.get("/icon.svg", web, nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("page request within the cap: %v %v", resp, err)
		}
	}
	c := dialHTTPFrom(t, "127.0.0.2", web)
	if resp, err := c.get("/icon.svg", web, nil); err == nil && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fourth connection from one address: %s, want refused (503 or closed)", resp.Status)
	}
	other := dialHTTPFrom(t, "127.0.0.3", web)
	if resp, err := other.get("/icon.svg", web, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("another address: %v %v", resp, err)
	}
	// The WebSocket of a page keeps its socket's slot: from an address
	// whose page connections fill the cap but one, the WebSocket comes on
	// a connection of its own and fits.
	ws := dialHTTPFrom(t, "127.0.0.3", web)
	h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {"http://" + web}}
	if resp, err := ws.get("/ws", web, h); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket within the cap: %v %v", resp, err)
	}
	third := dialHTTPFrom(t, "127.0.0.3", web)
	if _, err := third.get("/icon.svg", web, nil); err != nil {
		t.Fatalf("third connection from 127.0.0.3: %v", err)
	}
	fourth := dialHTTPFrom(t, "127.0.0.3", web)
	if resp, err := fourth.get("/icon.svg", web, nil); err == nil && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fourth connection from 127.0.0.3, a WebSocket among them: %s, want refused", resp.Status)
	}
}

// TestHTTPIdleKeepAliveCloses: an idle keep-alive connection to the web
// client or to /metrics is closed by the server after the idle timeout.
func TestHTTPIdleKeepAliveCloses(t *testing.T) {
	defer daemon.SetHTTPIdleTimeout(300 * time.Millisecond)()
	ts, web := startWeb(t, func(c *chatd.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	for name, addr := range map[string]string{"web": web, "metrics": ts.srv.MetricsAddr().String()} {
		t.Run(name, func(t *testing.T) {
			path := "/icon.svg"
			if name == "metrics" {
				path = "/healthz"
			}
			c := dialHTTPFrom(t, "127.0.0.1", addr)
			if resp, err := c.get(path, addr, nil); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %v %v", path, resp, err)
			}
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := c.r.ReadByte()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("idle keep-alive connection still open after 10 s")
			}
			if err == nil {
				t.Fatal("the server sent bytes nobody asked for")
			}
		})
	}
}

// TestWebHostCheck: DNS rebinding. A page of a name pointed at the
// server sends its own name as Host and as Origin: both the page and /ws
// refuse it; the names in web.hosts (or the defaults) are served.
func TestWebHostCheck(t *testing.T) {
	_, web := startWeb(t, func(c *chatd.Config) { c.Web.AllowedOrigins = []string{"*"} })
	_, port, _ := net.SplitHostPort(web)
	upgrade := func(origin string) http.Header {
		return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {origin}}
	}
	for _, tc := range []struct {
		name, path, host string
		header           http.Header
		want             int
	}{
		{"RebindPage", "/", "evil.com:" + port, nil, http.StatusMisdirectedRequest},
		{"RebindWebSocket", "/ws", "evil.com:" + port, upgrade("http://evil.com:" + port), http.StatusMisdirectedRequest},
		{"RebindNoPort", "/", "evil.com", nil, http.StatusMisdirectedRequest},
		{"OtherAddressOnLoopbackListener", "/", "10.1.2.3:" + port, nil, http.StatusMisdirectedRequest},
		{"Loopback", "/", web, nil, http.StatusOK},
		{"Localhost", "/", "LocalHost:" + port, nil, http.StatusOK},
		{"LocalhostWebSocket", "/ws", "localhost:" + port, upgrade("http://localhost:" + port), http.StatusSwitchingProtocols},
		{"IPv6Loopback", "/", "[::1]:" + port, nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialHTTPFrom(t, "127.0.0.1", web)
			resp, err := c.get(tc.path, tc.host, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("Host %q: %s, want %d", tc.host, resp.Status, tc.want)
			}
		})
	}
}

// TestWebHostsConfigured: with web.hosts set, its names are served and
// the defaults are not; a reload changes the list.
func TestWebHostsConfigured(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) { c.Web.Hosts = []string{"chat.example.com"} })
	_, port, _ := net.SplitHostPort(web)
	check := func(host string, want int) {
		t.Helper()
		c := dialHTTPFrom(t, "127.0.0.1", web)
		resp, err := c.get("/", host, nil)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("Host %q: %v %v, want %d", host, resp, err, want)
		}
	}
	check("chat.example.com:"+port, http.StatusOK)
	check("Chat.Example.Com.", http.StatusOK)
	check("localhost:"+port, http.StatusMisdirectedRequest)
	next := ts.cfg
	next.Web.Hosts = []string{"other.example.com"}
	if _, err := ts.srv.Reload(next); err != nil {
		t.Fatal(err)
	}
	check("chat.example.com:"+port, http.StatusMisdirectedRequest)
	check("other.example.com", http.StatusOK)
}
