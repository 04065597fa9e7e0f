package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd/internal/pgtest"
)

// liveDaemon is `chatd serve` running as a child process on a free port.
type liveDaemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	exit chan error
	logs *strings.Builder
}

// freeAddr finds a loopback port nobody is listening on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serve starts the daemon with c's database and waits until it accepts.
func (c *cli) serve() *liveDaemon {
	c.t.Helper()
	return c.serveWith("", "")
}

// serveWith is serve with more [server] keys (server) and more TOML tables
// (extra) in the config. The tests' cheap [argon2] and loose [rate] tables
// are added unless extra has its own.
func (c *cli) serveWith(server, extra string) *liveDaemon {
	c.t.Helper()
	addr := freeAddr(c.t)
	if !strings.Contains(extra, "[argon2]") {
		extra += "\n[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n"
	}
	if !strings.Contains(extra, "[rate]") {
		extra += "\n[rate]\nlines_per_second = 1000.0\nburst = 1000\n"
	}
	c.writeFile("chatd.toml", fmt.Sprintf(`
[server]
listen = %q
%s
[database]
%s`, addr, server, c.database())+extra)
	d := &liveDaemon{t: c.t, addr: addr, exit: make(chan error, 1), logs: &strings.Builder{}}
	d.cmd = exec.Command(binary, "serve", "-config", c.config)
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { d.exit <- d.cmd.Wait() }()
	c.t.Cleanup(func() { d.cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return d
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("daemon did not start: %v\n%s", err, d.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminate sends SIGTERM and requires exit status 0.
func (d *liveDaemon) terminate() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exit:
		if err != nil {
			d.t.Fatalf("daemon exited with %v\n%s", err, d.logs)
		}
	case <-time.After(15 * time.Second):
		d.t.Fatalf("daemon did not stop on SIGTERM\n%s", d.logs)
	}
}

// jsonClient is a minimal JSON-mode client for the live daemon.
type jsonClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (d *liveDaemon) dial() *jsonClient {
	d.t.Helper()
	conn, err := net.Dial("tcp", d.addr)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { conn.Close() })
	c := &jsonClient{t: d.t, conn: conn, r: bufio.NewReader(conn)}
	c.send("mode json")
	return c
}

func (c *jsonClient) send(lines ...string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor reads events until one has type typ (and field key=val when
// key != ""), failing after timeout.
func (c *jsonClient) waitFor(timeout time.Duration, typ, key, val string) map[string]any {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("waiting for %s %s=%s: %v", typ, key, val, err)
		}
		i := strings.IndexByte(line, '{')
		if i < 0 {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line[i:]), &ev); err != nil {
			c.t.Fatalf("bad JSON %q", line)
		}
		if ev["type"] == typ && (key == "" || fmt.Sprint(ev[key]) == val) {
			return ev
		}
	}
}

func (d *liveDaemon) login(name, pw string) *jsonClient {
	d.t.Helper()
	c := d.dial()
	c.send(name, pw)
	c.waitFor(5*time.Second, "welcome", "user", name)
	return c
}

// TestAdminCommandsWhileServing drives every account-changing subcommand
// against the database of a running daemon and checks the daemon sees it.
func TestAdminCommandsWhileServing(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		d := c.serve()

		c.ok("password-a\n", "useradd", "alice")
		c.ok("password-b\n", "useradd", "bob")
		c.ok("", "usermod", "-admin=true", "bob")
		alice := d.login("alice", "password-a")
		bob := d.login("bob", "password-b")
		bob.send("check")
		if info := bob.waitFor(5*time.Second, "ok", "cmd", "check")["info"].(map[string]any); info["admin"] != true {
			t.Fatalf("usermod not seen at login: %v", info)
		}

		// A ban from the CLI reaches the online user within 2 s.
		c.ok("", "ban", "-for", "1h", "-reason", "spamming", "alice")
		bye := alice.waitFor(2*time.Second, "bye", "", "")
		if bye["reason"] != "banned" {
			t.Fatalf("bye = %v", bye)
		}
		bob.waitFor(5*time.Second, "presence", "event", "banned")
		if out := c.ok("", "bans"); !strings.Contains(out, "alice") || !strings.Contains(out, "spamming") {
			t.Fatalf("bans:\n%s", out)
		}
		again := d.dial()
		again.send("alice", "password-a")
		if e := again.waitFor(5*time.Second, "error", "cmd", "login"); e["code"] != "banned" || e["reason"] != "spamming" || e["until"] == nil {
			t.Fatalf("banned login: %v", e)
		}
		c.ok("", "unban", "alice")

		// passwd while serving: the next login needs the new password.
		c.ok("password-new\n", "passwd", "alice")
		old := d.dial()
		old.send("alice", "password-a")
		if e := old.waitFor(5*time.Second, "error", "cmd", "login"); e["code"] != "bad_credentials" {
			t.Fatalf("old password: %v", e)
		}
		alice = d.login("alice", "password-new")

		// Backup of the live database opens and holds the users. On
		// PostgreSQL, backup is pg_dump's job and chatd says so.
		backup := c.dir + "/backup.db"
		if c.pgURL != "" {
			c.fail("back it up with pg_dump", "", "backup", backup)
		} else {
			c.ok("", "backup", backup)
			if _, err := openDB(t, backup).UserByName(t.Context(), "alice"); err != nil {
				t.Fatalf("backup: %v", err)
			}
		}
		c.ok("", "userdel", "bob")

		// SIGTERM: every client is told, the daemon exits 0, last seen is kept.
		d.terminate()
		alice.waitFor(5*time.Second, "bye", "reason", "shutdown")
		if r := row(c.ok("", "users"), "alice"); len(r) == 0 || strings.Contains(strings.Join(r, " "), "never") {
			t.Fatalf("users row for alice after shutdown: %v", r)
		}
	})
}

