package daemon_test

// End-to-end tests for the defects of issue 10 (a red-team pass): each
// fails on the code before its fix. Helpers here are prefixed "rt".

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
)

// Names that differ only by case, width or compatibility form are one
// name: a Kelvin sign cannot register a second "kate" and take over her
// session or her private messages; invisible characters are refused
// whatever the pattern allows.
func TestNameFoldingOneIdentity(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Accounts.UsernamePattern = `^\S{3,32}$`
		c.Accounts.DuplicateLogin = "replace"
		c.Lockout.Attempts = 10
	})
	ts.addUsers("kate", "bob")
	kate := login(t, ts.addr, "kate", "password1")
	bob := login(t, ts.addr, "bob", "password1")

	for _, spoof := range []string{"\u212aate", "ＫＡＴＥ", "KATE"} {
		c := dial(t, ts.addr)
		c.send(spoof)
		// Known name: a password prompt, not registration.
		c.expectNext("prompt", "field", "password")
		c.send("password1x")
		c.expectError("login", "bad_credentials")
	}
	for _, hidden := range []string{"ka\u200bte", "kate\u2066", "\u00adkate", "kat\u202ee"} {
		c := dial(t, ts.addr)
		c.send(hidden)
		c.expectNext("prompt", "field", "new_password")
		c.send("password1", "password1")
		c.expectError("login", "bad_name")
	}
	// Every spelling reaches the one kate.
	bob.send("send \u212aATE hello there")
	bob.expect("delivery", "to", "kate", "status", "delivered")
	kate.expect("message", "kind", "private", "from", "bob", "text", "hello there")
	bob.send("send ｋａｔｅ second")
	bob.expect("delivery", "to", "kate", "status", "delivered")
	kate.expect("message", "kind", "private", "from", "bob", "text", "second")
	kate.nothingPending() // never replaced
	if got := bob.users("who", "who"); got != "bob,kate" {
		t.Fatalf("who = %s", got)
	}
}

// The sender's own error lines are cleaned like everything else: a name
// with an escape sequence is not echoed raw.
func TestErrorsEchoNoEscapes(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := hardTextLogin(t, ts.addr, "alice", "password1")
	a.write("send \x1b[2Jnobody hi\r\n")
	got := a.until("(no_such_user)\r\n")
	a.write("/\x1b]0;title\x07x\r\n")
	got = append(got, a.until("(unknown_command)\r\n")...)
	a.write("send (\x1b[31mred \x1b[2Jblue) hi\r\n")
	got = append(got, a.until("blue: not sent: no such user\r\n")...)
	if bytes.ContainsAny(got, "\x1b\x07") {
		t.Fatalf("escape echoed back: %q", got)
	}
	hardTerminalSafe(t, "alice", got)
}

// Line and paragraph separators and bidi embedding, override and isolate
// controls are removed from relayed text, in text and JSON mode.
func TestRelayedTextHasNoLineRewriters(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	carol := hardTextLogin(t, ts.addr, "carol", "password1")
	nasty := "a\u2028b\u2029c\u202ad\u202be\u202cf\u202dg\u202eh\u2066i\u2067j\u2068k\u2069l שלום"
	alice.send(nasty)
	ev := bob.expect("message", "kind", "room", "from", "alice")
	if got := ev.str("text"); got != "abcdefghijkl שלום" {
		t.Fatalf("bob got %q", got)
	}
	raw := carol.until("שלום")
	for _, r := range "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" {
		if bytes.ContainsRune(raw, r) {
			t.Fatalf("carol got %U raw: %q", r, raw)
		}
	}
	alice.send("send bob x\u202ey")
	if got := bob.expect("message", "kind", "private").str("text"); got != "xy" {
		t.Fatalf("private message %q", got)
	}
}

