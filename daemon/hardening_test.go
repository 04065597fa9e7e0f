package daemon_test

// End-to-end tests of the daemon's edge: framing, telnet, terminal safety,
// login deadline, connection caps, rate limits, slow readers, the argon2
// gate and TLS. Helpers here are prefixed "hard" to stay out of the way of
// the other test files of the package.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"chatd"
	"chatd/daemon"
)

// Telnet bytes as the wire carries them.
const (
	hardIAC  = "\xff"
	hardWILL = "\xfb"
	hardWONT = "\xfc"
	hardDO   = "\xfd"
	hardDONT = "\xfe"
	hardSB   = "\xfa"
	hardSE   = "\xf0"
	hardNOP  = "\xf1"
	hardAYT  = "\xf6"
	hardECHO = "\x01"
	hardSGA  = "\x03"
	hardNAWS = "\x1f"
)

// hardRaw is a client that sees the exact bytes the server sends, for
// text mode and telnet checks.
type hardRaw struct {
	t    *testing.T
	name string
	conn net.Conn
	buf  []byte // read from the socket, not yet consumed
}

func hardDial(t *testing.T, addr, name string) *hardRaw {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &hardRaw{t: t, name: name, conn: conn}
}

func (r *hardRaw) write(s string) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatalf("%s: write: %v", r.name, err)
	}
}

// until reads until want has arrived and returns all bytes up to and
// including it; what came after stays for the next call.
func (r *hardRaw) until(want string) []byte {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	chunk := make([]byte, 64<<10)
	for {
		if i := bytes.Index(r.buf, []byte(want)); i >= 0 {
			out := bytes.Clone(r.buf[:i+len(want)])
			r.buf = r.buf[i+len(want):]
			return out
		}
		r.conn.SetReadDeadline(deadline)
		n, err := r.conn.Read(chunk)
		r.buf = append(r.buf, chunk[:n]...)
		if err != nil && n == 0 {
			r.t.Fatalf("%s: waiting for %q: %v; have %q", r.name, want, err, hardTail(r.buf))
		}
	}
}

// rest reads until the server closes the connection and returns what came.
func (r *hardRaw) rest() []byte {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(r.conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("%s: connection still open; got %q", r.name, hardTail(b))
	}
	out := append(r.buf, b...)
	r.buf = nil
	return out
}

func hardTail(b []byte) []byte {
	if len(b) > 300 {
		return b[len(b)-300:]
	}
	return b
}

// hardTextLogin logs an existing user in, in text mode, and returns once
// the welcome and whatever follows it (offline mail, history) is read.
func hardTextLogin(t *testing.T, addr, name, password string) *hardRaw {
	t.Helper()
	r := hardDial(t, addr, name)
	r.until("Username: ")
	r.write(name + "\r\n")
	r.until("Password: ")
	r.write(password + "\r\n")
	r.until("Welcome, ")
	r.write("echo ready-" + name + "\r\n")
	r.until("ready-" + name + "\r\n")
	return r
}

// hardTerminalSafe fails unless b is valid UTF-8 whose only control
// characters are TAB and the CRLF line ends: what a terminal can show
// without being reprogrammed.
func hardTerminalSafe(t *testing.T, who string, b []byte) {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatalf("%s received invalid UTF-8: %q", who, b)
	}
	s := string(b)
	for i, r := range s {
		switch {
		case r == '\t':
		case r == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				t.Fatalf("%s received a bare CR at %d: %q", who, i, s)
			}
		case r == '\n':
			if i == 0 || s[i-1] != '\r' {
				t.Fatalf("%s received a bare LF at %d: %q", who, i, s)
			}
		case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
			t.Fatalf("%s received control %U at %d: %q", who, r, i, s)
		}
	}
}

// hardWait polls cond for up to 10 seconds.
func hardWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hardFirstLine connects and returns the first line the server sends.
func hardFirstLine(t *testing.T, d *net.Dialer, addr string) (net.Conn, string) {
	t.Helper()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %q %v", line, err)
	}
	return conn, line
}

