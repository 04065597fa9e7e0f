package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"chatd"
	"chatd/db"
	"chatd/internal/pgtest"
)

// binary is the chatd executable built once by TestMain; the tests run it as
// an operator would.
var binary string

func TestMain(m *testing.M) {
	// pgtest stops the PostgreSQL server that tests run under
	// pgtest.EachBackend start.
	os.Exit(pgtest.Run(func() int { return buildAndRun(m) }))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "chatd-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "chatd")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build chatd: %v\n", err)
		return 1
	}
	return m.Run()
}

// cli runs the built binary against a config and database of its own: a
// SQLite file, or a fresh PostgreSQL database inside the postgres subtest of
// pgtest.EachBackend.
type cli struct {
	t      *testing.T
	dir    string
	config string
	dbPath string
	pgURL  string // "": SQLite at dbPath
}

// database is the [database] table's keys for c's database.
func (c *cli) database() string {
	if c.pgURL != "" {
		return fmt.Sprintf("driver = \"postgres\"\nurl = %q\n", c.pgURL)
	}
	return fmt.Sprintf("path = %q\n", c.dbPath)
}

// newCLI writes a config in a temporary directory: the database next to it
// and a cheap argon2 cost so that hashing does not slow the tests down.
func newCLI(t *testing.T) *cli {
	t.Helper()
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, config: filepath.Join(dir, "chatd.toml"), dbPath: filepath.Join(dir, "chatd.db")}
	if pgtest.IsPostgres(t) {
		c.pgURL = pgtest.URL(t)
	}
	c.writeFile("chatd.toml", `
[database]
`+c.database()+`
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1
`)
	return c
}

// newCLIWithDB is newCLI with the database created by chatd init, as an
// operator starts.
func newCLIWithDB(t *testing.T) *cli {
	t.Helper()
	c := newCLI(t)
	c.ok("", "init")
	return c
}

// writeFile writes body to name in the test's directory and returns its path.
func (c *cli) writeFile(name, body string) string {
	c.t.Helper()
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return path
}

type result struct {
	stdout, stderr string
	code           int
}

// exec runs chatd with args, the environment cleared of CHATD_CONFIG and
// extended by env, and stdin as standard input.
func (c *cli) exec(env []string, stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, chatd.ConfigEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		c.t.Fatalf("chatd %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// run runs the subcommand args[0] with -config pointing at the test's file.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	full := append([]string{args[0], "-config", c.config}, args[1:]...)
	return c.exec(nil, stdin, full...)
}

// ok runs a subcommand that must succeed and returns its standard output.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("chatd %s: exit %d, stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fail runs a subcommand that must exit with status 1 and an error line
// containing want, and returns its standard error.
func (c *cli) fail(want, stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 1 {
		c.t.Fatalf("chatd %s: exit %d, want 1; stdout:\n%s", strings.Join(args, " "), r.code, r.stdout)
	}
	if !strings.Contains(r.stderr, "chatd: ") || !strings.Contains(r.stderr, want) {
		c.t.Fatalf("chatd %s: stderr %q, want a \"chatd: \" line containing %q", strings.Join(args, " "), r.stderr, want)
	}
	return r.stderr
}

// openDB opens the test's database directly, as the daemon would.
func (c *cli) openDB() *db.DB {
	c.t.Helper()
	if c.pgURL != "" {
		store, err := db.OpenPostgres(c.pgURL)
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { store.Close() })
		return store
	}
	return openDB(c.t, c.dbPath)
}

func openDB(t *testing.T, path string) *db.DB {
	t.Helper()
	store, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// row returns the fields of the table line in out whose first column is key,
// or nil when there is none.
func row(out, key string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return f
		}
	}
	return nil
}

// checkPassword fails unless name's stored hash matches pw.
func checkPassword(t *testing.T, store chatd.AccountStore, name, pw string) {
	t.Helper()
	u, err := store.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := chatd.Verify(u.PassHash, pw); err != nil || !ok {
		t.Fatalf("password of %s is not %q (err %v)", name, pw, err)
	}
}

