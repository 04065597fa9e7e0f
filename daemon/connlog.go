package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// connLog writes one line per connection event, but no more than a bucket's
// worth: a connection flood must not become a disk flood. What it drops is
// counted and reported with the next line it lets through.
type connLog struct {
	log     *slog.Logger
	mu      sync.Mutex
	b       *bucket
	dropped int
}

func newConnLog(log *slog.Logger) *connLog {
	return &connLog{log: log, b: newBucket(20, 100, time.Now())}
}

func (c *connLog) emit(level slog.Level, msg string, args ...any) {
	c.mu.Lock()
	ok := c.b.allow(time.Now())
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

func (c *connLog) Info(msg string, args ...any) { c.emit(slog.LevelInfo, msg, args...) }
func (c *connLog) Warn(msg string, args ...any) { c.emit(slog.LevelWarn, msg, args...) }
