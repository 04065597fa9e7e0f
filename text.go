package chatd

import "strings"

// CleanText removes what must never reach a terminal: C0 controls except TAB
// (ESC among them), DEL, the C1 range, the line and paragraph separators
// U+2028 and U+2029, and the bidi embedding, override and isolate controls
// U+202A-U+202E and U+2066-U+2069, which can make a line show something
// other than what it says (ordinary right-to-left text needs none of them). The daemon passes relayed text
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
	switch {
	case r < 0x20:
		return r != '\t'
	case r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi controls
		return true
	}
	return false
}
