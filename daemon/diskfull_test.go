package daemon_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd"
)

// smallDisk mounts a tmpfs of size bytes under a temp dir and returns its
// path; the test's cleanup unmounts it. It fails the test when the mount is
// refused (the test needs root, as CI has).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a %s tmpfs on %s (this test needs root): %v: %s", size, dir, err, out)
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
// login, where it comes again once the disk has room.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, "4m")
	cfg := testConfig(t)
	cfg.Database.Path = filepath.Join(disk, "chatd.db")
	cfg.Metrics.Listen = "127.0.0.1:0"
	ts := startWith(t, cfg, &clock{})
	ts.addUsers("alice", "bob")
	m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: "read me", Time: time.Now()}
	if err := ts.store.StoreOffline(context.Background(), "bob", m, 0); err != nil {
		t.Fatal(err)
	}
	maddr := ts.srv.MetricsAddr().String()
	if code, body := healthz(t, maddr); code != http.StatusOK {
		t.Fatalf("/healthz before the disk is full: %d %s", code, body)
	}

	free := fillDisk(t, disk)
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
