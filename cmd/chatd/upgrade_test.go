package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The live upgrade (upgrade.go): the tests run the built binary from a copy
// of their own, put a second build (another version) or a script in its
// place, and ask for the upgrade as an operator does.

// upgradedVersion is the version the second build reports.
const upgradedVersion = "0.2.0-upgraded"

var (
	secondOnce  sync.Once
	secondBuild string
	secondErr   error
)

// secondBinary builds chatd once more with another version: the binary an
// upgrade installs.
func secondBinary(t *testing.T) string {
	t.Helper()
	secondOnce.Do(func() {
		secondBuild = filepath.Join(filepath.Dir(binary), "chatd-"+upgradedVersion)
		out, err := exec.Command("go", "build", "-ldflags", "-X chatd.Version="+upgradedVersion, "-o", secondBuild, ".").CombinedOutput()
		if err != nil {
			secondErr = fmt.Errorf("build the second chatd: %v\n%s", err, out)
		}
	})
	if secondErr != nil {
		t.Fatal(secondErr)
	}
	return secondBuild
}

// upgradeDaemon is `chatd serve` run from a path of the test's own, so
// that the test can install another binary there.
type upgradeDaemon struct {
	t       *testing.T
	c       *cli
	exe     string
	addr    string
	logPath string
	cmd     *exec.Cmd
	exit    chan error
}

var pidInLog = regexp.MustCompile(`pid=(\d+)`)

// startUpgradeDaemon writes a config with more [server] keys (server) and
// starts the daemon with env added to its environment.
func startUpgradeDaemon(t *testing.T, c *cli, server string, env ...string) *upgradeDaemon {
	t.Helper()
	d := &upgradeDaemon{t: t, c: c, exe: filepath.Join(c.dir, "chatd"), addr: freeAddr(t),
		logPath: filepath.Join(c.dir, "serve.log"), exit: make(chan error, 1)}
	d.install(binary)
	c.writeFile("chatd.toml", fmt.Sprintf(`
[server]
listen = %q
max_connections = 20000
max_connections_per_ip = 20000
%s
[database]
%s
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1
[rate]
lines_per_second = 1000.0
burst = 1000
`, d.addr, server, c.database()))
	logf, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(d.exe, "serve", "-config", c.config)
	// A file, not a pipe: the new process writes to it after the old
	// one is gone, and Wait must not wait for that.
	d.cmd.Stderr = logf
	d.cmd.Env = append(os.Environ(), env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exit <- d.cmd.Wait() }()
	t.Cleanup(d.stop)
	for deadline := time.Now().Add(20 * time.Second); ; {
		conn, err := net.Dial("tcp", d.addr)
		if err == nil {
			conn.Close()
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start: %v\n%s", err, d.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the daemon and every process it started as its successor
// (their pids are in the log), by pid.
func (d *upgradeDaemon) stop() {
	d.cmd.Process.Kill()
	for _, m := range pidInLog.FindAllStringSubmatch(d.logs(), -1) {
		if pid, err := strconv.Atoi(m[1]); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", d.logs())
	}
}

func (d *upgradeDaemon) logs() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// install puts the executable src at the daemon's path, as a package
// manager does: a new file renamed over the old one.
func (d *upgradeDaemon) install(src string) {
	d.t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		d.t.Fatal(err)
	}
	tmp := d.exe + ".new"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, d.exe); err != nil {
		d.t.Fatal(err)
	}
}

// installScript puts a shell script at the daemon's path.
func (d *upgradeDaemon) installScript(body string) {
	d.t.Helper()
	path := filepath.Join(d.c.dir, "script")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		d.t.Fatal(err)
	}
	d.install(path)
}

var upgradedPid = regexp.MustCompile(`upgraded: pid (\d+) `)

