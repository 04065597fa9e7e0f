package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"chatd/internal/ratelimit"
)

// ConnLog writes one line per connection event, but no more than
// connBurst at once and connRate a second after that: a connection flood
// must not become a disk flood. What it drops is counted and reported with
// the next line it lets through.
type ConnLog struct {
	log *slog.Logger     // static after NewConnLog
	now func() time.Time // the clock; static after NewConnLog (tests move it)

	mu      sync.Mutex        // leaf (DEVELOPING.md); guards the fields below
	rate    *ratelimit.Bucket // the lines that may be written
	dropped int               // lines dropped since the last one written
}

const (
	connRate  = 20  // lines a second, after the burst
	connBurst = 100 // lines at once
)

// NewConnLog returns a rate-limited log of connection events on log.
func NewConnLog(log *slog.Logger) *ConnLog {
	return &ConnLog{log: log, now: time.Now, rate: ratelimit.New(connRate, connBurst, time.Now())}
}

func (c *ConnLog) emit(level slog.Level, msg string, args ...any) {
	c.mu.Lock()
	ok := c.rate.Allow(c.now())
	dropped := c.dropped
	if ok {
		c.dropped = 0
	} else {
		c.dropped++
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	if dropped > 0 {
		args = append(args, "suppressed_before", dropped)
	}
	c.log.Log(context.Background(), level, msg, args...)
}

// Info logs a connection event at level info, unless the rate is spent.
func (c *ConnLog) Info(msg string, args ...any) { c.emit(slog.LevelInfo, msg, args...) }

// Warn logs a connection event at level warn, unless the rate is spent.
func (c *ConnLog) Warn(msg string, args ...any) { c.emit(slog.LevelWarn, msg, args...) }