// hardRefused asserts a connection gets one server_busy line and is closed.
func hardRefused(t *testing.T, d *net.Dialer, addr string) {
	t.Helper()
	conn, line := hardFirstLine(t, d, addr)
	if !strings.Contains(line, "server_busy") {
		t.Fatalf("over the limit, first line %q", line)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if rest, err := io.ReadAll(conn); err != nil || len(rest) > 0 {
		t.Fatalf("after server_busy: %q %v, want EOF", rest, err)
	}
}

func TestHardeningLineTooLong(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Server.MaxLineBytes = 100 })

	// Before login: the name prompt survives a long line.
	c := dial(t, ts.addr)
	c.send(strings.Repeat("n", 500))
	c.expectError("", "line_too_long")
	c.send("alice")
	c.expectNext("prompt", "field", "new_password")
	c.send("password1", "password1")
	c.expect("welcome", "user", "alice")

	// Exactly at the limit, with CRLF: fine.
	c.send("echo " + strings.Repeat("x", 95) + "\r")
	if ev := c.expectNext("ok", "cmd", "echo"); ev.str("text") != strings.Repeat("x", 95) {
		t.Fatalf("echo at the limit: %v", ev)
	}
	// One byte over: refused, nothing run, connection usable.
	c.send("echo " + strings.Repeat("y", 96))
	c.expectNext("error", "code", "line_too_long")
	c.send("echo still here")
	c.expectNext("ok", "cmd", "echo", "text", "still here")

	// 250 KB with no LF for a long while, then a command in the same
	// write: one refusal, and the command after it runs. (Within the byte
	// budget of this config; far more is a flood that ends the session,
	// TestFloodOfBadInputDisconnects.)
	c.send(strings.Repeat("z", 250<<10), "echo after the flood")
	c.expectNext("error", "code", "line_too_long")
	c.expectNext("ok", "cmd", "echo", "text", "after the flood")
	c.quiet(200 * time.Millisecond)
}

func TestHardeningBadEncoding(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts.addr)
	c.send("ali\xc3\x28ce") // at the name prompt
	c.expectError("", "bad_encoding")
	c.send("alice", "password1", "password1")
	c.expect("welcome", "user", "alice")
	for _, bad := range []string{
		"echo \xc3\x28",             // broken 2-byte sequence
		"echo \xe2\x82",             // truncated
		"echo \xed\xa0\x80",         // UTF-16 surrogate
		"echo \xc0\xaf",             // overlong '/'
		"echo \x80",                 // lone continuation byte
		"echo " + hardIAC + hardIAC, // telnet-escaped 0xFF is a data byte, and not UTF-8
	} {
		c.send(bad)
		c.expectNext("error", "code", "bad_encoding")
		c.send("echo ok after")
		c.expectNext("ok", "cmd", "echo", "text", "ok after")
	}
	// Nothing of the refused lines reached the room.
	c.quiet(200 * time.Millisecond)
}

func TestHardeningControlCharactersNeverRelayed(t *testing.T) {
	ts := startServer(t)
	ts.addUser("carol", "password3", false)
	ts.addUser("dave", "password4", false)
	alice := register(t, ts.addr, "alice", "password1")
	bob := register(t, ts.addr, "bob", "password2")
	carol := hardTextLogin(t, ts.addr, "carol", "password3")

	nasty := "A\x1b[2J\x1b]0;owned\x07B\x00C\x7fD\u0085E\u009b31mF\bG\rH\tI ü ✓"
	want := "A[2J]0;ownedBCDE31mFGH\tI ü ✓"
	alice.send(
		nasty, // room chat
		"say "+nasty,
		"send bob "+nasty,
		"send carol "+nasty,
		"send (bob carol dave) "+nasty, // dave is offline: stored
		"broadcast "+nasty,
		"send carol the end",
	)

	// JSON: the decoded text is clean.
	for _, kind := range []string{"room", "room", "private", "private", "broadcast"} {
		ev := bob.expect("message", "kind", kind, "from", "alice")
		if ev.str("text") != want {
			t.Fatalf("bob got %s text %q, want %q", kind, ev.str("text"), want)
		}
	}

	// Text mode: the raw bytes hold no control character at all.
	got := carol.until("the end")
	hardTerminalSafe(t, "carol", got)
	if n := bytes.Count(got, []byte(want)); n != 5 {
		t.Fatalf("carol saw the cleaned text %d times, want 5: %q", n, got)
	}

	// Stored mail and room history, replayed at dave's text-mode login.
	hardWait(t, "room history to be written", func() bool {
		h, err := ts.store.History(t.Context(), "lobby", 20)
		return err == nil && len(h) >= 2
	})
	d := hardDial(t, ts.addr, "dave")
	d.until("Username: ")
	d.write("dave\r\n")
	d.until("Password: ")
	d.write("password4\r\n")
	if b := d.until(hardIAC + hardWONT + hardECHO + "\r\n"); bytes.Count(b, []byte(hardIAC)) != 1 {
		t.Fatalf("dave's password prompt: %q", b)
	}
	d.write("echo done-dave\r\n")
	got = d.until("done-dave")
	hardTerminalSafe(t, "dave", got)
	if n := bytes.Count(got, []byte(want)); n != 3 { // 1 offline + 2 history
		t.Fatalf("dave saw the cleaned text %d times, want 3: %q", n, got)
	}
}

