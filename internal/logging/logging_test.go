package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"chatd"
)

// A flood of connection events writes the burst, drops the rest, and the
// next line let through says how many were dropped.
func TestConnLogSuppresses(t *testing.T) {
	var buf bytes.Buffer
	c := NewConnLog(slog.New(slog.NewTextHandler(&buf, nil)))
	start := time.Now()
	c.now = func() time.Time { return start }
	for range connBurst + 50 {
		c.Info("connection refused", "addr", "192.0.2.1")
	}
	if n := strings.Count(buf.String(), "\n"); n != connBurst {
		t.Fatalf("%d lines for %d events, want the burst of %d", n, connBurst+50, connBurst)
	}
	c.now = func() time.Time { return start.Add(time.Second) } // a second passes
	buf.Reset()
	c.Warn("accept", "err", "too many open files")
	if !strings.Contains(buf.String(), "suppressed_before=50") || !strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("the line after the flood: %q", buf.String())
	}
}

// Apply changes the level and format of loggers handed out before it,
// with the attributes and groups they were derived with.
func TestLiveApply(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLive(&buf, chatd.LogConfig{Level: "info", Format: "text"})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Logger().With("node", "a").WithGroup("g")
	log.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug line at level info: %q", buf.String())
	}
	if err := l.Apply(chatd.LogConfig{Level: "debug", Format: "json"}); err != nil {
		t.Fatal(err)
	}
	log.Debug("shown", "k", 1)
	if got := buf.String(); !strings.Contains(got, `"node":"a"`) || !strings.Contains(got, `"g":{"k":1}`) || !strings.Contains(got, `"msg":"shown"`) {
		t.Fatalf("after Apply: %q", got)
	}
	if err := l.Apply(chatd.LogConfig{Level: "loud", Format: "text"}); err == nil {
		t.Fatal("an unknown level was applied")
	}
}
