package daemon

import (
	"os"
	"sync"
	"time"
)

// readDeadline is the read deadline of a connection whose lines come from
// a pump goroutine over a channel (WebSocket, SSH): SetReadDeadline may
// move it while ReadLine waits, and the wait starts again with the new one.
type readDeadline struct {
	mu      sync.Mutex // leaf (DEVELOPING.md "Locks"); guards at
	at      time.Time
	changed chan struct{} // capacity 1: a new deadline while a read waits
}

// set moves the deadline (zero: none) and wakes a read that waits.
func (d *readDeadline) set(t time.Time) {
	d.mu.Lock()
	d.at = t
	d.mu.Unlock()
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// wait runs round until it answers, or returns os.ErrDeadlineExceeded once
// the deadline has passed. round gets a channel that fires at the deadline
// (nil without one) and reports again when it saw d.changed instead of an
// answer.
func (d *readDeadline) wait(round func(expired <-chan time.Time) (line string, err error, again bool)) (string, error) {
	for {
		d.mu.Lock()
		at := d.at
		d.mu.Unlock()
		var expired <-chan time.Time
		var t *time.Timer
		if !at.IsZero() {
			left := time.Until(at)
			if left <= 0 {
				return "", os.ErrDeadlineExceeded
			}
			t = time.NewTimer(left)
			expired = t.C
		}
		line, err, again := round(expired)
		if t != nil {
			t.Stop()
		}
		if !again {
			return line, err
		}
	}
}
