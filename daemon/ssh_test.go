package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"chatd"
	"chatd/daemon"
	"chatd/db"
)

// The SSH tests drive the real OpenSSH client (Debian's openssh-client),
// through a pty where a person would type, with its HOME, keys and known
// hosts in the test's directory.

// sshServer starts a daemon with the SSH listener on a free loopback port.
func sshServer(t *testing.T, mutate ...func(*chatd.Config)) *testServer {
	t.Helper()
	return startServer(t, append([]func(*chatd.Config){func(c *chatd.Config) {
		c.SSH.Listen = "127.0.0.1:0"
	}}, mutate...)...)
}

// sshHome is a HOME for the ssh client: a key pair made by ssh-keygen (id,
// id.pub) and an askpass script that answers every question with the
// contents of the file "answer".
type sshHome struct {
	t   *testing.T
	dir string
}

func newSSHHome(t *testing.T) *sshHome {
	t.Helper()
	h := &sshHome{t: t, dir: t.TempDir()}
	h.keygen("id")
	askpass := "#!/bin/sh\ncat " + filepath.Join(h.dir, "answer") + "\n"
	if err := os.WriteFile(filepath.Join(h.dir, "askpass"), []byte(askpass), 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

// keygen makes a new key pair called name and returns its public line.
func (h *sshHome) keygen(name string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(h.dir, name)
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@test", "-f", path).CombinedOutput(); err != nil {
		h.t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.TrimSpace(string(pub))
}

// answer sets what askpass answers.
func (h *sshHome) answer(pw string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.dir, "answer"), []byte(pw+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// command is the ssh client for user at the server's SSH port; opts come
// before the destination, remote after it.
func (h *sshHome) command(ctx context.Context, ts *testServer, user string, opts []string, remote ...string) *exec.Cmd {
	_, port, err := net.SplitHostPort(ts.srv.SSHAddr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	args := []string{"-F", "/dev/null", "-p", port,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + filepath.Join(h.dir, "known_hosts"),
		"-o", "LogLevel=INFO", "-o", "ConnectTimeout=10", "-o", "ConnectionAttempts=1"}
	args = append(args, opts...)
	args = append(args, user+"@127.0.0.1")
	args = append(args, remote...)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Env = []string{"HOME=" + h.dir, "PATH=" + os.Getenv("PATH"), "TERM=xterm",
		"SSH_ASKPASS=" + filepath.Join(h.dir, "askpass"), "SSH_ASKPASS_REQUIRE=force"}
	return cmd
}

// byKey are the options that log in with the key id alone.
func (h *sshHome) byKey(name string) []string {
	return []string{"-i", filepath.Join(h.dir, name), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "PreferredAuthentications=publickey"}
}

// byPassword are the options that log in with one password (askpass's).
func byPassword(method string) []string {
	return []string{"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=" + method,
		"-o", "NumberOfPasswordPrompts=1"}
}

// terminal is an ssh client on a pty: what it shows accumulates in out.
type terminal struct {
	t    *testing.T
	pty  *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	seen int // out up to here was matched by waitFor
	done chan struct{}
}

func startTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	tm := &terminal{t: t, pty: f, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
	})
	return tm
}

// waitFor waits until the terminal shows want after what the last waitFor
// matched, and returns what came up to the end of it.
func (tm *terminal) waitFor(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tm.mu.Lock()
		got := tm.out.String()[tm.seen:]
		tm.mu.Unlock()
		if i := strings.Index(got, want); i >= 0 {
			tm.seen += i + len(want)
			return got[:i+len(want)]
		}
		select {
		case <-tm.done:
			tm.t.Fatalf("the ssh client ended without showing %q; it showed:\n%q", want, got)
		default:
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the terminal did not show %q; it showed:\n%q", want, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (tm *terminal) typeKeys(s string) {
	tm.t.Helper()
	if _, err := tm.pty.Write([]byte(s)); err != nil {
		tm.t.Fatal(err)
	}
}

// exited waits for the client to end and returns its exit code.
func (tm *terminal) exited() int {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-time.After(15 * time.Second):
		tm.t.Fatal("the ssh client did not end")
	}
	err := tm.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tm.t.Fatal(err)
	}
	return tm.cmd.ProcessState.ExitCode()
}

// addKey gives name the public key line, as chatd keyadd does.
func (ts *testServer) addKey(name, line string) {
	ts.t.Helper()
	k, err := chatd.ParseSSHKey(line)
	if err != nil {
		ts.t.Fatal(err)
	}
	k.User = name
	if err := ts.store.AddKey(context.Background(), k); err != nil {
		ts.t.Fatal(err)
	}
}

// TestSSHShell logs in by key with a pty and chats with a telnet user:
// lines from others appear above the half-typed line, which is redrawn
// under them and still sent whole; Up recalls a line, Tab completes a
// name; Ctrl-C logs out.
func TestSSHShell(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice", "bobby")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := login(t, ts.addr, "bobby", "password1")

	tm := startTerminal(t, h.command(ctx, ts, "alice", append(h.byKey("alice"), "-tt")))
	tm.waitFor("Welcome, alice! You are in lobby.")
	tm.waitFor("> ")
	b.expect("presence", "event", "login", "user", "alice")

	tm.typeKeys("hello from ssh\r")
	b.expect("message", "from", "alice", "text", "hello from ssh")
	// alice's own copy too, before the half line below: under load it
	// could come after it, and its redraw of "> half a li" would be
	// taken for the one after bobby's line.
	tm.waitFor("<alice> hello from ssh")

	// Half a line typed, then a line from bobby arrives.
	tm.typeKeys("half a li")
	tm.waitFor("half a li")
	b.send("hi over telnet")
	shown := tm.waitFor("> half a li")
	if !strings.Contains(shown, "<bobby> hi over telnet\r\n") {
		t.Errorf("bobby's line did not come above the typed line; the terminal showed %q", shown)
	}
	// The typed line goes on where it was.
	tm.typeKeys("ne\r")
	b.expect("message", "from", "alice", "text", "half a line")

	// Up recalls the line sent last; Tab completes an online name.
	tm.typeKeys("\x1b[A")
	tm.waitFor("half a line")
	tm.typeKeys("\x15send bob\t") // Ctrl-U empties the line first
	tm.waitFor("send bobby ")
	tm.typeKeys("psst\r")
	b.expect("message", "kind", "private", "from", "alice", "text", "psst")
	// And a room, after its #.
	tm.typeKeys("say #lob\t")
	tm.waitFor("say #lobby ")
	tm.typeKeys("in the lobby\r")
	b.expect("message", "from", "alice", "room", "lobby", "text", "in the lobby")

	tm.typeKeys("\x03")
	tm.waitFor("Goodbye: interrupted")
	if code := tm.exited(); code != 0 {
		t.Errorf("ssh exit code %d after Ctrl-C, want 0", code)
	}
	b.expect("presence", "event", "logout", "user", "alice")
}

// TestSSHPasswordLogin logs in by password (the password method, and
// keyboard-interactive) without a pty: text mode, line by line.
func TestSSHPasswordLogin(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice")
	h := newSSHHome(t)
	h.answer("password1")
	for _, method := range []string{"password", "keyboard-interactive"} {
		t.Run(method, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := h.command(ctx, ts, "alice", append(byPassword(method), "-T"))
			cmd.Stdin = strings.NewReader("echo ready\nlogout\n")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("ssh: %v\n%s", err, out)
			}
			for _, want := range []string{"Welcome, alice!", "ready", "Goodbye"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestSSHJSON: `ssh host json` is JSON mode for scripts; any other
// command is refused with exit status 1.
func TestSSHJSON(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cmd := h.command(ctx, ts, "alice", h.byKey("alice"), "json")
	cmd.Stdin = strings.NewReader("who\nlogout\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh json: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], `{"type":"welcome","user":"alice"`) ||
		!strings.Contains(string(out), `{"type":"ok","cmd":"who"`) || !strings.HasPrefix(lines[len(lines)-1], `{"type":"bye"`) {
		t.Errorf("ssh json showed:\n%s", out)
	}

	cmd = h.command(ctx, ts, "alice", h.byKey("alice"), "ls", "-l")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), `unknown command "ls -l"`) {
		t.Errorf("ssh ls -l: %v, exit %d, stderr %q; want exit 1 and unknown command", err, cmd.ProcessState.ExitCode(), stderr.String())
	}
}

// TestSSHFailuresCountTowardLockout: a key the account does not hold and
// a wrong password count toward the same lockout as the telnet prompt's.
func TestSSHFailuresCountTowardLockout(t *testing.T) {
	ts := sshServer(t, func(c *chatd.Config) {
		c.Lockout.Attempts = 3
		c.Lockout.Duration = chatd.Duration{Duration: time.Hour}
	})
	ts.addUsers("alice")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	h.keygen("stranger")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	run := func(opts []string) (string, int) {
		t.Helper()
		cmd := h.command(ctx, ts, "alice", append(opts, "-T"))
		cmd.Stdin = strings.NewReader("logout\n")
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	// One wrong key, one wrong password: two failures.
	if out, code := run(h.byKey("stranger")); code != 255 {
		t.Fatalf("a wrong key logged in (exit %d):\n%s", code, out)
	}
	h.answer("wrong-password")
	if out, code := run(byPassword("password")); code != 255 {
		t.Fatalf("a wrong password logged in (exit %d):\n%s", code, out)
	}
	// The third failure, at the telnet prompt, locks the name.
	c := dial(t, ts.addr)
	c.send("alice", "nope-nope")
	c.expectError("login", "locked_out")

	// Now neither the right key nor the right password gets in.
	if out, code := run(h.byKey("alice")); code != 255 {
		t.Errorf("the right key logged in while locked out (exit %d):\n%s", code, out)
	} else if !strings.Contains(out, "too many failed logins") {
		t.Errorf("a locked-out key login was not told why:\n%s", out)
	}
	h.answer("password1")
	if out, code := run(byPassword("password")); code != 255 {
		t.Errorf("the right password logged in while locked out (exit %d):\n%s", code, out)
	}
}

// TestSSHRegistration: with registration open, keyboard-interactive asks
// an unknown name for a new password twice and creates the account.
func TestSSHRegistration(t *testing.T) {
	ts := sshServer(t)
	h := newSSHHome(t)
	h.answer("a-new-password")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := h.command(ctx, ts, "newbie", append(byPassword("keyboard-interactive"), "-T"))
	cmd.Stdin = strings.NewReader("logout\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Welcome, newbie!") {
		t.Fatalf("ssh newbie: %v\n%s", err, out)
	}
	login(t, ts.addr, "newbie", "a-new-password")
}

// TestSSHHostKey: the first start writes the host key 0600; a restart
// uses the same key (the client's known_hosts still matches); a key file
// others may read stops the start with a message that says what to do.
func TestSSHHostKey(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	path := filepath.Join(filepath.Dir(ts.cfg.Database.Path), "ssh_host_ed25519_key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %04o, want 0600", fi.Mode().Perm())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	connect := func(ts *testServer, strict string) {
		t.Helper()
		cmd := h.command(ctx, ts, "alice", append(h.byKey("alice"), "-o", "StrictHostKeyChecking="+strict), "json")
		cmd.Stdin = strings.NewReader("logout\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ssh (StrictHostKeyChecking=%s): %v\n%s", strict, err, out)
		}
	}
	connect(ts, "accept-new")
	// known_hosts names the host with its port: let the new port's
	// entry be the old one's key, so only the key decides.
	ts = ts.restart()
	kh := filepath.Join(h.dir, "known_hosts")
	data, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data))
	_, port, _ := net.SplitHostPort(ts.srv.SSHAddr().String())
	entry := "[127.0.0.1]:" + port + " " + strings.Join(fields[1:3], " ") + "\n"
	if err := os.WriteFile(kh, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	connect(ts, "yes")
	ts.stop()

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(ts.cfg.Database.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := daemon.New(daemon.Options{Config: ts.cfg, Store: store})
	err = srv.Listen()
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), "ssh.host_key") {
		t.Errorf("Listen with a host key open to the group: %v; want a refusal naming ssh.host_key and chmod 600", err)
	}
}

// TestSSHSocketsCount: an SSH socket takes its connection slot at accept,
// before any handshake, and a handshake that does not finish is closed at
// login_timeout.
func TestSSHSocketsCount(t *testing.T) {
	ts := sshServer(t, func(c *chatd.Config) {
		c.Server.MaxConnectionsPerIP = 2
		c.Server.LoginTimeout = chatd.Duration{Duration: time.Second}
	})
	var socks []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", ts.srv.SSHAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		socks = append(socks, nc)
	}
	// The two silent SSH sockets hold this address's slots.
	c := dialRaw(t, ts.addr)
	if line, _ := c.readLine(5 * time.Second); !strings.Contains(line, "too many connections from your address") {
		t.Errorf("a telnet connection beside two SSH sockets got %q; want the per-IP refusal", line)
	}
	// At login_timeout the server closes a handshake that went nowhere.
	socks[0].SetReadDeadline(time.Now().Add(15 * time.Second))
	data, err := io.ReadAll(socks[0])
	if !strings.HasPrefix(string(data), "SSH-2.0-chatd") || err != nil {
		t.Errorf("a silent SSH socket read %q, %v; want the server's version, then the close", data, err)
	}
}

