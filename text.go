package chatd

import "strings"

// CleanText removes what must never reach a terminal: C0 controls except TAB
// (ESC among them), DEL and the C1 range. The daemon passes relayed text
// through it and the admin commands pass stored text through it before
// printing, so one rule decides what a terminal may be sent. Bytes that are
// not valid UTF-8 come out as U+FFFD.
func CleanText(s string) string {
	ok := true
	for _, r := range s {
		if IsControl(r) || r == '\uFFFD' {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// IsControl reports whether CleanText removes r.
func IsControl(r rune) bool {
	return (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}
