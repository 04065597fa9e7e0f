package daemon_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
)

// onlinePass is one pass of the online-table writer.
type onlinePass struct {
	refresh bool
	rows    int
}

// watchOnlineWrites reports every pass of ts's online-table writer.
func watchOnlineWrites(t *testing.T, ts *testServer) <-chan onlinePass {
	t.Helper()
	passes := make(chan onlinePass, 1000)
	stop := daemon.OnOnlineSynced(ts.srv, func(refresh bool, rows int) {
		select {
		case passes <- onlinePass{refresh, rows}:
		default:
		}
	})
	t.Cleanup(stop)
	return passes
}

// nextRefresh moves ts's clock past the online table's refresh and
// returns the passes up to and including the refresh that follows.
func nextRefresh(t *testing.T, ts *testServer, passes <-chan onlinePass) []onlinePass {
	t.Helper()
	for len(passes) > 0 {
		<-passes
	}
	ts.clock.advance(daemon.OnlineRefresh + time.Second)
	var got []onlinePass
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p := <-passes:
			got = append(got, p)
			if p.refresh {
				return got
			}
		case <-timeout:
			t.Fatalf("no refresh of the online table within 10 s (passes: %v)", got)
		}
	}
}

// onlineRooms is the online table as user -> room ("," between the rooms
// of a user's several sessions).
func onlineRooms(t *testing.T, ts *testServer) map[string]string {
	t.Helper()
	rows, err := ts.store.Online(t.Context())
	if err != nil {
		t.Fatalf("Online: %v", err)
	}
	out := map[string]string{}
	for _, r := range rows {
		if out[r.User] != "" {
			out[r.User] += ","
		}
		out[r.User] += r.Room
	}
	return out
}

func waitOnline(t *testing.T, ts *testServer, want map[string]string) {
	t.Helper()
	var got map[string]string
	waitFor(t, "the online table", func() bool {
		got = onlineRooms(t, ts)
		return maps.Equal(got, want)
	})
}

// The online table follows logins, logouts and room moves with writes
// of what moved: at rest (nobody moved, nobody active) a refresh writes
// no row, and an active user's refresh writes that user's row alone,
// with the new idle time.
func TestOnlineTableWritesWhatMoved(t *testing.T) {
	ts := startServer(t)
	passes := watchOnlineWrites(t, ts)
	a := register(t, ts.addr, "alice", "password1")
	b := register(t, ts.addr, "bob", "password2")
	c := register(t, ts.addr, "carol", "password3")
	waitOnline(t, ts, map[string]string{"alice": "lobby", "bob": "lobby", "carol": "lobby"})

	a.send("create den")
	a.expect("ok", "cmd", "create")
	b.send("join den")
	b.expect("ok", "cmd", "join")
	c.send("logout")
	c.expect("bye")
	c.closed()
	waitOnline(t, ts, map[string]string{"alice": "den", "bob": "den"})
	b.send("leave den")
	b.expect("ok", "cmd", "leave")
	waitOnline(t, ts, map[string]string{"alice": "den", "bob": "lobby"})
	c = login(t, ts.addr, "carol", "password3")
	waitOnline(t, ts, map[string]string{"alice": "den", "bob": "lobby", "carol": "lobby"})

	// The first refresh writes the idle times of those who did something
	// since the server started (alice and bob moved); after it, at rest,
	// no pass writes anything, the next refresh included.
	nextRefresh(t, ts, passes)
	for _, p := range nextRefresh(t, ts, passes) {
		if p.rows != 0 {
			t.Fatalf("a pass at rest wrote %d rows", p.rows)
		}
	}

	// bob says something: the next refresh writes his row only.
	before := ts.clock.now()
	b.send("hello")
	b.expect("message", "from", "bob")
	after := ts.clock.now()
	got := nextRefresh(t, ts, passes)
	if rows := got[len(got)-1].rows; rows != 1 {
		t.Fatalf("the refresh after bob's line wrote %d rows, want 1 (passes %v)", rows, got)
	}
	rows, err := ts.store.Online(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		active := !r.LastActive.Before(before.Truncate(time.Millisecond)) && !r.LastActive.After(after)
		if active != (r.User == "bob") {
			t.Errorf("%s's last active %v (bob spoke between %v and %v)", r.User, r.LastActive, before, after)
		}
	}
	waitOnline(t, ts, map[string]string{"alice": "den", "bob": "lobby", "carol": "lobby"})
	_ = c
}

// seenCounter counts the users whose times each SetSeen call writes.
type seenCounter struct {
	chatd.Store
	mu    sync.Mutex
	names []string
}

func (s *seenCounter) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	s.mu.Lock()
	for _, e := range seen {
		s.names = append(s.names, e.Name)
	}
	s.mu.Unlock()
	return s.Store.SetSeen(ctx, seen)
}

func (s *seenCounter) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.names
	s.names = nil
	slices.Sort(out)
	return out
}

// Every SeenEvery the users online get their last-seen time, idle or
// not (what a crash may lose), and only those active since the last
// write get a row of their own for their last-active time.
func TestLastSeenWrittenForEveryoneActiveOnly(t *testing.T) {
	counter := &seenCounter{}
	cfg := testConfig(t)
	ts := startWrapped(t, cfg, &clock{}, func(s chatd.Store) chatd.Store { counter.Store = s; return counter })
	a := register(t, ts.addr, "alice", "password1")
	b := register(t, ts.addr, "bob", "password2")
	waitOnline(t, ts, map[string]string{"alice": "lobby", "bob": "lobby"})
	_ = a

	seenAt := func(at time.Time) {
		t.Helper()
		for _, name := range []string{"alice", "bob"} {
			waitFor(t, "last seen of "+name, func() bool {
				u, err := ts.store.UserByName(t.Context(), name)
				return err == nil && !u.LastSeen.Before(at.Truncate(time.Millisecond))
			})
		}
	}
	counter.take()
	ts.clock.advance(daemon.SeenEvery + time.Second)
	seenAt(ts.clock.now())
	if got := counter.take(); len(got) != 0 {
		t.Errorf("at rest, last-active rows written for %v, want none", got)
	}

	before := ts.clock.now()
	b.send("hello")
	b.expect("message", "from", "bob")
	ts.clock.advance(daemon.SeenEvery + time.Second)
	seenAt(ts.clock.now())
	if got := counter.take(); strings.Join(got, " ") != "bob" {
		t.Errorf("after bob's line, last-active rows written for %v, want bob alone", got)
	}
	u, err := ts.store.UserByName(t.Context(), "bob")
	if err != nil || u.LastActive.Before(before.Truncate(time.Millisecond)) {
		t.Errorf("bob = %+v, %v; want last active at or after %v", u, err, before)
	}
}
