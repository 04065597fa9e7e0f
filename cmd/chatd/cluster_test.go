package main

// Three nodes of the built binary on one real PostgreSQL: the cross-node
// behaviour of docs/cluster.md as an operator runs it. Helpers are prefixed
// "cluster"; the connections are crash_test.go's.

import (
	"bufio"
	"cmp"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for database/sql

	"chatd/internal/pgtest"
)

// clusterTimeout is the tests' node_timeout: short, so a killed node is
// declared dead quickly.
const clusterTimeout = 1500 * time.Millisecond

// clusterWait bounds every wait for something that must happen.
const clusterWait = 15 * time.Second

// clusterEnv is a PostgreSQL database and the nodes serving it.
type clusterEnv struct {
	t   *testing.T
	url string
	dir string
	// timeout is the nodes' cluster.node_timeout; 0: clusterTimeout.
	timeout time.Duration
}

type clusterNode struct {
	env    *clusterEnv
	name   string
	config string
	addr   string
	cmd    *exec.Cmd
	log    *crashLog
	exited chan error
	// exe and logPath: startExe's.
	exe     string
	logPath string
}

func newClusterEnv(t *testing.T, users ...string) *clusterEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs three daemons on PostgreSQL")
	}
	e := &clusterEnv{t: t, url: pgtest.URL(t), dir: t.TempDir()}
	e.admin("", "init")
	for _, u := range users {
		args := []string{"useradd", u}
		if u == "root" {
			args = []string{"useradd", "-admin", u}
		}
		e.admin("password1\n", args...)
	}
	return e
}

// writeConfig writes node's config with a fresh port and returns its path.
func (e *clusterEnv) writeConfig(node string) (path, addr string) {
	e.t.Helper()
	addr = freeAddr(e.t)
	path = filepath.Join(e.dir, node+".toml")
	body := fmt.Sprintf(`
[server]
listen = %q

[database]
driver = "postgres"
url = %q

[cluster]
node = %q
node_timeout = %q
`, addr, e.url, node, cmp.Or(e.timeout, clusterTimeout).String()) + loadConfigTail
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path, addr
}