// upgrade runs chatd upgrade and returns the new process's pid.
func (d *upgradeDaemon) upgrade() int {
	d.t.Helper()
	r := d.c.run("", "upgrade")
	m := upgradedPid.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		d.t.Fatalf("chatd upgrade: status %d\nstdout: %s\nstderr: %s\nlog:\n%s", r.code, r.stdout, r.stderr, d.logs())
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// lineClient is a telnet-style client: it reads lines on a goroutine of
// its own and keeps them with their arrival time.
type lineClient struct {
	t    *testing.T
	name string
	conn net.Conn

	mu    sync.Mutex
	lines []string
	at    []time.Time
	err   error // why reading stopped
}

type arrived struct {
	text string
	at   time.Time
}

func dialLines(t *testing.T, addr, name string) *lineClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &lineClient{t: t, name: name, conn: conn}
	go func() {
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			c.mu.Lock()
			c.lines = append(c.lines, line)
			c.at = append(c.at, time.Now())
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.err = sc.Err()
		if c.err == nil {
			c.err = io.EOF
		}
		c.mu.Unlock()
	}()
	return c
}

func (c *lineClient) write(s string) {
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Errorf("%s: write: %v", c.name, err)
	}
}

// count is how many lines arrived so far.
func (c *lineClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// since returns the lines from index from on.
func (c *lineClient) since(from int) []arrived {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]arrived, 0, len(c.lines)-from)
	for i := from; i < len(c.lines); i++ {
		out = append(out, arrived{c.lines[i], c.at[i]})
	}
	return out
}