func TestHardeningTelnetNegotiationConsumed(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	c := dialRaw(t, ts.addr)
	c.name = "alice"
	// What a real telnet client sends on connect, then the mode switch.
	c.conn.Write([]byte(hardIAC + hardDO + hardECHO + hardIAC + hardWILL + hardNAWS +
		hardIAC + hardSB + hardNAWS + "\x00\x50\x00\x18" + hardIAC + hardSE +
		hardIAC + hardDONT + "\x22" + hardIAC + hardWONT + "\x18" + hardIAC + hardNOP +
		"mode json\r\n"))
	c.expect("ok", "cmd", "mode")
	c.expectNext("prompt", "field", "username")
	// Negotiation in the middle of the name and before the password.
	c.conn.Write([]byte("al" + hardIAC + hardNOP + "ice" + hardIAC + hardWILL + hardECHO + "\r\n"))
	c.expectNext("prompt", "field", "password")
	c.conn.Write([]byte(hardIAC + hardDO + hardSGA + "password1" + hardIAC + hardAYT + "\r\n"))
	c.expect("welcome", "user", "alice")
	// And in commands: an IAC sequence splitting a word is invisible.
	c.conn.Write([]byte("ec" + hardIAC + hardSB + "\x18\x00xterm\n" + hardIAC + hardSE + "ho a" + hardIAC + hardNOP + "b\r\n"))
	c.expectNext("ok", "cmd", "echo", "text", "ab")
}

func TestHardeningCRLFAndLF(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	c := dialRaw(t, ts.addr)
	c.conn.Write([]byte("mode json\r\nalice\r\npassword1\n"))
	c.expect("welcome", "user", "alice")
	c.conn.Write([]byte("echo one\r\necho two\necho three\r\n\r\n\necho four"))
	for _, w := range []string{"one", "two", "three"} {
		c.expectNext("ok", "cmd", "echo", "text", w)
	}
	c.quiet(200 * time.Millisecond) // "echo four" waits for its LF
	c.conn.Write([]byte("\r\n"))
	c.expectNext("ok", "cmd", "echo", "text", "four")
}

