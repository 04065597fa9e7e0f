package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket is a fake systemd: a unixgram socket in the test's
// directory that collects what the daemon sends to NOTIFY_SOCKET.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifySocket{path: path, msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// next returns the next message that is not WATCHDOG=1 (counted in
// *watchdogs) and, unless status, not STATUS=.
func (n *notifySocket) next(t *testing.T, watchdogs *int, status bool) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatal("notify socket closed")
			}
			switch {
			case m == "WATCHDOG=1":
				*watchdogs++
			case strings.HasPrefix(m, "STATUS=") && !status:
			default:
				return m
			}
		case <-timeout:
			t.Fatal("no sd_notify message within 10s")
		}
	}
}

// startDaemon starts cmd (chatd serve) and waits until addr accepts.
func startDaemon(t *testing.T, cmd *exec.Cmd, addr string) *liveDaemon {
	t.Helper()
	d := &liveDaemon{t: t, cmd: cmd, addr: addr, exit: make(chan error, 1), logs: &strings.Builder{}}
	cmd.Stderr = d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exit <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// banner reads the first line a new plain connection gets.
func banner(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

// servedCert returns the certificate a new TLS client is shown.
func servedCert(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

func certDER(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	return b.Bytes
}

// TestServeUnderSystemd runs the built binary as systemd would with
// Type=notify and WatchdogSec: READY once it serves, STATUS as users come,
// WATCHDOG pings, RELOADING and READY around each SIGHUP, STOPPING at the
// end. The reloads change the banner and the rate limit for new and
// existing sessions and replace the TLS certificate for the next client;
// a broken file changes nothing; no connection drops.
func TestServeUnderSystemd(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	cert, key := c.selfSignedCert()
	addr, tlsAddr := freeAddr(t), freeAddr(t)
	config := func(banner string, rate float64, burst int, level, dbPath string) string {
		return fmt.Sprintf(`
[server]
listen = %q
tls_listen = %q
tls_cert = %q
tls_key = %q
banner = %q
[database]
path = %q
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1
[rate]
lines_per_second = %v
burst = %d
[log]
level = %q
`, addr, tlsAddr, cert, key, banner, dbPath, rate, burst, level)
	}
	c.writeFile("chatd.toml", config("Welcome to the first chatd.", 1000, 1000, "info", c.dbPath))
	sock := newNotifySocket(t)
	cmd := exec.Command(binary, "serve", "-config", c.config)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=400000")
	d := startDaemon(t, cmd, addr)

	watchdogs := 0
	if m := sock.next(t, &watchdogs, false); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1", m)
	}
	alice := d.login("alice", "password-a")
	for {
		if m := sock.next(t, &watchdogs, true); m == "STATUS=1 users online, 1 connections" {
			break
		} else if !strings.HasPrefix(m, "STATUS=") {
			t.Fatalf("got %q while waiting for STATUS", m)
		}
	}
	for watchdogs == 0 {
		select {
		case m := <-sock.msgs:
			if m == "WATCHDOG=1" {
				watchdogs++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no WATCHDOG=1 within 10s")
		}
	}
	oldCert := servedCert(t, tlsAddr)
	if !equalBytes(oldCert, certDER(t, cert)) {
		t.Fatal("TLS serves another certificate than the file's")
	}

	// Reload 1: a new banner, a tight rate, a new certificate, fewer logs,
	// and a database path that only a restart can change.
	c.writeFile("chatd.toml", config("Welcome to the reloaded chatd.", 0.01, 2, "warn", filepath.Join(c.dir, ".", "other.db")))
	os.Rename(cert, cert+".old")
	os.Rename(key, key+".old")
	newCert, _ := c.selfSignedCert()
	d.cmd.Process.Signal(syscall.SIGHUP)
	if m := sock.next(t, &watchdogs, false); m != "RELOADING=1" {
		t.Fatalf("got %q, want RELOADING=1", m)
	}
	if m := sock.next(t, &watchdogs, false); m != "READY=1" {
		t.Fatalf("got %q, want READY=1 after the reload", m)
	}
	if b := banner(t, addr); b != "Welcome to the reloaded chatd." {
		t.Fatalf("new connection's banner %q", b)
	}
	if got := servedCert(t, tlsAddr); !equalBytes(got, certDER(t, newCert)) || equalBytes(got, oldCert) {
		t.Fatal("the next TLS client did not get the replaced certificate")
	}
	// The existing session follows the new rate: a burst of 2.
	alice.send("time", "time", "time", "time")
	okN, limited := 0, 0
	for okN+limited < 4 {
		ev := alice.next()
		switch {
		case ev["type"] == "ok" && ev["cmd"] == "time":
			okN++
		case ev["type"] == "error" && ev["code"] == "rate_limited":
			limited++
		}
	}
	if okN != 2 || limited != 2 {
		t.Fatalf("existing session after the reload: %d ok, %d rate_limited; want 2 and 2", okN, limited)
	}
	bob := d.login("bob", "password-b") // login lines come from a burst of at least 10
	bob.send("time", "time", "time")
	okN, limited = 0, 0
	for okN+limited < 3 {
		ev := bob.next()
		switch {
		case ev["type"] == "ok" && ev["cmd"] == "time":
			okN++
		case ev["type"] == "error" && ev["code"] == "rate_limited":
			limited++
		}
	}
	if okN != 2 || limited != 1 {
		t.Fatalf("new session after the reload: %d ok, %d rate_limited; want 2 and 1", okN, limited)
	}

	// Reload 2: a broken file changes nothing and says why.
	c.writeFile("chatd.toml", config("Broken banner", 10, 0, "loud", c.dbPath))
	d.cmd.Process.Signal(syscall.SIGHUP)
	if m := sock.next(t, &watchdogs, false); m != "RELOADING=1" {
		t.Fatalf("got %q, want RELOADING=1", m)
	}
	if m := sock.next(t, &watchdogs, false); m != "READY=1" {
		t.Fatalf("got %q, want READY=1 after the failed reload", m)
	}
	if b := banner(t, addr); b != "Welcome to the reloaded chatd." {
		t.Fatalf("a broken file changed the banner to %q", b)
	}
	if got := servedCert(t, tlsAddr); !equalBytes(got, certDER(t, newCert)) {
		t.Fatal("a broken file changed the certificate")
	}

	// Nobody was dropped: alice, connected before both reloads, and bob
	// get the shutdown's bye as their first.
	d.terminate()
	if m := sock.next(t, &watchdogs, false); m != "STOPPING=1" {
		t.Fatalf("got %q, want STOPPING=1", m)
	}
	for _, cl := range []*jsonClient{alice, bob} {
		if bye := cl.waitFor(5*time.Second, "bye", "", ""); bye["reason"] != "shutdown" {
			t.Fatalf("a session ended with %v before the shutdown", bye)
		}
	}
	logs := d.logs.String()
	if linesWith(logs, "reload failed", "rate.burst") != 1 || linesWith(logs, "reload failed", "log.level") != 1 {
		t.Errorf("the failed reload is not logged with its keys:\n%s", logs)
	}
	if linesWith(logs, "changed, applies after restart", "key=database.path") != 1 {
		t.Errorf("the restart-only change is not logged:\n%s", logs)
	}
	// log.level = "warn" applied live: alice's login was logged, bob's not.
	if linesWith(logs, "msg=login", "user=alice") != 1 || linesWith(logs, "msg=login", "user=bob") != 0 {
		t.Errorf("the log level did not change live:\n%s", logs)
	}
}

// next reads the next JSON event.
func (c *jsonClient) next() map[string]any {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading the next event: %v", err)
		}
		if i := strings.IndexByte(line, '{'); i >= 0 {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line[i:]), &ev); err != nil {
				c.t.Fatalf("bad JSON %q", line)
			}
			return ev
		}
	}
}

