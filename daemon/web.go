package daemon

import (
	"crypto/tls"
	"embed"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// webclient holds the browser client: plain HTML, CSS and JavaScript,
// served as they are, with nothing fetched from anywhere else.
//
//go:embed webclient
var webclient embed.FS

// contentSecurityPolicy allows the page's own files and its own WebSocket
// and nothing else: no inline script or style, no other origin.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// WebHandler serves the web client at / and the WebSocket endpoint /ws.
func (s *Server) WebHandler() http.Handler {
	files, err := fs.Sub(webclient, "webclient")
	if err != nil {
		panic(err) // the directory is embedded above; cannot happen
	}
	static := http.FileServerFS(files)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWebSocket)
	mux.HandleFunc("GET /irc", s.serveIRCWebSocket)
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg().Web.HostAllowed(r.Host) {
			s.connLog.Warn("web request refused", "addr", hostOf(r.RemoteAddr), "host", r.Host, "why", "host not in web.hosts")
			http.Error(w, "unknown host: add it to web.hosts", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// serveWebSocket upgrades a request to a WebSocket session of the chat
// protocol, in JSON mode, after checking its Origin.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg()
	proxies, _ := cfg.Web.ParseTrustedProxies() // validated with the config
	addr := clientAddr(r, proxies)
	if !originAllowed(r, cfg.Web.AllowedOrigins) {
		s.connLog.Warn("web connection refused", "addr", addr, "origin", r.Header.Get("Origin"), "why", "origin not allowed")
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	hr := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hr, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the Origin was checked above, by our own rules
	})
	if err != nil {
		return // Accept has answered the client
	}
	c := newWSConn(ws, hr.conn, func() int { return s.cfg().Server.MaxLineBytes })
	// The session keeps the slot its socket took when it was accepted.
	s.ServeConn(r.Context(), c, ConnInfo{Addr: addr, Listener: "web", JSON: true, slot: slotOf(hr.conn)})
	c.Close()
}

// serveIRCWebSocket upgrades a request to an IRC session (docs/irc.md):
// one IRC line per text message, the IRCv3 WebSocket convention, with the
// subprotocol text.ircv3.net when the client offers it.
func (s *Server) serveIRCWebSocket(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg()
	proxies, _ := cfg.Web.ParseTrustedProxies() // validated with the config
	addr := clientAddr(r, proxies)
	if !originAllowed(r, cfg.Web.AllowedOrigins) {
		s.connLog.Warn("web connection refused", "addr", addr, "origin", r.Header.Get("Origin"), "why", "origin not allowed")
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	hr := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hr, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the Origin was checked above, by our own rules
		Subprotocols:       []string{"text.ircv3.net"},
	})
	if err != nil {
		return // Accept has answered the client
	}
	c := newWSConn(ws, hr.conn, func() int { return s.cfg().Server.MaxLineBytes })
	c.perLine = true
	s.ServeConn(r.Context(), c, ConnInfo{Addr: addr, Listener: "webirc", IRC: true, slot: slotOf(hr.conn)})
	c.Close()
}

// originAllowed applies web.allowed_origins. A request with no Origin is
// not from a browser page, so no other page can be riding on it; the
// page's own host is always allowed (the handler has checked that Host
// is one of web.hosts: a page of a rebound name has neither).
func originAllowed(r *http.Request, patterns []string) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// clientAddr is the real client address of a web request. X-Forwarded-For
// is believed only when the peer is a trusted proxy, and then read from the
// right: the first address not itself a trusted proxy is the client.
func clientAddr(r *http.Request, proxies []netip.Prefix) string {
	peer := hostOf(r.RemoteAddr)
	if !isTrusted(peer, proxies) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for h := range strings.SplitSeq(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break // a hop we cannot read: believe nothing further left
		}
		peer = a.Unmap().String()
		if !isTrusted(peer, proxies) {
			break
		}
	}
	return peer
}

func isTrusted(ip string, proxies []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// listenWeb binds web.listen unless Options gave the listener, and wraps
// it in TLS when web.tls_cert is set. No listener and no web.listen: the
// web client is off.
func (s *Server) listenWeb() error {
	cfg := s.cfg()
	if s.webLn == nil && cfg.Web.Listen == "" {
		return nil
	}
	if cfg.Web.TLSCert != "" {
		cert, err := loadPair("web", cfg.Web.TLSCert, cfg.Web.TLSKey)
		if err != nil {
			return err
		}
		s.webCert.Store(cert)
	}
	if s.webLn == nil {
		ln, err := net.Listen("tcp", cfg.Web.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s (web.listen): %w", cfg.Web.Listen, err)
		}
		s.webLn = ln
	}
	s.keepRaw("web", s.webLn)
	s.webLn = s.countWebAccepts(s.webLn)
	if cfg.Web.TLSCert != "" {
		s.webLn = tls.NewListener(s.webLn, tlsConfig(&s.webCert))
	}
	s.web = &http.Server{
		Handler:           s.WebHandler(),
		ReadHeaderTimeout: httpHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
	return nil
}

// The HTTP listeners' timeouts. A page needs a handful of requests and
// then its WebSocket; a scrape of /metrics comes every 15 s or more. An
// idle keep-alive connection holds a descriptor and a slot
// (countingListener) and is worth little, so it goes soon; a request
// must have sent its headers within httpHeaderTimeout.
var (
	httpIdleTimeout   = 10 * time.Second
	httpHeaderTimeout = 5 * time.Second
)

// countWebAccepts counts every socket of the web listener from its accept
// (below TLS, so the count covers handshakes too); a refused plain-HTTP
// socket is answered 503, a TLS one closed.
func (s *Server) countWebAccepts(ln net.Listener) net.Listener {
	var refusal []byte
	if s.cfg().Web.TLSCert == "" {
		refusal = httpRefusal
	}
	proxies := func() []netip.Prefix {
		p, _ := s.cfg().Web.ParseTrustedProxies() // validated with the config
		return p
	}
	return s.countAccepts("web", ln, proxies, refusal)
}

// serveMetricsOn prepares the /metrics and /healthz server on s.metricsLn,
// its sockets counted as the web client's are.
func (s *Server) serveMetricsOn() {
	s.metricsLn = s.countAccepts("metrics", s.metricsLn, nil, httpRefusal)
	s.metricsWeb = &http.Server{
		Handler:           s.metricsHandler(),
		ReadHeaderTimeout: httpHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    16 << 10,
	}
}

// WebAddr is the web client's bound address, or nil when it is off.
func (s *Server) WebAddr() net.Addr {
	if s.webLn == nil {
		return nil
	}
	return s.webLn.Addr()
}
