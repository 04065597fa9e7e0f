package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd/internal/pgtest"
)

// migrateView is what name sees of the community through a fresh login at
// addr: the welcome, what comes with the login (replay, offline mail), and
// the answers to the commands that read the stored state.
func migrateView(t *testing.T, addr, name string, cmds ...string) string {
	t.Helper()
	conn, welcome := crashLogin(t, addr, name, "password1")
	c := &clusterConn{crashConn: conn, name: name}
	var b strings.Builder
	fmt.Fprintf(&b, "welcome room=%v rooms=%s\n", welcome["room"], jsonOf(welcome["rooms"]))
	for _, cmd := range append([]string{"echo sync"}, cmds...) {
		c.say(cmd)
		verb, _, _ := strings.Cut(cmd, " ")
		fmt.Fprintf(&b, "> %s\n", cmd)
		for {
			ev, err := c.next()
			if err != nil {
				t.Fatalf("%s: %s: %v", name, cmd, err)
			}
			if ev["type"] == "message" {
				fmt.Fprintf(&b, "  %s\n", jsonOf(ev))
			}
			if (ev["type"] == "ok" || ev["type"] == "error") && ev["cmd"] == verb {
				fmt.Fprintf(&b, "  %s\n", jsonOf(ev))
				break
			}
		}
	}
	c.say("logout")
	c.expect("bye")
	return b.String()
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The test: a community built through the protocol on SQLite,
// moved with `chatd migrate -to` and served by two nodes, looks the same to
// every user: rooms, history, search, unread counts and markers, settings,
// and the mail waiting for the next login. A second copy into the same
// database is refused, and the copy goes back with -from.
func TestMigrateToCluster(t *testing.T) {
	c := newCLIWithDB(t)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		c.ok("password1\n", "useradd", u)
	}
	d := c.serve()
	alice, _ := crashLogin(t, d.addr, "alice", "password1")
	a := &clusterConn{crashConn: alice, name: "alice"}
	bobConn, _ := crashLogin(t, d.addr, "bob", "password1")
	bob := &clusterConn{crashConn: bobConn, name: "bob"}
	a.say("create den", "topic plans for the café")
	a.expect("ok", "cmd", "topic")
	bob.say("join den")
	bob.expect("ok", "cmd", "join")
	a.say("say the Café opens at nine", "say bring the maps", "me waves")
	first := bob.expect("message", "kind", "room", "text", "the Café opens at nine")
	bob.expect("message", "kind", "room", "text", "waves")
	bob.say("read #den "+fmt.Sprint(first["id"]), "set timezone Europe/Paris", "say see you there")
	bob.expect("ok", "cmd", "set")
	a.expect("message", "kind", "room", "text", "see you there")
	a.say("send bob the secret plan", "send dave waiting for you")
	a.expect("delivery", "to", "bob", "status", "delivered")
	a.expect("delivery", "to", "dave", "status", "stored")
	bob.say("leave lobby")
	bob.expect("ok", "cmd", "leave")

	// A copy made while the server runs is a consistent snapshot, and
	// migrate warns that the server is up.
	for deadline := time.Now().Add(clusterWait); !strings.Contains(c.ok("", "who"), "bob"); {
		if time.Now().After(deadline) {
			t.Fatal("who never listed bob")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := c.run("", "migrate", "-to", pgtest.URL(t)); r.code != 0 || !strings.Contains(r.stderr, "is the server still running?") {
		t.Fatalf("migrate -to from a live server: exit %d\n%s", r.code, r.stderr)
	}
	d.terminate() // the history and the markers are stored

	// What each user sees on SQLite, from a server that reads it all back.
	views := map[string][]string{
		"alice": {"rooms mine", "unread", "history #den", "history @bob", "search #den cafe", "search @bob plan", "set"},
		"bob":   {"rooms mine", "unread", "history #den", "history #lobby", "search #den maps", "set"},
		"carol": {"rooms mine", "unread", "history #lobby", "set"},
	}
	d = c.serve()
	want := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		want[u] = migrateView(t, d.addr, u, views[u]...)
	}
	d.terminate()
	if !strings.Contains(want["bob"], "the Café opens at nine") || !strings.Contains(want["alice"], "the secret plan") ||
		!strings.Contains(want["bob"], `"unread":2`) || !strings.Contains(want["bob"], "Europe/Paris") {
		t.Fatalf("the views before the move lack what was said:\n%s\n%s", want["alice"], want["bob"])
	}

	url := pgtest.URL(t)
	r := c.run("", "migrate", "-to", url)
	if r.code != 0 {
		t.Fatalf("migrate -to: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "every table's row count and checksum match") || !strings.Contains(r.stdout, `driver = "postgres"`) {
		t.Errorf("migrate -to said:\n%s", r.stdout)
	}
	for _, table := range []string{"users", "room_history", "offline_messages", "read_markers"} {
		if n := strings.Count(r.stderr, "  "+table+" "); n != 1 {
			t.Errorf("%d progress lines for %s:\n%s", n, table, r.stderr)
		}
	}
	c.fail("is not empty", "", "migrate", "-to", url)

	e := &clusterEnv{t: t, url: url, dir: t.TempDir()}
	n1, n2 := e.start("n1"), e.start("n2")
	at := map[string]string{"alice": n1.addr, "bob": n2.addr, "carol": n1.addr}
	for _, u := range []string{"alice", "bob", "carol"} {
		if got := migrateView(t, at[u], u, views[u]...); got != want[u] {
			t.Errorf("%s sees after the move:\n%s\nbefore:\n%s", u, got, want[u])
		}
	}
	// The letter waiting for dave is delivered at his first login, once.
	dave := n2.login("dave")
	dave.expect("message", "kind", "offline", "text", "waiting for you")
	// New lines get new ids on both nodes.
	a2, b2 := n1.login("alice"), n2.login("bob")
	a2.say("say #den after the move")
	b2.expect("message", "kind", "room", "text", "after the move")
	// It is stored (the history writer stores in batches): a row id
	// taken by a copied row would keep it out for good.
	for stored, deadline := "", time.Now().Add(clusterWait); stored != "after the move"; {
		if time.Now().After(deadline) {
			t.Fatalf("the new line is not in den's history; the last is %q\n%s", stored, n1.log)
		}
		time.Sleep(50 * time.Millisecond)
		b2.say("history #den 1")
		stored = fmt.Sprint(b2.expect("message", "kind", "history")["text"])
		b2.expect("ok", "cmd", "history")
	}

	// And back: the PostgreSQL database into a new SQLite file.
	back := newCLI(t)
	r = back.run("", "migrate", "-from", url)
	if r.code != 0 || !strings.Contains(r.stdout, `driver = "sqlite"`) {
		t.Fatalf("migrate -from: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	back.fail("is not empty", "", "migrate", "-from", url)
	lines, err := openDB(t, back.dbPath).History(context.Background(), "den", 10)
	if err != nil || len(lines) < 3 || lines[0].Text != "the Café opens at nine" {
		t.Fatalf("den's history in the SQLite copy: %+v, %v", lines, err)
	}
}

// Mistakes on the command line are refused with a sentence, before any
// database is touched.
func TestMigrateArguments(t *testing.T) {
	c := newCLI(t)
	c.fail("exactly one of -to URL", "", "migrate")
	c.fail("exactly one of -to URL", "", "migrate", "-to", "postgres://x@127.0.0.1:1/a", "-from", "postgres://x@127.0.0.1:1/b")
	c.fail("takes no arguments", "", "migrate", "-to", "postgres://x@127.0.0.1:1/a", "extra")
	c.fail("nothing to copy", "", "migrate", "-to", "postgres://x@127.0.0.1:1/a")
	if exists(c.dbPath) {
		t.Fatalf("migrate created %s", c.dbPath)
	}
	// A -from that cannot reach its source leaves no new SQLite file.
	r := c.run("", "migrate", "-from", "postgres://x:hunter2@127.0.0.1:1/a?connect_timeout=5")
	if r.code != 1 || strings.Contains(r.stderr, "hunter2") || exists(c.dbPath) {
		t.Fatalf("migrate -from an unreachable database: exit %d, file left: %v\n%s", r.code, exists(c.dbPath), r.stderr)
	}
}
