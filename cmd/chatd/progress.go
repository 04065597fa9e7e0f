package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far a long command has come: a bar with count, rate
// and time left when w is a terminal, nothing otherwise (the command then
// prints one summary line when it is done).
type progress struct {
	bar *progressbar.ProgressBar // nil when w is not a terminal
}

// newProgress starts a progress display of total steps (-1: unknown) on w.
func newProgress(w io.Writer, total int64, what string, bytes bool) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		progressbar.OptionFullWidth(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("lines"))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

// set moves the display to n steps done.
func (p *progress) set(n int64) {
	if p.bar != nil {
		p.bar.Set64(n)
	}
}

// done completes the display.
func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// clear removes the bar so that a message can be printed on a clean line.
func (p *progress) clear() {
	if p.bar != nil {
		p.bar.Clear()
	}
}
