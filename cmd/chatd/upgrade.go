package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"chatd"
	"chatd/daemon"
)

// The live upgrade (docs/operations.md, "Upgrading without dropping
// anyone"). The running daemon starts the binary now at its own path with
// its listening sockets and a unix socket pair; the new process reports
// ready over the pair, the old one hands its sessions over it
// (daemon.Server.HandOver and Adopt) and exits.
//
// cloudflare/tableflip does the listener half of this, but it does not fit
// here: it starts os.Args[0] (not the path resolved when the daemon started,
// which an upgrade that renames a new binary into place needs), allows one
// upgrader per process, and its readiness pipe cannot carry the sessions,
// which need a channel of their own to the new process anyway. What is left
// to write is small: start the process with the sockets (ExtraFiles), wait
// for ready, for its exit or for the timeout, and kill it on failure.

// The environment a new process is started with: the fd of its end of the
// pair, and its listening sockets, name=fd separated by commas.
const (
	envUpgradeFD        = "CHATD_UPGRADE_FD"
	envUpgradeListeners = "CHATD_UPGRADE_LISTENERS"
)

// upgradeCommand asks the running daemon to upgrade itself.
type upgradeCommand struct{ stdio }

func (c *upgradeCommand) Run(ctx context.Context, args []string) error {
	fs, configPath := newFlagSet("upgrade")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("upgrade takes no arguments, got %q", fs.Args())
	}
	cfg, _, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	name := controlName(cfg)
	conn, err := net.Dial("unix", name)
	if err != nil {
		return fmt.Errorf("no running server answers for this configuration (%s): %w", cfg.Database.Redacted(), err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "upgrade\n"); err != nil {
		return err
	}
	// The daemon answers within two upgrade timeouts (ready, then the
	// sessions), and a little more.
	conn.SetReadDeadline(time.Now().Add(2*cfg.Server.UpgradeTimeout.Duration + 30*time.Second))
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			fmt.Fprintln(c.out, strings.TrimPrefix(line, "ok "))
			return nil
		case strings.HasPrefix(line, "error "):
			return fmt.Errorf("upgrade failed: %s", strings.TrimPrefix(line, "error "))
		default:
			fmt.Fprintln(c.out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("upgrade: no answer from the server: %w", err)
	}
	return errors.New("upgrade: the server closed the connection without an answer")
}

func (c *upgradeCommand) Usage() string {
	return `The upgrade command asks the running server to replace itself with the
chatd binary now installed at the path it was started from, without
dropping anyone: the new process gets the listening sockets and every plain
TCP session (telnet, nc, IRC without TLS), which notice nothing but a short
pause; TLS, WebSocket, SSH and IRC-over-TLS sessions are told to reconnect. Sending SIGUSR2 to
the server does the same.

If the new binary fails to start, refuses the configuration or does not
report ready within server.upgrade_timeout, it is killed and nothing
changes; the command prints why and exits with status 1. An upgrade while
another runs is refused.

The server is found from the configuration: the same file serve uses.

Usage:

	chatd upgrade [arguments]

Arguments:

` + configUsage
}

// controlName is the abstract unix socket the daemon of cfg answers
// upgrade requests on: named after its database, which one daemon (one
// node) serves.
func controlName(cfg chatd.Config) string {
	key := "sqlite:" + cfg.Database.Path
	if p, err := filepath.Abs(cfg.Database.Path); err == nil {
		key = "sqlite:" + p
	}
	if cfg.Database.Driver == "postgres" {
		key = "postgres:" + cfg.Database.URL + "#" + cfg.Cluster.Node
	}
	sum := sha256.Sum256([]byte(key))
	return "@chatd-upgrade-" + hex.EncodeToString(sum[:12])
}

// liveUpgrade is the running daemon's side of an upgrade.
type liveUpgrade struct {
	log     *slog.Logger
	exe     string   // the binary's path, resolved at start
	args    []string // the daemon's arguments
	timeout func() time.Duration
	srv     *daemon.Server
	ctl     *net.UnixListener // nil when it could not be bound
	// busy is set while an upgrade runs, and for good once one succeeded
	// (or, in a new process, until it has adopted its sessions).
	busy atomic.Bool
	// refuse, when set before the daemon serves, is why this daemon
	// cannot upgrade at all.
	refuse string
	// onDone runs after a successful hand-over, once the requester was
	// answered: it stops this process. newPid is the process that serves
	// from then on (set before onDone runs).
	onDone func()
	newPid int
}

