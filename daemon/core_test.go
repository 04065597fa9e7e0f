package daemon_test

import (
	"bytes"
	"chatd"
	"chatd/db"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRegisterChatAndPresence(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts.addr, "alice", "correct horse")
	bob := register(t, ts.addr, "bob", "battery staple")
	alice.expect("presence", "user", "bob", "event", "login", "room", "lobby")

	bob.send("hello everyone")
	for _, c := range []*client{alice, bob} {
		ev := c.expect("message", "kind", "room", "from", "bob", "room", "lobby")
		if ev.str("text") != "hello everyone" || ev.str("ts") == "" {
			t.Fatalf("%s got %v", c.name, ev)
		}
	}
	bob.send("logout")
	bob.expect("bye", "reason", "logout")
	bob.closed()
	alice.expect("presence", "user", "bob", "event", "logout")
}

func TestWelcomeListsOnline(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	ts.addUser("Bob", "password2", true)
	login(t, ts.addr, "alice", "password1")
	c := dial(t, ts.addr)
	c.send("bob") // case-insensitive, registered spelling kept
	c.expectNext("prompt", "field", "password")
	c.send("password2")
	w := c.expect("welcome")
	if w.str("user") != "Bob" || w["admin"] != true || w.str("room") != "lobby" || w["offline"] != float64(0) {
		t.Fatalf("welcome %v", w)
	}
	if got := strings.Join(w.strs("online"), ","); got != "alice,Bob" {
		t.Fatalf("online = %s", got)
	}
}

func TestWhoAndWhoElse(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	register(t, ts.addr, "carol", "password3")
	register(t, ts.addr, "bob", "password2")
	a.send("who")
	if got := strings.Join(a.expect("ok", "cmd", "who").strs("users"), ","); got != "alice,bob,carol" {
		t.Fatalf("who = %s", got)
	}
	a.send("/whoelse")
	if got := strings.Join(a.expect("ok", "cmd", "whoelse").strs("users"), ","); got != "bob,carol" {
		t.Fatalf("whoelse = %s", got)
	}
}

func TestBadCredentialsAndClosedRegistration(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Accounts.Registration = "closed" })
	ts.addUser("alice", "password1", false)
	c := dial(t, ts.addr)
	c.send("alice")
	c.expectNext("prompt", "field", "password")
	c.send("wrong")
	c.expectError("login", "bad_credentials")
	c.expectNext("prompt", "field", "username")
	// An unknown name gets the same prompt and the same reply.
	c.send("nobody")
	c.expectNext("prompt", "field", "password")
	c.send("whatever")
	e := c.expectError("login", "bad_credentials")
	if e.str("text") != "wrong username or password" {
		t.Fatalf("text %q", e.str("text"))
	}
	c.expectNext("prompt", "field", "username")
	c.send("alice")
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	c.expect("welcome", "user", "alice")
}

func TestRegistrationErrors(t *testing.T) {
	ts := startServer(t)
	t.Run("ErrBadName", func(t *testing.T) {
		// Both passwords are asked first, so pipelined lines stay
		// aligned; a bad name then goes back to the name prompt.
		c := dial(t, ts.addr)
		c.send("1bad")
		c.expectNext("prompt", "field", "new_password")
		c.send("longenough", "longenough")
		c.expectNext("prompt", "field", "repeat_password")
		c.expectError("login", "bad_name")
		c.expectNext("prompt", "field", "username")
	})
	cases := []struct {
		name, pw, repeat, code string
	}{
		{"ErrWeakPassword", "short", "short", "weak_password"},
		{"ErrPasswordMismatch", "longenough", "different1", "password_mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A bad password asks for the password again, not for the
			// name, up to three times; then the name prompt comes back.
			c := dial(t, ts.addr)
			c.send("goodname")
			for range 3 {
				c.expectNext("prompt", "field", "new_password")
				c.send(tc.pw)
				c.expectNext("prompt", "field", "repeat_password")
				c.send(tc.repeat)
				c.expectError("login", tc.code)
			}
			c.expectNext("prompt", "field", "username")
		})
	}
	t.Run("SecondTryCreates", func(t *testing.T) {
		c := dial(t, ts.addr)
		c.send("thirdname")
		c.expectNext("prompt", "field", "new_password")
		c.send("short", "short")
		c.expectNext("prompt", "field", "repeat_password")
		c.expectError("login", "weak_password")
		c.expectNext("prompt", "field", "new_password")
		c.send("longenough", "longenough")
		c.expectNext("prompt", "field", "repeat_password")
		c.expect("welcome", "user", "thirdname")
	})
	// Nothing was created: the name is still free to register.
	register(t, ts.addr, "goodname", "longenough")
}

