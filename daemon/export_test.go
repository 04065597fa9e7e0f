package daemon

import (
	"context"
	"sync"
	"time"
)

// AddPanicCommand registers a command named "__panic" that panics, so the
// end-to-end tests can check that a panic ends only its own session. It
// exists only in test builds.
func AddPanicCommand() {
	if _, ok := byName["__panic"]; ok {
		return
	}
	c := &command{name: "__panic", summary: "test only", run: func(context.Context, *session, string) error {
		panic("deliberate test panic")
	}}
	byName[c.name] = c
}

// HoldHub takes the hub's lock as a stuck goroutine would, until release.
func (s *Server) HoldHub() (release func()) {
	s.hub.mu.Lock()
	return s.hub.mu.Unlock
}

// SetParkAfter changes how long a logged-in client is quiet before its
// session parks (0: never).
func (s *Server) SetParkAfter(d time.Duration) { s.parkAfter.Store(int64(d)) }

// Parked is how many connections are parked now, in every server of the
// process.
func Parked() int { return int(parkedConns.Load()) }

// HoldPrivateDelivery makes every sender of a private message wait, after
// the live delivery and before the message is queued for the history
// writer, until release is called.
func HoldPrivateDelivery() (release func()) {
	held := make(chan struct{})
	h := func() { <-held }
	privateDelivered.Store(&h)
	var once sync.Once
	return func() { once.Do(func() { privateDelivered.Store(nil); close(held) }) }
}

// RestartUnmovable ends every session that cannot move to a new process
// with bye "restart", as an upgrade does once the new process is ready;
// it returns how many it ended.
func (s *Server) RestartUnmovable() int { return s.restartUnmovable() }

// WaitUnmovable waits up to d until no session that cannot move is left,
// and reports whether none is.
func (s *Server) WaitUnmovable(d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.waitUnmovable(ctx)
}

// OnOnlineSynced calls f after each successful pass of s's online-table
// writer (nothing written included), with whether it refreshed idle times
// and how many rows it deleted or wrote, until stop.
func OnOnlineSynced(s *Server, f func(refresh bool, rows int)) (stop func()) {
	h := func(srv *Server, refresh bool, rows int) {
		if srv == s {
			f(refresh, rows)
		}
	}
	onlineSynced.Store(&h)
	return func() { onlineSynced.CompareAndSwap(&h, nil) }
}

// OnlineRefresh and SeenEvery are how often (server clock) the online
// table's idle times and the users' last-seen times are written.
const (
	OnlineRefresh = onlineRefresh
	SeenEvery     = seenEvery
)