// TestSSHShellHidesPasswords: in the shell, passwd's prompts are the
// editor's prompt and what is typed at them is not shown.
func TestSSHShellHidesPasswords(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tm := startTerminal(t, h.command(ctx, ts, "alice", append(h.byKey("alice"), "-tt")))
	tm.waitFor("Welcome, alice!")
	tm.waitFor("> ")
	tm.typeKeys("passwd\r")
	tm.waitFor("Old password: ")
	tm.typeKeys("password1\r")
	tm.waitFor("New password: ")
	tm.typeKeys("another-password\r")
	tm.waitFor("Repeat password: ")
	tm.typeKeys("another-password\r")
	shown := tm.waitFor("your password was changed")
	tm.typeKeys("echo still here\r")
	tm.waitFor("still here")
	tm.mu.Lock()
	all := tm.out.String()
	tm.mu.Unlock()
	if strings.Contains(all, "password1") || strings.Contains(all, "another-password") {
		t.Errorf("the terminal showed a password typed at passwd's prompts:\n%q", all)
	}
	if strings.Contains(shown, "Old password: > ") {
		t.Errorf("the editor's prompt came after passwd's: %q", shown)
	}
	tm.typeKeys("\x04") // Ctrl-D on an empty line
	tm.waitFor("Goodbye")
	login(t, ts.addr, "alice", "another-password")
}