// A mistyped name walks nobody into a new account: an empty line at the new
// password prompt goes back to the name, and the text prompt says so.
func TestRegistrationEmptyLineGoesBack(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	c := dial(t, ts.addr)
	c.send("alcie")
	c.expectNext("prompt", "field", "new_password")
	c.send("")
	c.expectNext("prompt", "field", "username")
	c.send("alice")
	c.expectNext("prompt", "field", "password")
	c.send("password1")
	c.expect("welcome", "user", "alice")
	if _, err := ts.store.UserByName(t.Context(), "alcie"); chatd.ErrorCode(err) != chatd.ENoSuchUser {
		t.Fatalf("alcie was created: %v", err)
	}

	// Text mode: the prompt names the account and the way back.
	r := dialRaw(t, ts.addr)
	r.send("alcie")
	var got strings.Builder
	for !strings.Contains(got.String(), "go back") {
		r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := r.r.ReadByte()
		if err != nil {
			t.Fatalf("text prompt: %v after %q", err, got.String())
		}
		got.WriteByte(b)
	}
	if !strings.Contains(got.String(), "no account named alcie") || !strings.Contains(got.String(), "press Enter") {
		t.Fatalf("new account prompt: %q", got.String())
	}
}

func TestPrivateMessagesAndDelivery(t *testing.T) {
	ts := startServer(t)
	ts.addUser("carol", "password3", false)
	a := register(t, ts.addr, "alice", "password1")
	b := register(t, ts.addr, "bob", "password2")

	a.send("send bob hi bob")
	a.expect("delivery", "to", "bob", "status", "delivered")
	m := b.expect("message", "kind", "private", "from", "alice")
	if m.str("text") != "hi bob" || strings.Join(m.strs("to"), ",") != "bob" {
		t.Fatalf("got %v", m)
	}

	a.send("msg (bob carol nobody) hello all")
	a.expect("delivery", "to", "bob", "status", "delivered")
	a.expect("delivery", "to", "carol", "status", "stored")
	a.expect("delivery", "to", "nobody", "status", "no_such_user")
	m = b.expect("message", "kind", "private", "text", "hello all")
	if strings.Join(m.strs("to"), ",") != "bob,carol" {
		t.Fatalf("to = %v", m.strs("to"))
	}

	a.send("message nobody hi")
	a.expectError("send", "no_such_user")
	a.send("send alice hi me")
	a.expectError("send", "self")
	a.send("send bob")
	a.expectError("send", "bad_args")
}

func TestOfflineMessagesSurviveRestart(t *testing.T) {
	ts := startServer(t)
	ts.addUser("bob", "password2", false)
	a := register(t, ts.addr, "alice", "password1")
	for i := 1; i <= 3; i++ {
		a.send("send bob note " + string(rune('0'+i)))
		a.expect("delivery", "to", "bob", "status", "stored")
	}
	ts = ts.restart()

	b := dial(t, ts.addr)
	b.send("bob", "password2")
	w := b.expect("welcome")
	if w["offline"] != float64(3) {
		t.Fatalf("welcome %v", w)
	}
	var last time.Time
	for i := 1; i <= 3; i++ {
		m := b.expectNext("message", "kind", "offline", "from", "alice")
		if m.str("text") != "note "+string(rune('0'+i)) {
			t.Fatalf("message %d: %v", i, m)
		}
		ts2, err := time.Parse(time.RFC3339, m.str("ts"))
		if err != nil || ts2.Before(last) {
			t.Fatalf("bad ts %v", m)
		}
		last = ts2
	}
	b.send("logout")
	b.expect("bye")
	// Delivered once: the next login has none.
	b = login(t, ts.addr, "bob", "password2")
	_ = b
	c := dial(t, ts.addr)
	c.send("bob", "password2")
	c.expectError("login", "already_online")
}

func TestMailboxFull(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Messages.OfflineLimit = 2 })
	ts.addUser("bob", "password2", false)
	a := register(t, ts.addr, "alice", "password1")
	a.send("send bob 1", "send bob 2", "send bob 3")
	a.expect("delivery", "status", "stored")
	a.expect("delivery", "status", "stored")
	a.expect("delivery", "to", "bob", "status", "mailbox_full")
}

func TestModeSwitching(t *testing.T) {
	ts := startServer(t)
	c := dialRaw(t, ts.addr)
	c.send("/mode json")
	c.expect("ok", "cmd", "mode")
	c.expectNext("prompt", "field", "username")
	c.send("mode text")
	line, err := c.readLine(5 * time.Second)
	if err != nil || !strings.Contains(line, "text") {
		t.Fatalf("mode text reply %q %v", line, err)
	}
	buf := make([]byte, 10)
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.r.Read(buf)
	if string(buf[:n]) != "Username: " {
		t.Fatalf("prompt %q", buf[:n])
	}
}

