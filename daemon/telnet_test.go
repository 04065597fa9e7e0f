package daemon_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Telnet commands (RFC 854, 860).
const (
	tIAC  = "\xff"
	tDONT = "\xfe"
	tDO   = "\xfd"
	tWONT = "\xfc"
	tWILL = "\xfb"
	tIP   = "\xf4"
	tBRK  = "\xf3"
	tAYT  = "\xf6"
	tTM   = "\x06"
	tTT   = "\x18" // terminal type
	tNAWS = "\x1f" // window size
)

// textLogin logs name in over a raw text-mode connection and returns it
// with everything read so far consumed.
func textLogin(t *testing.T, addr, name, password string) *client {
	t.Helper()
	c := dialRaw(t, addr)
	c.name = name
	c.send(name, password)
	c.readUntil("Type help for the list of commands.")
	return c
}

// readUntil reads raw bytes until want has arrived and returns them.
func (c *client) readUntil(want string) string {
	c.t.Helper()
	var got []byte
	for !bytes.Contains(got, []byte(want)) {
		c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := c.r.ReadByte()
		if err != nil {
			c.t.Fatalf("%s: waiting for %q: %v; got %q", c.name, want, err, got)
		}
		got = append(got, b)
	}
	return string(got)
}

func (c *client) raw(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

func TestTelnetInterruptLogsOut(t *testing.T) {
	for _, tc := range []struct{ name, seq string }{
		{"IP", tIAC + tIP},
		{"BRK", tIAC + tBRK},
		{"IPWithTimingMark", tIAC + tIP + tIAC + tDO + tTM}, // what telnet sends for ^C
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t)
			ts.addUsers("alice", "bob")
			b := login(t, ts.addr, "bob", "password1")
			a := textLogin(t, ts.addr, "alice", "password1")
			b.expect("presence", "event", "login", "user", "alice")
			a.raw(tc.seq)
			got := a.readUntil("Goodbye")
			a.closed()
			if strings.HasSuffix(tc.name, "TimingMark") && !strings.Contains(got, tIAC+tWILL+tTM) {
				t.Fatalf("the timing mark was not answered before the goodbye: %q", got)
			}
			b.expect("presence", "event", "logout", "user", "alice")
		})
	}
	t.Run("BeforeLogin", func(t *testing.T) {
		ts := startServer(t)
		c := dialRaw(t, ts.addr)
		c.readUntil("Username: ")
		c.raw(tIAC + tIP)
		c.readUntil("Goodbye")
		c.closed()
	})
}

func TestTelnetTimingMarkFollowsEarlierOutput(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := textLogin(t, ts.addr, "alice", "password1")
	a.raw("echo first line\r\n" + tIAC + tDO + tTM + "echo second line\r\n")
	got := a.readUntil("second line")
	i, j := strings.Index(got, "first line"), strings.Index(got, tIAC+tWILL+tTM)
	if i < 0 || j < i || strings.Count(got, tIAC) != 1 {
		t.Fatalf("want the first line, then IAC WILL TIMING-MARK, then the second: %q", got)
	}
}

func TestTelnetAreYouThere(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := textLogin(t, ts.addr, "alice", "password1")
	a.raw(tIAC + tAYT)
	got := a.readUntil("here]\r\n")
	if !strings.Contains(got, "[chatd is here]") || strings.Contains(got, tIAC) {
		t.Fatalf("AYT answer: %q", got)
	}
}

// Options chatd does not do are refused once each, and refusals from the
// client get no answer, so negotiation can never loop.
func TestTelnetRefusesOtherOptionsOnce(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := textLogin(t, ts.addr, "alice", "password1")
	a.raw(tIAC + tDO + tTT + tIAC + tWILL + tNAWS + tIAC + tDO + tTT + tIAC + tWILL + tNAWS +
		tIAC + tWONT + tTT + tIAC + tDONT + tNAWS + "echo done\r\n")
	got := a.readUntil("done")
	want := tIAC + tWONT + tTT + tIAC + tDONT + tNAWS
	if strings.Count(got, tIAC) != 2 || !strings.Contains(got, want) {
		t.Fatalf("want exactly %q before the echo, got %q", want, got)
	}
	a.raw(tIAC + tDO + tTT + "echo again\r\n")
	if got := a.readUntil("again"); strings.Contains(got, tIAC) {
		t.Fatalf("a refused option was refused again: %q", got)
	}
}

// In JSON mode no telnet byte is ever written, but an interrupt still ends
// the session.
func TestTelnetJSONModeStaysPure(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice")
	a := login(t, ts.addr, "alice", "password1")
	a.raw(tIAC + tDO + tTT + tIAC + tAYT + tIAC + tDO + tTM + "echo x\r\n")
	a.expectNext("ok", "cmd", "echo")
	a.raw(tIAC + tIP)
	a.expectNext("bye", "reason", "logout")
	a.closed()
}

// TestTelnetClientCtrlC drives the real telnet program through a
// pseudo-terminal: Ctrl-C logs the user out cleanly, telnet shows the
// goodbye (it discards output until its timing mark is answered) and
// exits, and others see the logout.
func TestTelnetClientCtrlC(t *testing.T) {
	path, err := exec.LookPath("telnet")
	if err != nil {
		t.Skip("telnet is not installed (Debian package telnet, see .ci/deps)")
	}
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	b := login(t, ts.addr, "bob", "password1")
	host, port, _ := strings.Cut(ts.addr, ":")
	cmd := exec.Command(path, host, port)
	cmd.Env = append(os.Environ(), "TERM=dumb")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatalf("start telnet: %v", err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
	})
	out := make(chan []byte, 64)
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := tty.Read(buf)
			if n > 0 {
				out <- buf[:n]
			}
			if err != nil {
				close(out)
				exited <- cmd.Wait()
				return
			}
		}
	}()
	var seen bytes.Buffer
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !bytes.Contains(seen.Bytes(), []byte(want)) {
			select {
			case b, ok := <-out:
				if !ok {
					t.Fatalf("telnet ended before %q; screen: %q", want, seen.String())
				}
				seen.Write(b)
			case <-deadline:
				t.Fatalf("no %q from telnet; screen: %q", want, seen.String())
			}
		}
	}
	waitFor("Username: ")
	tty.Write([]byte("alice\n"))
	waitFor("Password: ")
	tty.Write([]byte("password1\n"))
	waitFor("Type help for the list of commands.")
	b.expect("presence", "event", "login", "user", "alice")
	if strings.Contains(seen.String(), "password1") {
		t.Fatalf("the password was echoed: %q", seen.String())
	}
	tty.Write([]byte("echo ready\n"))
	waitFor("ready\r\n")

	tty.Write([]byte{3}) // Ctrl-C
	b.expect("presence", "event", "logout", "user", "alice")
	waitFor("Goodbye")
	waitFor("Connection closed by foreign host")
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("telnet did not exit; screen: %q", seen.String())
	}
}
