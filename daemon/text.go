package daemon

import (
	"strings"

	"chatd"
)

// clean removes what must never reach a terminal; see chatd.CleanText.
func clean(s string) string { return chatd.CleanText(s) }

// cleanLines is clean for a text of several lines: the line ends stay.
func cleanLines(s string) string {
	if !strings.Contains(s, "\n") {
		return chatd.CleanText(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = chatd.CleanText(l)
	}
	return strings.Join(lines, "\n")
}
