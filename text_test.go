package chatd

import "testing"

func TestClean(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"Plain", "hello world", "hello world"},
		{"Empty", "", ""},
		{"ESC", "\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"NUL", "a\x00b", "ab"},
		{"BEL", "ding\x07", "ding"},
		{"BS", "ab\bc", "abc"},
		{"CRLF", "a\r\nb", "ab"},
		{"DEL", "a\x7fb", "ab"},
		{"C1NEL", "a\u0085b", "ab"},
		{"C1CSI", "a\u009b31mb", "a31mb"},
		{"C1Range", "\u0080\u009f", ""},
		{"TabKept", "a\tb", "a\tb"},
		{"NonASCIIKept", "héllo wörld ✓ 日本 Ωμέγα", "héllo wörld ✓ 日本 Ωμέγα"},
		{"NBSPKept", "a\u00a0b", "a\u00a0b"}, // U+00A0 is just past C1
		{"InvalidUTF8", "a\xffb", "a\uFFFDb"},
		{"AllControls", "\x00\x01\x1b\x1f\x7f", ""},
		{"Separators", "a\u2028b\u2029c", "abc"},
		{"Bidi", "\u202ax\u202b\u202c\u202d\u202ey\u2066\u2067\u2068\u2069", "xy"},
		{"RTLKept", "שלום עולם", "שלום עולם"},
		{"ZWJKept", "👩\u200d💻", "👩\u200d💻"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if out := CleanText(tc.in); out != tc.want {
				t.Fatalf("CleanText(%q) = %q, want %q", tc.in, out, tc.want)
			}
		})
	}
}
