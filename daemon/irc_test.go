package daemon_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"chatd"
)

// startIRC starts a daemon with its IRC listener on a loopback port.
func startIRC(t *testing.T, mutate ...func(*chatd.Config)) *testServer {
	t.Helper()
	return startServer(t, append([]func(*chatd.Config){func(c *chatd.Config) {
		c.IRC.Listen = "127.0.0.1:0"
	}}, mutate...)...)
}

// ircClient speaks IRC to the daemon.
type ircClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialIRC(t *testing.T, ts *testServer) *ircClient {
	t.Helper()
	conn, err := net.Dial("tcp", ts.srv.IRCAddr().String())
	if err != nil {
		t.Fatalf("dial irc: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &ircClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *ircClient) send(lines ...string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n")); err != nil {
		c.t.Fatalf("irc write: %v", err)
	}
}

// expect reads lines until one contains every part, and returns it.
func (c *ircClient) expect(parts ...string) string {
	c.t.Helper()
	var seen []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.conn.SetReadDeadline(deadline)
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("irc: waiting for %q: %v; got %q", parts, err, seen)
		}
		line = strings.TrimRight(line, "\r\n")
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
		seen = append(seen, line)
	}
}

// closed waits for the server to close the connection.
func (c *ircClient) closed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := c.r.ReadString('\n'); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatal("irc: the server did not close the connection")
			}
			return
		}
	}
}

// ircLogin registers with PASS account:password.
func ircLogin(t *testing.T, ts *testServer, name, password string, caps ...string) *ircClient {
	t.Helper()
	c := dialIRC(t, ts)
	if len(caps) > 0 {
		c.send("CAP LS 302", "CAP REQ :"+strings.Join(caps, " "), "CAP END")
	}
	c.send("PASS "+name+":"+password, "NICK "+name, "USER u 0 * :"+name)
	c.expect(" 001 " + name + " ")
	return c
}

func TestIRCSASLLogin(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	c := dialIRC(t, ts)
	c.send("CAP LS 302", "NICK somebody", "USER u 0 * :Alice")
	c.expect("CAP * LS", "sasl=PLAIN")
	c.send("CAP REQ :sasl server-time")
	c.expect("CAP * ACK")
	c.send("AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00password1")))
	c.expect(" 900 ", "alice")
	c.expect(" 903 ")
	c.send("CAP END")
	// The nick becomes the account's name.
	c.expect(":somebody!", "NICK alice")
	c.expect(" 001 alice ")
	c.expect(" 376 alice ")
	c.expect("JOIN #lobby")
}

func TestIRCPassLogin(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	c := ircLogin(t, ts, "alice", "password1")
	c.expect(" 005 alice ", "CASEMAPPING=ascii", "PREFIX=(ov)@+")
	c.send("PING :abc")
	c.expect("PONG", "abc")
}

// A wrong password over IRC counts toward the lockout of the account, the
// same lockout as the telnet login's.
func TestIRCWrongPasswordCountsTowardLockout(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.Lockout.Attempts = 2 })
	ts.addUsers("alice")
	for range 2 {
		c := dialIRC(t, ts)
		c.send("PASS alice:wrong", "NICK alice", "USER u 0 * :a")
		c.expect(" 464 ")
		c.closed()
	}
	tc := dial(t, ts.addr)
	tc.send("alice")
	tc.expectNext("prompt", "field", "password")
	tc.send("password1")
	tc.expectError("login", "locked_out")
	// And the IRC login is refused with the right password too.
	c := dialIRC(t, ts)
	c.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
	c.expect("AUTHENTICATE +")
	c.send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte("alice\x00alice\x00password1")))
	c.expect(" 904 ", "too many failed logins")
}