// waitFor waits until a line from index from on contains want; it returns
// the index after it.
func (c *lineClient) waitFor(from int, want string, timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for i := from; i < len(c.lines); i++ {
			if strings.Contains(c.lines[i], want) {
				c.mu.Unlock()
				return i + 1
			}
		}
		err := c.err
		c.mu.Unlock()
		if err != nil || time.Now().After(deadline) {
			c.t.Fatalf("%s: no line with %q (read: %v); got:\n%s", c.name, want, err, strings.Join(c.tail(20), "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *lineClient) tail(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.lines[max(0, len(c.lines)-n):])
}

func (c *lineClient) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// loginAll logs n users usr000... in (password pw-i), a few at a time.
// A login the hash queue turns away (server_busy, on a busy machine) is
// tried again, as a client would.
func loginAll(t *testing.T, addr string, n int) []*lineClient {
	t.Helper()
	clients := make([]*lineClient, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	failed := make(chan string, n)
	for i := range n {
		name := fmt.Sprintf("usr%03d", i)
		c := dialLines(t, addr, name)
		clients[i] = c
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			from := 0
			for tries := 0; tries < 50; tries++ {
				c.write(fmt.Sprintf("%s\npw-%d-secret\n", name, i))
				for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
					lines := c.since(from)
					for k, l := range lines {
						switch {
						case strings.Contains(l.text, "Welcome, "+name+"!"):
							return
						case strings.Contains(l.text, "(server_busy)"):
							from += k + 1
							time.Sleep(50 * time.Millisecond)
							goto retry
						}
					}
					if c.readErr() != nil {
						failed <- fmt.Sprintf("%s: %v: %s", name, c.readErr(), strings.Join(c.tail(5), " | "))
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				failed <- name + ": no welcome within 60 s: " + strings.Join(c.tail(5), " | ")
				return
			retry:
			}
			failed <- name + ": the hash queue stayed busy"
		}()
	}
	wg.Wait()
	close(failed)
	for f := range failed {
		t.Fatalf("login: %s", f)
	}
	return clients
}

// importUsers creates usr000... with passwords pw-i-secret, a thousand
// per import-users run.
func importUsers(c *cli, n int) {
	c.t.Helper()
	for start := 0; start < n; start += 1000 {
		var b strings.Builder
		for i := start; i < min(n, start+1000); i++ {
			fmt.Fprintf(&b, "usr%03d pw-%d-secret\n", i, i)
		}
		c.ok(b.String(), "import-users", "-")
	}
}

var roomLine = regexp.MustCompile(`^\[(\w+)\] <(\w+)> L (\w+) (\d+)$`)

// TestUpgradeKeepsChattingSessions: 300 telnet-style sessions in three
// rooms chat at 50 lines a second while chatd upgrade replaces the daemon
// with another build. Every session keeps its connection, sees no welcome
// and no presence event, and receives every line of its room once, in the
// room's one order; a line half typed before the upgrade is completed
// after it.
func TestUpgradeKeepsChattingSessions(t *testing.T) {
	const users, rooms = 300, 3
	second := secondBinary(t)
	c := newCLIWithDB(t)
	importUsers(c, users)
	d := startUpgradeDaemon(t, c, "")
	clients := loginAll(t, d.addr, users)
	for r := range rooms {
		clients[r].write(fmt.Sprintf("create room%d\n", r))
		clients[r].waitFor(0, "created room room"+strconv.Itoa(r), 10*time.Second)
	}
	for i, cl := range clients {
		cl.write(fmt.Sprintf("join room%d\necho joined-%s\n", i%rooms, cl.name))
	}
	for _, cl := range clients {
		cl.waitFor(0, "joined-"+cl.name, 30*time.Second)
	}
	// The joins' presence reaches everyone within a presence wave.
	time.Sleep(time.Second)
	marks := make([]int, users)
	for i, cl := range clients {
		marks[i] = cl.count()
	}
	local := make([]string, users)
	for i, cl := range clients {
		local[i] = cl.conn.LocalAddr().String()
	}

	// u0 (room0) types half a line and finishes it after the upgrade;
	// everyone else but u0..u2 chats, one line every 20 ms.
	clients[0].write("half ty")
	senders := clients[rooms:]
	sent := map[string]int{}
	stop := make(chan struct{})
	chatDone := make(chan struct{})
	go func() {
		defer close(chatDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			cl := senders[k%len(senders)]
			sent[cl.name]++
			cl.write(fmt.Sprintf("L %s %d\n", cl.name, sent[cl.name]))
		}
	}()
	time.Sleep(3 * time.Second)
	upStart := time.Now()
	pid := d.install2AndUpgrade(second)
	upEnd := time.Now()
	clients[0].write("ped line\n")
	time.Sleep(3 * time.Second)
	close(stop)
	<-chatDone

	if !strings.Contains(d.logs(), "version="+upgradedVersion) {
		t.Fatalf("the new build did not start:\n%s", d.logs())
	}
	if err := syscall.Kill(d.cmd.Process.Pid, 0); err == nil {
		select {
		case <-d.exit:
		case <-time.After(20 * time.Second):
			t.Fatalf("the old process (pid %d) did not exit", d.cmd.Process.Pid)
		}
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the new process (pid %d) is not running: %v", pid, err)
	}

	// Every room line sent reaches each member of the room.
	want := make([]int, rooms)
	for i, cl := range senders {
		want[(i+rooms)%rooms] += sent[cl.name]
	}
	roomOf := func(i int) string { return "room" + strconv.Itoa(i%rooms) }
	deadline := time.Now().Add(90 * time.Second)
	for i, cl := range clients {
		for {
			n := 0
			for _, l := range cl.since(marks[i]) {
				if roomLine.MatchString(l.text) {
					n++
				}
			}
			if n >= want[i%rooms] {
				break
			}
			if time.Now().After(deadline) || cl.readErr() != nil {
				t.Fatalf("%s got %d of the %d lines of %s (read: %v); last lines:\n%s",
					cl.name, n, want[i%rooms], roomOf(i), cl.readErr(), strings.Join(cl.tail(10), "\n"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // a doubled line would come now

	canon := make([][]string, rooms) // each room's order, as its first member saw it
	var pauses []time.Duration
	for i, cl := range clients {
		if err := cl.readErr(); err != nil {
			t.Fatalf("%s: connection ended: %v", cl.name, err)
		}
		if got := cl.conn.LocalAddr().String(); got != local[i] {
			t.Fatalf("%s: local address %s, was %s", cl.name, got, local[i])
		}
		var seq []string
		next := map[string]int{}
		half := 0
		var last time.Time
		pause := time.Duration(0)
		for _, l := range cl.since(marks[i]) {
			switch {
			case strings.HasPrefix(l.text, "Welcome"), strings.Contains(l.text, "Online now"):
				t.Fatalf("%s: a new welcome after the upgrade: %q", cl.name, l.text)
			case strings.HasPrefix(l.text, "* "):
				t.Fatalf("%s: a presence event around the upgrade: %q", cl.name, l.text)
			case l.text == "[room0] <usr000> half typed line":
				half++
				continue
			}
			m := roomLine.FindStringSubmatch(l.text)
			if m == nil {
				t.Fatalf("%s: unexpected line %q", cl.name, l.text)
			}
			if m[1] != roomOf(i) || m[2] != m[3] {
				t.Fatalf("%s: line of another room or sender: %q", cl.name, l.text)
			}
			n, _ := strconv.Atoi(m[4])
			if n != next[m[3]]+1 {
				t.Fatalf("%s: from %s line %d after line %d (lost, doubled or out of order)", cl.name, m[3], n, next[m[3]])
			}
			next[m[3]] = n
			seq = append(seq, m[3]+" "+m[4])
			// The pause: the longest wait between two lines that
			// spans the hand-over.
			if !last.IsZero() && l.at.After(upStart) && last.Before(upEnd) {
				pause = max(pause, l.at.Sub(last))
			}
			last = l.at
		}
		pauses = append(pauses, pause)
		if i%rooms == 0 && half != 1 {
			t.Fatalf("%s saw the half-typed line %d times, want once", cl.name, half)
		}
		r := i % rooms
		if canon[r] == nil {
			canon[r] = seq
		} else if !slices.Equal(seq, canon[r]) {
			t.Fatalf("%s saw %s's lines in another order than %s", cl.name, roomOf(i), clients[r].name)
		}
	}
	slices.Sort(pauses)
	t.Logf("upgrade took %v; pause seen by the %d sessions: p50 %v, p99 %v, max %v",
		upEnd.Sub(upStart).Round(time.Millisecond), len(pauses), pauses[len(pauses)/2].Round(time.Millisecond),
		pauses[len(pauses)*99/100].Round(time.Millisecond), pauses[len(pauses)-1].Round(time.Millisecond))
}

// install2AndUpgrade installs the second build and upgrades to it.
func (d *upgradeDaemon) install2AndUpgrade(second string) int {
	d.t.Helper()
	d.install(second)
	return d.upgrade()
}

// chatStillWorks checks that a and b, in the lobby, still hear each other.
func chatStillWorks(t *testing.T, a, b *lineClient, text string) {
	t.Helper()
	from := b.count()
	a.write(text + "\n")
	b.waitFor(from, "<"+a.name+"> "+text, 10*time.Second)
}

// TestUpgradeFailureChangesNothing: a new binary that exits at once, and
// one that never reports ready within server.upgrade_timeout, are refused
// (the second one killed): chatd upgrade says why and exits 1, the old
// process keeps its sessions, and nobody sees anything. An upgrade asked
// for while one runs is refused.
func TestUpgradeFailureChangesNothing(t *testing.T) {
	c := newCLIWithDB(t)
	importUsers(c, 2)
	d := startUpgradeDaemon(t, c, `upgrade_timeout = "3s"`)
	clients := loginAll(t, d.addr, 2)
	a, b := clients[0], clients[1]
	time.Sleep(500 * time.Millisecond) // the logins' presence wave
	marks := []int{a.count(), b.count()}

	d.installScript("echo 'new build: cannot start' >&2\nexit 3\n")
	r := c.run("", "upgrade")
	if r.code == 0 || !strings.Contains(r.stderr, "exited before it was ready: exit status 3") {
		t.Fatalf("upgrade to a binary that exits: status %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	chatStillWorks(t, a, b, "still here after a failed start")

	// One that never says ready, and a second request meanwhile.
	pidFile := filepath.Join(c.dir, "hung.pid")
	d.installScript(fmt.Sprintf("echo $$ > %s\nexec sleep 600\n", pidFile))
	first := make(chan result, 1)
	go func() { first <- c.run("", "upgrade") }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(pidFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hanging binary was not started\n%s", d.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r = c.run("", "upgrade")
	if r.code == 0 || !strings.Contains(r.stderr, "an upgrade is already in progress") {
		t.Fatalf("upgrade during an upgrade: status %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = <-first
	if r.code == 0 || !strings.Contains(r.stderr, "did not report ready within 3s (server.upgrade_timeout)") {
		t.Fatalf("upgrade to a binary that never gets ready: status %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	data, _ := os.ReadFile(pidFile)
	hung, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file: %q", data)
	}
	if err := syscall.Kill(hung, 0); err == nil {
		syscall.Kill(hung, syscall.SIGKILL)
		t.Fatalf("the binary that never got ready (pid %d) still runs", hung)
	}
	chatStillWorks(t, b, a, "still here after a timeout")

	// Nothing else reached the sessions: no bye, no presence, no welcome.
	for i, cl := range []*lineClient{a, b} {
		for _, l := range cl.since(marks[i]) {
			if !strings.Contains(l.text, "still here after") {
				t.Fatalf("%s: unexpected line %q", cl.name, l.text)
			}
		}
	}
	select {
	case err := <-d.exit:
		t.Fatalf("the daemon exited: %v", err)
	default:
	}
	// And a good binary still takes over afterwards: the failures left
	// the listeners as they were (a connection accepted in blocking mode
	// would have left the accept loop stuck in accept(2), and the
	// hand-over waiting for it).
	conn, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(conn).ReadString('\n') // the banner: it was accepted
	conn.Close()
	d.install(binary)
	d.upgrade()
	chatStillWorks(t, a, b, "after the upgrade")
}

// TestUpgradeTellsSystemd: under systemd-like supervision (a fake
// NOTIFY_SOCKET), SIGUSR2 upgrades, and the new process sends
// MAINPID=<its pid> and READY=1 so that systemd follows it; the old one
// never says STOPPING.
func TestUpgradeTellsSystemd(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := pc.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) string {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatal("notify socket closed")
				}
				if strings.HasPrefix(m, "STOPPING") {
					t.Fatalf("a process said %q", m)
				}
				if strings.Contains(m, want) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q on the notify socket", want)
			}
		}
	}
	c := newCLIWithDB(t)
	importUsers(c, 2)
	d := startUpgradeDaemon(t, c, "", "NOTIFY_SOCKET="+sock)
	if m := next("READY=1"); strings.Contains(m, "MAINPID") {
		t.Fatalf("the first start sent %q", m)
	}
	clients := loginAll(t, d.addr, 2)
	d.cmd.Process.Signal(syscall.SIGUSR2)
	m := next("MAINPID=")
	var pid int
	if _, err := fmt.Sscanf(m, "MAINPID=%d\nREADY=1", &pid); err != nil || pid == d.cmd.Process.Pid {
		t.Fatalf("notify message %q: want MAINPID=<the new pid>\\nREADY=1 (old pid %d)", m, d.cmd.Process.Pid)
	}
	// The old (main) process says it too, for NotifyAccess=main.
	if m := next("MAINPID="); m != fmt.Sprintf("MAINPID=%d", pid) {
		t.Fatalf("second notify message %q, want MAINPID=%d", m, pid)
	}
	select {
	case <-d.exit:
	case <-time.After(30 * time.Second):
		t.Fatal("the old process did not exit after SIGUSR2")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("MAINPID %d is not running: %v", pid, err)
	}
	chatStillWorks(t, clients[0], clients[1], "on the new process")
	// A STOPPING from the old process would have come by now.
	time.Sleep(200 * time.Millisecond)
	for {
		select {
		case m := <-msgs:
			if strings.HasPrefix(m, "STOPPING") {
				t.Fatalf("a process said %q", m)
			}
			continue
		default:
		}
		break
	}
}

// TestUpgradeIdleSessions: idle sessions (parked: no goroutine of their
// own) all move, and a few users who type through the upgrade measure the
// pause: the longest wait for an answer spanning it. CHATD_UPGRADE_IDLE
// sets how many sessions (default 200; docs/operations.md reports 300 and
// 10,000, which needs ulimit -n above twice that in one process).
func TestUpgradeIdleSessions(t *testing.T) {
	users := 200
	if v := os.Getenv("CHATD_UPGRADE_IDLE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 20 {
			t.Fatalf("CHATD_UPGRADE_IDLE=%q: want a number of sessions, at least 20", v)
		}
		users = n
	}
	const probers = 20
	c := newCLIWithDB(t)
	importUsers(c, users)
	d := startUpgradeDaemon(t, c, "")
	clients := loginAll(t, d.addr, users)
	// Idle long enough to park (the daemon's parkAfter is 2 s).
	time.Sleep(3 * time.Second)
	marks := make([]int, users)
	for i, cl := range clients {
		marks[i] = cl.count()
	}

	// Each prober asks for an echo every 50 ms, the next once the last
	// came back; the pause is its longest wait.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	pauses := make([]time.Duration, probers)
	for p := range probers {
		cl := clients[p*users/probers]
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := cl.count()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				start := time.Now()
				cl.write(fmt.Sprintf("echo probe-%s-%d\n", cl.name, k))
				from = cl.waitFor(from, fmt.Sprintf("probe-%s-%d", cl.name, k), 60*time.Second)
				pauses[p] = max(pauses[p], time.Since(start))
			}
		}()
	}
	time.Sleep(time.Second)
	upStart := time.Now()
	d.upgrade()
	took := time.Since(upStart)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	// Every session is still there, on the same connection, and was told
	// nothing.
	for _, cl := range clients {
		cl.write("echo alive-" + cl.name + "\n")
	}
	for i, cl := range clients {
		cl.waitFor(marks[i], "alive-"+cl.name, 60*time.Second)
		for _, l := range cl.since(marks[i]) {
			if !strings.Contains(l.text, "probe-"+cl.name) && !strings.Contains(l.text, "alive-"+cl.name) {
				t.Fatalf("%s: unexpected line %q", cl.name, l.text)
			}
		}
	}
	for _, l := range strings.Split(d.logs(), "\n") {
		if strings.Contains(l, "hand-over:") {
			t.Log(l)
		}
	}
	slices.Sort(pauses)
	t.Logf("%d sessions: upgrade took %v; the longest wait for an answer of %d users typing through it: p50 %v, p99 %v",
		users, took.Round(time.Millisecond), probers, pauses[probers/2].Round(time.Millisecond),
		pauses[probers*99/100].Round(time.Millisecond))
}

// TestUpgradeKeepsPlainIRC: a plain IRC client (irc.listen) moves like a
// telnet one: same connection, no new registration (001), its nick and
// capabilities kept, and chat both ways before and after. What it set on
// its connection moves too: its real name (SETNAME), user modes +w and +B
// (another client still sees the bot tag on its lines), its metadata
// subscriptions, and a SASL exchange begun before (finished after).
func TestUpgradeKeepsPlainIRC(t *testing.T) {
	c := newCLIWithDB(t)
	importUsers(c, 3)
	c.ok("", "usermod", "-admin=true", "usr002") // sends WALLOPS
	ircAddr := freeAddr(t)
	// [irc] ends the [server] table startUpgradeDaemon writes.
	d := startUpgradeDaemon(t, c, fmt.Sprintf("[irc]\nlisten = %q", ircAddr))
	tel := loginAll(t, d.addr, 1)[0]
	irc := dialLines(t, ircAddr, "irc")
	irc.write("CAP LS 302\r\nCAP REQ :server-time setname draft/metadata-3 batch\r\nCAP END\r\n" +
		"PASS usr001:pw-1-secret\r\nNICK usr001\r\nUSER u 0 * :U\r\n")
	irc.waitFor(0, " 001 usr001 ", 30*time.Second)
	from := irc.waitFor(0, "JOIN", 10*time.Second)
	op := dialLines(t, ircAddr, "op")
	op.write("CAP LS 302\r\nCAP REQ :message-tags draft/metadata-3 batch\r\nCAP END\r\nPASS usr002:pw-2-secret\r\nNICK usr002\r\nUSER o 0 * :O\r\n")
	opFrom := op.waitFor(0, " 001 usr002 ", 30*time.Second)
	opFrom = op.waitFor(opFrom, "JOIN", 10*time.Second)
	irc.write("SETNAME :Real Name Kept\r\nMODE usr001 +wB\r\nMETADATA * SUB display-name\r\nAUTHENTICATE PLAIN\r\n")
	from = irc.waitFor(from, "SETNAME :Real Name Kept", 10*time.Second)
	from = irc.waitFor(from, "MODE usr001 +B", 10*time.Second)
	from = irc.waitFor(from, " 774 usr001 ", 10*time.Second)
	// The SASL exchange begun here is finished after the upgrade.
	from = irc.waitFor(from, "AUTHENTICATE +", 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the logins' presence
	telFrom := tel.count()
	tel.write("before the upgrade\n")
	from = irc.waitFor(from, "PRIVMSG #lobby :before the upgrade", 10*time.Second)
	mark := irc.count()

	d.upgrade()

	tel.write("after the upgrade\n")
	from = irc.waitFor(from, "PRIVMSG #lobby :after the upgrade", 10*time.Second)
	irc.write("PRIVMSG #lobby :from irc after\r\n")
	tel.waitFor(telFrom, "<usr001> from irc after", 10*time.Second)
	// The bot flag: another IRC client sees the bot tag on its line.
	opFrom = op.waitFor(opFrom, "PRIVMSG #lobby :from irc after", 10*time.Second)
	if l := op.since(opFrom - 1)[0].text; !strings.HasPrefix(l, "@bot") && !strings.Contains(l, ";bot") {
		t.Errorf("op: no bot tag on usr001's line after the upgrade: %q", l)
	}
	irc.write("MODE usr001\r\n")
	from = irc.waitFor(from, " 221 usr001 ", 10*time.Second)
	if l := irc.since(from - 1)[0].text; !strings.HasSuffix(l, " +Bw") {
		t.Errorf("irc: user modes after the upgrade: %q, want +Bw", l)
	}
	op.write("WHOIS usr001\r\n")
	opFrom = op.waitFor(opFrom, " 311 usr002 usr001 ", 10*time.Second)
	if l := op.since(opFrom - 1)[0].text; !strings.HasSuffix(l, ":Real Name Kept") {
		t.Errorf("op: WHOIS after the upgrade: %q, want the real name set before it", l)
	}
	op.write("WALLOPS :wallops after\r\nMETADATA * SET display-name :Op After\r\n")
	from = irc.waitFor(from, "WALLOPS :wallops after", 10*time.Second)
	from = irc.waitFor(from, " 761 usr001 usr002 display-name * :Op After", 10*time.Second)
	irc.write("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("\x00usr001\x00pw-1-secret")) + "\r\n")
	from = irc.waitFor(from, " 903 usr001 ", 10*time.Second)
	irc.write("PING :still-me\r\n")
	irc.waitFor(from, "PONG", 10*time.Second)
	for _, l := range irc.since(mark) {
		if strings.Contains(l.text, " 001 ") || strings.Contains(l.text, "JOIN") || strings.Contains(l.text, "QUIT") {
			t.Fatalf("irc: %q after the upgrade", l.text)
		}
		// server-time stays on: every message carries its time.
		if strings.Contains(l.text, "PRIVMSG") && !strings.HasPrefix(l.text, "@") {
			t.Fatalf("irc: capability lost: %q", l.text)
		}
	}
	if err := irc.readErr(); err != nil {
		t.Fatalf("irc connection ended: %v", err)
	}
}

// TestUpgradeKeepsUnwrittenOutput: a client that stops reading while
// lines pile up for it (its socket full, the rest queued) moves with what
// it has not been sent, and, reading again, gets every line once, in
// order, with no welcome.
func TestUpgradeKeepsUnwrittenOutput(t *testing.T) {
	c := newCLIWithDB(t)
	importUsers(c, 2)
	d := startUpgradeDaemon(t, c, "max_line_bytes = 4096")
	a := loginAll(t, d.addr, 1)[0]
	// b reads its welcome, then nothing, through a small receive buffer.
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	conn, err := dialer.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	io.WriteString(conn, "usr001\npw-1-secret\n")
	for {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("b's login: %v", err)
		}
		if strings.Contains(line, "Type help") {
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // b's login reaches a
	// Far more than the sockets hold (up to 4 MB each way on Linux):
	// three rounds of 900 lines of 3 KB, within the rate limit.
	const lines = 2700
	pad := strings.Repeat("x", 3000)
	for round := range 3 {
		var b strings.Builder
		for i := round*900 + 1; i <= (round+1)*900; i++ {
			fmt.Fprintf(&b, "L usr000 %d %s\n", i, pad)
		}
		from := a.count()
		a.write(b.String())
		a.waitFor(from, fmt.Sprintf("L usr000 %d ", (round+1)*900), 60*time.Second)
		time.Sleep(time.Second) // the rate limit's bucket refills
	}

	d.upgrade()

	next := 1
	for next <= lines {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("b: after line %d: %v", next-1, err)
		}
		if strings.Contains(line, "Welcome") || strings.HasPrefix(line, "* ") {
			t.Fatalf("b: %q", line)
		}
		var n int
		if _, err := fmt.Sscanf(line, "[lobby] <usr000> L usr000 %d", &n); err != nil {
			if _, err := fmt.Sscanf(line, "<usr000> L usr000 %d", &n); err != nil {
				continue
			}
		}
		if n != next {
			t.Fatalf("b: line %d after line %d (lost, doubled or out of order)", n, next-1)
		}
		next++
	}
	if !strings.Contains(d.logs(), `were sent" sessions=2`) {
		t.Fatalf("b did not move:\n%s", d.logs())
	}
}
