package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"chatd"
)

// Check proves that the server still works: the hub's lock can be taken
// (no goroutine is stuck holding it) and the database answers a trivial
// query, both before ctx ends. systemd's watchdog uses it: a daemon that
// fails it is stuck, and a restart helps.
func (s *Server) Check(ctx context.Context) error {
	hub := make(chan struct{})
	go func() {
		s.hub.generation()
		close(hub)
	}()
	select {
	case <-hub:
	case <-ctx.Done():
		return errors.New("the hub does not answer")
	}
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("the database does not answer: %w", err)
	}
	return nil
}

// health is what /healthz reports: Check, and whether the database has
// refused a write lately (writeHealth). A full disk fails it but not the
// watchdog's Check: restarting would end every session and free no space,
// while logins and live chat still work.
func (s *Server) health(ctx context.Context) error {
	if err := s.Check(ctx); err != nil {
		return err
	}
	return s.writes.check(time.Now())
}

// writeWindow is how long a database write that failed keeps the health
// check failing, unless a write succeeds after it.
const writeWindow = time.Minute

// writeHealth remembers how the daemon's database writes went, so the
// health check can report a database that answers queries but refuses
// every write (a full disk, a read-only file system). It watches the
// writes the daemon makes anyway (login attempts, last logins, chat
// history, offline mail, the online table, every second while sessions
// change) instead of probing with writes of its own: a failure counts
// for writeWindow, and a write that succeeds after it clears it at once.
// Only writes that always change a row count as successes: a delete that
// finds nothing commits even on a full disk.
type writeHealth struct {
	failed atomic.Pointer[writeFailure] // the last failed write
	okAt   atomic.Int64                 // when a write last succeeded, Unix ns
}

type writeFailure struct {
	at  time.Time
	op  string
	err error
}

// note records the outcome of the write op. Refusals a user causes (a
// domain error code) and callers that gave up say nothing of the disk.
// changes says whether success means something reached the disk.
func (w *writeHealth) note(op string, err error, changes bool) {
	switch {
	case err == nil:
		if changes {
			w.okAt.Store(time.Now().UnixNano())
		}
	case chatd.ErrorCode(err) != chatd.EInternal,
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
	default:
		w.failed.Store(&writeFailure{at: time.Now(), op: op, err: err})
	}
}

// check fails when a write failed within writeWindow before now and none
// has succeeded since.
func (w *writeHealth) check(now time.Time) error {
	f := w.failed.Load()
	if f == nil || now.Sub(f.at) > writeWindow || w.okAt.Load() > f.at.UnixNano() {
		return nil
	}
	return fmt.Errorf("the database refuses writes: %s failed %s ago: %v",
		f.op, now.Sub(f.at).Round(time.Second), f.err)
}

// watchedWrites are the store operations (timedStore's op names) whose
// outcome the health check watches: what a failure is called in its
// message, and whether a success means something reached the disk (a
// delete that finds nothing commits even on a full disk; SetOnline with
// nobody online writes nothing new).
var watchedWrites = map[string]struct {
	what    string
	changes bool
}{
	"create_user":          {"create user", true},
	"set_seen":             {"write last seen", true},
	"record_attempt":       {"record login attempt", true},
	"record_room_attempt":  {"record room password attempt", true},
	"store_offline":        {"store offline message", false},
	"delete_offline":       {"delete delivered offline mail", false},
	"append_history_batch": {"append room history", true},
	"append_private_batch": {"append private history", true},
	"set_metadata":         {"set metadata", true},
	"set_online":           {"write online sessions", false},
	"update_online":        {"write online sessions", false},
	"mark_online_seen":     {"write last seen", false},
	"set_setting":          {"save a setting", false},
	"set_read_marker":      {"move a read marker", false},
	"set_read_marker_at":   {"move a read marker", false},
	"advance_markers":      {"move read markers", false},
	"prune_attempts":       {"prune login attempts", false},
}

// Counts reports how many users are logged in and how many connections
// are open (logged in or not).
func (s *Server) Counts() (online, conns int) {
	online = s.hub.count()
	s.mu.Lock()
	conns = len(s.conns)
	s.mu.Unlock()
	return online, conns
}
