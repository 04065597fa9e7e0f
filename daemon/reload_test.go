package daemon_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"chatd"
)

// TestWebTLSOnlyAEAD: the web listener offers the TLS listener's suites:
// a TLS 1.2 client limited to a CBC suite fails the handshake, one
// limited to an AEAD suite succeeds.
func TestWebTLSOnlyAEAD(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	_, web := startWeb(t, func(c *chatd.Config) {
		c.Web.TLSCert = certFile
		c.Web.TLSKey = keyFile
	})
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, tc := range []struct {
		name  string
		suite uint16
		ok    bool
	}{
		{"CBC", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{"CBC256", tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
		{"GCM", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{"ChaCha20", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", web, &tls.Config{
				RootCAs: pool, ServerName: "127.0.0.1",
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
				CipherSuites: []uint16{tc.suite},
			})
			if err == nil {
				conn.Close()
			}
			if tc.ok && err != nil {
				t.Fatalf("TLS 1.2 with %s: %v", tls.CipherSuiteName(tc.suite), err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("TLS 1.2 with %s: handshake succeeded", tls.CipherSuiteName(tc.suite))
			}
		})
	}
}