// TLS 1.2 offers AEAD suites only: every CBC (or otherwise non-AEAD)
// suite is refused at the handshake; the AEAD ones work.
func TestTLS12OnlyAEAD(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.TLSListen = "127.0.0.1:0"
		c.Server.TLSCert = certFile
		c.Server.TLSKey = keyFile
	})
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tlsAddr := ts.srv.TLSAddr().String()
	all := append(tls.CipherSuites(), tls.InsecureCipherSuites()...)
	var refused, accepted int
	for _, cs := range all {
		if !rtSupports(cs, tls.VersionTLS12) || strings.Contains(cs.Name, "_RSA_WITH") && !strings.Contains(cs.Name, "ECDHE") {
			continue // not TLS 1.2, or static RSA key exchange our ECDSA key cannot do
		}
		ecdsaOK := strings.Contains(cs.Name, "ECDSA")
		aead := strings.Contains(cs.Name, "GCM") || strings.Contains(cs.Name, "CHACHA20")
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", tlsAddr, &tls.Config{
			RootCAs: pool, ServerName: "127.0.0.1",
			MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{cs.ID},
		})
		if err == nil {
			conn.Close()
		}
		switch {
		case !aead && err == nil:
			t.Errorf("TLS 1.2 with %s: handshake succeeded", cs.Name)
		case !aead:
			refused++
		case ecdsaOK && err != nil:
			t.Errorf("TLS 1.2 with %s: %v", cs.Name, err)
		case ecdsaOK:
			accepted++
		}
	}
	if refused == 0 || accepted == 0 {
		t.Fatalf("tried %d refused and %d accepted suites; the test checked nothing", refused, accepted)
	}
}

func rtSupports(cs *tls.CipherSuite, v uint16) bool {
	for _, sv := range cs.SupportedVersions {
		if sv == v {
			return true
		}
	}
	return false
}

// rtUsers creates n accounts named prefix0..prefix(n-1), all with the
// password "password1", sharing one hash so that setting up is quick.
func rtUsers(t *testing.T, ts *testServer, prefix string, n int) []string {
	t.Helper()
	h, err := chatd.NewHasher(ts.cfg.Argon2).Hash("password1")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
		if _, err := ts.store.CreateUser(context.Background(), names[i], h, false); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// rtLoginResult logs name in over a fresh connection with everything
// pipelined and returns the welcome or the error that ended the try.
func rtLoginResult(addr, name, pw string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := conn.Write([]byte("mode json\n" + name + "\n" + pw + "\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.Contains(line, `"type":"welcome"`) {
			return "welcome", nil
		}
		if strings.Contains(line, `"type":"error"`) {
			var ev event
			json.Unmarshal([]byte(line[strings.IndexByte(line, '{'):]), &ev)
			return ev.str("code"), nil
		}
	}
}

// A genuine storm: 1,000 distinct users log in at the same moment. They
// can all be served well within login_timeout, so none is told
// server_busy.
func TestLoginStormAllServed(t *testing.T) {
	const n = 1000
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.MaxConnections = n + 10
		c.Server.MaxConnectionsPerIP = n + 10
	})
	names := rtUsers(t, ts, "storm", n)
	results := make(chan string, n)
	var start sync.WaitGroup
	start.Add(1)
	for _, name := range names {
		go func() {
			start.Wait()
			res, err := rtLoginResult(ts.addr, name, "password1")
			if err != nil {
				res = err.Error()
			}
			results <- res
		}()
	}
	start.Done()
	counts := map[string]int{}
	for range n {
		counts[<-results]++
	}
	if counts["welcome"] != n {
		t.Fatalf("of %d simultaneous logins: %v", n, counts)
	}
}

// Lockout race: 20 connections from one address try 4 wrong passwords
// each, all at once. The name is checked exactly lockout.attempts times;
// every other try is refused as locked before any hash.
func TestLockoutRaceParallelGuesses(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.MaxConnectionsPerIP = 50
		c.Lockout.Attempts = 3
		c.Lockout.Duration = chatd.Duration{Duration: time.Hour}
	})
	ts.addUsers("victim")
	const conns, tries = 20, 4
	codes := make(chan string, conns*tries)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", ts.addr)
			if err != nil {
				codes <- err.Error()
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			var b strings.Builder
			b.WriteString("mode json\n")
			for j := range tries {
				fmt.Fprintf(&b, "victim\nwrong-%d-%d\n", i, j)
			}
			conn.Write([]byte(b.String()))
			r := bufio.NewReader(conn)
			for got := 0; got < tries; {
				line, err := r.ReadString('\n')
				if err != nil {
					codes <- err.Error()
					return
				}
				if strings.Contains(line, `"type":"error"`) && strings.Contains(line, `"cmd":"login"`) {
					var ev event
					json.Unmarshal([]byte(line[strings.IndexByte(line, '{'):]), &ev)
					codes <- ev.str("code")
					got++
				}
			}
		}()
	}
	wg.Wait()
	close(codes)
	counts := map[string]int{}
	for c := range codes {
		counts[c]++
	}
	attempts, err := ts.store.Attempts(context.Background(), "victim", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 3 || counts["bad_credentials"]+counts["locked_out"] != conns*tries {
		t.Fatalf("%d passwords checked (want 3); answers %v", len(attempts), counts)
	}
	// The right password is refused too while locked.
	if res, _ := rtLoginResult(ts.addr, "victim", "password1"); res != "locked_out" {
		t.Fatalf("right password while locked: %s", res)
	}
}

