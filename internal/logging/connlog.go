package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// ConnLog writes one line per connection event, but no more than
// connBurst at once and connRate a second after that: a connection flood
// must not become a disk flood. What it drops is counted and reported with
// the next line it lets through.
type ConnLog struct {
	log *slog.Logger // static after NewConnLog

	mu      sync.Mutex // leaf (DEVELOPING.md); guards the fields below
	tokens  float64    // lines that may be written now
	last    time.Time  // when tokens was last refilled
	dropped int        // lines dropped since the last one written
}

const (
	connRate  = 20  // lines a second, after the burst
	connBurst = 100 // lines at once
)

// NewConnLog returns a rate-limited log of connection events on log.
func NewConnLog(log *slog.Logger) *ConnLog {
	return &ConnLog{log: log, tokens: connBurst, last: time.Now()}
}

// allowLocked spends one token if there is one. c.mu is held.
func (c *ConnLog) allowLocked(now time.Time) bool {
	if dt := now.Sub(c.last).Seconds(); dt > 0 {
		c.tokens = min(c.tokens+dt*connRate, connBurst)
	}
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *ConnLog) emit(level slog.Level, msg string, args ...any) {
	c.mu.Lock()
	ok := c.allowLocked(time.Now())
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