func TestIRCAndTelnetShareARoom(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("create den")
	alice.expect("ok", "cmd", "create")
	bob := ircLogin(t, ts, "bob", "password1")
	bob.send("JOIN #den")
	bob.expect(":bob!", "JOIN #den")
	bob.expect(" 353 bob = #den ", "@alice")
	bob.expect(" 366 bob #den ")
	alice.expect("room", "event", "joined", "user", "bob")
	bob.send("PRIVMSG #den :hello from irc")
	alice.expect("message", "from", "bob", "room", "den", "text", "hello from irc")
	alice.send("say #den hello from telnet")
	bob.expect(":alice!alice@", "PRIVMSG #den :hello from telnet")
	alice.send("send bob a private word")
	bob.expect(":alice!", "PRIVMSG bob :a private word")
	bob.send("PRIVMSG alice :and back")
	alice.expect("message", "kind", "private", "from", "bob", "text", "and back")
}

// Mail stored while the user was away arrives as PRIVMSG with the time it
// was sent.
func TestIRCOfflineMailKeepsItsTime(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	alice := login(t, ts.addr, "alice", "password1")
	alice.send("send bob while you were out")
	alice.expect("delivery", "status", "stored")
	sent := ts.clock.now().UTC()
	ts.clock.advance(2 * time.Hour)
	bob := ircLogin(t, ts, "bob", "password1", "server-time")
	line := bob.expect(":alice!", "PRIVMSG bob :while you were out")
	tag, _, _ := strings.Cut(strings.TrimPrefix(line, "@time="), " ")
	at, err := time.Parse("2006-01-02T15:04:05.000Z", strings.Split(tag, ";")[0])
	if err != nil {
		t.Fatalf("no server-time tag on %q: %v", line, err)
	}
	if d := at.Sub(sent); d < -time.Minute || d > time.Minute {
		t.Errorf("offline mail shows time %v, sent at %v", at, sent)
	}
}

func TestIRCPseudoUserRunsCommands(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	c := ircLogin(t, ts, "alice", "password1")
	c.send("PRIVMSG chatd :who")
	c.expect(":chatd!chatd@", "NOTICE alice :", "alice")
	c.send("PRIVMSG chatd :/nosuchcommand")
	c.expect(":chatd!chatd@", "NOTICE alice :", "unknown_command")
}

func TestIRCNameChatdIsReserved(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.IRC.Guests = true })
	c := dialIRC(t, ts)
	c.send("NICK chatd", "USER u 0 * :x")
	c.expect(" 432 ", "chatd")
}

func TestIRCFloodIsCut(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1
		c.Rate.Burst = 3
	})
	ts.addUsers("alice")
	c := ircLogin(t, ts, "alice", "password1")
	for i := 0; i < 100; i++ {
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.conn.Write([]byte("PING :x\r\n")); err != nil {
			break
		}
	}
	c.expect("ERROR", "flooding")
	c.closed()
}

func TestIRCLoginTimeout(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) {
		c.Server.LoginTimeout = chatd.Duration{Duration: 300 * time.Millisecond}
	})
	c := dialIRC(t, ts)
	c.send("NICK slowpoke")
	c.expect("ERROR", "login took too long")
	c.closed()
}

// A guest's account lasts as long as its connection.
func TestIRCGuestVanishesAtDisconnect(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.IRC.Guests = true })
	ts.addUsers("alice")
	c := dialIRC(t, ts)
	c.send("NICK visitor", "USER u 0 * :v")
	c.expect(" 001 visitor ")
	c.send("JOIN #tent")
	c.expect(":visitor!", "JOIN #tent")
	if _, err := ts.store.UserByName(context.Background(), "visitor"); err != nil {
		t.Fatalf("guest account while connected: %v", err)
	}
	// A guest has no password: no login can take its name.
	tc := dial(t, ts.addr)
	tc.send("visitor")
	tc.expectNext("prompt", "field", "password")
	tc.send("")
	tc.expectError("login", "bad_credentials")
	// A registered name needs its password.
	r := dialIRC(t, ts)
	r.send("NICK alice", "USER u 0 * :a")
	r.expect(" 433 ", "alice")
	c.send("QUIT :bye")
	c.closed()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := ts.store.UserByName(context.Background(), "visitor")
		if chatd.ErrorCode(err) == chatd.ENoSuchUser {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest still there after its disconnect: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ts.store.RoomByName(context.Background(), "tent"); chatd.ErrorCode(err) != chatd.ENoSuchRoom {
		t.Errorf("the guest's room outlived it: %v", err)
	}
}