func TestHardeningPasswordEchoOff(t *testing.T) {
	ts := startServer(t)
	ts.addUser("alice", "password1", false)
	willEcho := hardIAC + hardWILL + hardECHO
	wontEcho := hardIAC + hardWONT + hardECHO + "\r\n"

	t.Run("TextLogin", func(t *testing.T) {
		r := hardDial(t, ts.addr, "alice")
		if b := r.until("Username: "); bytes.Contains(b, []byte(hardIAC)) {
			t.Fatalf("IAC before the username prompt: %q", b)
		}
		r.write("alice\r\n")
		b := r.until("Password: ")
		if !bytes.HasSuffix(b, []byte(willEcho+"Password: ")) || bytes.Count(b, []byte(hardIAC)) != 1 {
			t.Fatalf("password prompt not after IAC WILL ECHO: %q", b)
		}
		r.write("wrong-pw\r\n")
		b = r.until("Username: ")
		if !bytes.HasPrefix(b, []byte(wontEcho)) || bytes.Count(b, []byte(hardIAC)) != 1 {
			t.Fatalf("after a wrong password: %q", b)
		}
		r.write("alice\r\n")
		r.until(willEcho + "Password: ")
		r.write("password1\r\n")
		b = r.until("Welcome, alice")
		if !bytes.HasPrefix(b, []byte(wontEcho)) || bytes.Count(b, []byte(hardIAC)) != 1 {
			t.Fatalf("after the password: %q", b)
		}
	})
	t.Run("TextRegister", func(t *testing.T) {
		r := hardDial(t, ts.addr, "newbie")
		r.until("Username: ")
		r.write("newbie\r\n")
		r.until(willEcho + "There is no account named newbie yet. To create it, choose a password (or press Enter to go back): ")
		r.write("password9\r\n")
		if b := r.until("Repeat password: "); string(b) != wontEcho+willEcho+"Repeat password: " {
			t.Fatalf("between the password prompts: %q", b)
		}
		r.write("password9\r\n")
		if b := r.until("Welcome, newbie"); !bytes.HasPrefix(b, []byte(wontEcho)) || bytes.Count(b, []byte(hardIAC)) != 1 {
			t.Fatalf("after the repeat: %q", b)
		}
	})
	t.Run("JSONNeverIAC", func(t *testing.T) {
		r := hardDial(t, ts.addr, "json")
		r.write("mode json\nalice\nwrong-pw\nbob\npassword2\npassword2\nwho\npasswd\n" +
			"password2\npassword3\npassword3\nlogout\n")
		all := r.rest()
		if bytes.Contains(all, []byte(hardIAC)) {
			t.Fatalf("IAC in JSON mode: %q", all)
		}
		// Every line after the switch is one JSON object.
		_, after, ok := bytes.Cut(all, []byte(`"cmd":"mode"`))
		if !ok {
			t.Fatalf("no mode reply: %q", all)
		}
		_, after, _ = bytes.Cut(after, []byte("\r\n"))
		var types []string
		for _, line := range strings.SplitAfter(string(after), "\r\n") {
			if line == "" {
				continue
			}
			var ev map[string]any
			if !strings.HasSuffix(line, "\r\n") || json.Unmarshal([]byte(line), &ev) != nil {
				t.Fatalf("not a JSON line: %q", line)
			}
			types = append(types, fmt.Sprint(ev["type"], "/", ev["field"], ev["cmd"]))
		}
		if !strings.Contains(strings.Join(types, " "), "prompt/old_password") {
			t.Fatalf("passwd was not asked in JSON: %v", types)
		}
	})
	t.Run("TelnetOff", func(t *testing.T) {
		ts := startServer(t, func(c *chatd.Config) { c.Server.Telnet = false })
		ts.addUser("alice", "password1", false)
		r := hardDial(t, ts.addr, "alice")
		r.write("alice\r\npassword1\r\necho in\r\n")
		if b := r.until("in\r\n"); bytes.Contains(b, []byte(hardIAC)) {
			t.Fatalf("IAC with server.telnet off: %q", b)
		}
	})
}

func TestHardeningLoginTimeout(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.LoginTimeout = chatd.Duration{Duration: 500 * time.Millisecond}
	})
	ts.addUser("alice", "password1", false)

	// Silent at the name prompt.
	c := dial(t, ts.addr)
	c.expect("bye", "reason", "timeout")
	c.closed()

	// Stuck at the password prompt.
	c = dial(t, ts.addr)
	c.send("alice")
	c.expectNext("prompt", "field", "password")
	c.expect("bye", "reason", "timeout")
	c.closed()

	// A byte now and then does not stretch the deadline (slowloris).
	r := hardDial(t, ts.addr, "trickle")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := r.conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	if b := r.rest(); !bytes.Contains(b, []byte("Goodbye")) {
		t.Fatalf("trickling client got %q", b)
	}

	// In time, the session stays past the login deadline.
	c = login(t, ts.addr, "alice", "password1")
	time.Sleep(700 * time.Millisecond)
	c.send("echo alive")
	c.expect("ok", "cmd", "echo", "text", "alive")
}

