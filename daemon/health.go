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

// watchedStore is the store with its writes reported to a writeHealth.
type watchedStore struct {
	chatd.Store
	w *writeHealth
}

func (s watchedStore) CreateUser(ctx context.Context, name, passHash string, admin bool) (*chatd.User, error) {
	u, err := s.Store.CreateUser(ctx, name, passHash, admin)
	s.w.note("create user", err, true)
	return u, err
}

func (s watchedStore) RecordLogin(ctx context.Context, name string, at time.Time) error {
	err := s.Store.RecordLogin(ctx, name, at)
	s.w.note("record login", err, true)
	return err
}

func (s watchedStore) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	err := s.Store.SetSeen(ctx, seen)
	s.w.note("write last seen", err, len(seen) > 0)
	return err
}

func (s watchedStore) RecordAttempt(ctx context.Context, name, addr string, at time.Time, success bool) error {
	err := s.Store.RecordAttempt(ctx, name, addr, at, success)
	s.w.note("record login attempt", err, true)
	return err
}

func (s watchedStore) RecordRoomAttempt(ctx context.Context, room, user string, at time.Time, success bool) error {
	err := s.Store.RecordRoomAttempt(ctx, room, user, at, success)
	s.w.note("record room password attempt", err, true)
	return err
}

func (s watchedStore) StoreOffline(ctx context.Context, to string, m chatd.OfflineMessage, limit int) error {
	err := s.Store.StoreOffline(ctx, to, m, limit)
	s.w.note("store offline message", err, true)
	return err
}

func (s watchedStore) StoreOfflineAll(ctx context.Context, to []string, m chatd.OfflineMessage, limit int) ([]error, error) {
	errs, err := s.Store.StoreOfflineAll(ctx, to, m, limit)
	s.w.note("store offline message", err, false)
	return errs, err
}

func (s watchedStore) DeleteOffline(ctx context.Context, ids []int64) error {
	err := s.Store.DeleteOffline(ctx, ids)
	s.w.note("delete delivered offline mail", err, false)
	return err
}

func (s watchedStore) AppendHistory(ctx context.Context, room string, l chatd.HistoryLine, keep int) error {
	err := s.Store.AppendHistory(ctx, room, l, keep)
	s.w.note("append room history", err, true)
	return err
}

func (s watchedStore) AppendHistoryBatch(ctx context.Context, lines []chatd.RoomLine, keep int) error {
	err := s.Store.AppendHistoryBatch(ctx, lines, keep)
	s.w.note("append room history", err, len(lines) > 0)
	return err
}

func (s watchedStore) SetOnline(ctx context.Context, sessions []chatd.OnlineSession) error {
	err := s.Store.SetOnline(ctx, sessions)
	s.w.note("write online sessions", err, len(sessions) > 0)
	return err
}

func (s watchedStore) SetSetting(ctx context.Context, user, key, value string) error {
	err := s.Store.SetSetting(ctx, user, key, value)
	s.w.note("save a setting", err, false)
	return err
}

func (s watchedStore) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.Store.PruneAttempts(ctx, before)
	s.w.note("prune login attempts", err, false)
	return n, err
}

// Counts reports how many users are logged in and how many connections
// are open (logged in or not).
func (s *Server) Counts() (online, conns int) {
	online = len(s.hub.sessions())
	s.mu.Lock()
	conns = len(s.conns)
	s.mu.Unlock()
	return online, conns
}