func TestPipelinedLogin(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "secret123", false)
	c := dialRaw(t, ts.addr)
	// Everything at once, before any prompt, as `printf ... | nc` does.
	c.send("mode json", "alice", "secret123", "who", "logout")
	c.expect("welcome", "user", "alice")
	c.expect("ok", "cmd", "who")
	c.expect("bye", "reason", "logout")
	c.closed()
}

func TestDuplicateLoginReplace(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Accounts.DuplicateLogin = "replace" })
	ts.addUser("alice", "password1", false)
	old := login(t, ts.addr, "alice", "password1")
	login(t, ts.addr, "alice", "password1")
	old.expect("bye", "reason", "replaced")
	old.closed()
}

func TestUnknownCommandAndSay(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	a.send("/frobnicate now")
	a.expectError("frobnicate", "unknown_command")
	a.send("say who is there")
	m := a.expect("message", "kind", "room")
	if m.str("text") != "who is there" {
		t.Fatalf("got %v", m)
	}
}

func TestGracefulShutdownWritesLastSeen(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	ts.stop()
	a.expect("bye", "reason", "shutdown")
	a.closed()
	ts2 := startWith(t, ts.cfg, ts.clock)
	u, err := ts2.store.UserByName(t.Context(), "alice")
	if err != nil || u.LastSeen.IsZero() {
		t.Fatalf("last seen not written: %v %v", u, err)
	}
}

func TestOldLoginAttemptsArePruned(t *testing.T) {
	cfg := testConfig(t)
	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	recent := time.Now().Add(-time.Hour)
	for _, at := range []time.Time{old, recent} {
		if err := store.RecordAttempt(t.Context(), "mallory", "10.0.0.1", at, false); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	ts := startWith(t, cfg, &clock{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, err := ts.store.Attempts(t.Context(), "mallory", "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 1 && left[0].Time.After(old.Add(time.Hour)) {
			return // the day-old attempt stays, the two-day-old one went
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts not pruned: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSendListNamingSelf(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts.addr, "alice", "password1")
	b := register(t, ts.addr, "bob", "password2")
	a.send("send (ALICE bob) hi both")
	e := a.expectError("send", "self")
	if !strings.Contains(e.str("text"), "no copy") {
		t.Fatalf("self in list: %v", e)
	}
	a.expect("delivery", "to", "bob", "status", "delivered")
	if m := b.expect("message", "kind", "private"); strings.Join(m.strs("to"), ",") != "bob" {
		t.Fatalf("to = %v", m.strs("to"))
	}
}

func TestPasswdGuessesLockTheAccount(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Lockout.Attempts = 2 })
	ts.addUser("alice", "password1", false)
	a := login(t, ts.addr, "alice", "password1")
	a.send("passwd", "guess", "newpassword", "newpassword")
	a.expectError("passwd", "bad_credentials")
	// The failure that sets the lock says so at once.
	a.send("passwd", "guess", "newpassword", "newpassword")
	if e := a.expectError("passwd", "locked_out"); e.str("until") == "" {
		t.Fatalf("no until: %v", e)
	}
	a.send("passwd", "password1", "newpassword", "newpassword")
	if e := a.expectError("passwd", "locked_out"); e.str("until") == "" {
		t.Fatalf("no until: %v", e)
	}
	// The lock is the login lock too.
	c := dial(t, ts.addr)
	c.send("alice", "password1")
	c.expectError("login", "locked_out")
}

func TestLoginPromptsAreRateLimited(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1
		c.Rate.Burst = 3
	})
	c := dialRaw(t, ts.addr)
	lines := []string{"mode json"}
	for i := 0; i < 30; i++ {
		lines = append(lines, "") // empty usernames: cheap, but still lines
	}
	c.send(lines...)
	c.expectError("login", "rate_limited")
	c.expect("bye", "reason", "error")
	c.closed()
}

