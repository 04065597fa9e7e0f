package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
	"chatd/db"
)

// goroutineStacks returns the stacks of the goroutines running now, by id.
func goroutineStacks() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	head := regexp.MustCompile(`^goroutine (\d+) `)
	for _, g := range strings.Split(string(buf), "\n\n") {
		if m := head.FindStringSubmatch(g); m != nil {
			out[m[1]] = g
		}
	}
	return out
}

// checkNoDaemonGoroutines fails t if a goroutine that was not running at
// before is still in the daemon package's code, after a generous wait for
// those that are ending.
func checkNoDaemonGoroutines(t *testing.T, before map[string]string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		left = left[:0]
		for id, g := range goroutineStacks() {
			if _, old := before[id]; !old && strings.Contains(g, "chatd/daemon.") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the daemon still run:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusingStore is a database that fails the first call Serve makes.
type refusingStore struct{ chatd.Store }

func (refusingStore) LastActionID(context.Context) (int64, error) {
	return 0, errors.New("the database refuses")
}

// TestServerMadeButNotServedLeaksNothing: a Server that New made, and one
// whose Serve failed at start, leave no goroutine of theirs running.
func TestServerMadeButNotServedLeaksNothing(t *testing.T) {
	cfg := testConfig(t)
	store, err := db.Open(filepath.Join(t.TempDir(), "chatd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.DiscardHandler)

	before := goroutineStacks()
	daemon.New(daemon.Options{Config: cfg, Store: store, Log: log})
	checkNoDaemonGoroutines(t, before)

	srv := daemon.New(daemon.Options{Config: cfg, Store: refusingStore{store}, Log: log})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background()); err == nil || !strings.Contains(err.Error(), "refuses") {
		t.Fatalf("Serve returned %v, want the database's refusal", err)
	}
	checkNoDaemonGoroutines(t, before)
}

// TestServeLeavesNothingRunning: after a served daemon with parked and
// chatting sessions stops, none of its goroutines (history writer,
// presence timers, poller) is left.
func TestServeLeavesNothingRunning(t *testing.T) {
	before := goroutineStacks()
	ts := startServer(t)
	ts.srv.SetParkAfter(10 * time.Millisecond)
	ts.addUsers("alice", "bob")
	parked := daemon.Parked()
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	alice.send("say hello")
	bob.expect("message", "text", "hello")
	waitParked(t, parked, 2)
	ts.stop()
	checkNoDaemonGoroutines(t, before)
}