// Every admin command acts on the running server within 2 s, through the
// actions table, and the server logs each action once: notice, usermod in
// both directions (the user is told and the rights change in the session),
// kick, passwd and userdel (an admin's session too) end sessions; who lists
// the sessions the server reports.
func TestAdminActionsReachLiveSessions(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			c.ok("password-"+u+"\n", "useradd", u)
		}
		c.ok("", "usermod", "-admin=true", "carol")
		d := c.serve()
		alice := d.login("alice", "password-alice")
		bob := d.login("bob", "password-bob")
		carol := d.login("carol", "password-carol")
		dave := d.login("dave", "password-dave")
		alice.send("create den", "join den")
		alice.waitFor(5*time.Second, "ok", "cmd", "join")

		// who: written by the server as sessions come and go.
		var rows map[string][]string
		for deadline := time.Now().Add(5 * time.Second); ; {
			out := c.ok("", "who")
			rows = map[string][]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
				f := strings.Fields(line)
				rows[f[0]] = f
			}
			if len(rows) == 4 && rows["alice"][1] == "den" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("who never showed the four sessions:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r := rows["bob"]; r[1] != "lobby" || r[2] != "127.0.0.1" {
			t.Fatalf("who row for bob: %v", r)
		}

		c.ok("", "notice", "maintenance at \x1b[31mnoon")
		for _, cl := range []*jsonClient{alice, bob, carol, dave} {
			if n := cl.waitFor(2*time.Second, "notice", "", ""); n["text"] != "maintenance at [31mnoon" {
				t.Fatalf("notice = %v", n)
			}
		}

		isAdmin := func(cl *jsonClient) any {
			cl.send("check")
			return cl.waitFor(5*time.Second, "ok", "cmd", "check")["info"].(map[string]any)["admin"]
		}
		c.ok("", "usermod", "-admin=true", "alice")
		if n := alice.waitFor(2*time.Second, "notice", "", ""); n["text"] != "you are now a server admin" {
			t.Fatalf("alice told %v", n)
		}
		if isAdmin(alice) != true {
			t.Fatal("alice has no admin rights after usermod -admin=true")
		}
		c.ok("", "usermod", "-admin=false", "carol")
		if n := carol.waitFor(2*time.Second, "notice", "", ""); n["text"] != "you are no longer a server admin" {
			t.Fatalf("carol told %v", n)
		}
		carol.send("kick bob")
		if e := carol.waitFor(5*time.Second, "error", "cmd", "kick"); e["code"] != "not_permitted" {
			t.Fatalf("carol kicked after losing admin: %v", e)
		}

		c.ok("", "kick", "bob", "too", "loud")
		if bye := bob.waitFor(2*time.Second, "bye", "", ""); bye["reason"] != "kicked" || !strings.Contains(bye["text"].(string), "too loud") {
			t.Fatalf("bob's bye = %v", bye)
		}
		c.ok("password-new\n", "passwd", "dave")
		if bye := dave.waitFor(2*time.Second, "bye", "", ""); bye["reason"] != "kicked" || !strings.Contains(bye["text"].(string), "password was changed") {
			t.Fatalf("dave's bye = %v", bye)
		}
		c.ok("", "userdel", "carol")
		if bye := carol.waitFor(2*time.Second, "bye", "", ""); bye["reason"] != "kicked" || !strings.Contains(bye["text"].(string), "deleted") {
			t.Fatalf("carol's bye = %v", bye)
		}
		old := d.dial()
		old.send("dave", "password-dave")
		if e := old.waitFor(5*time.Second, "error", "cmd", "login"); e["code"] != "bad_credentials" {
			t.Fatalf("dave's old password: %v", e)
		}

		for deadline := time.Now().Add(5 * time.Second); ; {
			out := c.ok("", "who")
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) == 2 && strings.HasPrefix(lines[1], "alice ") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("who after the kicks:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}

		// alice was made an admin above: deleting her ends her session too.
		c.ok("", "userdel", "alice")
		if bye := alice.waitFor(2*time.Second, "bye", "", ""); bye["reason"] != "kicked" || !strings.Contains(bye["text"].(string), "deleted") {
			t.Fatalf("alice's bye = %v", bye)
		}

		d.terminate()
		logs := d.logs.String()
		for _, a := range []string{"notice", "usermod", "kick", "passwd", "userdel"} {
			want := 1
			if a == "usermod" || a == "userdel" {
				want = 2
			}
			if n := linesWith(logs, "msg=\"admin action\"", "action="+a+" "); n != want {
				t.Errorf("%d log lines for action %s, want %d:\n%s", n, a, want, logs)
			}
		}
		if out := c.ok("", "who"); strings.Count(out, "\n") != 1 {
			t.Errorf("who after the server stopped:\n%s", out)
		}
	})
}