// TestJoinSeesEveryLineOnce: lines said while someone joins reach them
// exactly once, either replayed as history or live, in order.
func TestJoinSeesEveryLineOnce(t *testing.T) {
	for round := 0; round < 5; round++ {
		ts := startServer(t, func(c *chatd.Config) { c.Messages.HistoryOnJoin = 1000 })
		a := register(t, ts.addr, "alice", "password1")
		b := register(t, ts.addr, "bob", "password2")
		a.send("create den")
		a.expect("ok", "cmd", "create")
		const n = 300
		lines := make([]string, n)
		for i := range lines {
			lines[i] = fmt.Sprintf("line %03d", i)
		}
		go func() { a.send(lines...) }()
		time.Sleep(time.Duration(round) * time.Millisecond)
		b.send("join den")
		b.expect("ok", "cmd", "join")
		for i := 0; i < n; i++ {
			m := b.expect("message", "room", "den")
			if m.str("text") != lines[i] {
				t.Fatalf("round %d: line %d is %q (%s), want %q", round, i, m.str("text"), m.str("kind"), lines[i])
			}
		}
		b.send("echo done")
		if ev := b.expect("ok", "cmd", "echo"); ev.str("text") != "done" {
			t.Fatal(ev)
		}
		for _, ev := range b.seen {
			if ev.str("type") == "message" && ev.str("room") == "den" {
				t.Fatalf("round %d: extra den message %v", round, ev)
			}
		}
		ts.stop()
	}
}

func TestRoomPasswordGuessesAreLimited(t *testing.T) {
	// The per-session pace; the lockout (TestRoomPasswordLockoutSurvivesRelogin)
	// is set high enough not to come first.
	ts := startServer(t, func(c *chatd.Config) { c.Lockout.Attempts = 10 })
	a := register(t, ts.addr, "alice", "password1")
	b := register(t, ts.addr, "bob", "password2")
	a.send("create vault sesame")
	a.expect("ok", "cmd", "create")
	for i := 0; i < 5; i++ {
		b.send("join vault wrong")
		b.expectError("join", "bad_room_password")
	}
	b.send("join vault sesame")
	b.expectError("join", "rate_limited")
	ts.clock.advance(10 * time.Second)
	b.send("join vault sesame")
	b.expect("ok", "cmd", "join")
}

// Rooms deleted behind the daemon's back (chatd userdel removes the user's
// rooms) must not leak their history or members into a new room of the
// same name.
func TestNewRoomDoesNotInheritDeletedRoom(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob", "carol")
	a := login(t, ts.addr, "alice", "password1")
	c := login(t, ts.addr, "carol", "password1")
	a.send("create safe")
	a.expect("ok", "cmd", "create")
	c.send("join safe")
	c.expect("ok", "cmd", "join")
	a.send("a private line")
	c.expect("message", "text", "a private line")
	if err := ts.store.DeleteRoom(t.Context(), "safe"); err != nil { // as userdel does
		t.Fatal(err)
	}
	b := login(t, ts.addr, "bob", "password1")
	b.send("create safe")
	b.expect("ok", "cmd", "create")
	c.expect("room", "event", "closed", "room", "safe")
	b.send("rooms")
	for _, r := range b.expect("ok", "cmd", "rooms")["rooms"].([]any) {
		room := r.(map[string]any)
		if room["name"] == "safe" && fmt.Sprint(room["members"]) != "[bob]" {
			t.Fatalf("new safe has members %v", room["members"])
		}
	}
	b.send("echo sync")
	b.expect("ok", "cmd", "echo")
	for _, ev := range b.seen {
		if ev.str("kind") == "history" {
			t.Fatalf("bob saw the old room's history: %v", ev)
		}
	}
}

// Answering a hidden password prompt with "mode json" must still turn the
// client's echo back on: the telnet bytes go out before the switch.
func TestModeSwitchAtPasswordPromptRestoresEcho(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	c := dialRaw(t, ts.addr)
	c.send("alice")
	c.send("mode json")
	want := []byte{255, 252, 1} // IAC WONT ECHO
	var got []byte
	for !bytes.Contains(got, want) {
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := c.r.ReadByte()
		if err != nil {
			t.Fatalf("no IAC WONT ECHO after the mode switch; got %q (%v)", got, err)
		}
		got = append(got, b)
		if bytes.Contains(got, []byte(`"cmd":"mode"`)) {
			t.Fatalf("mode reply came before echo was restored: %q", got)
		}
	}
	c.expect("ok", "cmd", "mode")
	c.expect("prompt", "field", "password")
}

// TestLoginRightAfterLogout: once a client has read the bye to its logout,
// the user is offline, so logging straight back in works even with
// duplicate_login = "reject" (the default). The bye used to go out before
// the session left the hub, and a quick relogin got already_online.
func TestLoginRightAfterLogout(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	bob := login(t, ts.addr, "bob", "password1")
	for range 25 {
		alice := login(t, ts.addr, "alice", "password1")
		alice.send("logout")
		alice.expect("bye", "reason", "logout")
	}
	// Others saw each session begin and end, in order.
	for range 25 {
		bob.expect("presence", "user", "alice", "event", "login")
		bob.expect("presence", "user", "alice", "event", "logout")
	}
}