func TestHardeningMaxConnections(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.MaxConnections = 2
		c.Server.MaxConnectionsPerIP = 10
	})
	ts.addUser("alice", "password1", false)
	d := &net.Dialer{}
	a := login(t, ts.addr, "alice", "password1")
	b, _ := hardFirstLine(t, d, ts.addr)
	for range 5 {
		hardRefused(t, d, ts.addr)
	}
	// Refused connections took no slot; a leaving client frees one.
	a.send("logout")
	a.expect("bye", "reason", "logout")
	a.closed()
	var c net.Conn
	hardWait(t, "a free slot", func() bool {
		conn, line := hardFirstLine(t, d, ts.addr)
		if strings.Contains(line, "server_busy") {
			conn.Close()
			return false
		}
		c = conn
		return true
	})
	hardRefused(t, d, ts.addr)
	b.Close()
	c.Close()
	hardWait(t, "both slots free", func() bool {
		c1, l1 := hardFirstLine(t, d, ts.addr)
		c2, l2 := hardFirstLine(t, d, ts.addr)
		defer c1.Close()
		defer c2.Close()
		return !strings.Contains(l1, "server_busy") && !strings.Contains(l2, "server_busy")
	})
}

func TestHardeningMaxConnectionsPerIP(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.MaxConnections = 100
		c.Server.MaxConnectionsPerIP = 2
	})
	d := &net.Dialer{}
	a, _ := hardFirstLine(t, d, ts.addr)
	hardFirstLine(t, d, ts.addr)
	hardRefused(t, d, ts.addr)
	hardRefused(t, d, ts.addr)

	// Another address has its own allowance.
	other := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	if conn, err := other.Dial("tcp", ts.addr); err != nil {
		t.Logf("cannot dial from 127.0.0.2 (%v); skipping that part", err)
	} else {
		conn.Close()
		_, line := hardFirstLine(t, other, ts.addr)
		if strings.Contains(line, "server_busy") {
			t.Fatalf("127.0.0.2 refused for 127.0.0.1's connections: %q", line)
		}
	}

	a.Close()
	hardWait(t, "a free per-IP slot", func() bool {
		conn, line := hardFirstLine(t, d, ts.addr)
		if strings.Contains(line, "server_busy") {
			conn.Close()
			return false
		}
		return true
	})
	hardRefused(t, d, ts.addr)
}

func TestHardeningRateLimit(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1
		c.Rate.Burst = 3
	})
	ts.addUser("bob", "password2", false)
	a := register(t, ts.addr, "alice", "password1")

	// A pasted burst: three run, the rest are refused and not run.
	a.send("echo 1", "echo 2", "echo 3", "echo 4", "send bob not stored", "echo 6")
	for _, w := range []string{"1", "2", "3"} {
		a.expectNext("ok", "cmd", "echo", "text", w)
	}
	a.expectNext("error", "cmd", "echo", "code", "rate_limited")
	a.expectNext("error", "cmd", "send", "code", "rate_limited")
	a.expectNext("error", "cmd", "echo", "code", "rate_limited")
	a.quiet(100 * time.Millisecond)

	// The bucket refills with the (injected) clock.
	ts.clock.advance(2 * time.Second)
	a.send("echo 7", "echo 8", "echo 9")
	a.expectNext("ok", "cmd", "echo", "text", "7")
	a.expectNext("ok", "cmd", "echo", "text", "8")
	a.expectNext("error", "cmd", "echo", "code", "rate_limited")

	// The refused send was never stored.
	ts.clock.advance(10 * time.Second)
	a.send("logout")
	a.expect("bye")
	b := dial(t, ts.addr)
	b.send("bob", "password2")
	if w := b.expect("welcome"); w["offline"] != float64(0) {
		t.Fatalf("a rate-limited send was stored: %v", w)
	}
}

