// Package pgtest starts a real PostgreSQL server for tests: the Debian
// binaries (initdb, postgres) on a temporary directory and a free loopback
// port, with trust authentication on 127.0.0.1.
//
// One server runs per test binary, started by the first test that asks for
// a database and stopped when the binary's tests end. Every test gets its own
// fresh database, dropped when the test ends.
//
// Use it from a package's tests like this:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//	// or, with work of its own around the tests:
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(func() int { return setUpAndRun(m) })) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.URL(t) // postgres://postgres@127.0.0.1:PORT/t_N?sslmode=disable
//		...
//	}
//
// PostgreSQL refuses to run as root, so when the tests run as root (CI does)
// initdb and postgres run as the `postgres` system user that the Debian
// package creates, on a directory that user owns. When the binaries are
// missing, URL fails the test (the postgresql package belongs to the test
// dependencies, see .ci/deps) except under -short, where it skips.
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// BinEnv names an environment variable that overrides the directory the
// PostgreSQL binaries are taken from.
const BinEnv = "CHATD_PG_BIN"

var (
	mainCalled bool // set by Main before any test runs

	mu     sync.Mutex
	srv    *server // the running server, nil until the first URL
	srvErr error   // why the server could not start; sticky
	nextDB int
)

// Main runs the tests of a package (call it from TestMain) and stops the
// PostgreSQL server afterwards, if a test started one.
func Main(m *testing.M) { os.Exit(Run(m.Run)) }

// Run is Main for a TestMain with work of its own: run runs the tests
// (m.Run inside it) and returns their exit code, which Run returns after
// stopping the server.
func Run(run func() int) int {
	mainCalled = true
	code := run()
	mu.Lock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
	mu.Unlock()
	return code
}

// EachBackend runs f once per store backend, as the subtests "sqlite" and
// "postgres"; inside f (and its own subtests), IsPostgres tells which.
func EachBackend(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, f)
	}
}

// IsPostgres reports whether t runs inside the postgres subtest of
// EachBackend.
func IsPostgres(t testing.TB) bool {
	parts := strings.Split(t.Name(), "/")
	return len(parts) > 1 && parts[1] == "postgres"
}

// URL returns the URL of a new, empty database on the test server, starting
// the server on first use. The database is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	if !mainCalled {
		t.Fatal("pgtest: call pgtest.Main(m) from the package's TestMain so the server is stopped at the end")
	}
	s, err := get()
	if err != nil {
		if errors.Is(err, errNoBinaries) && testing.Short() {
			t.Skipf("pgtest: %v (skipped under -short)", err)
		}
		t.Fatalf("pgtest: %v", err)
	}
	mu.Lock()
	nextDB++
	name := fmt.Sprintf("t_%d", nextDB)
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// WITH (FORCE) ends connections a test left open.
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

// Pause stops the test server (SIGSTOP to the postmaster, then to each of
// its processes: every backend calls setsid, so there is no group to
// signal) so that every query to it stalls, as a hung database would. It
// returns resume (SIGCONT to the same processes), which t's cleanup also
// calls, before the cleanups registered earlier (URL's drop of the
// database) run; calling it more than once is harmless. Call URL first.
// Linux only (it reads /proc).
func Pause(t testing.TB) (resume func()) {
	t.Helper()
	mu.Lock()
	s := srv
	mu.Unlock()
	if s == nil || s.cmd.Process == nil {
		t.Fatal("pgtest: Pause before URL: no server runs")
	}
	// The postmaster first: stopped, it forks nothing more.
	pids := []int{s.cmd.Process.Pid}
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatalf("pgtest: stop the server: %v", err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			for _, pid := range pids {
				if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
					t.Errorf("pgtest: continue server process %d: %v", pid, err)
				}
			}
		})
	}
	t.Cleanup(resume)
	kids, err := childrenOf(pids[0])
	if err != nil {
		resume()
		t.Fatalf("pgtest: list the server's processes: %v", err)
	}
	for _, pid := range kids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err == nil {
			pids = append(pids, pid)
		}
	}
	return resume
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(b[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			out = append(out, child)
		}
	}
	return out, nil
}

var errNoBinaries = errors.New("PostgreSQL binaries not found (install the Debian package postgresql, or set " + BinEnv + ")")

func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil || srvErr != nil {
		return srv, srvErr
	}
	srv, srvErr = start()
	return srv, srvErr
}

type server struct {
	dir   string // owned by the server's user; holds data/ and the log
	addr  string // 127.0.0.1:port
	cmd   *exec.Cmd
	done  chan struct{} // closed when the postgres process has exited
	admin *sql.DB       // connected to the postgres database
}

func (s *server) url(db string) string {
	return "postgres://postgres@" + s.addr + "/" + db + "?sslmode=disable"
}

// binDir finds the directory holding initdb and postgres: $CHATD_PG_BIN, the
// newest /usr/lib/postgresql/*/bin, or the PATH.
func binDir() (string, error) {
	if d := os.Getenv(BinEnv); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errNoBinaries
}

// runAs returns the credentials to run PostgreSQL with: nil when the tests
// do not run as root, else the postgres system user's.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// reachable checks that every directory above dir lets others through, so
// the server's user can reach its own directory.
func reachable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users, so the postgres user cannot reach %s (set TMPDIR to a directory it can reach)", d, dir)
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

func start() (s *server, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	removeStale()
	dir, err := os.MkdirTemp("", "chatd-pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := reachable(dir); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C.UTF-8", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.Env = env()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A port picked free may be taken by someone else before postgres binds
	// it; try a few.
	for range 5 {
		s, err = launch(bin, dir, data, cred)
		if err == nil || !errors.Is(err, errPortTaken) {
			return s, err
		}
	}
	return nil, err
}

// ownerFile, in a server's directory, holds the pid of the test binary that
// made it.
const ownerFile = "owner.pid"

// removeStale removes the directories of servers whose test binary was
// killed before it could clean up (their server died with it).
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "chatd-pgtest-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // being made right now, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

var errPortTaken = errors.New("port taken")

func env() []string {
	return []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TZ=UTC"}
}

// launch runs postgres in the foreground as a child of this process. The
// child gets SIGQUIT (immediate shutdown) if this process dies, so a killed
// test binary (a timeout, a crash) does not leave a server behind; Main stops
// it cleanly otherwise.
func launch(bin, dir, data string, cred *syscall.Credential) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if cred != nil {
		if err := logf.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=", // TCP only: no socket directory to own
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	)
	cmd.Dir = dir
	cmd.Env = env()
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}

	// The parent-death signal fires when the thread that forked the child
	// exits, so fork from a thread that stays locked (and alive) until the
	// server has exited.
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		started <- nil
		cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, done: done}
	admin, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		s.stop()
		return nil, err
	}
	admin.SetMaxOpenConns(2)
	s.admin = admin
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			s.stop()
			if bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("Address already in use")) {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("postgres exited while starting:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			s.stop()
			return nil, fmt.Errorf("postgres did not answer on %s: %v\n%s", s.addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the server down (fast shutdown: SIGINT, then SIGQUIT if it
// lingers) and removes its directory.
func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Signal(syscall.SIGQUIT)
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

// Log returns the server log so far, for a failing test to print.
func Log() string {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return ""
	}
	b, _ := os.ReadFile(filepath.Join(srv.dir, "postgres.log"))
	return strings.TrimSpace(string(b))
}