// TestSSHWindowChange: a resized terminal tells the server (window-change)
// and the editor wraps the typed line at the new width.
func TestSSHWindowChange(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tm := startTerminal(t, h.command(ctx, ts, "alice", append(h.byKey("alice"), "-tt")))
	tm.waitFor("Welcome, alice!")
	tm.waitFor("> ")
	if err := pty.Setsize(tm.pty, &pty.Winsize{Rows: 24, Cols: 20}); err != nil {
		t.Fatal(err)
	}
	// The client sends the window change before the line typed after it.
	tm.typeKeys("echo resized\r")
	tm.waitFor("resized\r\n")
	tm.waitFor("> ")
	tm.typeKeys(strings.Repeat("x", 25))
	// "> " and 18 x fill the 20 columns; the editor moves to the next row.
	tm.waitFor(strings.Repeat("x", 18) + "\r\n" + "xxxxxxx")
}

// TestSSHBanned: a banned user's right key gets them only the ban's
// line, as at the telnet prompt.
func TestSSHBanned(t *testing.T) {
	ts := sshServer(t)
	ts.addUsers("alice")
	h := newSSHHome(t)
	ts.addKey("alice", h.keygen("alice"))
	if err := ts.store.Ban(context.Background(), chatd.Ban{User: "alice", Reason: "spam", By: "root", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := h.command(ctx, ts, "alice", h.byKey("alice"), "json")
	cmd.Stdin = strings.NewReader("who\n")
	out, _ := cmd.Output()
	if !strings.Contains(string(out), `"code":"banned"`) || strings.Contains(string(out), `"welcome"`) {
		t.Errorf("a banned user's ssh json showed:\n%s", out)
	}
}
