package daemon

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// The HTTP listeners (the web client and /metrics) go through a
// countingListener: every socket it accepts takes a connection slot at once
// (server.max_connections, server.max_connections_per_ip and the descriptor
// budget, see fdlimit.go) and gives it back when it is closed. A socket
// over a limit is closed before net/http ever sees it. A WebSocket session
// keeps the slot of the socket it came on (ServeConn does not count it
// again). Plain TCP and TLS sockets are counted by ServeConn, which
// acceptLoop calls as soon as a socket is accepted.
//
// A socket that has not become a chat session (a page, an icon, a scrape of
// /metrics) is a "page" socket: page sockets may hold at most half of the
// server's slots, so that a flood of idle HTTP keep-alive connections
// leaves room for chat logins.

// connSlot is one accepted socket's place in the accounting. Its fields are
// guarded by Server.mu.
type connSlot struct {
	ip       string // the address it counts against per IP; "": none (a trusted proxy)
	page     bool   // not (yet) a chat session
	released bool
}

// slotConn is a socket that holds a slot until it is closed.
type slotConn struct {
	net.Conn
	s    *Server
	slot *connSlot
	once sync.Once
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.releaseSlot(c.slot) })
	return err
}

// NetConn is the socket underneath, for code that looks for it.
func (c *slotConn) NetConn() net.Conn { return c.Conn }

// countingListener counts what an http.Server accepts, refuses what is
// over the limits, and waits out accept errors itself.
type countingListener struct {
	net.Listener
	s    *Server
	name string // "web", "metrics": for logs
	// proxies gives the addresses whose sockets count only toward the
	// total: a trusted proxy carries many clients, each counted per IP
	// when its WebSocket session starts.
	proxies func() []netip.Prefix
	// refusal is written to a refused socket before it is closed (plain
	// HTTP's 503); nil closes it at once (TLS).
	refusal []byte

	closeOnce sync.Once
	closed    chan struct{}
}

// httpRefusal is what a refused plain-HTTP socket is told.
var httpRefusal = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\ntoo many connections")

func (s *Server) countAccepts(name string, ln net.Listener, proxies func() []netip.Prefix, refusal []byte) net.Listener {
	return &countingListener{Listener: ln, s: s, name: name, proxies: proxies, refusal: refusal, closed: make(chan struct{})}
}

// Accept returns the next socket within the limits. Errors other than a
// closed listener (out of descriptors, above all) are waited out here with
// a growing delay, so the http.Server above never spins on them.
func (l *countingListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			delay = acceptBackoff(delay)
			l.s.connLog.Warn("accept", "listener", l.name, "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-l.closed:
				return nil, net.ErrClosed
			}
		}
		delay = 0
		ip := hostOf(c.RemoteAddr().String())
		counted := ip
		if l.proxies != nil && isTrusted(ip, l.proxies()) {
			counted = ""
		}
		slot, why, reason := l.s.takeSlot(counted)
		if slot == nil {
			l.s.metrics.refusal(reason)
			l.s.connLog.Warn("connection refused", "addr", ip, "listener", l.name, "why", why)
			if l.refusal != nil {
				// A fresh socket's send buffer is empty: this write
				// does not wait, and the deadline makes sure of it.
				c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				c.Write(l.refusal)
			}
			c.Close()
			continue
		}
		return &slotConn{Conn: c, s: l.s, slot: slot}, nil
	}
}

func (l *countingListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// acceptBackoff is the wait after an accept error that follows one of
// delay: from 5 ms, doubling, to at most a second.
func acceptBackoff(delay time.Duration) time.Duration {
	return min(max(2*delay, 5*time.Millisecond), time.Second)
}

// slotOf finds the slot of the socket an HTTP request came on: the
// countingListener's socket, under TLS when the web client speaks it.
func slotOf(c net.Conn) *connSlot {
	for range 4 {
		if sc, ok := c.(*slotConn); ok {
			return sc.slot
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}