// A join racing the room's close never leaves the joiner in the deleted
// room: many rounds of create, then join and close at the same moment.
func TestJoinCloseRace(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("owner", "joiner")
	owner := login(t, ts.addr, "owner", "password1")
	joiner := login(t, ts.addr, "joiner", "password1")
	const rounds = 300
	stuck := 0
	for i := range rounds {
		room := fmt.Sprintf("race%d", i)
		owner.do("create "+room, "create")
		owner.do("leave", "leave")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); joiner.conn.Write([]byte("join " + room + "\n")) }()
		go func() { defer wg.Done(); owner.conn.Write([]byte("close " + room + "\n")) }()
		wg.Wait()
		owner.in(t).expect("ok", "cmd", "close")
		joiner.settle()
		if got := joiner.roomOf(); got != "lobby" {
			stuck++
			t.Errorf("round %d: joiner is in %q after it was closed", i, got)
			joiner.do("leave", "leave")
		}
		joiner.seen, owner.seen = nil, nil
	}
	if stuck > 0 {
		t.Fatalf("%d of %d rounds left the joiner in a deleted room", stuck, rounds)
	}
}

// Room password guesses are counted per room and user in the database:
// logging in again does not reset them. After lockout.attempts wrong
// passwords join answers locked_out with until, even with the right one,
// until lockout.duration has passed.
func TestRoomPasswordLockoutSurvivesRelogin(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Lockout.Attempts = 3
		c.Lockout.Duration = chatd.Duration{Duration: time.Hour}
	})
	ts.addUsers("owner", "guesser", "other")
	owner := login(t, ts.addr, "owner", "password1")
	owner.do("create vault 4711", "create")

	g := login(t, ts.addr, "guesser", "password1")
	g.fails("join vault 0000", "join", "bad_room_password")
	g.send("logout")
	g.closed()
	g = login(t, ts.addr, "guesser", "password1")
	g.fails("join vault 0001", "join", "bad_room_password")
	ev := g.fails("join vault 0002", "join", "locked_out") // the third sets the lock
	if ev.str("until") == "" {
		t.Fatalf("locked_out without until: %v", ev)
	}
	g.send("logout")
	g.closed()
	g = login(t, ts.addr, "guesser", "password1")
	g.fails("join vault 4711", "join", "locked_out")

	// Per user: someone else still gets their own tries.
	o := login(t, ts.addr, "other", "password1")
	o.do("join vault 4711", "join")

	ts.clock.advance(time.Hour + time.Second)
	g.do("join vault 4711", "join")
}