func TestUseradd(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		if out := c.ok("password1\n", "useradd", "alice"); out != "created user alice\n" {
			t.Errorf("stdout = %q", out)
		}
		// Without a trailing newline, and with -admin.
		if out := c.ok("password2", "useradd", "-admin", "Root"); out != "created admin Root\n" {
			t.Errorf("stdout = %q", out)
		}

		t.Run("ErrUserExists", func(t *testing.T) {
			c.fail("already taken", "password1\n", "useradd", "ALICE")
		})
		t.Run("ErrBadName", func(t *testing.T) {
			c.fail(`"a b" is not an allowed user name`, "password1\n", "useradd", "a b")
			c.fail(`"x" is not an allowed user name`, "password1\n", "useradd", "x")
		})
		t.Run("ErrWeakPassword", func(t *testing.T) {
			c.fail("at least 8 characters", "short\n", "useradd", "bob")
		})
		t.Run("ErrNoPassword", func(t *testing.T) {
			c.fail("no password", "", "useradd", "bob")
		})
		t.Run("ErrNoName", func(t *testing.T) {
			c.fail("exactly one user name", "", "useradd")
		})
		t.Run("ErrUnknownFlag", func(t *testing.T) {
			c.fail("-nope", "", "useradd", "-nope", "bob")
		})

		store := c.openDB()
		users, err := store.Users(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 2 || users[0].Name != "alice" || users[0].Admin || users[1].Name != "Root" || !users[1].Admin {
			t.Fatalf("users after the failures: %+v", users)
		}
		checkPassword(t, store, "alice", "password1")
		checkPassword(t, store, "root", "password2")
	})
}

func TestUsersAndUsermod(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		c.ok("password1\n", "useradd", "alice")
		c.ok("password1\n", "useradd", "bob")

		out := c.ok("", "users")
		if !strings.HasPrefix(out, "NAME ") {
			t.Fatalf("users has no header:\n%s", out)
		}
		// NAME ADMIN CREATED(date time) LAST-SEEN BANNED
		if f := row(out, "alice"); len(f) != 6 || f[1] != "no" || f[4] != "never" || f[5] != "no" {
			t.Fatalf("alice's row %q in:\n%s", f, out)
		}
		// The columns line up.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || strings.Index(lines[0], "ADMIN") != strings.Index(lines[1], "no") {
			t.Fatalf("columns not aligned:\n%s", out)
		}

		if out := c.ok("", "usermod", "-admin=true", "ALICE"); out != "alice is an admin\n" {
			t.Errorf("stdout = %q", out)
		}
		if f := row(c.ok("", "users"), "alice"); f[1] != "yes" {
			t.Fatalf("alice not shown as admin: %q", f)
		}
		c.ok("", "usermod", "-admin=false", "alice")
		if f := row(c.ok("", "users"), "alice"); f[1] != "no" {
			t.Fatalf("alice still shown as admin: %q", f)
		}
		c.fail("-admin=true or -admin=false", "", "usermod", "alice")
	})
}

func TestPasswd(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		c.ok("password1\n", "useradd", "alice")
		before := c.openDB()
		u, err := before.UserByName(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		oldHash := u.PassHash

		if out := c.ok("new-password\n", "passwd", "alice"); out != "changed the password of alice\n" {
			t.Errorf("stdout = %q", out)
		}
		u, err = before.UserByName(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.PassHash == oldHash {
			t.Fatal("hash unchanged")
		}
		checkPassword(t, before, "alice", "new-password")
		if ok, _ := chatd.Verify(u.PassHash, "password1"); ok {
			t.Fatal("old password still works")
		}

		c.fail("at least 8 characters", "short\n", "passwd", "alice")
		checkPassword(t, before, "alice", "new-password")
	})
}

