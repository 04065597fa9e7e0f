package daemon_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
	"chatd/db"
)

// slowSeen is a store whose SetSeen takes a while, as a commit on a busy
// disk does, and counts its calls and the logins they carried.
type slowSeen struct {
	chatd.Store
	calls, logins atomic.Int64
}

func (s *slowSeen) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	s.calls.Add(1)
	time.Sleep(100 * time.Millisecond)
	err := s.Store.SetSeen(ctx, seen)
	for _, e := range seen { // counted once stored
		if !e.LastLogin.IsZero() {
			s.logins.Add(1)
		}
	}
	return err
}

// TestSeenGroupCommit: logins that arrive while one login's times are
// being written are written together by the next write, not one commit
// each, and every login's times are stored.
func TestSeenGroupCommit(t *testing.T) {
	const n = 40
	cfg := testConfig(t)
	cfg.Server.MaxConnections = n + 10
	cfg.Server.MaxConnectionsPerIP = n + 10
	slow := &slowSeen{}
	ts := startWrapped(t, cfg, &clock{}, func(s chatd.Store) chatd.Store {
		slow.Store = s
		return slow
	})
	names := rtUsers(t, ts, "early", n)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			if res, err := rtLoginResult(ts.addr, name, "password1"); err != nil || res != "welcome" {
				t.Errorf("login of %s: %q, %v", name, res, err)
			}
		})
	}
	wg.Wait()
	// The last batch may still be on its way to the database. (Each
	// client leaves after its welcome, so last_seen may be later.)
	deadline := time.Now().Add(30 * time.Second)
	for slow.logins.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := slow.logins.Load(); got != n {
		t.Fatalf("%d logins recorded, want %d", got, n)
	}
	if calls := slow.calls.Load(); calls >= n {
		t.Errorf("%d logins took %d writes: not gathered", n, calls)
	}
	for _, name := range names {
		u, err := ts.store.UserByName(t.Context(), name)
		if err != nil || u.LastLogin.IsZero() || u.LastLogin.Before(u.Created) || u.LastSeen.Before(u.LastLogin) {
			t.Errorf("%s: %+v, %v; want its login time", name, u, err)
		}
	}
}

// heldSeen is a store whose SetSeen of a login's times waits until the
// test lets it go, as a commit stuck behind a busy disk would.
type heldSeen struct {
	chatd.Store
	release chan struct{}
	held    atomic.Int64
}

func (s *heldSeen) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	for _, e := range seen {
		if !e.LastLogin.IsZero() {
			s.held.Add(1)
			<-s.release
			break
		}
	}
	return s.Store.SetSeen(ctx, seen)
}

// TestLoginDoesNotWaitForSeen: a login's times are written behind its
// back. The user chats while the write of their login time is still held
// up, and the time is stored once it goes through; and a login whose
// write never got the chance before the server stops (handed over, or
// the server stopped at once) is written by the stop.
func TestLoginDoesNotWaitForSeen(t *testing.T) {
	cfg := testConfig(t)
	held := &heldSeen{release: make(chan struct{})}
	ts := startWrapped(t, cfg, &clock{}, func(s chatd.Store) chatd.Store {
		held.Store = s
		return held
	})
	ts.addUsers("alice")
	c := login(t, ts.addr, "alice", "password1")
	deadline := time.Now().Add(10 * time.Second)
	for held.held.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if held.held.Load() == 0 {
		t.Fatal("the login's times never reached the store")
	}
	// The write is held: the session answers all the same.
	c.send("/who")
	c.expect("ok", "cmd", "who")
	close(held.release)
	c.send("/quit")
	ts.stop()

	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.UserByName(t.Context(), "alice")
	if err != nil || u.LastLogin.IsZero() {
		t.Fatalf("alice after the stop: %+v, %v; want her login time", u, err)
	}
}
