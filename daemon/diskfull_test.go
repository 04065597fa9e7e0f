package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chatd"
)

// smallDisk mounts a tmpfs of size bytes under a temp dir and returns its
// path; the test's cleanup unmounts it. It returns "" when the mount is
// refused (it needs root, as CI has).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Logf("cannot mount a %s tmpfs on %s (%v: %s): the store's writes fail instead", size, dir, err, bytes.TrimSpace(out))
		return ""
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system says it is full and
// returns a function that frees the space again.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Error(err)
		}
	}
}

// healthz returns the status and body of /healthz.
func healthz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// With the disk full, /healthz says the database refuses writes, and a
// user with mail waiting still logs in and reads it; the mail that could
// not be deleted is delivered once in that session and waits for the next
// login, where it comes again once the disk has room. The disk is a small
// tmpfs filled up (as root); without root the store's writes fail instead,
// and the log says so.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, "4m")
	cfg := testConfig(t)
	cfg.Metrics.Listen = "127.0.0.1:0"
	var ts *testServer
	var full fullStore
	if disk != "" {
		cfg.Database.Path = filepath.Join(disk, "chatd.db")
		ts = startWith(t, cfg, &clock{})
	} else {
		// Without root: the same store, with every write of the daemon
		// failing as SQLite's do on a full disk once full is set.
		ts = startWrapped(t, cfg, &clock{}, func(s chatd.Store) chatd.Store {
			full.Store = s
			return &full
		})
	}
	ts.addUsers("alice", "bob")
	m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: "read me", Time: time.Now()}
	if err := ts.store.StoreOffline(context.Background(), "bob", m, 0); err != nil {
		t.Fatal(err)
	}
	maddr := ts.srv.MetricsAddr().String()
	if code, body := healthz(t, maddr); code != http.StatusOK {
		t.Fatalf("/healthz before the disk is full: %d %s", code, body)
	}

	free := func() { full.on.Store(false) }
	if disk != "" {
		free = fillDisk(t, disk)
	} else {
		full.on.Store(true)
	}
	// The writes a login makes (the attempt, the last login, the
	// delivered mail's deletion) all fail now.
	bob := dial(t, ts.addr)
	bob.name = "bob"
	bob.send("bob")
	bob.expectNext("prompt", "field", "password")
	bob.send("password1")
	if w := bob.expect("welcome", "user", "bob"); w["offline"] != float64(1) {
		t.Fatalf("welcome says %v offline messages, want 1", w["offline"])
	}
	bob.expect("message", "kind", "offline", "text", "read me")
	// A private message to bob arrives after the mail, and the mail does
	// not come a second time in this session.
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("msg bob hello")
	if ev := bob.expect("message"); ev.str("kind") != "private" || ev.str("text") != "hello" {
		t.Fatalf("after the mail bob got %v, want alice's private hello", ev)
	}

	code, body := healthz(t, maddr)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "write") {
		t.Fatalf("/healthz with the disk full: %d %q, want 503 naming a failed write", code, body)
	}

	free()
	bob.send("quit")
	bob.closed()
	bob = login(t, ts.addr, "bob", "password1")
	bob.expect("message", "kind", "offline", "text", "read me")
	// Writes work again: health recovers once one has succeeded.
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, body := healthz(t, maddr)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz after the disk has room again: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fullStore is a store whose writes fail, as on a full disk, while on is
// set; for TestDiskFull where no tmpfs can be mounted.
type fullStore struct {
	chatd.Store
	on atomic.Bool
}

var errFull = errors.New("database or disk is full (13)")

func (s *fullStore) RecordAttempt(ctx context.Context, name, addr string, at time.Time, ok bool) error {
	if s.on.Load() {
		return errFull
	}
	return s.Store.RecordAttempt(ctx, name, addr, at, ok)
}

func (s *fullStore) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	if s.on.Load() {
		return errFull
	}
	return s.Store.SetSeen(ctx, seen)
}

func (s *fullStore) DeleteOffline(ctx context.Context, ids []int64) error {
	if s.on.Load() {
		return errFull
	}
	return s.Store.DeleteOffline(ctx, ids)
}

func (s *fullStore) SetOnline(ctx context.Context, sessions []chatd.OnlineSession) error {
	if s.on.Load() {
		return errFull
	}
	return s.Store.SetOnline(ctx, sessions)
}
