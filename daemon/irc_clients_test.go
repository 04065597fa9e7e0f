package daemon_test

// Real IRC clients against the IRC listener: weechat (the Debian package
// weechat-headless, driven through its FIFO and judged by its log files)
// and a bot written with python3-irc. .ci/deps installs both.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
)

// clientWait bounds every wait for a real client.
const clientWait = 20 * time.Second

// weechat is a weechat-headless process with its home in a temporary
// directory.
type weechat struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// lockedBuffer collects a process's output, written by exec's copying
// goroutine and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWeechat runs weechat-headless connected to the IRC listener as
// name (SASL PLAIN), auto-joining channels. Its logger writes each line
// at once; its FIFO takes commands.
func startWeechat(t *testing.T, addr net.Addr, name, password string, channels ...string) *weechat {
	t.Helper()
	path, err := exec.LookPath("weechat-headless")
	if err != nil {
		t.Fatalf("weechat-headless is needed (Debian package weechat-headless, see .ci/deps): %v", err)
	}
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(addr.String())
	run := strings.Join([]string{
		"/set logger.file.flush_delay 0",
		"/set logger.file.path " + filepath.Join(dir, "logs"),
		"/set fifo.file.path " + filepath.Join(dir, "fifo"),
		"/set irc.server_default.autoreconnect off",
		fmt.Sprintf("/server add chatd %s/%s -nicks=%s -username=%s -realname=%s -sasl_mechanism=plain -sasl_username=%s -sasl_password=%s -autojoin=%s",
			host, port, name, name, name, name, password, strings.Join(channels, ",")),
		"/set irc.server_default.anti_flood_prio_high 0",
		"/set irc.server_default.anti_flood_prio_low 0",
		"/notify add dave chatd",
		"/connect chatd",
	}, ";")
	w := &weechat{t: t, dir: dir, out: &lockedBuffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(path, "--dir", dir, "--stdout", "--no-script", "--run-command", run)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start weechat-headless: %v", err)
	}
	go func() { w.cmd.Wait(); close(w.done) }()
	t.Cleanup(func() {
		select {
		case <-w.done:
			return
		default:
		}
		w.cmd.Process.Kill() // our own child, by its pid
		<-w.done
	})
	return w
}

// log is what weechat logged of one buffer of the server chatd
// ("chatd.#den", "chatd.bob", "server.chatd").
func (w *weechat) log(buffer string) string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "logs", "irc."+strings.ToLower(buffer)+".weechatlog"))
	return string(b)
}

// waitLog waits until weechat's log of buffer holds every part.
func (w *weechat) waitLog(buffer string, parts ...string) {
	w.t.Helper()
	deadline := time.Now().Add(clientWait)
	for {
		log := w.log(buffer)
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(log, p)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			logs, _ := filepath.Glob(filepath.Join(w.dir, "logs", "*"))
			w.t.Fatalf("weechat's log of %s lacks %q:\n%s\nlogs: %v\nserver buffer:\n%s\nweechat:\n%s",
				buffer, parts, log, logs, w.log("server.chatd"), w.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do runs a command (or says text) in a buffer of weechat, through its
// FIFO (buffer as for log).
func (w *weechat) do(buffer, line string) {
	w.t.Helper()
	fifo := filepath.Join(w.dir, "fifo")
	deadline := time.Now().Add(clientWait)
	for {
		if fi, err := os.Stat(fifo); err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("weechat made no FIFO at %s:\n%s", fifo, w.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		w.t.Fatalf("open weechat's FIFO: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString("irc." + buffer + " *" + line + "\n"); err != nil {
		w.t.Fatalf("write weechat's FIFO: %v", err)
	}
}

// TestWeechat: weechat logs in with SASL, is joined to two rooms, gets
// the mail sent while it was away, and chats both ways with a TCP user
// and a web (WebSocket) user.
func TestWeechat(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) { c.IRC.Listen = "127.0.0.1:0" })
	ts.addUsers("alice", "bob", "carol", "dave")
	bob := login(t, ts.addr, "bob", "password1")
	dave := login(t, ts.addr, "dave", "password1")
	carol := wsLogin(t, web, "carol", "password1", nil)
	bob.send("create den")
	bob.expect("ok", "cmd", "create")
	carol.send("create cafe")
	carol.expect("ok", "cmd", "create")
	// Mail for alice, who is away.
	bob.send("send alice sent while you were away")
	bob.expect("delivery", "status", "stored")

	w := startWeechat(t, ts.srv.IRCAddr(), "alice", "password1", "#den", "#cafe")
	bob.expect("room", "event", "joined", "room", "den", "user", "alice")
	carol.expect("room", "event", "joined", "room", "cafe", "user", "alice")
	w.waitLog("chatd.bob", "sent while you were away")
	w.waitLog("server.chatd", "SASL", "alice")
	// weechat's notify list rides on MONITOR where ISUPPORT offers it
	// (else on ISON once a minute): dave's leaving shows at once.
	w.waitLog("server.chatd", "notify: dave", "is connected")
	dave.send("quit")
	w.waitLog("server.chatd", "notify: dave", "has quit")

	bob.send("say #den hello from telnet")
	carol.send("say #cafe hello from the web")
	w.waitLog("chatd.#den", "bob\thello from telnet")
	w.waitLog("chatd.#cafe", "carol\thello from the web")

	w.do("chatd.#den", "hello from weechat")
	bob.expect("message", "kind", "room", "room", "den", "from", "alice", "text", "hello from weechat")
	w.do("chatd.#cafe", "and to the cafe")
	carol.expect("message", "kind", "room", "room", "cafe", "from", "alice", "text", "and to the cafe")
	w.waitLog("chatd.#den", "alice\thello from weechat")

	w.do("server.chatd", "/quit bye now")
	bob.expect("presence", "user", "alice", "event", "logout")
	select {
	case <-w.done:
	case <-time.After(clientWait):
		t.Fatalf("weechat did not quit:\n%s", w.out)
	}
}

// TestPythonIRCBot: a bot written with python3-irc joins a channel and
// answers a command a TCP user gives there.
func TestPythonIRCBot(t *testing.T) {
	// The Debian python, which has python3-irc (not one first on PATH).
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import irc.bot").CombinedOutput(); err != nil {
		t.Fatalf("%s with python3-irc is needed (Debian package python3-irc, see .ci/deps): %v\n%s", python, err, out)
	}
	ts := startIRC(t)
	ts.addUsers("robot", "bob")
	bob := login(t, ts.addr, "bob", "password1")
	bob.send("create den")
	bob.expect("ok", "cmd", "create")

	host, port, _ := net.SplitHostPort(ts.srv.IRCAddr().String())
	out := &lockedBuffer{}
	cmd := exec.Command(python, filepath.Join("testdata", "ircbot", "bot.py"), host, port, "robot", "password1", "#den", "bob")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the bot: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill() // our own child, by its pid
			<-done
		}
	})

	bob.expect("room", "event", "joined", "room", "den", "user", "robot")
	bob.send("!hello")
	bob.expect("message", "kind", "room", "room", "den", "from", "robot", "text", "hello, bob")
	bob.send("!quit")
	bob.expect("presence", "user", "robot", "event", "logout")
	select {
	case <-done:
	case <-time.After(clientWait):
		t.Fatalf("the bot did not quit:\n%s", out)
	}
	if !strings.Contains(out.String(), "joined #den") {
		t.Fatalf("the bot did not see its JOIN:\n%s", out)
	}
}