func TestBans(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		c.ok("password1\n", "useradd", "alice")
		c.ok("password1\n", "useradd", "bob")

		out := c.ok("", "ban", "-for", "1h", "-reason", "flooding the lobby", "alice")
		if !strings.HasPrefix(out, "banned alice until ") {
			t.Errorf("stdout = %q", out)
		}
		if out := c.ok("", "ban", "bob"); out != "banned bob permanently\n" {
			t.Errorf("stdout = %q", out)
		}

		store := c.openDB()
		b, err := store.BanOf(context.Background(), "alice")
		if err != nil || b == nil {
			t.Fatalf("BanOf(alice) = %v, %v", b, err)
		}
		if b.By != "cli" || b.Reason != "flooding the lobby" {
			t.Errorf("ban = %+v", b)
		}
		if left := time.Until(b.Expires); left < 59*time.Minute || left > time.Hour {
			t.Errorf("ban expires in %v, want about an hour", left)
		}

		bans := c.ok("", "bans")
		// USER BY SINCE(date time) UNTIL(date time | permanent) REASON...
		if f := row(bans, "alice"); len(f) < 7 || f[1] != "cli" || strings.Join(f[6:], " ") != "flooding the lobby" {
			t.Errorf("alice's ban row %q in:\n%s", f, bans)
		}
		if f := row(bans, "bob"); len(f) != 5 || f[4] != "permanent" {
			t.Errorf("bob's ban row %q in:\n%s", f, bans)
		}
		users := c.ok("", "users")
		if f := row(users, "alice"); f[5] != "until" {
			t.Errorf("alice not shown as banned: %q", f)
		}
		if f := row(users, "bob"); f[5] != "permanently" {
			t.Errorf("bob not shown as banned: %q", f)
		}

		if out := c.ok("", "unban", "alice"); out != "unbanned alice\n" {
			t.Errorf("stdout = %q", out)
		}
		if b, err := store.BanOf(context.Background(), "alice"); err != nil || b != nil {
			t.Fatalf("after unban: BanOf(alice) = %+v, %v", b, err)
		}
		if row(c.ok("", "bans"), "alice") != nil {
			t.Error("alice still listed by bans")
		}
		c.fail("not banned", "", "unban", "alice")
		c.fail("-for", "", "ban", "-for", "soon", "alice")
		c.fail("not a positive duration", "", "ban", "-for", "-1h", "alice")
		c.fail("use permanent", "", "ban", "-for", "106752d", "alice")
		// Days are accepted, as in the in-chat ban command.
		c.ok("", "ban", "-for", "7d", "alice")
		b, err = store.BanOf(context.Background(), "alice")
		if err != nil || b == nil || b.Expires.Sub(b.Created).Round(time.Hour) != 7*24*time.Hour {
			t.Fatalf("ban -for 7d: %+v, %v", b, err)
		}
	})
}

func TestUserdel(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		c.ok("password1\n", "useradd", "alice")
		if out := c.ok("", "userdel", "Alice"); out != "deleted user alice\n" {
			t.Errorf("stdout = %q", out)
		}
		if row(c.ok("", "users"), "alice") != nil {
			t.Error("alice still listed")
		}
		c.fail("no user named Alice", "", "userdel", "Alice")
	})
}

func TestUnknownUser(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		for _, args := range [][]string{
			{"userdel", "ghost"},
			{"passwd", "ghost"},
			{"usermod", "-admin=true", "ghost"},
			{"ban", "ghost"},
			{"unban", "ghost"},
		} {
			t.Run(args[0], func(t *testing.T) {
				c.fail("no user named ghost", "password1\n", args...)
			})
		}
	})
}