func TestHardeningFloodDisconnects(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1
		c.Rate.Burst = 3
	})
	watcher := register(t, ts.addr, "watcher", "password2")
	a := register(t, ts.addr, "alice", "password1")
	watcher.expect("presence", "user", "alice", "event", "login")
	var flood []string
	for i := range 20 {
		flood = append(flood, fmt.Sprint("echo ", i))
	}
	a.send(flood...)
	for i := range 3 {
		a.expectNext("ok", "cmd", "echo", "text", fmt.Sprint(i))
	}
	for range 2 * 3 { // 2*burst refusals are tolerated ...
		a.expectNext("error", "code", "rate_limited")
	}
	a.expectNext("bye", "reason", "error") // ... one more ends the session
	a.closed()
	watcher.expect("presence", "user", "alice", "event", "logout")
}

func TestHardeningSlowReaderIsDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("floods megabytes and waits out a write timeout")
	}
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 1e6
		c.Rate.Burst = 1e6
		c.Messages.HistoryOnJoin = 0
		c.Messages.HistoryKeep = 0 // the flood is not about storing history
	})
	slow := register(t, ts.addr, "slow", "password1")
	// (No SetReadBuffer to fill up sooner: with a buffer far below the
	// loopback MSS, TCP stalls on its persist timer once slow reads again.)
	reader := register(t, ts.addr, "reader", "password2")
	flooder := register(t, ts.addr, "flooder", "password3")
	reader.expect("presence", "user", "flooder", "event", "login")

	// The reader counts the flood in order and notes when slow leaves; it
	// stops once it has all of it (total is known when the flood ends).
	var received, total atomic.Int64
	total.Store(-1)
	var slowGone atomic.Bool
	readerErr := make(chan error, 1)
	go func() {
		quietSince := time.Now()
		for received.Load() != total.Load() || !slowGone.Load() {
			// Short reads: the reader may have everything before the
			// flooder has stored the total.
			ev, err := reader.tryNext(time.Second)
			if ne, ok := err.(net.Error); ok && ne.Timeout() && time.Since(quietSince) < 30*time.Second {
				continue
			}
			quietSince = time.Now()
			if err != nil {
				readerErr <- fmt.Errorf("after %d messages (slow gone: %v): %w", received.Load(), slowGone.Load(), err)
				return
			}
			switch {
			case ev.str("type") == "message" && ev.str("from") == "flooder":
				n := received.Load()
				if want := hardFloodLine(n); ev.str("text") != want {
					readerErr <- fmt.Errorf("message %d: got %.40q, want %.40q", n, ev.str("text"), want)
					return
				}
				received.Add(1)
			case ev.str("type") == "presence" && ev.str("user") == "slow":
				slowGone.Store(true)
			}
		}
		readerErr <- nil
	}()

	// Flood in rounds. A private message to slow reports "delivered"
	// while its outbox has room; "stored" once it was dropped as too slow.
	var sent int64
	dropped := false
	for round := 0; round < 200 && !dropped; round++ {
		var batch []string
		for range 100 {
			batch = append(batch, hardFloodLine(sent))
			sent++
		}
		batch = append(batch, fmt.Sprint("send slow probe ", round))
		flooder.send(batch...)
		for {
			ev := flooder.next()
			if ev.str("type") == "delivery" {
				dropped = ev.str("status") == "stored"
				break
			}
		}
		// Stay just ahead of the reader, so that it is never the slow one.
		hardWait(t, "the reader to keep up", func() bool { return received.Load() >= sent-100 })
	}
	total.Store(sent)
	if !dropped {
		t.Fatalf("slow was still served after %d messages", sent)
	}
	t.Logf("slow's outbox was closed after %d messages (%d MB)", sent, sent*int64(len(hardFloodLine(0)))>>20)

	// The reader got every message, in order, and saw slow leave.
	select {
	case err := <-readerErr:
		if err != nil {
			t.Fatalf("reader: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("reader got %d of %d messages; slow gone: %v", received.Load(), sent, slowGone.Load())
	}

	// slow's connection is closed: what it holds ends in EOF, not a hang.
	slow.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, slow.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("slow's connection is still open after %d bytes", n)
	}
	reader.send("who")
	if got := strings.Join(reader.expect("ok", "cmd", "who").strs("users"), ","); got != "flooder,reader" {
		t.Fatalf("who = %s", got)
	}
}

