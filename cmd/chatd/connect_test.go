package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyClient is `chatd connect` running on a pseudo-terminal, as a person
// would use it.
type ptyClient struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	exit chan error

	mu  sync.Mutex
	out bytes.Buffer // everything the client drew on the terminal
}

func startPTY(t *testing.T, env []string, args ...string) *ptyClient {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"connect"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	p := &ptyClient{t: t, cmd: cmd, tty: tty, exit: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { p.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		tty.Close()
	})
	return p
}

func (p *ptyClient) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitOutput waits until the terminal shows want after byte offset from,
// and returns the offset just past it.
func (p *ptyClient) waitOutput(from int, want string) int {
	p.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		out := p.output()
		if from <= len(out) {
			if i := strings.Index(out[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal never showed %q; it shows:\n%q", want, out[min(from, len(out)):])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOutputWithin is waitOutput with a deadline of its own.
func (p *ptyClient) waitOutputWithin(limit time.Duration, from int, want string) int {
	p.t.Helper()
	for deadline := time.Now().Add(limit); ; {
		out := p.output()
		if i := strings.Index(out[min(from, len(out)):], want); i >= 0 {
			return from + i + len(want)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal never showed %q; it shows:\n%q", want, out[min(from, len(out)):])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *ptyClient) typeKeys(keys string) {
	p.t.Helper()
	if _, err := p.tty.Write([]byte(keys)); err != nil {
		p.t.Fatal(err)
	}
}

// wait requires the client to exit with code.
func (p *ptyClient) wait(code int) {
	p.t.Helper()
	select {
	case err := <-p.exit:
		got := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			got = exit.ExitCode()
		} else if err != nil {
			p.t.Fatal(err)
		}
		if got != code {
			p.t.Fatalf("connect exited with %d, want %d; terminal:\n%q", got, code, p.output())
		}
	case <-time.After(10 * time.Second):
		p.t.Fatalf("connect did not exit; terminal:\n%q", p.output())
	}
}

// TestConnectTerminal is a person using chatd connect at a terminal: the
// password is not echoed, a message arriving while a line is typed leaves
// that line intact, Tab completes commands and names, up recalls a line,
// a private message rings the bell, and Ctrl-C logs out.
func TestConnectTerminal(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	bob := d.login("bob", "password-b")

	p := startPTY(t, []string{"NO_COLOR="}, d.addr)
	at := p.waitOutput(0, "Username: ")
	p.typeKeys("alice\r")
	at = p.waitOutput(at, "Password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "Welcome, alice!")
	if strings.Contains(p.output(), "password-a") {
		t.Fatalf("the password was echoed:\n%q", p.output())
	}
	if !strings.Contains(p.output(), "\x1b[") {
		t.Errorf("no colours on a terminal without NO_COLOR:\n%q", p.output())
	}
	bob.waitFor(5*time.Second, "presence", "user", "alice")

	// A message arrives while a line is half typed: it is printed above,
	// the prompt and the half line are drawn again, and the line is sent
	// whole when finished.
	at = p.waitOutput(at, "lobby> ")
	p.typeKeys("hello wor")
	at = p.waitOutput(at, "hello wor")
	bob.send("good morning")
	at = p.waitOutput(at, "good morning")
	at = p.waitOutput(at, "lobby> hello wor")
	p.typeKeys("ld\r")
	if m := bob.waitFor(5*time.Second, "message", "from", "alice"); m["text"] != "hello world" || m["kind"] != "room" {
		t.Fatalf("bob got %v, want alice's room line \"hello world\"", m)
	}

	// Tab completes a command name, then a user name.
	p.typeKeys("broad\teveryone\r")
	if m := bob.waitFor(5*time.Second, "message", "kind", "broadcast"); m["text"] != "everyone" {
		t.Fatalf("broadcast after Tab: %v", m)
	}
	p.typeKeys("send b\tpsst\r")
	if m := bob.waitFor(5*time.Second, "message", "kind", "private"); m["text"] != "psst" {
		t.Fatalf("private message after Tab: %v", m)
	}
	// Up recalls the last line.
	p.typeKeys("\x1b[A\r")
	if m := bob.waitFor(5*time.Second, "message", "kind", "private"); m["text"] != "psst" {
		t.Fatalf("the recalled line sent %v", m)
	}

	// A private message rings the bell.
	bob.send("send alice are you there")
	at = p.waitOutput(at, "\a")
	p.waitOutput(at, "are you there")

	// Ctrl-C logs out cleanly: bob sees alice leave and connect exits 0.
	p.typeKeys("\x03")
	bob.waitFor(5*time.Second, "presence", "event", "logout")
	p.wait(0)
	p.waitOutput(at, "Goodbye: see you soon") // the server's answer to logout
}

// TestConnectTerminalUserFlag logs in with -user, so only the password is
// asked, then leaves with Ctrl-D; NO_COLOR turns the colours off.
func TestConnectTerminalUserFlag(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	bob := d.login("bob", "password-b")

	p := startPTY(t, []string{"NO_COLOR=1"}, "-user", "alice", d.addr)
	at := p.waitOutput(0, "Password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "Welcome, alice!")
	if out := p.output(); strings.Contains(out, "Username") || strings.Contains(out, "\x1b[3") {
		t.Fatalf("asked for the name despite -user, or coloured despite NO_COLOR:\n%q", out)
	}
	bob.waitFor(5*time.Second, "presence", "event", "login")
	at = p.waitOutput(at, "lobby> ")

	// passwd asks three passwords without echo, then takes lines again.
	p.typeKeys("passwd\r")
	at = p.waitOutput(at, "Current password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "New password: ")
	p.typeKeys("password-new\r")
	at = p.waitOutput(at, "Repeat the password: ")
	p.typeKeys("password-new\r")
	at = p.waitOutput(at, "password was changed")
	at = p.waitOutput(at, "lobby> ")
	if strings.Contains(p.output(), "password-new") {
		t.Fatalf("a new password was echoed:\n%q", p.output())
	}
	p.typeKeys("say still here\r")
	if m := bob.waitFor(5*time.Second, "message", "from", "alice"); m["text"] != "still here" {
		t.Fatalf("after passwd bob got %v", m)
	}
	p.typeKeys("\x04")
	if ev := bob.waitFor(5*time.Second, "presence", "event", "logout"); ev["user"] != "alice" {
		t.Fatalf("presence %v", ev)
	}
	p.wait(0)
	p.waitOutput(at, "Goodbye: see you soon")
	d.login("alice", "password-new") // passwd took effect
}

// TestConnectScript runs connect with a pipe for standard input: the first
// lines log in, the rest are commands, the answers come out as plain lines
// and the end of the input logs out.
func TestConnectScript(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	alice := d.login("alice", "password-a")

	r := c.exec(nil, "bob\npassword-b\nsay hello from a script\nwho\n", "connect", d.addr)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if m := alice.waitFor(5*time.Second, "message", "from", "bob"); m["text"] != "hello from a script" {
		t.Fatalf("alice got %v", m)
	}
	alice.waitFor(5*time.Second, "presence", "event", "logout")
	for _, want := range []string{"Welcome, bob!", "<bob> hello from a script", ":: ", "alice", "Goodbye"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.ContainsAny(r.stdout, "\x1b\a") {
		t.Errorf("escape codes or bells on a pipe:\n%q", r.stdout)
	}

	// -user gives the name; a wrong password fails the script with status 1.
	r = c.exec(nil, "password-b\nwho\n", "connect", "-user", "bob", d.addr)
	if r.code != 0 || !strings.Contains(r.stdout, "Welcome, bob!") {
		t.Fatalf("with -user: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = c.exec(nil, "bob\nwrong-password\nwho\n", "connect", d.addr)
	if r.code != 1 || !strings.Contains(r.stderr, "login failed") {
		t.Fatalf("wrong password: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestConnectServerGone kills the daemon under a logged-in client: the
// client says so and exits 1.
func TestConnectServerGone(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")

	cmd := exec.Command(binary, "connect", d.addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	stdin.Write([]byte("alice\npassword-a\n"))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), "Welcome, alice!"); {
		if time.Now().After(deadline) {
			t.Fatalf("no welcome:\n%s%s", stdout.String(), stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.cmd.Process.Kill()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("connect ended with %v, want exit status 1", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connect did not notice that the server was gone")
	}
	if !strings.Contains(stderr.String(), "the server closed the connection") {
		t.Fatalf("stderr does not say the server is gone:\n%s", stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestConnectTerminalRoomsAndRights: Tab offers a user who is not an admin
// only the commands they may run, and after join the prompt names the new
// room as soon as the server confirms it, before the next line is typed.
func TestConnectTerminalRoomsAndRights(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")

	p := startPTY(t, []string{"NO_COLOR=1"}, "-user", "alice", d.addr)
	at := p.waitOutput(0, "Password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "Welcome, alice!")
	at = p.waitOutput(at, "lobby> ")

	// "b" starts back, ban, block, blocked and broadcast: Tab lists them,
	// without ban for alice.
	p.typeKeys("b\t")
	at = p.waitOutput(at, "broadcast")
	if line := lastLineWith(p.output(), "broadcast"); strings.Contains(line, "ban") || !strings.Contains(line, "back") {
		t.Fatalf("Tab offered alice %q", line)
	}
	p.typeKeys("\x7f") // take the b back
	p.typeKeys("sh\t")
	p.typeKeys("\r") // "sh" alone, or "shutdown" if Tab offered it
	at = p.waitOutput(at, "sh")
	if strings.Contains(p.output()[at:], "shutdown") {
		t.Fatalf("Tab completed shutdown for alice:\n%q", p.output())
	}

	p.typeKeys("create den\r")
	at = p.waitOutput(at, "created room den")
	at = p.waitOutput(at, "den> ")
	p.typeKeys("join lobby\r")
	at = p.waitOutput(at, "now talking in lobby") // a member's join only makes it current
	p.waitOutput(at, "lobby> ")
	p.typeKeys("\x04")
	p.wait(0)
}

// lastLineWith is the last line of out (split at CR or LF) that holds s.
func lastLineWith(out, s string) string {
	lines := strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' })
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i]
		}
	}
	return ""
}

// loginPTY starts chatd connect at a terminal for alice on addr and waits
// for her prompt in lobby.
func loginPTY(t *testing.T, addr string) (*ptyClient, int) {
	t.Helper()
	p := startPTY(t, []string{"NO_COLOR=1"}, "-user", "alice", addr)
	at := p.waitOutput(0, "Password: ")
	p.typeKeys("password-a\r")
	at = p.waitOutput(at, "Welcome, alice!")
	return p, p.waitOutput(at, "lobby> ")
}

// TestConnectTerminalSeveralRooms: /join switches between rooms alice is
// in and the prompt follows; lines of her other room show with their tag
// and count as unread in the prompt, as do private messages; /rooms lists
// her rooms; a room made current is read (its marker moves, which her
// other session sees), and a reply reads a private conversation.
func TestConnectTerminalSeveralRooms(t *testing.T) {
	c := newCLI(t)
	d := c.serveWith("", "[accounts]\nduplicate_login = \"multi\"\n")
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	bob := d.login("bob", "password-b")
	bob.send("create den")
	bob.waitFor(5*time.Second, "ok", "cmd", "create")
	other := d.login("alice", "password-a") // her other device, to see her read markers

	p, at := loginPTY(t, d.addr)
	p.typeKeys("join den\r")
	at = p.waitOutput(at, "den> ")
	p.typeKeys("/join lobby\r")
	at = p.waitOutput(at, "now talking in lobby")
	at = p.waitOutput(at, "lobby> ")

	bob.send("in the den")
	at = p.waitOutput(at, "[den] <bob> in the den")
	at = p.waitOutput(at, "lobby [unread #den 1]> ")
	bob.send("send alice psst")
	at = p.waitOutput(at, "*bob* psst")
	at = p.waitOutput(at, "lobby [unread #den 1, @bob 1]> ")
	bob.send("say #lobby hello lobby")
	at = p.waitOutput(at, "[lobby] <bob> hello lobby")
	// A line of the current room is read as shown: the marker moves.
	other.waitFor(5*time.Second, "read", "conversation", "#lobby")

	p.typeKeys("/rooms\r")
	at = p.waitOutput(at, "you are in 2 rooms")
	at = p.waitOutput(at, " *lobby (0 unread)")
	at = p.waitOutput(at, "  den (1 unread)")

	p.typeKeys("/join den\r")
	at = p.waitOutput(at, "now talking in den")
	at = p.waitOutput(at, "den [unread @bob 1]> ")
	if ev := other.waitFor(5*time.Second, "read", "conversation", "#den"); ev["id"] == "" {
		t.Fatalf("read event %v", ev)
	}
	p.typeKeys("send bob hi\r")
	bob.waitFor(5*time.Second, "message", "text", "hi")
	p.waitOutput(at, "den> ")
	other.waitFor(5*time.Second, "read", "conversation", "@bob")
	p.typeKeys("\x04")
	p.wait(0)
}

// gate is a TCP proxy in front of the daemon that the test opens and
// closes: while closed it drops each connection it accepts, so a client
// that reconnects fails until the test lets it through.
type gate struct {
	ln     net.Listener
	mu     sync.Mutex
	target string // "" while closed
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			target := g.target
			g.mu.Unlock()
			if target == "" {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

// set lets connections through to target, or none when it is "".
func (g *gate) set(target string) {
	g.mu.Lock()
	g.target = target
	g.mu.Unlock()
}

// TestConnectTerminalResume: the daemon restarts (same database) under a
// logged-in terminal client. The client reconnects with backoff, logs in
// again with the password typed at the start, and shows what was said
// while it was away, in its room, in its other room and privately, each
// line once, and none of the lines it had shown before the restart again.
func TestConnectTerminalResume(t *testing.T) {
	c := newCLI(t)
	d := c.serve()
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	g := newGate(t, d.addr)

	p, at := loginPTY(t, g.addr())
	p.typeKeys("create den\r")
	at = p.waitOutput(at, "den> ")
	p.typeKeys("/join lobby\r")
	at = p.waitOutput(at, "lobby> ")
	bob := d.login("bob", "password-b")
	bob.send("join den", "before one", "say #lobby before two", "send alice before three")
	at = p.waitOutput(at, "[den] <bob> before one")
	at = p.waitOutput(at, "[lobby] <bob> before two")
	at = p.waitOutput(at, "*bob* before three")

	// Nobody gets through while the daemon restarts and bob talks.
	g.set("")
	d.terminate()
	at = p.waitOutput(at, "reconnecting")
	d = c.serve()
	bob = d.login("bob", "password-b")
	bob.send("after one", "say #lobby after two", "send alice after three")
	bob.waitFor(5*time.Second, "delivery", "to", "alice")
	g.set(d.addr)

	at = p.waitOutputWithin(30*time.Second, at, "reconnected")
	for _, want := range []string{"<bob> after one", "<bob> after two", "<bob> after three"} {
		p.waitOutput(at, want)
	}
	// The person is still in lobby, and what came meanwhile elsewhere is
	// unread.
	p.waitOutput(at, "lobby [unread #den 2, @bob 2]> ")
	p.typeKeys("say back again\r")
	if m := bob.waitFor(5*time.Second, "message", "from", "alice"); m["text"] != "back again" || m["room"] != "lobby" {
		t.Fatalf("bob got %v after the reconnection", m)
	}
	out := p.output()
	for _, line := range []string{"before one", "before two", "before three", "after one", "after two", "after three"} {
		if n := strings.Count(out, line); n != 1 {
			t.Errorf("%q shown %d times:\n%q", line, n, out)
		}
	}
	p.typeKeys("\x04")
	p.wait(0)
}
