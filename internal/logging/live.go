// Package logging holds the daemon's two log helpers that touch no
// session: Live, a logger whose level and format a reload changes, and
// ConnLog, the rate-limited log of connection events.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"chatd"
)

// Live is a logger whose level and format follow the [log] settings in
// force: Apply (called by the daemon's reload) changes them for every
// logger derived from it, including those already handed out.
type Live struct {
	w     io.Writer
	level slog.LevelVar
	base  atomic.Pointer[slog.Handler] // text or JSON handler on w
}

// NewLive returns a live logger writing to w with the settings c, which
// Config.Validate has checked.
func NewLive(w io.Writer, c chatd.LogConfig) (*Live, error) {
	l := &Live{w: w}
	if err := l.Apply(c); err != nil {
		return nil, err
	}
	return l, nil
}

// Logger returns the logger to hand out.
func (l *Live) Logger() *slog.Logger { return slog.New(&liveHandler{l: l}) }

// Apply switches level and format; a level it cannot read is an error and
// changes nothing.
func (l *Live) Apply(c chatd.LogConfig) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: &l.level}
	var h slog.Handler
	if c.Format == "json" {
		h = slog.NewJSONHandler(l.w, opts)
	} else {
		h = slog.NewTextHandler(l.w, opts)
	}
	l.level.Set(level)
	l.base.Store(&h)
	return nil
}

// liveHandler passes records to the Live logger's handler of the moment,
// replaying the attributes and groups it was derived with.
type liveHandler struct {
	l     *Live
	steps []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h *liveHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.l.level.Level()
}

func (h *liveHandler) Handle(ctx context.Context, r slog.Record) error {
	base := *h.l.base.Load()
	for _, step := range h.steps {
		base = step(base)
	}
	return base.Handle(ctx, r)
}

func (h *liveHandler) with(step func(slog.Handler) slog.Handler) *liveHandler {
	steps := make([]func(slog.Handler) slog.Handler, len(h.steps), len(h.steps)+1)
	copy(steps, h.steps)
	return &liveHandler{l: h.l, steps: append(steps, step)}
}

func (h *liveHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(b slog.Handler) slog.Handler { return b.WithAttrs(attrs) })
}

func (h *liveHandler) WithGroup(name string) slog.Handler {
	return h.with(func(b slog.Handler) slog.Handler { return b.WithGroup(name) })
}