// A mailbox of 10,000 stored messages is delivered whole, each message
// once and in order, without its owner being cut off as a slow reader;
// the mailbox is empty afterwards.
func TestBigMailboxDeliveredPaced(t *testing.T) {
	const n = 10000
	ts := startServer(t, func(c *chatd.Config) { c.Messages.OfflineLimit = n })
	ts.addUsers("alice", "bob")
	// One durable commit per StoreOffline makes 10,000 of them take
	// minutes on a busy disk; the first few go through the store, the
	// rest are copied in one transaction straight into the file.
	for i := range 3 {
		m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: fmt.Sprintf("mail %05d", i)}
		if err := ts.store.StoreOffline(context.Background(), "bob", m, n); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", ts.cfg.Database.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i < n; i++ {
		res, err := tx.Exec(`INSERT INTO letters (sender, recipients, body, ts) SELECT sender, recipients, ?, ts FROM letters LIMIT 1`,
			fmt.Sprintf("mail %05d", i))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		if _, err := tx.Exec(`INSERT INTO offline_messages (recipient, letter) SELECT recipient, ? FROM offline_messages LIMIT 1`, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	b := dial(t, ts.addr)
	b.name = "bob"
	b.send("bob", "password1")
	if w := b.expect("welcome", "user", "bob"); fmt.Sprint(w["offline"]) != fmt.Sprint(n) {
		t.Fatalf("welcome says %v offline messages", w["offline"])
	}
	for i := range n {
		ev := b.expect("message", "kind", "offline")
		if want := fmt.Sprintf("mail %05d", i); ev.str("text") != want {
			t.Fatalf("offline message %d is %q, want %q", i, ev.str("text"), want)
		}
	}
	b.settle()
	for _, ev := range b.seen {
		if ev.str("type") == "bye" || ev.str("kind") == "offline" {
			t.Fatalf("unexpected %v", ev)
		}
	}
	waitFor(t, "the mailbox to empty", func() bool {
		left, err := ts.store.OfflineCount(context.Background(), "bob")
		return err == nil && left == 0
	})
	// A second login finds nothing to deliver.
	b.send("logout")
	b.closed()
	again := login(t, ts.addr, "bob", "password1")
	again.settle()
	for _, ev := range again.seen {
		if ev.str("kind") == "offline" {
			t.Fatalf("delivered again: %v", ev)
		}
	}
}

// Storage abuse: one send names at most messages.max_recipients users; a
// message to many offline users stores its text and recipient list once;
// rooms.max_per_user and rooms.max_total cap room creation.
func TestStorageLimits(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Messages.MaxRecipients = 20
		c.Rooms.MaxPerUser = 2
		c.Rooms.MaxTotal = 3
	})
	names := rtUsers(t, ts, "r", 21)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")

	a.fails("send ("+strings.Join(names, " ")+") hello", "send", "bad_args")
	a.send("send (" + strings.Join(names[:20], " ") + ") " + strings.Repeat("x", 2000))
	for range 20 {
		a.expect("delivery", "status", "stored")
	}
	raw, err := sql.Open("sqlite", ts.cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var letters, rows int
	if err := raw.QueryRow(`SELECT (SELECT count(*) FROM letters), (SELECT count(*) FROM offline_messages)`).Scan(&letters, &rows); err != nil {
		t.Fatal(err)
	}
	if letters != 1 || rows != 20 {
		t.Fatalf("%d stored texts and %d mailbox rows for one message to 20 offline users; want 1 and 20", letters, rows)
	}

	a.do("create one", "create")
	a.do("create two", "create")
	ev := a.fails("create three", "create", "not_permitted")
	if !strings.Contains(ev.str("text"), "rooms.max_per_user") {
		t.Fatalf("unclear error: %v", ev)
	}
	b := login(t, ts.addr, "bob", "password1")
	b.do("create three", "create")
	ev = b.fails("create four", "create", "not_permitted")
	if !strings.Contains(ev.str("text"), "rooms.max_total") {
		t.Fatalf("unclear error: %v", ev)
	}
	a.do("close two", "close")
	b.do("create four", "create")
}

// Bad lines are not free: over-long lines, invalid UTF-8 and telnet
// commands that never make a line all count against the client's budget,
// and persistent flooding of each kind ends the session; others chat on.
func TestFloodOfBadInputDisconnects(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 10
		c.Rate.Burst = 30
		c.Server.MaxLineBytes = 256
	})
	ts.addUsers("alice", "bob", "f1", "f2", "f3")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	floods := map[string]string{
		"f1": strings.Repeat(strings.Repeat("x", 1000)+"\n", 300),         // too long
		"f2": strings.Repeat(strings.Repeat("\xc3\x28", 100)+"\n", 300),   // not UTF-8
		"f3": strings.Repeat(hardIAC+hardNOP, 150000) + hardIAC + hardAYT, // telnet only
	}
	for name, flood := range floods {
		c := login(t, ts.addr, name, "password1")
		go func() {
			// The server may close while this is still writing.
			c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			c.conn.Write([]byte(flood))
		}()
		for {
			ev, err := c.tryNext(30 * time.Second)
			if err != nil {
				t.Fatalf("%s: flooded %d bytes and was not disconnected: %v", name, len(flood), err)
			}
			if ev.str("type") == "bye" {
				if !strings.Contains(ev.str("text"), "flooding") {
					t.Fatalf("%s: %v", name, ev)
				}
				break
			}
		}
		alice.send("still here after " + name)
		bob.expect("message", "kind", "room", "text", "still here after "+name)
	}
}