func hardFloodLine(n int64) string {
	return fmt.Sprintf("flood %08d %s", n, strings.Repeat("x", 3000))
}

func TestHardeningHashGateServerBusy(t *testing.T) {
	// Hashes slow enough that 30 registrations arriving together overlap,
	// and a login deadline that leaves time for about five of them: the
	// gate admits what it can finish in time and turns the rest away.
	ts := startServer(t, func(c *chatd.Config) {
		c.Argon2 = chatd.Argon2Config{MemoryKiB: 64 << 10, Iterations: 4, Parallelism: 1, MaxConcurrent: 1}
		c.Server.MaxConnectionsPerIP = 100
	})
	start := time.Now()
	if _, err := chatd.NewHasher(ts.cfg.Argon2).Hash("calibrate"); err != nil {
		t.Fatal(err)
	}
	hash := time.Since(start)
	t.Logf("one hash takes %v", hash)
	cfg := ts.cfg
	cfg.Server.LoginTimeout = chatd.Duration{Duration: 5 * hash}
	ts.srv.Reload(cfg)

	const n = 30
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, ts.addr)
		cs[i].name = fmt.Sprintf("user%02d", i)
		cs[i].send(cs[i].name, "password1")
		cs[i].expectNext("prompt", "field", "new_password")
		cs[i].expectNext("prompt", "field", "repeat_password")
	}
	for _, c := range cs { // as close together as a test can
		c.conn.Write([]byte("password1\n"))
	}
	var welcome, busy []*client
	for _, c := range cs {
		next := func() event {
			// Admitted ones wait in the queue for up to the login deadline.
			ev, err := c.tryNext(time.Minute)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			return ev
		}
		ev := next()
		for ev.str("type") != "welcome" && ev.str("type") != "error" {
			ev = next()
		}
		switch {
		case ev.str("type") == "welcome":
			welcome = append(welcome, c)
		case ev.str("code") == "server_busy":
			busy = append(busy, c)
			c.expectNext("prompt", "field", "username")
		default:
			t.Fatalf("%s: %v", c.name, ev)
		}
	}
	t.Logf("%d registered, %d told server_busy", len(welcome), len(busy))
	if len(welcome) < 1 || len(busy) < 1 {
		t.Fatalf("%d welcomed, %d busy; want some of each", len(welcome), len(busy))
	}
	// Turned-away clients can try again once the burst is over.
	ts.srv.Reload(ts.cfg)
	c := dial(t, ts.addr)
	c.send(busy[0].name, "password1", "password1")
	c.expect("welcome", "user", busy[0].name)
}

// hardCert writes a self-signed ECDSA certificate for 127.0.0.1 and its key.
func hardCert(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chatd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestHardeningTLS(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.TLSListen = "127.0.0.1:0"
		c.Server.TLSCert = certFile
		c.Server.TLSKey = keyFile
		c.Server.LoginTimeout = chatd.Duration{Duration: 2 * time.Second}
	})
	ts.addUser("alice", "password1", false)
	ts.addUser("bob", "password2", false)
	tlsAddr := ts.srv.TLSAddr().String()
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	dialTLS := func(cfg *tls.Config) (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		return tls.DialWithDialer(d, "tcp", tlsAddr, cfg)
	}
	conn, err := dialTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Fatalf("negotiated %s", tls.VersionName(v))
	}
	alice := &client{t: t, name: "alice", conn: conn, r: bufio.NewReader(conn)}
	alice.send("mode json", "alice", "password1")
	alice.expect("welcome", "user", "alice")

	bob := login(t, ts.addr, "bob", "password2") // plain TCP
	alice.expect("presence", "user", "bob", "event", "login")
	alice.send("hello over TLS")
	bob.expect("message", "kind", "room", "from", "alice", "text", "hello over TLS")
	bob.send("send alice hello back")
	alice.expect("message", "kind", "private", "from", "bob", "text", "hello back")
	alice.send("who")
	if got := strings.Join(alice.expect("ok", "cmd", "who").strs("users"), ","); got != "alice,bob" {
		t.Fatalf("who = %s", got)
	}
	alice.send("logout")
	alice.expect("bye", "reason", "logout")
	alice.closed()

	// TLS 1.1 and older are refused at the handshake.
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		old, err := dialTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: v, MaxVersion: v})
		if err == nil {
			old.Close()
			t.Fatalf("%s handshake succeeded", tls.VersionName(v))
		}
		if !strings.Contains(err.Error(), "version") {
			t.Fatalf("%s refused for another reason: %v", tls.VersionName(v), err)
		}
	}
	// A client that never starts the handshake is cut off by the login
	// deadline, like any other.
	silent := hardDial(t, tlsAddr, "silent")
	silent.rest()

	// Plain text on the TLS port gets nowhere near a command.
	plain := hardDial(t, tlsAddr, "plain")
	plain.write("mode json\nalice\npassword1\n")
	if b := plain.rest(); bytes.Contains(b, []byte("welcome")) {
		t.Fatalf("plain text on the TLS port logged in: %q", b)
	}
}

