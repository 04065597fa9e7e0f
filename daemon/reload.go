package daemon

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"

	"chatd"
)

// restartKey is a setting a running server cannot change. keep puts the
// running value (from cur) back into next and reports whether the file
// asked for another one.
type restartKey struct {
	key  string
	note string // what the change would take, when the key alone does not say
	keep func(next, cur *chatd.Config) (changed bool)
}

// restartOnly is the one list of settings that only a restart applies:
// the sockets bound at start, the database, the node's name and where
// hashes are computed. Reload keeps their running values and logs each
// one the file changes; every other setting applies live.
var restartOnly = []restartKey{
	fixed("server.listen", func(c *chatd.Config) *string { return &c.Server.Listen }),
	fixed("server.tls_listen", func(c *chatd.Config) *string { return &c.Server.TLSListen }),
	tlsOnOff("server.tls_cert", "adding or removing TLS on the TLS listener needs a restart",
		func(c *chatd.Config) (*string, *string) { return &c.Server.TLSCert, &c.Server.TLSKey }),
	fixed("database.driver", func(c *chatd.Config) *string { return &c.Database.Driver }),
	fixed("database.path", func(c *chatd.Config) *string { return &c.Database.Path }),
	fixed("database.url", func(c *chatd.Config) *string { return &c.Database.URL }),
	fixed("web.listen", func(c *chatd.Config) *string { return &c.Web.Listen }),
	tlsOnOff("web.tls_cert", "whether the web listener speaks TLS changes at a restart",
		func(c *chatd.Config) (*string, *string) { return &c.Web.TLSCert, &c.Web.TLSKey }),
	fixed("metrics.listen", func(c *chatd.Config) *string { return &c.Metrics.Listen }),
	fixed("irc.listen", func(c *chatd.Config) *string { return &c.IRC.Listen }),
	fixed("irc.tls_listen", func(c *chatd.Config) *string { return &c.IRC.TLSListen }),
	fixed("cluster.node", func(c *chatd.Config) *string { return &c.Cluster.Node }),
	fixed("argon2.worker", func(c *chatd.Config) *string { return &c.Argon2.Worker }),
	{
		// A responder that starts binds the new address; one that runs
		// keeps its socket.
		key: "discovery.listen", note: "moving a running responder needs a restart",
		keep: func(next, cur *chatd.Config) bool {
			if !cur.Discovery.Enabled || !next.Discovery.Enabled || next.Discovery.Listen == cur.Discovery.Listen {
				return false
			}
			next.Discovery.Listen = cur.Discovery.Listen
			return true
		},
	},
}

// fixed is a restart-only setting held in one field.
func fixed[T comparable](key string, field func(*chatd.Config) *T) restartKey {
	return restartKey{key: key, keep: func(next, cur *chatd.Config) bool {
		n, c := field(next), field(cur)
		if *n == *c {
			return false
		}
		*n = *c
		return true
	}}
}

// tlsOnOff is whether a listener has a TLS pair, fixed at start: a file
// that adds or removes the pair keeps the running one, paths and all. A
// new pair for a listener that has one applies live.
func tlsOnOff(key, note string, pair func(*chatd.Config) (cert, key *string)) restartKey {
	return restartKey{key: key, note: note, keep: func(next, cur *chatd.Config) bool {
		nc, nk := pair(next)
		cc, ck := pair(cur)
		if (*nc == "") == (*cc == "") {
			return false
		}
		*nc, *nk = *cc, *ck
		return true
	}}
}

// Reload makes next the configuration in force, all at once (next must
// already be validated). Settings in restartOnly keep their running values
// and their keys are returned (and logged); every other part applies its
// own section: every session reads the new configuration at its next use
// (banner, limits, timeouts, rate, lockout, accounts, messages, argon2 cost
// of new hashes), the [log] settings apply to the live logger, the process
// memory limit follows [argon2], new TLS handshakes use the pairs the
// files hold now, and discovery starts, stops or takes its new name and
// rate (once StartDiscovery has run).
//
// The rule for what cannot be applied: a restart-only change is kept
// back and logged while the rest applies, and a file that removes a TLS
// pair is such a change (the listener goes on serving the pair it has).
// A pair the file names that does not load, or a discovery.listen that
// cannot be bound when discovery turns on, refuses the whole reload: the
// error says why and nothing changes.
func (s *Server) Reload(next chatd.Config) (needRestart []string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	defer func() { s.metrics.reload(err == nil) }()
	cur := s.cfg()

	// Everything that can fail, before anything changes: the pairs the
	// file names, the discovery socket, the log settings.
	cert, webCert, err := s.readPairs(&next)
	if err != nil {
		return nil, err
	}
	var kept []restartKey
	for _, r := range restartOnly {
		if r.keep(&next, cur) {
			kept = append(kept, r)
			needRestart = append(needRestart, r.key)
		}
	}
	bound, err := s.prepareDiscovery(&next)
	if err != nil {
		return nil, err
	}
	if s.liveLog != nil {
		if err := s.liveLog.Apply(next.Log); err != nil {
			if bound != nil {
				bound.Close()
			}
			return nil, err
		}
	}

	// The new configuration is stored once; each part applies its section.
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
	s.applyDiscovery(&next, bound)

	for _, r := range kept {
		args := []any{"key", r.key}
		if r.note != "" {
			args = append(args, "note", r.note)
		}
		s.log.Warn("reload: setting changed, applies after restart", args...)
	}
	changed := changedSections(cur, &next)
	pairs := 0
	for _, c := range []*tls.Certificate{cert, webCert} {
		if c != nil {
			pairs++
		}
	}
	if len(changed) == 0 && pairs == 0 {
		s.log.Info("reload: nothing changed that applies before a restart", "restart_needed", len(kept))
	} else {
		s.log.Info("configuration reloaded", "changed", strings.Join(changed, ","), "tls_pairs_read", pairs,
			"restart_needed", len(kept))
	}
	return needRestart, nil
}

// readPairs loads the TLS pairs next names for the listeners that speak
// TLS; nil for a listener without TLS or whose pair next removes.
func (s *Server) readPairs(next *chatd.Config) (cert, webCert *tls.Certificate, err error) {
	// The server's pair serves the TLS listener and IRC's.
	if (s.tlsLn != nil || s.ircTLSLn != nil) && next.Server.TLSCert != "" {
		if cert, err = loadPair("server", next.Server.TLSCert, next.Server.TLSKey); err != nil {
			return nil, nil, err
		}
	}
	if s.webCert.Load() != nil && next.Web.TLSCert != "" {
		if webCert, err = loadPair("web", next.Web.TLSCert, next.Web.TLSKey); err != nil {
			return nil, nil, err
		}
	}
	return cert, webCert, nil
}

// changedSections names the [tables] whose settings differ between a and b.
func changedSections(a, b *chatd.Config) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var names []string
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("toml"), ",")
			names = append(names, name)
		}
	}
	return names
}

// loadPair reads one certificate and its key; section ("server", "web")
// names the settings they come from in the error.
func loadPair(section, certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair (%s.tls_cert, %s.tls_key): %w", section, section, err)
	}
	return &c, nil
}

// tlsConfig is the TLS setup of every listener that speaks TLS (the TLS
// listener, the web client's): TLS 1.2 or newer, the AEAD suites of
// tls12Suites, and the pair in *pair read at each handshake, so a reloaded
// pair serves the next client.
func tlsConfig(pair *atomic.Pointer[tls.Certificate]) *tls.Config {
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return pair.Load(), nil },
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
	}
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