// linesWith counts the lines of text that contain every one of parts.
func linesWith(text string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestServeChats: the built daemon on either backend does what a user
// does all day: room chat, history on join, search, a private message to
// someone offline delivered at their next login, and a restart that keeps
// it all.
func TestServeChats(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		c.ok("password-a\n", "useradd", "Alice")
		c.ok("password-b\n", "useradd", "bob")
		d := c.serve()
		alice := d.login("Alice", "password-a")
		bob := d.login("bob", "password-b")
		alice.send("create den", "join den")
		alice.waitFor(5*time.Second, "ok", "cmd", "join")
		bob.send("join DEN")
		bob.waitFor(5*time.Second, "ok", "cmd", "join")
		alice.send("a naïve Café opens at nine", "say bring a book")
		bob.waitFor(5*time.Second, "message", "text", "a naïve Café opens at nine")
		bob.waitFor(5*time.Second, "message", "text", "bring a book")

		bob.send("search NAIVE cafe")
		if m := bob.waitFor(5*time.Second, "message", "kind", "history"); m["text"] != "a naïve Café opens at nine" {
			t.Fatalf("search found %v", m)
		}
		bob.send("quit")
		bob.waitFor(5*time.Second, "bye", "reason", "logout")
		alice.send("send BOB see you at nine")
		if s := alice.waitFor(5*time.Second, "delivery", "to", "bob"); s["status"] != "stored" {
			t.Fatalf("delivery to offline bob: %v", s)
		}

		// A restart keeps the room, its history and bob's mail.
		d.terminate()
		d = c.serve()
		bob = d.login("bob", "password-b")
		if m := bob.waitFor(5*time.Second, "message", "kind", "offline"); m["text"] != "see you at nine" || m["from"] != "Alice" {
			t.Fatalf("offline message: %v", m)
		}
		bob.send("join den")
		if m := bob.waitFor(5*time.Second, "message", "kind", "history"); m["text"] != "a naïve Café opens at nine" {
			t.Fatalf("history on join: %v", m)
		}
		bob.waitFor(5*time.Second, "message", "text", "bring a book")
		// Delivered mail is deleted once written to bob's connection.
		store := c.openDB()
		for deadline := time.Now().Add(5 * time.Second); ; {
			n, err := store.OfflineCount(t.Context(), "bob")
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d offline messages left after delivery", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		d.terminate()
	})
}

// chatd kick says whether there was anyone to disconnect: a user who is
// not online is not "asked to be disconnected".
func TestKickOfflineUser(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password-f\n", "useradd", "frank")
	c.ok("password-b\n", "useradd", "bob")
	d := c.serve()
	out := c.ok("", "kick", "frank")
	if !strings.Contains(out, "frank is not online") || strings.Contains(out, "asked the server") {
		t.Fatalf("kick of an offline user says %q", out)
	}
	bob := d.login("bob", "password-b")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(c.ok("", "who"), "bob"); {
		if time.Now().After(deadline) {
			t.Fatal("who never listed bob")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := c.ok("", "kick", "bob"); out != "asked the server to disconnect bob\n" {
		t.Fatalf("kick of an online user says %q", out)
	}
	bob.waitFor(5*time.Second, "bye", "reason", "kicked")
}