// An operator may loosen accounts.username_pattern (say, to allow
// non-ASCII names); names are relayed to everyone (presence, who, message
// senders), so they must still never carry control characters.
func TestHardeningPermissivePatternNoControlNames(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) { c.Accounts.UsernamePattern = `^\S{3,32}$` })
	ts.addUser("carol", "password3", false)
	carol := hardTextLogin(t, ts.addr, "carol", "password3")

	c := dial(t, ts.addr)
	c.send("e\x1b[2J\x1b]0;x\x07vil", "password1", "password1")
	ev := c.next()
	for ev.str("type") != "welcome" && ev.str("type") != "error" {
		ev = c.next()
	}
	if ev.str("type") == "error" {
		if ev.str("code") != "bad_name" {
			t.Fatalf("registration: %v", ev)
		}
		return // refused: good
	}
	c.send("hello")
	c.expect("message", "kind", "room")
	got := carol.until("hello")
	if bytes.ContainsAny(got, "\x1b\x07") {
		t.Fatalf("with username_pattern %q a name holding ESC/BEL registered and "+
			"reached other terminals raw: %q", ts.cfg.Accounts.UsernamePattern, got)
	}
	hardTerminalSafe(t, "carol", got)
}

// Refusing a connection must not wait on the client: a TLS connection
// refused at the limit that never sends a ClientHello must not stop the
// TLS listener from accepting others.
func TestHardeningTLSRefusalDoesNotBlockAccept(t *testing.T) {
	certFile, keyFile, cert := hardCert(t)
	ts := startServer(t, func(c *chatd.Config) {
		c.Server.TLSListen = "127.0.0.1:0"
		c.Server.TLSCert = certFile
		c.Server.TLSKey = keyFile
		c.Server.MaxConnections = 1
	})
	tlsAddr := ts.srv.TLSAddr().String()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}

	// The one slot, taken.
	hardFirstLine(t, &net.Dialer{}, ts.addr)
	// Refused, and silent: no handshake.
	silent := hardDial(t, tlsAddr, "silent")
	time.Sleep(100 * time.Millisecond)

	// A well-behaved TLS client is refused promptly with server_busy.
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", tlsAddr, cfg)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		if !strings.Contains(r.line, "server_busy") {
			t.Fatalf("refused TLS client got %q, %v", r.line, r.err)
		}
	case <-time.After(5 * time.Second):
		silent.conn.Close() // unblock the server so the test can end
		<-done
		t.Fatal("a silent TLS connection over the limit stopped the TLS listener from accepting")
	}
}

// A panic while running one user's command ends that session only: the
// user is told, others are told they left, and the server carries on.
func TestPanicEndsOnlyItsSession(t *testing.T) {
	daemon.AddPanicCommand()
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	a.send("__panic")
	if bye := a.expect("bye"); bye.str("reason") != "error" || bye.str("text") != "internal server error" {
		t.Fatalf("bye %v", bye)
	}
	a.closed()
	b.expect("presence", "user", "alice", "event", "logout")
	b.send("who")
	if got := strings.Join(b.expect("ok", "cmd", "who").strs("users"), ","); got != "bob" {
		t.Fatalf("who = %s", got)
	}
	// alice can come back.
	login(t, ts.addr, "alice", "password1")
}
