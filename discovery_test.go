package chatd_test

import (
	"strings"
	"testing"

	"chatd"
)

func TestParseProbe(t *testing.T) {
	pad := func(s string, n int) []byte { return []byte(s + strings.Repeat(" ", max(0, n-len(s)))) }
	for _, tt := range []struct {
		name  string
		probe []byte
		nonce string // "" means not a probe
	}{
		{"OK", pad("CHATD-DISCOVER 1 abcdEFGH1234", 64), "abcdEFGH1234"},
		{"OKShortestNonce", pad("CHATD-DISCOVER 1 abcdefgh", 64), "abcdefgh"},
		{"OKLongestNonce", pad("CHATD-DISCOVER 1 "+strings.Repeat("n", 64), 100), strings.Repeat("n", 64)},
		{"OKNoPadding", []byte("CHATD-DISCOVER 1 " + strings.Repeat("x", 47)), strings.Repeat("x", 47)},
		{"ErrTooShort", pad("CHATD-DISCOVER 1 abcdefgh", 63), ""},
		{"ErrNonceShort", pad("CHATD-DISCOVER 1 abcdefg", 64), ""},
		{"ErrNonceLong", pad("CHATD-DISCOVER 1 "+strings.Repeat("n", 65), 100), ""},
		{"ErrNonceSymbol", pad("CHATD-DISCOVER 1 abcd_efgh", 64), ""},
		{"ErrTrailing", pad("CHATD-DISCOVER 1 abcdefgh x", 64), ""},
		{"ErrTab", pad("CHATD-DISCOVER 1 abcdefgh\t", 64), ""},
		{"ErrVersion", pad("CHATD-DISCOVER 2 abcdefgh", 64), ""},
		{"ErrNoSpace", pad("CHATD-DISCOVER 1abcdefgh", 64), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nonce, ok := chatd.ParseProbe(tt.probe)
			if nonce != tt.nonce || ok != (tt.nonce != "") {
				t.Fatalf("ParseProbe = %q, %v; want %q", nonce, ok, tt.nonce)
			}
		})
	}
	probe, nonce := chatd.NewProbe()
	if got, ok := chatd.ParseProbe(probe); !ok || got != nonce || len(probe) != chatd.ProbeBytes {
		t.Fatalf("NewProbe made %q (%d bytes), parsed as %q %v", probe[:40], len(probe), got, ok)
	}
}