func TestImportUsers(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		file := c.writeFile("users.txt", `# accounts for the workshop
alice   correct-horse

bob
carol	battery staple
`)
		r := c.run("", "import-users", file)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1 (one line is bad); stderr:\n%s", r.code, r.stderr)
		}
		if r.stdout != "imported 2 users, skipped 0 (already there), failed 1\n" {
			t.Errorf("stdout = %q", r.stdout)
		}
		if !strings.Contains(r.stderr, file+":4: ") {
			t.Errorf("stderr does not point at line 4:\n%s", r.stderr)
		}
		if strings.Count(r.stderr, "\n") != 2 || !strings.Contains(r.stderr, "chatd: 1 line of "+file) {
			t.Errorf("stderr = %q, want the bad line and a summary", r.stderr)
		}
		store := c.openDB()
		checkPassword(t, store, "alice", "correct-horse")
		checkPassword(t, store, "carol", "battery staple")

		// Importing again fails for each line, naming it, and imports nothing.
		r = c.run("", "import-users", file)
		if r.code != 1 || r.stdout != "imported 0 users, skipped 2 (already there), failed 1\n" || !strings.Contains(r.stderr, file+":2: the name alice is already taken") {
			t.Errorf("second import: exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
		}

		// Standard input, all good.
		if out := c.ok("dave passw0rd-dave\n", "import-users", "-"); out != "imported 1 user, skipped 0 (already there), failed 0\n" {
			t.Errorf("stdout = %q", out)
		}
		c.fail("no such file", "", "import-users", filepath.Join(c.dir, "missing.txt"))
	})
}

// A line over 64 KB, a line that is not UTF-8 and a binary line are each
// reported by number and skipped; the lines after them are still imported,
// and the summary counts all of it.
func TestImportUsersBadLines(t *testing.T) {
	c := newCLIWithDB(t)
	var body strings.Builder
	body.WriteString("alice password-a\n")                         // 1
	body.WriteString("huge " + strings.Repeat("x", 70<<10) + "\n") // 2
	body.WriteString("bob password-b\n")                           // 3
	body.WriteString("lat1n caf\xe9-password\n")                   // 4: Latin-1, not UTF-8
	body.WriteString("junk\x01\x02 \x00\x7fELF\x03binary\n")       // 5
	body.WriteString("carol password-c\n")                         // 6
	body.WriteString("bin\x1b[2J escape-password\n")               // 7
	body.WriteString("dave " + strings.Repeat("y", 70<<10))        // 8, no line end
	file := c.writeFile("users.txt", body.String())

	r := c.run("", "import-users", file)
	if r.code != 1 || r.stdout != "imported 3 users, skipped 0 (already there), failed 5\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, n := range []string{"2: longer than 64 KB", "4: not UTF-8", "5: not UTF-8", "7: not UTF-8", "8: longer than 64 KB"} {
		if !strings.Contains(r.stderr, file+":"+n) {
			t.Errorf("stderr does not report line %s:\n%s", n, r.stderr)
		}
	}
	if strings.ContainsAny(r.stderr, "\x1b\x00") {
		t.Errorf("stderr echoes control bytes: %q", r.stderr)
	}
	store := c.openDB()
	checkPassword(t, store, "alice", "password-a")
	checkPassword(t, store, "bob", "password-b")
	checkPassword(t, store, "carol", "password-c")
	users, err := store.Users(t.Context())
	if err != nil || len(users) != 3 {
		t.Fatalf("users after import: %d %v", len(users), err)
	}
}

func TestBackup(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password1\n", "useradd", "alice")
	c.ok("password1\n", "useradd", "-admin", "bob")
	file := filepath.Join(c.dir, "copy.db")
	// Not a terminal: no bar, one summary line.
	if r := c.run("", "backup", file); r.code != 0 || !strings.HasPrefix(r.stdout, "wrote backup to "+file+" (") ||
		strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
		t.Errorf("exit %d, stdout = %q, stderr = %q", r.code, r.stdout, r.stderr)
	}
	copyDB := openDB(t, file)
	users, err := copyDB.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" || !users[1].Admin {
		t.Fatalf("users in the backup: %+v", users)
	}
	checkPassword(t, copyDB, "alice", "password1")

	c.fail("already exists", "", "backup", file)
}

