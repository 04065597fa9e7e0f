package chatd

import (
	"bytes"
	"crypto/rand"
)

// LAN discovery (PROTOCOL.md section 7) is a UDP question and answer: a
// client sends a probe, every chatd with [discovery] enabled that hears it
// answers with where to connect. The formats live here because both the
// daemon (which answers) and the client (which asks) speak them.

const (
	// DiscoveryPrefix starts every probe.
	DiscoveryPrefix = "CHATD-DISCOVER 1 "
	// MinProbeBytes is the smallest probe answered.
	MinProbeBytes = 64
	// ProbeBytes is the size of the probes chatd sends: large enough that
	// an answer fits, since no answer may be larger than its probe.
	ProbeBytes = 512
	// DiscoveryPort is the default UDP port of discovery.listen.
	DiscoveryPort = 4119
)

// ParseProbe returns the nonce of a well-formed probe: at least
// MinProbeBytes, DiscoveryPrefix, a nonce of 8 to 64 ASCII letters and
// digits, and nothing but spaces after it. ok is false for anything else.
func ParseProbe(p []byte) (nonce string, ok bool) {
	if len(p) < MinProbeBytes || !bytes.HasPrefix(p, []byte(DiscoveryPrefix)) {
		return "", false
	}
	rest := p[len(DiscoveryPrefix):]
	n := 0
	for n < len(rest) && isNonceByte(rest[n]) {
		n++
	}
	if n < 8 || n > 64 {
		return "", false
	}
	for _, b := range rest[n:] {
		if b != ' ' {
			return "", false
		}
	}
	return string(rest[:n]), true
}

func isNonceByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// NewProbe returns a probe of ProbeBytes with a fresh random nonce.
func NewProbe() (probe []byte, nonce string) {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	nonce = string(b)
	probe = bytes.Repeat([]byte{' '}, ProbeBytes)
	copy(probe, DiscoveryPrefix+nonce)
	return probe, nonce
}

// DiscoveryAnswer is the JSON a daemon sends back to a probe.
type DiscoveryAnswer struct {
	Type    string  `json:"type"` // always "chatd"
	Nonce   string  `json:"nonce"`
	Name    string  `json:"name"`
	Version string  `json:"version"`
	Addr    string  `json:"addr"`     // host:port of the plain TCP listener
	TLSAddr *string `json:"tls_addr"` // host:port of the TLS listener, or null
	Web     *string `json:"web"`      // URL of the web client, or null
}