// serveControl answers upgrade requests on the control socket until it is
// closed. Only the daemon's own user (or root) may ask.
func (u *liveUpgrade) serveControl() {
	for {
		c, err := u.ctl.AcceptUnix()
		if err != nil {
			return
		}
		go u.answer(c)
	}
}

func (u *liveUpgrade) answer(c *net.UnixConn) {
	defer c.Close()
	if err := allowedPeer(c); err != nil {
		fmt.Fprintf(c, "error %s\n", err)
		return
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "upgrade" {
		fmt.Fprintln(c, "error unknown request")
		return
	}
	c.SetReadDeadline(time.Time{})
	msg, err := u.run("chatd upgrade")
	if err != nil {
		fmt.Fprintf(c, "error %s\n", oneLine(err.Error()))
		return
	}
	fmt.Fprintf(c, "ok %s\n", msg)
	u.onDone()
}

// signalled runs an upgrade asked for by SIGUSR2.
func (u *liveUpgrade) signalled() {
	if _, err := u.run("SIGUSR2"); err == nil {
		u.onDone()
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// allowedPeer refuses a requester that runs as another user than the
// daemon, root excepted.
func allowedPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("only root or uid %d may upgrade this server", os.Getuid())
	}
	return nil
}

// run performs one upgrade; why names who asked, for the log. It returns
// what to tell the requester, or why nothing changed.
func (u *liveUpgrade) run(why string) (string, error) {
	if u.refuse != "" {
		err := errors.New(u.refuse)
		u.log.Warn("upgrade refused", "asked_by", why, "err", err)
		return "", err
	}
	if !u.busy.CompareAndSwap(false, true) {
		err := errors.New("an upgrade is already in progress")
		u.log.Warn("upgrade refused", "asked_by", why, "err", err)
		return "", err
	}
	u.log.Info("upgrade: starting the new binary", "asked_by", why, "binary", u.exe)
	msg, err := u.upgrade()
	if err != nil {
		u.busy.Store(false)
		u.log.Error("upgrade failed; this process keeps serving", "err", err)
		return "", err
	}
	u.log.Info("upgrade done", "result", msg)
	return msg, nil
}

func (u *liveUpgrade) upgrade() (string, error) {
	timeout := u.timeout()
	files, err := u.srv.ListenerFiles()
	if err != nil {
		return "", err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if u.ctl != nil {
		f, err := u.ctl.File()
		if err != nil {
			return "", fmt.Errorf("control socket: %w", err)
		}
		files["control"] = f
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("socket pair: %w", err)
	}
	mine, theirs := os.NewFile(uintptr(fds[0]), "upgrade"), os.NewFile(uintptr(fds[1]), "upgrade-child")
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		theirs.Close()
		return "", err
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()

	cmd := exec.Command(u.exe, u.args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr // its log goes where ours does
	cmd.ExtraFiles = []*os.File{theirs}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var spec []string
	for _, name := range names {
		spec = append(spec, name+"="+strconv.Itoa(3+len(cmd.ExtraFiles)))
		cmd.ExtraFiles = append(cmd.ExtraFiles, files[name])
	}
	cmd.Env = childEnv(os.Environ(), envUpgradeFD+"=3", envUpgradeListeners+"="+strings.Join(spec, ","))
	err = cmd.Start()
	theirs.Close()
	// Starting it put the sockets in blocking mode (os.File.Fd), and they
	// share that with this process's listeners, whose accept loops would
	// then block in accept(2) and never see a close: undo it, whatever
	// becomes of the new process.
	for _, f := range files {
		syscall.SetNonblock(int(f.Fd()), true)
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", u.exe, err)
	}
	pid := cmd.Process.Pid
	var waitErr error // set before exited is closed
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	type ready struct {
		pid int
		err error
	}
	readyc := make(chan ready, 1)
	go func() {
		p, err := daemon.WaitReady(conn)
		readyc <- ready{p, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	fail := func(why error) (string, error) {
		cmd.Process.Kill() // by its pid; it changes nothing
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		return "", why
	}
	select {
	case r := <-readyc:
		if r.err != nil {
			if errors.Is(r.err, io.EOF) || errors.Is(r.err, syscall.ECONNRESET) {
				// It exited: say how.
				select {
				case <-exited:
					return fail(fmt.Errorf("the new process (pid %d) exited before it was ready: %v", pid, waitErr))
				case <-time.After(time.Second):
				}
			}
			return fail(fmt.Errorf("the new process (pid %d) failed to start: %v", pid, r.err))
		}
	case <-exited:
		return fail(fmt.Errorf("the new process (pid %d) exited before it was ready: %v", pid, waitErr))
	case <-timer.C:
		return fail(fmt.Errorf("the new process (pid %d) did not report ready within %s (server.upgrade_timeout)", pid, timeout))
	}
	// The new process serves. From here on the sessions go to it.
	u.log.Info("upgrade: the new process is ready; handing the sessions over", "pid", pid)
	moved, herr := u.srv.HandOver(conn, timeout)
	if herr != nil {
		u.log.Error("upgrade: hand-over", "err", herr)
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	adopted, aerr := daemon.WaitAdopted(conn)
	if aerr != nil {
		u.log.Error("upgrade: the new process did not confirm the sessions", "err", aerr)
		adopted = -1
	}
	u.newPid = pid
	return fmt.Sprintf("upgraded: pid %d serves now (%s); %d sessions handed over, %d taken over",
		pid, u.exe, moved, adopted), nil
}

// childEnv is env without what described this process's own start
// (socket activation, an upgrade), plus extra.
func childEnv(env []string, extra ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", envUpgradeFD, envUpgradeListeners:
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// upgradeChild is the new process's side: when an old process started it,
// its end of the pair and the sockets passed, by name; else nil.
func upgradeChild() (*net.UnixConn, map[string]*os.File, error) {
	fdText := os.Getenv(envUpgradeFD)
	if fdText == "" {
		return nil, nil, nil
	}
	spec := os.Getenv(envUpgradeListeners)
	os.Unsetenv(envUpgradeFD)
	os.Unsetenv(envUpgradeListeners)
	fd, err := strconv.Atoi(fdText)
	if err != nil || fd < 3 {
		return nil, nil, fmt.Errorf("%s=%q: not a descriptor", envUpgradeFD, fdText)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "upgrade")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", envUpgradeFD, err)
	}
	conn, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		return nil, nil, fmt.Errorf("%s: not a unix socket", envUpgradeFD)
	}
	files := map[string]*os.File{}
	for _, item := range strings.Split(spec, ",") {
		if item == "" {
			continue
		}
		name, n, _ := strings.Cut(item, "=")
		lfd, err := strconv.Atoi(n)
		if err != nil || lfd < 3 {
			conn.Close()
			return nil, nil, fmt.Errorf("%s: bad item %q", envUpgradeListeners, item)
		}
		syscall.CloseOnExec(lfd)
		files[name] = os.NewFile(uintptr(lfd), name)
	}
	return conn, files, nil
}

// childListeners makes listeners of the sockets an old process passed.
func childListeners(files map[string]*os.File) (map[string]net.Listener, error) {
	out := map[string]net.Listener{}
	var err error
	for name, f := range files {
		ln, lerr := net.FileListener(f)
		f.Close()
		if lerr != nil && err == nil {
			err = fmt.Errorf("passed socket %s: %w", name, lerr)
		}
		if lerr == nil {
			out[name] = ln
		}
	}
	if err != nil {
		for _, ln := range out {
			ln.Close()
		}
		return nil, err
	}
	return out, nil
}

// laterStop holds a stop function set after Run's defers were laid out
// (the discovery a new process starts once the old one is gone).
type laterStop struct {
	mu   sync.Mutex
	stop func()
	done bool
}

func (l *laterStop) set(stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		stop()
		return
	}
	l.stop = stop
}

func (l *laterStop) run() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.stop != nil {
		l.stop()
	}
}