func TestCheckConfig(t *testing.T) {
	c := newCLI(t)
	okOut := func(from string) string {
		return "config OK: " + from + "\ndatabase: " + c.dbPath + "\n"
	}
	if out := c.ok("", "check-config"); out != okOut("-config "+c.config) {
		t.Errorf("stdout = %q", out)
	}

	t.Run("Env", func(t *testing.T) {
		r := c.exec([]string{chatd.ConfigEnv + "=" + c.config}, "", "check-config")
		if r.code != 0 || r.stdout != okOut("$CHATD_CONFIG="+c.config) {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		if _, err := os.Stat(chatd.SystemConfig); err == nil {
			t.Skipf("%s exists on this machine", chatd.SystemConfig)
		}
		r := c.exec(nil, "", "check-config")
		wd, _ := os.Getwd()
		if r.code != 0 || r.stdout != "config OK: the embedded defaults\ndatabase: "+filepath.Join(wd, "chatd.db")+"\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		bad := c.writeFile("bad.toml", "[server]\nlisen = \"127.0.0.1:1\"\n")
		r := c.exec(nil, "", "check-config", "-config", bad)
		if r.code != 1 || r.stderr != "problem: "+bad+": unknown key \"server.lisen\"\nchatd: -config "+bad+": 1 problem\n" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	// Every problem is reported, including those only the machine shows:
	// a port that cannot exist, a missing database directory, unreadable
	// TLS files.
	t.Run("ErrEveryProblem", func(t *testing.T) {
		bad := c.writeFile("bad.toml", `
[server]
listen = "127.0.0.1:99999"
max_connections = 0
[rate]
burst = 0
`)
		r := c.exec(nil, "", "check-config", "-config", bad)
		if r.code != 1 || strings.Count(r.stderr, "problem: ") != 3 ||
			!strings.Contains(r.stderr, "server.listen") || !strings.Contains(r.stderr, "server.max_connections") ||
			!strings.Contains(r.stderr, "rate.burst") || !strings.Contains(r.stderr, ": 3 problems") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		env := c.writeFile("env.toml", fmt.Sprintf(`
[server]
tls_listen = "127.0.0.1:0"
tls_cert = %q
tls_key = %q
[database]
path = "no-such-dir/chatd.db"
`, filepath.Join(c.dir, "missing.pem"), filepath.Join(c.dir, "missing.key")))
		r = c.exec(nil, "", "check-config", "-config", env)
		if r.code != 1 || strings.Count(r.stderr, "problem: ") != 3 ||
			!strings.Contains(r.stderr, "database.path: the directory "+filepath.Join(c.dir, "no-such-dir")) ||
			!strings.Contains(r.stderr, "server.tls_cert: ") || !strings.Contains(r.stderr, "server.tls_key: ") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	// A relative database.path is found next to the file, from anywhere.
	t.Run("RelativeDatabasePath", func(t *testing.T) {
		rel := c.writeFile("rel.toml", "[database]\npath = \"data/chat.db\"\n")
		os.Mkdir(filepath.Join(c.dir, "data"), 0o700)
		r := c.exec(nil, "", "check-config", "-config", rel)
		if r.code != 0 || !strings.Contains(r.stdout, "database: "+filepath.Join(c.dir, "data", "chat.db")+"\n") {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("ErrBadValue", func(t *testing.T) {
		bad := c.writeFile("bad.toml", "[accounts]\nregistration = \"maybe\"\n")
		r := c.exec([]string{chatd.ConfigEnv + "=" + bad}, "", "check-config")
		if r.code != 1 || !strings.Contains(r.stderr, `accounts.registration: "maybe" is not "open" or "closed"`) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		missing := filepath.Join(c.dir, "missing.toml")
		r := c.exec(nil, "", "check-config", "-config", missing)
		if r.code != 1 || !strings.Contains(r.stderr, missing) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	// The admin commands refuse to touch the database under a bad config.
	t.Run("ErrAdminCommand", func(t *testing.T) {
		bad := c.writeFile("bad.toml", "[server]\nlisen = \"x\"\n")
		r := c.exec(nil, "password1\n", "useradd", "-config", bad, "alice")
		if r.code != 1 || !strings.Contains(r.stderr, "server.lisen") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestVersionAndHelp(t *testing.T) {
	c := newCLI(t)
	if out := c.ok("", "version"); !strings.HasPrefix(out, "chatd "+chatd.Version+" ") {
		t.Errorf("version = %q", out)
	}

	r := c.exec(nil, "", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "import-users") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
	r = c.exec(nil, "", "help", "ban")
	if r.code != 0 || !strings.Contains(r.stdout, "chatd ban [arguments] NAME") {
		t.Errorf("help ban: exit %d, stdout %q", r.code, r.stdout)
	}
	r = c.exec(nil, "", "useradd", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "chatd useradd [arguments] NAME") {
		t.Errorf("useradd -h: exit %d, stdout %q", r.code, r.stdout)
	}
	r = c.exec(nil, "", "frobnicate")
	if r.code != 1 || !strings.HasPrefix(r.stderr, `chatd: unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
	r = c.exec(nil, "")
	if r.code != 1 || !strings.Contains(r.stderr, "chatd: no command given") {
		t.Errorf("no command: exit %d, stderr %q", r.code, r.stderr)
	}
}

// An admin command run with a configuration that names no existing
// database refuses, says which path and where it came from, and creates
// nothing; init creates it and says where.
func TestAdminRefusesMissingDatabase(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"useradd", "alice"}, {"users"}, {"ban", "alice"}, {"who"}, {"notice", "hi"}, {"backup", filepath.Join(c.dir, "b.db")}} {
		stderr := c.fail("no database at "+c.dbPath+" (database.path from -config "+c.config+")", "password1\n", args...)
		if !strings.Contains(stderr, "chatd init") {
			t.Errorf("%s: %q does not say how to create it", args[0], stderr)
		}
	}
	r := c.exec([]string{chatd.ConfigEnv + "=" + c.config}, "", "users")
	if r.code != 1 || !strings.Contains(r.stderr, "database.path from $CHATD_CONFIG="+c.config) {
		t.Fatalf("env: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(c.dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused command created %s: %v", c.dbPath, err)
	}

	// Without any configuration: the embedded default ./chatd.db, in the
	// directory the command runs in, which must stay empty.
	if _, err := os.Stat(chatd.SystemConfig); err == nil {
		t.Skipf("%s exists on this machine", chatd.SystemConfig)
	}
	wd := t.TempDir()
	cmd := exec.Command(binary, "useradd", "-admin", "ops")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), chatd.ConfigEnv+"=")
	cmd.Stdin = strings.NewReader("password1\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no database at ./chatd.db (database.path from the embedded defaults)") {
		t.Fatalf("useradd without config: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(wd); len(entries) != 0 {
		t.Fatalf("useradd without config left %v in its directory", entries)
	}

	if out := c.ok("", "init"); !strings.Contains(out, "database "+c.dbPath+" created") {
		t.Fatalf("init: %q", out)
	}
	c.ok("password1\n", "useradd", "alice")
	if out := c.ok("", "init"); !strings.Contains(out, "already existed") {
		t.Fatalf("second init: %q", out)
	}
	if _, err := c.openDB().UserByName(t.Context(), "alice"); err != nil {
		t.Fatalf("a second init lost the account: %v", err)
	}
}

// Stored text reaches the operator's terminal only through the daemon's
// cleaning rule: a ban reason full of escape sequences is printed without
// them, and a tab in it does not shift the columns.
func TestBansCleanEscapes(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password1\n", "useradd", "alice")
	c.ok("", "ban", "-reason", "\x1b[2J\x1b]0;pwned\x07spam\tand\u009bmore", "alice")
	out := c.ok("", "bans")
	if strings.ContainsAny(out, "\x1b\x07\t") || strings.Contains(out, "\u009b") {
		t.Fatalf("bans prints control characters: %q", out)
	}
	if !strings.Contains(out, "[2J]0;pwnedspam andmore") {
		t.Fatalf("bans lost the printable text: %q", out)
	}
}

// On a terminal, import-users and backup draw a progress bar on standard
// error (a pseudo-terminal here); elsewhere they print only their summary
// line, as TestImportUsers and TestBackup check.
func TestProgressOnTerminal(t *testing.T) {
	c := newCLIWithDB(t)
	var body strings.Builder
	for i := range 30 {
		fmt.Fprintf(&body, "user%02d password-%02d\n", i, i)
	}
	file := c.writeFile("users.txt", body.String())
	for _, args := range [][]string{
		{"import-users", "-config", c.config, file},
		{"backup", "-config", c.config, filepath.Join(c.dir, "copy.db")},
	} {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120})
		cmd := exec.Command(binary, args...)
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, tty
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var screen bytes.Buffer
		copied := make(chan struct{})
		go func() { io.Copy(&screen, ptmx); close(copied) }()
		err = cmd.Wait()
		<-copied // EIO once the child's side is closed
		ptmx.Close()
		if err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, screen.String())
		}
		want := map[string][]string{"import-users": {"importing", "100%", "30/30", "lines"}, "backup": {"backup", "100%"}}[args[0]]
		for _, w := range want {
			if !strings.Contains(screen.String(), w) {
				t.Errorf("%s: the terminal shows no %q:\n%q", args[0], w, screen.String())
			}
		}
		if strings.Count(stdout.String(), "\n") != 1 {
			t.Errorf("%s: stdout %q, want one summary line", args[0], stdout.String())
		}
	}
}

// One run of check-config reports every problem: an unknown key beside
// bad values, a value of the wrong type, a missing database directory,
// and listen addresses that cannot be bound, naming a running chatd as
// what holds its port.
func TestCheckConfigEveryProblemInOneRun(t *testing.T) {
	c := newCLIWithDB(t)
	d := c.serve()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bad := c.writeFile("bad.toml", fmt.Sprintf(`
[server]
listen = %q
lisen = "127.0.0.1:1"
max_connections = 0
[rate]
burst = "lots"
[metrics]
listen = %q
[discovery]
enabled = false
[database]
path = "no-such-dir/chatd.db"
`, d.addr, other.Addr()))
	r := c.exec(nil, "", "check-config", "-config", bad)
	for _, want := range []string{
		`unknown key "server.lisen"`,
		"server.max_connections: ",
		`(last key "rate.burst"): incompatible types`,
		"database.path: the directory " + filepath.Join(c.dir, "no-such-dir"),
		"server.listen: " + d.addr + " is in use by a chatd that is running",
		"metrics.listen: " + other.Addr().String() + " is already in use by another program",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check-config does not say %q", want)
		}
	}
	if r.code != 1 || strings.Count(r.stderr, "problem: ") != 6 || !strings.Contains(r.stderr, ": 6 problems") {
		t.Errorf("exit %d, want 1 and 6 problems", r.code)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", r.stderr)
	}
	// A free address is bound and released: serve can have it next.
	free := freeAddr(t)
	good := c.writeFile("good.toml", fmt.Sprintf("[server]\nlisten = %q\n[discovery]\nenabled = false\n[database]\n%s", free, c.database()))
	if r := c.exec(nil, "", "check-config", "-config", good); r.code != 0 {
		t.Fatalf("a free address: exit %d, stderr %q", r.code, r.stderr)
	}
	if ln, err := net.Listen("tcp", free); err != nil {
		t.Fatalf("check-config kept %s: %v", free, err)
	} else {
		ln.Close()
	}
}