// admin runs an admin subcommand against the cluster's database.
func (e *clusterEnv) admin(stdin string, args ...string) string {
	e.t.Helper()
	config, _ := e.writeConfig("cli")
	cmd := exec.Command(binary, append(args[:1:1], append([]string{"-config", config}, args[1:]...)...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("chatd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs `chatd serve` as node and waits until it accepts.
func (e *clusterEnv) start(node string) *clusterNode {
	e.t.Helper()
	n := &clusterNode{env: e, name: node, log: &crashLog{}, exited: make(chan error, 1)}
	n.config, n.addr = e.writeConfig(node)
	n.cmd = exec.Command(binary, "serve", "-config", n.config)
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	e.t.Cleanup(n.kill)
	deadline := time.Now().Add(clusterWait)
	for {
		c, err := dialTimeout(n.addr)
		if err == nil {
			c.Close()
			return n
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			e.t.Fatalf("node %s exited: %v\n%s", node, err, n.log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("node %s is not listening on %s\n%s", node, n.addr, n.log)
		}
	}
}

// startExe runs node as start does, from a copy of the binary at exe
// (which an upgrade may replace), its log in a file: a process it starts
// in an upgrade writes there too, and the test's wait does not wait for it.
func (e *clusterEnv) startExe(node, exe string) *clusterNode {
	e.t.Helper()
	data, err := os.ReadFile(binary)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	n := &clusterNode{env: e, name: node, log: &crashLog{}, exited: make(chan error, 1), exe: exe,
		logPath: filepath.Join(e.dir, node+".log")}
	n.config, n.addr = e.writeConfig(node)
	logf, err := os.Create(n.logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	n.cmd = exec.Command(exe, "serve", "-config", n.config)
	n.cmd.Stderr = logf
	if err := n.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { n.exited <- n.cmd.Wait() }()
	e.t.Cleanup(n.kill)
	for deadline := time.Now().Add(clusterWait); ; {
		c, err := dialTimeout(n.addr)
		if err == nil {
			c.Close()
			return n
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("node %s is not listening on %s\n%s", node, n.addr, n.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs is the node's log.
func (n *clusterNode) logs() string {
	if n.logPath == "" {
		return n.log.String()
	}
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// kill ends the node with SIGKILL, as a crash would.
func (n *clusterNode) kill() {
	if n.cmd.Process == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	err := <-n.exited
	n.exited <- err
	if strings.Contains(n.log.String(), "panic") {
		n.env.t.Errorf("node %s log:\n%s", n.name, n.log)
	}
}

func (e *clusterEnv) three() []*clusterNode {
	e.t.Helper()
	return []*clusterNode{e.start("n1"), e.start("n2"), e.start("n3")}
}

// clusterConn is a logged-in JSON client.
type clusterConn struct {
	*crashConn
	name string
}

func (n *clusterNode) login(name string) *clusterConn {
	n.env.t.Helper()
	c, _ := crashLogin(n.env.t, n.addr, name, "password1")
	return &clusterConn{crashConn: c, name: name}
}

// loginFails tries to log name in and returns the error event.
func (n *clusterNode) loginFails(name string) map[string]any {
	n.env.t.Helper()
	conn, err := dialTimeout(n.addr)
	if err != nil {
		n.env.t.Fatal(err)
	}
	n.env.t.Cleanup(func() { conn.Close() })
	c := &clusterConn{crashConn: &crashConn{t: n.env.t, conn: conn, r: newReader(conn)}, name: name}
	c.write("mode json\n" + name + "\npassword1\n")
	return c.expect("error")
}

func (c *clusterConn) say(lines ...string) {
	c.t.Helper()
	c.write(strings.Join(lines, "\n") + "\n")
}

// expect reads until an event of type typ whose fields match kv (pairs of
// key and value), failing after clusterWait.
func (c *clusterConn) expect(typ string, kv ...string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(clusterWait)
	for time.Now().Before(deadline) {
		ev, err := c.next()
		if err != nil {
			c.t.Fatalf("%s: waiting for %s %v: %v", c.name, typ, kv, err)
		}
		if ev["type"] != typ {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && fmt.Sprint(ev[kv[i]]) == kv[i+1]
		}
		if ok {
			return ev
		}
	}
	c.t.Fatalf("%s: no %s %v within %s", c.name, typ, kv, clusterWait)
	return nil
}

func users(ev map[string]any) string {
	raw, _ := ev["users"].([]any)
	out := make([]string, len(raw))
	for i, u := range raw {
		out[i] = fmt.Sprint(u)
	}
	return strings.Join(out, " ")
}

func TestClusterChatAcrossNodesInOrder(t *testing.T) {
	e := newClusterEnv(t, "alice", "bob", "carol")
	n := e.three()
	alice, bob, carol := n[0].login("alice"), n[1].login("bob"), n[2].login("carol")
	alice.expect("presence", "user", "carol", "event", "login")
	for _, c := range []*clusterConn{alice, bob, carol} {
		c.say("who")
		if got := users(c.expect("ok", "cmd", "who")); got != "alice bob carol" {
			t.Fatalf("%s: who = %q", c.name, got)
		}
	}
	alice.say("create den")
	alice.expect("ok", "cmd", "create")
	bob.say("join den")
	bob.expect("ok", "cmd", "join")
	alice.expect("room", "event", "joined", "user", "bob") // the move is in the tables
	carol.say("join den")
	carol.expect("ok", "cmd", "join")
	alice.expect("room", "event", "joined", "user", "carol")
	bob.expect("room", "event", "joined", "user", "carol")
	carol.say("names")
	if got := users(carol.expect("ok", "cmd", "names")); got != "alice bob carol" {
		t.Fatalf("names den = %q", got)
	}

	// All three say 30 lines at once: every member on every node sees
	// the same order, each sender's lines in the order sent.
	const lines = 30
	for _, c := range []*clusterConn{alice, bob, carol} {
		var b strings.Builder
		for i := range lines {
			fmt.Fprintf(&b, "%s-%02d\n", c.name, i)
		}
		c.write(b.String()) // small: the three sessions run them at once
	}
	var orders [3]string
	for i, c := range []*clusterConn{alice, bob, carol} {
		var got []string
		next := map[string]int{}
		for len(got) < 3*lines {
			ev := c.expect("message", "kind", "room")
			text := fmt.Sprint(ev["text"])
			who, num, _ := strings.Cut(text, "-")
			if want := fmt.Sprintf("%02d", next[who]); num != want {
				t.Fatalf("%s got %s when %s-%s was next", c.name, text, who, want)
			}
			next[who]++
			got = append(got, text)
		}
		orders[i] = strings.Join(got, " ")
	}
	if orders[0] != orders[1] || orders[0] != orders[2] {
		t.Fatalf("the nodes saw different orders:\n%s\n%s\n%s", orders[0], orders[1], orders[2])
	}

	// Topic and broadcast reach the other nodes too.
	alice.say("topic plans")
	carol.expect("room", "event", "topic", "topic", "plans")
	bob.say("broadcast hello all")
	carol.expect("message", "kind", "broadcast", "text", "hello all")
	alice.expect("message", "kind", "broadcast", "text", "hello all")
}

func TestClusterMessagesPresenceAndModeration(t *testing.T) {
	e := newClusterEnv(t, "alice", "bob", "carol", "dave", "root")
	n := e.three()
	alice, bob := n[0].login("alice"), n[1].login("bob")

	// Private messages: delivered once, across nodes.
	alice.say("send bob one")
	alice.expect("delivery", "to", "bob", "status", "delivered")
	bob.expect("message", "kind", "private", "text", "one")

	// Offline mail: stored once, delivered once, wherever dave logs in.
	alice.say("send dave stored for later")
	alice.expect("delivery", "to", "dave", "status", "stored")
	dave := n[2].login("dave")
	dave.expect("message", "kind", "offline", "text", "stored for later")
	bob.expect("presence", "user", "dave", "event", "login")
	dave.say("logout")
	dave.expect("bye")
	bob.expect("presence", "user", "dave", "event", "logout")
	dave = n[1].login("dave")
	dave.say("echo marker")
	for {
		ev, err := dave.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev["kind"] == "offline" {
			t.Fatalf("offline message delivered twice: %v", ev)
		}
		if ev["cmd"] == "echo" {
			break
		}
	}

	// Duplicate login across nodes: refused while bob is online on n2.
	if ev := n[2].loginFails("bob"); ev["code"] != "already_online" {
		t.Fatalf("second login of bob on n3: %v", ev)
	}

	// An admin on n3 kicks bob on n2.
	root := n[2].login("root")
	root.say("kick bob enough")
	root.expect("ok", "cmd", "kick")
	bob.expect("bye", "reason", "kicked")
	alice.expect("presence", "user", "bob", "event", "kicked")

	// The admin CLI kicks and bans users on any node.
	carol := n[0].login("carol")
	e.admin("", "kick", "carol")
	carol.expect("bye", "reason", "kicked")
	bob = n[1].login("bob")
	e.admin("", "ban", "-reason", "spam", "bob")
	bob.expect("bye", "reason", "banned")
	alice.expect("presence", "user", "bob", "event", "banned")
	if ev := n[2].loginFails("bob"); ev["code"] != "banned" {
		t.Fatalf("banned bob logging in on n3: %v", ev)
	}
	alice.say("who")
	if got := users(alice.expect("ok", "cmd", "who")); got != "alice dave root" {
		t.Fatalf("who = %q", got)
	}
	// A notice from the admin CLI reaches every node's users.
	e.admin("", "notice", "maintenance at noon")
	for _, c := range []*clusterConn{alice, dave, root} {
		c.expect("notice", "text", "maintenance at noon")
	}

	// chatd who lists every node's users, with their node.
	out := e.admin("", "who")
	for _, want := range []string{"alice", "n1", "dave", "n2", "root", "n3"} {
		if !strings.Contains(out, want) {
			t.Fatalf("chatd who does not mention %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "bob") {
		t.Fatalf("chatd who lists bob, who was banned:\n%s", out)
	}
}

func TestClusterNodeKilledAndRestarted(t *testing.T) {
	e := newClusterEnv(t, "alice", "bob", "carol", "dave")
	n := e.three()
	alice, bob := n[0].login("alice"), n[1].login("bob")
	n[0].login("carol")
	bob.expect("presence", "user", "carol", "event", "login")

	// alice on n1 streams mail to dave (offline); n1 is killed midway.
	const total, killAfter = 200, 60
	var b strings.Builder
	for i := range total {
		fmt.Fprintf(&b, "send dave msg-%03d\n", i)
	}
	alice.write(b.String())
	acked := 0
	for acked < killAfter {
		ev, err := alice.next()
		if err != nil {
			t.Fatalf("after %d acknowledgements: %v", acked, err)
		}
		if ev["type"] == "delivery" {
			if ev["status"] != "stored" {
				t.Fatalf("delivery %d: %v", acked, ev)
			}
			acked++
		}
	}
	n[0].kill()
	for {
		ev, err := alice.next()
		if err != nil {
			break // the node is gone; what was read counts
		}
		if ev["type"] == "delivery" {
			acked++
		}
	}
	t.Logf("%d of %d messages acknowledged before SIGKILL", acked, total)

	// The survivors announce the logout of n1's users.
	gone := map[string]bool{}
	for len(gone) < 2 {
		ev := bob.expect("presence", "event", "timeout")
		gone[fmt.Sprint(ev["user"])] = true
	}
	if !gone["alice"] || !gone["carol"] {
		t.Fatalf("logouts announced after n1 died: %v", gone)
	}
	bob.say("who")
	if got := users(bob.expect("ok", "cmd", "who")); got != "bob" {
		t.Fatalf("who after n1 died = %q", got)
	}

	// Every acknowledged message is in dave's mailbox, once and in order.
	dave := n[2].login("dave")
	for i := range acked {
		ev := dave.expect("message")
		if ev["kind"] != "offline" || ev["text"] != fmt.Sprintf("msg-%03d", i) {
			t.Fatalf("offline message %d: %v", i, ev)
		}
	}

	// alice may log in elsewhere at once; then n1 comes back and serves
	// again, seeing who is online on the others.
	alice = n[1].login("alice")
	alice.say("logout")
	alice.expect("bye")
	n[0] = e.start("n1")
	alice = n[0].login("alice")
	bob.expect("presence", "user", "alice", "event", "login")
	alice.say("who")
	if got := users(alice.expect("ok", "cmd", "who")); got != "alice bob dave" {
		t.Fatalf("who on the restarted node = %q", got)
	}
	bob.say("send alice welcome back")
	bob.expect("delivery", "to", "alice", "status", "delivered")
	alice.expect("message", "kind", "private", "text", "welcome back")
	dave.say("say hi from n3")
	alice.expect("message", "kind", "room", "text", "hi from n3")
}

func dialTimeout(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// Issue 19, item 5: a private message acknowledged as delivered to a user on
// another node is not lost when that node dies. alice on n1 sends to bob on
// n2 ten times a second; n2 is killed with SIGKILL; every message sent until
// n2 is reaped was acknowledged "delivered" and, before the fix, lost. Now
// each acknowledged message reaches bob exactly once, live or from his
// mailbox when he logs in on n1.
func TestClusterDeliveredMessagesSurviveTheirNode(t *testing.T) {
	e := newClusterEnv(t, "alice", "bob")
	n1, n2 := e.start("n1"), e.start("n2")
	alice, bob := n1.login("alice"), n2.login("bob")
	alice.expect("presence", "user", "bob", "event", "login")
	pg, err := sql.Open("pgx", e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	owed := func() int {
		var n int
		var table sql.NullString // without the table (before the fix) nothing is owed
		if err := pg.QueryRow(`SELECT to_regclass('cluster_mail')::text`).Scan(&table); err != nil || !table.Valid {
			return 0
		}
		if err := pg.QueryRow(`SELECT count(*) FROM cluster_mail`).Scan(&n); err != nil {
			t.Fatalf("count owed private messages: %v", err)
		}
		return n
	}

	live := map[string]int{}
	liveDone := make(chan struct{})
	liveSeen := make(chan string, 1000)
	go func() {
		defer close(liveDone)
		for {
			ev, err := bob.next()
			if err != nil {
				return // n2 is gone
			}
			if ev["type"] == "message" && ev["kind"] == "private" {
				liveSeen <- fmt.Sprint(ev["text"])
			}
		}
	}()
	acked := map[string]string{} // text -> status
	send := func(i int) (status string, reaped bool) {
		text := fmt.Sprintf("m-%03d", i)
		alice.say("send bob " + text)
		for {
			ev, err := alice.next()
			if err != nil {
				t.Fatalf("alice waiting for the delivery of %s: %v", text, err)
			}
			switch {
			case ev["type"] == "presence" && ev["user"] == "bob" && ev["event"] == "timeout":
				reaped = true
			case ev["type"] == "delivery":
				status = fmt.Sprint(ev["status"])
				if status == "delivered" || status == "stored" {
					acked[text] = status
				}
				return status, reaped
			}
		}
	}
	// Ten delivered live; the kill comes once bob has them all and n2 owes
	// nothing (a message written in the instant before a crash may come
	// twice, docs/cluster.md): what is in flight at the kill is what was
	// sent after it.
	const before = 10
	for i := range before {
		if status, _ := send(i); status != "delivered" {
			t.Fatalf("message %d before the kill: %s", i, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for len(live) < before {
		select {
		case text := <-liveSeen:
			live[text]++
		case <-time.After(clusterWait):
			t.Fatalf("bob got %d of %d messages live", len(live), before)
		}
	}
	deadline := time.Now().Add(clusterWait)
	for owed() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("n2 still owes %d messages it wrote", owed())
		}
		time.Sleep(20 * time.Millisecond)
	}
	n2.kill()
	<-liveDone
	for len(liveSeen) > 0 {
		live[<-liveSeen]++
	}

	// Keep sending until n1 declares n2 dead, and a few more after.
	delivered, after := 0, -1
	for i := before; after < 5; i++ {
		if i > before+300 {
			t.Fatal("n2 was never declared dead")
		}
		status, reaped := send(i)
		if status == "delivered" {
			delivered++
		}
		if reaped && after < 0 {
			after = 0
		} else if after >= 0 {
			after++
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d acknowledged; %d live before the kill, %d acknowledged delivered after it", len(acked), len(live), delivered)
	if delivered == 0 {
		t.Fatal("no message was acknowledged delivered between the kill and the reaping: the test tested nothing")
	}

	// bob on n1: the rest from the mailbox, each once.
	bobAgain, welcome := crashLogin(t, n1.addr, "bob", "password1")
	bob = &clusterConn{crashConn: bobAgain, name: "bob"}
	got := map[string]int{}
	for k, v := range live {
		got[k] += v
	}
	waiting := int(welcome["offline"].(float64))
	for range waiting {
		ev := bob.expect("message", "kind", "offline")
		got[fmt.Sprint(ev["text"])]++
	}
	bob.say("say end")
	for {
		ev := bob.expect("message")
		if ev["kind"] == "room" && ev["text"] == "end" {
			break
		}
		got[fmt.Sprint(ev["text"])]++
	}
	lost, doubled := 0, 0
	for text, status := range acked {
		switch got[text] {
		case 0:
			lost++
			t.Errorf("%s, acknowledged %s, never arrived", text, status)
		case 1:
		default:
			doubled++
			t.Errorf("%s, acknowledged %s, arrived %d times", text, status, got[text])
		}
	}
	t.Logf("%d acknowledged: %d lost, %d doubled", len(acked), lost, doubled)
}

// Issue 19, item 9 (its log): a crashed node restarted at once waits out its
// old heartbeat before it joins. It says so in one line, not one per try,
// and says once when it has joined.
func TestClusterRestartedNodeLogsItsWaitOnce(t *testing.T) {
	e := newClusterEnv(t, "alice")
	// Long enough that the restarted node waits well past the second a
	// connection may wait for the start.
	e.timeout = 5 * time.Second
	n1 := e.start("n1")
	n1.login("alice")
	n1.kill()
	n1 = e.start("n1")
	// While it waits, a client is told at once why it cannot come in,
	// instead of waiting on a silent socket.
	if !strings.Contains(n1.log.String(), "joined the cluster") {
		conn, err := dialTimeout(n1.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.Contains(line, "server_busy") || !strings.Contains(line, "starting") {
			t.Fatalf("a connection while n1 joins got %q, %v; want server_busy, starting\n%s", line, err, n1.log)
		}
	}
	deadline := time.Now().Add(clusterWait)
	for !strings.Contains(n1.log.String(), "joined the cluster") {
		if time.Now().After(deadline) {
			t.Fatalf("n1 never said it joined:\n%s", n1.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := n1.log.String()
	if waits := strings.Count(log, "waiting to join the cluster"); waits != 1 {
		t.Fatalf("%d lines about waiting to join, want 1:\n%s", waits, log)
	}
	if joined := strings.Count(log, "joined the cluster"); joined != 1 {
		t.Fatalf("%d lines about having joined, want 1:\n%s", joined, log)
	}
	n1.login("alice")
}

// TestClusterNodeUpgradesLive: node a of two is upgraded to a second build
// while users on both nodes chat across them. Nobody sees a presence
// event, every line reaches every user once, and a's sessions keep their
// rows in the cluster's table (the same ids, still a's).
func TestClusterNodeUpgradesLive(t *testing.T) {
	e := newClusterEnv(t, "alice", "bob", "carol", "dave")
	second := secondBinary(t)
	a := e.startExe("a", filepath.Join(e.dir, "chatd-a"))
	b := e.start("b")
	alice, bob := a.login("alice"), a.login("bob")
	carol, dave := b.login("carol"), b.login("dave")
	all := []*clusterConn{alice, bob, carol, dave}
	// Everyone knows everyone before the upgrade: what comes later is
	// the test's. The logins come in the order of the log.
	for _, c := range []*clusterConn{alice, bob, carol} {
		c.expect("presence", "user", "dave", "event", "login")
	}
	for _, c := range all {
		c.say("who")
		if got := users(c.expect("ok", "cmd", "who")); got != "alice bob carol dave" {
			t.Fatalf("%s: who = %q", c.name, got)
		}
	}
	rowsOfA := func() string {
		db, err := sql.Open("pgx", e.url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var got []string
		rows, err := db.Query(`SELECT name || ' ' || sid FROM cluster_sessions WHERE node = 'a' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			rows.Scan(&s)
			got = append(got, s)
		}
		return strings.Join(got, ", ")
	}
	before := rowsOfA()
	if strings.Count(before, ",") != 1 {
		t.Fatalf("a's rows before the upgrade: %q", before)
	}

	var want []string
	say := func(c *clusterConn, text string) {
		c.say(text)
		want = append(want, c.name+": "+text)
	}
	say(alice, "before-alice")
	say(carol, "before-carol")

	// Install the second build at a's path and upgrade while the users of
	// both nodes talk.
	data, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.exe+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(a.exe+".new", a.exe); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		out, err := exec.Command(binary, "upgrade", "-config", a.config).CombinedOutput()
		done <- fmt.Sprintf("%s(%v)", out, err)
	}()
	var out string
	bound := time.After(time.Minute)
talk:
	for i := 0; ; i++ {
		select {
		case out = <-done:
			break talk
		case <-bound:
			t.Fatalf("chatd upgrade did not end\nlog of a:\n%s", a.logs())
		case <-time.After(20 * time.Millisecond):
		}
		if i < 200 {
			say([]*clusterConn{carol, dave, alice, bob}[i%4], fmt.Sprintf("during-%03d", i))
		}
	}
	m := upgradedPid.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("chatd upgrade: %s\nlog of a:\n%s", out, a.logs())
	}
	if pid, _ := strconv.Atoi(m[1]); pid > 1 {
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	err = <-a.exited
	a.exited <- err
	if err != nil {
		t.Logf("the old process of a: %v", err)
	}
	say(alice, "after-alice")
	say(dave, "after-dave")
	say(bob, "after-bob")

	// Each reads every line, then up to its answer to a last who: every
	// line once, no presence event.
	for _, c := range all {
		seen := map[string]int{}
		asked := false
		for {
			if !asked && len(seen) == len(want) {
				c.say("who")
				asked = true
			}
			ev, err := c.next()
			if err != nil {
				t.Fatalf("%s: %v\nlog of a:\n%s", c.name, err, a.logs())
			}
			if ev["type"] == "presence" {
				t.Errorf("%s saw a presence event: %v", c.name, ev)
			}
			if ev["type"] == "message" && ev["kind"] == "room" {
				seen[fmt.Sprint(ev["from"], ": ", ev["text"])]++
			}
			if ev["type"] == "ok" && ev["cmd"] == "who" {
				if got := users(ev); got != "alice bob carol dave" {
					t.Errorf("%s: who after the upgrade = %q", c.name, got)
				}
				break
			}
		}
		for _, w := range want {
			if seen[w] != 1 {
				t.Errorf("%s saw %q %d times", c.name, w, seen[w])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("%s saw %d lines, want %d: %v", c.name, len(seen), len(want), seen)
		}
	}
	if after := rowsOfA(); after != before {
		t.Errorf("a's rows: %q before the upgrade, %q after", before, after)
	}
	if t.Failed() {
		t.Logf("log of a:\n%s", a.logs())
	}
}
