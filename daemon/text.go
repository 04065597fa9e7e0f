package daemon

import "strings"

// clean removes what must never reach another user's terminal: C0 controls
// except TAB (ESC among them), DEL and the C1 range. Input is valid UTF-8.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if isControl(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}
