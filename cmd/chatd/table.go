package main

import (
	"strings"

	"chatd"
	"io"
	"text/tabwriter"
	"time"
)

// newTable returns a writer that lines up tab-separated columns; Flush it
// when the rows are written.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// timeLayout is how the listing commands print times, in local time.
const timeLayout = "2006-01-02 15:04"

// formatTime prints t for a table, or never when it is zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(timeLayout)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cell makes stored text safe for a table cell: the daemon's cleaning rule
// removes what a terminal would act on (escape sequences among them), and a
// tab, which the rule keeps, would shift the columns.
func cell(s string) string {
	return strings.ReplaceAll(chatd.CleanText(s), "\t", " ")
}