func equalBytes(a, b []byte) bool { return string(a) == string(b) }

// listenerFile makes a loopback listener and returns its address and the
// file to pass to the child; the test's copy is closed.
func listenerFile(t *testing.T) (string, *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Cleanup(func() { f.Close() })
	return addr, f
}

// activated runs the built binary as systemd's socket activation would:
// the sockets as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and
// LISTEN_PID set to the daemon's own pid (sh execs it, keeping its pid).
func activated(c *cli, names string, files ...*os.File) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, binary, "serve", "-config", c.config)
	cmd.Env = append(os.Environ(), fmt.Sprintf("LISTEN_FDS=%d", len(files)))
	if names != "" {
		cmd.Env = append(cmd.Env, "LISTEN_FDNAMES="+names)
	}
	cmd.ExtraFiles = files
	return cmd
}

// Sockets passed by systemd are served instead of the configured
// addresses, which are held by someone else so binding them would fail.
func TestSocketActivation(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password-a\n", "useradd", "alice")
	cert, key := c.selfSignedCert()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	writeConfig := func(tlsListen string) {
		c.writeFile("chatd.toml", fmt.Sprintf(`
[server]
listen = %q
tls_listen = %q
tls_cert = %q
tls_key = %q
[database]
path = %q
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1
`, taken.Addr(), tlsListen, cert, key, c.dbPath))
	}

	t.Run("Named", func(t *testing.T) {
		writeConfig(taken.Addr().String())
		plainAddr, plain := listenerFile(t)
		tlsAddr, tlsFile := listenerFile(t)
		metricsAddr, metrics := listenerFile(t)
		d := startDaemon(t, activated(c, "tls:plain:metrics", tlsFile, plain, metrics), plainAddr)
		d.login("alice", "password-a")
		resp, err := http.Get("http://" + metricsAddr + "/healthz")
		if err != nil {
			t.Fatalf("the passed metrics socket: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz on the passed socket: %s", resp.Status)
		}
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("the passed TLS socket: %v", err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(line, "Welcome") {
			t.Fatalf("TLS banner %q %v", line, err)
		}
		conn.Close()
		d.terminate()
		if n := linesWith(d.logs.String(), "using a socket passed by systemd"); n != 3 {
			t.Fatalf("%d passed sockets logged:\n%s", n, d.logs)
		}
	})
	t.Run("SingleUnnamed", func(t *testing.T) {
		writeConfig("")
		plainAddr, plain := listenerFile(t)
		d := startDaemon(t, activated(c, "chatd.socket", plain), plainAddr)
		d.login("alice", "password-a")
		d.terminate()
	})
	t.Run("ErrUnknownName", func(t *testing.T) {
		_, a := listenerFile(t)
		_, b := listenerFile(t)
		out, err := activated(c, "plain:irc", a, b).CombinedOutput()
		if err == nil || !strings.Contains(string(out), `"irc"`) {
			t.Fatalf("unknown socket name: %v\n%s", err, out)
		}
	})
}