// IRC over WebSocket: one IRC line per text message, no line ends, the
// text.ircv3.net subprotocol when offered.
func TestIRCOverWebSocket(t *testing.T) {
	ts, web := startWeb(t)
	ts.addUsers("alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+web+"/irc", &websocket.DialOptions{Subprotocols: []string{"text.ircv3.net"}})
	if err != nil {
		t.Fatalf("dial /irc: %v", err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != "text.ircv3.net" {
		t.Errorf("subprotocol %q, want text.ircv3.net", ws.Subprotocol())
	}
	for _, l := range []string{"PASS alice:password1", "NICK alice", "USER u 0 * :Alice"} {
		if err := ws.Write(ctx, websocket.MessageText, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if strings.ContainsAny(string(msg), "\r\n") {
			t.Fatalf("a message holds a line end: %q", msg)
		}
		if strings.Contains(string(msg), " 001 alice ") {
			break
		}
	}
}

// Guests a run left behind (a crash: no session ended to remove them) are
// removed when the server starts; accounts with a password stay.
func TestIRCGuestsOfAnEarlierRunGoAtStart(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) { c.IRC.Guests = true })
	ts.addUsers("alice")
	if _, err := ts.store.CreateUser(context.Background(), "ghost", chatd.GuestPassHash, false); err != nil {
		t.Fatal(err)
	}
	ts = ts.restart()
	if _, err := ts.store.UserByName(context.Background(), "ghost"); chatd.ErrorCode(err) != chatd.ENoSuchUser {
		t.Errorf("the guest of the earlier run is still there: %v", err)
	}
	if _, err := ts.store.UserByName(context.Background(), "alice"); err != nil {
		t.Errorf("alice: %v", err)
	}
	// Its name is free for a new guest.
	c := dialIRC(t, ts)
	c.send("NICK ghost", "USER u 0 * :g")
	c.expect(" 001 ghost ")
}

// REGISTER (draft/account-registration) turns a guest's nick into an
// account that outlives the connection, where registration is open.
func TestIRCGuestRegistersItsNick(t *testing.T) {
	ts := startIRC(t, func(c *chatd.Config) {
		c.IRC.Guests = true
		c.Accounts.Registration = "open"
	})
	c := dialIRC(t, ts)
	c.send("CAP LS 302", "NICK newcomer", "USER u 0 * :n")
	c.expect("CAP * LS", "draft/account-registration")
	c.send("CAP END")
	c.expect(" 001 newcomer ")
	c.send("REGISTER other * password1")
	c.expect("FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK")
	c.send("REGISTER * * password1")
	c.expect("REGISTER SUCCESS newcomer")
	c.send("QUIT")
	c.closed()
	ircLogin(t, ts, "newcomer", "password1")
}

// irc.tls_listen speaks TLS with the server's pair, without
// server.tls_listen.
func TestIRCOverTLS(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	ts := startServer(t, func(c *chatd.Config) {
		c.IRC.TLSListen = "127.0.0.1:0"
		c.Server.TLSCert = certFile
		c.Server.TLSKey = keyFile
	})
	ts.addUsers("alice")
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.srv.IRCTLSAddr().String(),
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &ircClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.send("PASS alice:password1", "NICK alice", "USER u 0 * :Alice")
	c.expect(" 001 alice ")
}

// labeled-response: a command's whole answer, its chatd handler's answers
// included, is one labeled line, one batch, or an ACK.
func TestIRCLabeledResponses(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	c := ircLogin(t, ts, "alice", "password1", "labeled-response", "batch", "echo-message")
	c.expect(" 376 alice ")
	c.send("@label=j1 JOIN #den")
	start := c.expect("@label=j1 ", "BATCH +", "labeled-response")
	id := strings.Fields(start)[3][1:]
	c.expect("@batch="+id+" ", "JOIN #den")
	c.expect("@batch="+id+" ", " 353 alice ")
	c.expect("@batch="+id+" ", " 366 alice ")
	c.expect("BATCH -" + id)
	c.send("@label=p1 PRIVMSG #den :hello there")
	c.expect("@label=p1", "PRIVMSG #den :hello there")
	c.send("@label=n1 PONG :x")
	c.expect("@label=n1 ", " ACK")
}

// HELP and HELPOP answer about IRC commands and chatd's own, as 704, 705
// and 706, and 524 for a subject there is no help on.
func TestIRCHelp(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	c := ircLogin(t, ts, "alice", "password1")
	c.send("HELP")
	c.expect(" 704 alice index ")
	c.expect(" 705 alice index ", "MONITOR")
	c.expect(" 706 alice index ")
	c.send("HELPOP privmsg")
	c.expect(" 704 alice privmsg :PRIVMSG ")
	c.expect(" 706 alice privmsg ")
	c.send("HELP wholasthr")
	c.expect(" 704 alice wholasthr :chatd command: wholasthr")
	c.expect(" 705 alice wholasthr :Run it with PRIVMSG chatd :wholasthr")
	c.expect(" 706 alice wholasthr ")
	c.send("HELP nosuchthing")
	c.expect(" 524 alice nosuchthing ")
}

// The reasons of PART and QUIT reach the others: IRC clients in the PART
// and QUIT lines, JSON clients as the event's reason (text mode shows it after the
// event's words).
func TestIRCPartAndQuitReasons(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	ts.members("den", "alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1")
	b := ircLogin(t, ts, "bob", "password1")
	a.expect("JOIN #den")
	c := login(t, ts.addr, "carol", "password1")
	b.send("PART #den :off to lunch")
	b.expect(":bob!bob@chatd PART #den :off to lunch")
	a.expect(":bob!bob@chatd PART #den :off to lunch")
	if ev := c.expect("room", "event", "left", "user", "bob"); ev.str("reason") != "off to lunch" {
		t.Fatalf("carol heard %v", ev)
	}
	b.send("JOIN #den")
	a.expect(":bob!bob@chatd JOIN #den")
	b.send("QUIT :gone fishing")
	a.expect(":bob!bob@chatd QUIT :Quit: gone fishing")
	if ev := c.expect("presence", "event", "logout", "user", "bob"); ev.str("reason") != "gone fishing" {
		t.Fatalf("carol heard %v", ev)
	}
}

// A NOTICE is delivered as a NOTICE, to a channel and to a nick; JSON
// clients get the message with "notice": true.
func TestIRCNoticeStaysNotice(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob", "carol")
	ts.members("den", "alice", "bob", "carol")
	a := ircLogin(t, ts, "alice", "password1")
	b := ircLogin(t, ts, "bob", "password1")
	b.expect("JOIN #den")
	c := login(t, ts.addr, "carol", "password1")
	a.send("NOTICE #den :the build is green")
	b.expect(":alice!alice@chatd NOTICE #den :the build is green")
	if ev := c.expect("message", "from", "alice"); ev.str("text") != "the build is green" || ev["notice"] != true {
		t.Fatalf("carol got %v", ev)
	}
	a.send("NOTICE bob :psst", "PRIVMSG bob :hello")
	b.expect(":alice!alice@chatd NOTICE bob psst")
	b.expect(":alice!alice@chatd PRIVMSG bob hello")
}

// LINKS lists no links: a chatd community is one server to IRC.
func TestIRCLinks(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice")
	c := ircLogin(t, ts, "alice", "password1")
	c.send("LINKS")
	c.expect(" 365 alice * :End of /LINKS list")
}

// NAMES of several channels gives each one's names, then one 366 for
// them all (RFC 2812); NAMES of one channel is unchanged.
func TestIRCNamesOfSeveralChannels(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "bob")
	ts.members("den", "alice", "bob")
	ts.members("attic", "alice")
	c := ircLogin(t, ts, "alice", "password1")
	c.expect(" 366 alice #den ")
	c.send("NAMES #attic,#den")
	c.expect(" 353 alice = #attic ")
	if l := c.expect(" #den "); !strings.Contains(l, " 353 alice = #den ") {
		t.Fatalf("after #attic's names: %q", l)
	}
	c.expect(" 366 alice #attic,#den ")
	c.send("NAMES #den")
	c.expect(" 353 alice = #den ")
	c.expect(" 366 alice #den ")
}
