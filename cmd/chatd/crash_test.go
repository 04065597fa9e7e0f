package main

// A crash test: the real binary is killed with SIGKILL in the middle of a
// stream of private messages to an offline user, then restarted. Every
// message whose "stored" acknowledgement reached the sender must be
// delivered after the restart, in order. Helpers are prefixed "crash".

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashEnv is one daemon's directory: config, database, binary.
type crashEnv struct {
	t      *testing.T
	bin    string
	dir    string
	config string
	addr   string
}

// loadConfigTail ends the configs of the tests that drive a built
// daemon hard (the crash and cluster tests): cheap hashes, and no mailbox
// or rate limit in the way of their load.
const loadConfigTail = `
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1

[messages]
offline_limit = 100000

[rate]
lines_per_second = 100000.0
burst = 100000

[log]
level = "warn"
`

// writeConfig points the config at a fresh port; the database stays.
func (e *crashEnv) writeConfig() {
	e.t.Helper()
	e.addr = freeAddr(e.t)
	body := fmt.Sprintf(`
[server]
listen = %q

[database]
path = %q
`, e.addr, filepath.Join(e.dir, "chatd.db")) + loadConfigTail
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *crashEnv) useradd(name, password string) {
	e.t.Helper()
	if out, err := exec.Command(e.bin, "init", "-config", e.config).CombinedOutput(); err != nil {
		e.t.Fatalf("init: %v\n%s", err, out)
	}
	cmd := exec.Command(e.bin, "useradd", "-config", e.config, name)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
}

// crashLog collects a daemon's standard error.
type crashLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *crashLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *crashLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// serve starts `chatd serve` and waits until it accepts connections.
func (e *crashEnv) serve() (*exec.Cmd, *crashLog) {
	e.t.Helper()
	e.writeConfig()
	log := &crashLog{}
	cmd := exec.Command(e.bin, "serve", "-config", e.config)
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", e.addr, time.Second)
		if err == nil {
			conn.Close()
			return cmd, log
		}
		select {
		case err := <-exited:
			e.t.Fatalf("chatd serve exited: %v\n%s", err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("chatd serve not listening on %s: %v\n%s", e.addr, err, log)
		}
	}
}

// crashConn is a JSON-mode connection.
type crashConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func crashLogin(t *testing.T, addr, name, password string) (*crashConn, map[string]any) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &crashConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.write("mode json\n" + name + "\n" + password + "\n")
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("%s logging in: %v", name, err)
		}
		switch ev["type"] {
		case "welcome":
			return c, ev
		case "error":
			t.Fatalf("%s logging in: %v", name, ev)
		}
	}
}

func (c *crashConn) write(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next JSON object, skipping text-mode lines sent before
// the mode switch took effect.
func (c *crashConn) next() (map[string]any, error) {
	for {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			return nil, fmt.Errorf("bad JSON %q: %v", line, err)
		}
		return ev, nil
	}
}

func TestCrashKeepsAcknowledgedOfflineMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	dir := t.TempDir()
	e := &crashEnv{t: t, bin: binary, dir: dir, config: filepath.Join(dir, "chatd.toml")}
	e.writeConfig()
	e.useradd("alice", "password1")
	e.useradd("bob", "password2")

	daemon, log := e.serve()
	alice, _ := crashLogin(t, e.addr, "alice", "password1")

	// All 200 at once; SIGKILL once half of them are acknowledged, so that
	// the kill lands while the daemon is still storing.
	const total, killAfter = 200, 100
	var b strings.Builder
	for i := range total {
		fmt.Fprintf(&b, "send bob msg-%03d\n", i)
	}
	alice.write(b.String())
	acked := 0
	killed := false
	for {
		ev, err := alice.next()
		if err != nil {
			if !killed {
				t.Fatalf("after %d acknowledgements: %v\n%s", acked, err, log)
			}
			break // the daemon is gone; what was read counts
		}
		if ev["type"] != "delivery" {
			continue
		}
		if ev["to"] != "bob" || ev["status"] != "stored" {
			t.Fatalf("delivery %d: %v", acked, ev)
		}
		acked++
		if acked == killAfter && !killed {
			if err := daemon.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
		if acked == total {
			break
		}
	}
	t.Logf("%d of %d messages acknowledged before SIGKILL", acked, total)
	if strings.Contains(log.String(), "panic") {
		t.Fatalf("daemon log:\n%s", log)
	}

	// Restart on the same database (new port); bob collects his mail.
	_, log = e.serve()
	bob, welcome := crashLogin(t, e.addr, "bob", "password2")
	offline, _ := welcome["offline"].(float64)
	if int(offline) < acked || int(offline) > total {
		t.Fatalf("welcome says %v offline messages; %d were acknowledged", welcome["offline"], acked)
	}
	for i := range int(offline) {
		ev, err := bob.next()
		if err != nil {
			t.Fatalf("offline message %d: %v\n%s", i, err, log)
		}
		// Every stored message, acknowledged or not yet, is there once and
		// in the order sent: no gap, no duplicate.
		if ev["type"] != "message" || ev["kind"] != "offline" || ev["from"] != "alice" ||
			ev["text"] != fmt.Sprintf("msg-%03d", i) {
			t.Fatalf("offline message %d: %v", i, ev)
		}
	}
	t.Logf("%d messages delivered after the restart", int(offline))
}
