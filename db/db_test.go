package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatd"
	"chatd/internal/pgtest"
)

// t0 is the start of the test clock; whole milliseconds, as the db stores.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// clock is a test clock that only moves when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTest opens a fresh database with a test clock set to t0: a file
// under t.TempDir, or a new PostgreSQL database when t runs inside the
// postgres subtest of eachBackend.
func openTest(t *testing.T) (*DB, *clock) {
	t.Helper()
	var db *DB
	if backendOf(t) == "postgres" {
		db = openPG(t, pgtest.URL(t))
	} else {
		db = openAt(t, filepath.Join(t.TempDir(), "chatd.db"))
	}
	c := &clock{t: t0}
	db.Now = c.Now
	return db, c
}

// openAt opens path and closes it when the test ends.
func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// mustUsers registers each name.
func mustUsers(t *testing.T, db *DB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := db.CreateUser(context.Background(), n, "hash-"+n, false); err != nil {
			t.Fatalf("CreateUser(%s): %v", n, err)
		}
	}
}

// checkCode fails the test unless err carries the domain code want, or is
// nil when want is "". A domain error must read as a sentence, not as a
// driver message.
func checkCode(t *testing.T, err error, want chatd.Code) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want %s", want)
	}
	if got := chatd.ErrorCode(err); got != want {
		t.Fatalf("got error %q (code %s), want code %s", err, got, want)
	}
	msg := chatd.ErrorMessage(err)
	for _, leak := range []string{"SQL", "constraint", "sqlite", "UNIQUE"} {
		if strings.Contains(msg, leak) {
			t.Fatalf("message %q leaks driver text %q", msg, leak)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string) // runs before Open
		path    func(dir string) string
		wantErr []string // substrings of the error; nil: Open succeeds
	}{
		{
			name: "OK",
		},
		{
			name: "OKReopen",
			prepare: func(t *testing.T, path string) {
				db := openAt(t, path)
				mustUsers(t, db, "alice")
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "OKOddPath",
			path: func(dir string) string { return filepath.Join(dir, "a?b#c%41 d.db") },
		},
		{
			name: "ErrNewerVersion",
			prepare: func(t *testing.T, path string) {
				setUserVersion(t, path, 99)
			},
			wantErr: []string{"schema version 99", fmt.Sprintf("understands up to %d", chatd.SchemaVersion), "upgrade chatd"},
		},
		{
			name: "ErrNotChatd",
			prepare: func(t *testing.T, path string) {
				raw := rawOpen(t, path)
				if _, err := raw.Exec(`CREATE TABLE something_else (x)`); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: []string{"not a chatd database"},
		},
		{
			name:    "ErrNoPath",
			path:    func(string) string { return "" },
			wantErr: []string{"no path"},
		},
		{
			name:    "ErrMemory",
			path:    func(string) string { return ":memory:" },
			wantErr: []string{"file path is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "chatd.db")
			if tt.path != nil {
				path = tt.path(dir)
			}
			if tt.prepare != nil {
				tt.prepare(t, path)
			}
			db, err := Open(path)
			if tt.wantErr != nil {
				if err == nil {
					db.Close()
					t.Fatal("Open succeeded, want an error")
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			if _, err := os.Stat(path); err != nil {
				t.Errorf("the database is not at the given path: %v", err)
			}
			if v, err := schemaVersion(ctx, db.reader); err != nil || v != chatd.SchemaVersion {
				t.Errorf("user_version = %d, %v; want %d", v, err, chatd.SchemaVersion)
			}
			lobby, err := db.RoomByName(ctx, chatd.Lobby)
			if err != nil {
				t.Fatalf("the lobby is missing: %v", err)
			}
			if lobby.Owner != "" || lobby.Locked() {
				t.Errorf("lobby = %+v, want no owner and no password", lobby)
			}
			if rooms, err := db.Rooms(ctx); err != nil || len(rooms) != 1 {
				t.Errorf("Rooms = %d rooms, %v; want just the lobby", len(rooms), err)
			}
		})
	}
}

// rawOpen opens path with the bare driver, bypassing Open.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	raw := rawOpen(t, path)
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Now = func() time.Time { return t0 }
	mustUsers(t, db, "Alice", "bob")
	checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "Den", Owner: "Alice", PassHash: "h"}, 0, 0), "")
	appendLine(t, db, "den", chatd.HistoryLine{From: "Alice", Text: "hi"}, 10)
	checkCode(t, db.StoreOffline(ctx, "bob", chatd.OfflineMessage{From: "Alice", To: []string{"bob"}, Text: "psst"}, 0), "")
	checkCode(t, db.Block(ctx, "bob", "alice"), "")
	checkCode(t, db.Ban(ctx, chatd.Ban{User: "bob", Reason: "spam"}), "")
	checkCode(t, db.RecordAttempt(ctx, "ghost", "10.0.0.1", t0, false), "")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path)
	u, err := db.UserByName(ctx, "alice")
	if err != nil || u.Name != "Alice" || !u.Created.Equal(t0) {
		t.Errorf("UserByName after reopen = %+v, %v", u, err)
	}
	if r, err := db.RoomByName(ctx, "den"); err != nil || r.Owner != "Alice" || r.PassHash != "h" {
		t.Errorf("RoomByName after reopen = %+v, %v", r, err)
	}
	if h, err := db.History(ctx, "den", 10); err != nil || len(h) != 1 || h[0].Text != "hi" {
		t.Errorf("History after reopen = %+v, %v", h, err)
	}
	if m, err := db.OfflinePage(ctx, "bob", 0, -1); err != nil || len(m) != 1 || m[0].Text != "psst" {
		t.Errorf("OfflinePage after reopen = %+v, %v", m, err)
	}
	if ok, err := db.IsBlocked(ctx, "bob", "alice"); err != nil || !ok {
		t.Errorf("IsBlocked after reopen = %v, %v", ok, err)
	}
	if b, err := db.BanOf(ctx, "bob"); err != nil || b == nil || b.Reason != "spam" {
		t.Errorf("BanOf after reopen = %+v, %v", b, err)
	}
	if a, err := db.Attempts(ctx, "ghost", "", time.Time{}); err != nil || len(a) != 1 {
		t.Errorf("Attempts after reopen = %+v, %v", a, err)
	}
	if rooms, err := db.Rooms(ctx); err != nil || len(rooms) != 2 {
		t.Errorf("Rooms after reopen = %d, %v; want lobby and den (the lobby not duplicated)", len(rooms), err)
	}
}

// TestPragmas checks every pooled connection, not just the first, really
// runs with the pragmas from the DSN.
func TestPragmas(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)

	type want struct {
		journal     string
		foreignKeys int
		busyTimeout int
		synchronous int // 2 is FULL
		queryOnly   int
	}
	check := func(t *testing.T, c *sql.Conn, w want) {
		t.Helper()
		var got want
		for _, p := range []struct {
			pragma string
			dst    any
		}{
			{"journal_mode", &got.journal},
			{"foreign_keys", &got.foreignKeys},
			{"busy_timeout", &got.busyTimeout},
			{"synchronous", &got.synchronous},
			{"query_only", &got.queryOnly},
		} {
			if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(p.dst); err != nil {
				t.Fatalf("PRAGMA %s: %v", p.pragma, err)
			}
		}
		if got != w {
			t.Errorf("pragmas = %+v, want %+v", got, w)
		}
	}

	t.Run("Readers", func(t *testing.T) {
		// Hold several connections at once so the pool has to open new ones.
		var conns []*sql.Conn
		for range 3 {
			c, err := db.reader.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			check(t, c, want{"wal", 1, 10000, 2, 1})
			c.Close()
		}
	})
	t.Run("Writer", func(t *testing.T) {
		c, err := db.writer.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		check(t, c, want{"wal", 1, 10000, 2, 0})
	})
	t.Run("ReadersCannotWrite", func(t *testing.T) {
		_, err := db.reader.ExecContext(ctx, `DELETE FROM users`)
		if err == nil {
			t.Fatal("a reader connection accepted a write")
		}
	})
	t.Run("ForeignKeysEnforced", func(t *testing.T) {
		_, err := db.writer.ExecContext(ctx, `INSERT INTO bans (user_id, created) VALUES (12345, 0)`)
		if err == nil {
			t.Fatal("a ban for a user that does not exist was accepted")
		}
	})
}

// TestConcurrentWriters has two handles on one file write at the same time,
// as the admin CLI does while the daemon runs.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	daemon := openAt(t, path)
	cli := openAt(t, path)
	mustUsers(t, daemon, "inbox")

	const perWriter = 40
	var wg sync.WaitGroup
	errs := make(chan error, 4*perWriter)
	for w, db := range []*DB{daemon, cli} {
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter / 2 {
					name := fmt.Sprintf("w%d-g%d-u%d", w, g, i)
					if _, err := db.CreateUser(ctx, name, "h", false); err != nil {
						errs <- fmt.Errorf("CreateUser(%s): %w", name, err)
					}
					m := chatd.OfflineMessage{From: name, To: []string{"inbox"}, Text: "hello"}
					if err := db.StoreOffline(ctx, "inbox", m, 0); err != nil {
						errs <- fmt.Errorf("StoreOffline from %s: %w", name, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	users, err := daemon.Users(ctx)
	if err != nil || len(users) != 2*perWriter+1 {
		t.Errorf("Users = %d, %v; want %d", len(users), err, 2*perWriter+1)
	}
	msgs, err := cli.OfflinePage(ctx, "inbox", 0, -1)
	if err != nil || len(msgs) != 2*perWriter {
		t.Errorf("OfflinePage = %d, %v; want %d", len(msgs), err, 2*perWriter)
	}
}

// TestWriterWaitsForOtherProcess holds the write lock on one handle and
// checks that a write on the other waits for it (busy_timeout) instead of
// failing with SQLITE_BUSY.
func TestWriterWaitsForOtherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	daemon := openAt(t, path)
	cli := openAt(t, path)

	tx, err := cli.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, pass_hash, created) VALUES ('cli', 'h', 0)`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := daemon.CreateUser(ctx, "daemon", "h", false)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("CreateUser finished while the other handle held the lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("CreateUser after the lock was released: %v", err)
	}
	users, err := daemon.Users(ctx)
	if err != nil || len(users) != 2 {
		t.Errorf("Users = %d, %v; want 2", len(users), err)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	mustUsers(t, db, "alice")
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	if err := db.BackupProgress(ctx, existing, nil); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		want chatd.Code
	}{
		{"OK", filepath.Join(dir, "copy.db"), ""},
		{"ErrExists", existing, chatd.EBadArgs},
		{"ErrNoPath", "", chatd.EBadArgs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkCode(t, db.BackupProgress(ctx, tt.path, nil), tt.want)
			if tt.want != "" {
				return
			}
			cp := openAt(t, tt.path)
			if _, err := cp.UserByName(ctx, "alice"); err != nil {
				t.Errorf("the copy lacks alice: %v", err)
			}
			if v, err := schemaVersion(ctx, cp.reader); err != nil || v != chatd.SchemaVersion {
				t.Errorf("copy user_version = %d, %v", v, err)
			}
		})
	}
}

func TestTimeConversion(t *testing.T) {
	local := time.FixedZone("UTC+5", 5*3600)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"Zero", time.Time{}, time.Time{}},
		{"UTC", t0, t0},
		{"OtherZone", t0.In(local), t0},
		{"SubMillisecondDropped", t0.Add(999 * time.Microsecond), t0},
		{"BeforeEpoch", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromNullMillis(nullMillis(tt.in))
			if !got.Equal(tt.want) || (!got.IsZero() && got.Location() != time.UTC) {
				t.Errorf("round trip of %v = %v, want %v in UTC", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsDuplicate(t *testing.T) {
	if isDuplicate(nil) || isDuplicate(errors.New("UNIQUE constraint failed")) {
		t.Error("isDuplicate matched an error that is not from SQLite")
	}
}

func TestNewFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.db")
	d := openAt(t, path)
	if _, err := d.CreateUser(context.Background(), "alice", "x", false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s has mode %v; want no group or other access", p, mode)
		}
	}
}

func TestBackupIsPrivate(t *testing.T) {
	d, _ := openTest(t)
	target := filepath.Join(t.TempDir(), "copy.db")
	checkCode(t, d.BackupProgress(context.Background(), target, nil), "")
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		t.Fatalf("backup mode %v; want no group or other access", mode)
	}
}

// No one but the owner can open the backup at any moment while it is
// written: a watcher lists the target directory over and over during a
// backup big enough to take a while, and every file it sees there must be
// private and every directory closed to others. (Before, VACUUM INTO wrote
// the file with the umask's 0644 and the mode was fixed only at the end.)
func TestBackupPrivateWhileWritten(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	d, _ := openTest(t)
	ctx := context.Background()
	var lines []chatd.RoomLine
	for i := range 4000 {
		lines = append(lines, chatd.RoomLine{Room: chatd.Lobby, Line: chatd.HistoryLine{From: "alice", Text: fmt.Sprintf("%d %s", i, strings.Repeat("x", 2000))}})
	}
	checkCode(t, d.AppendHistoryBatch(ctx, lines, len(lines)), "")

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // a directory others may list
		t.Fatal(err)
	}
	target := filepath.Join(dir, "copy.db")
	stop := make(chan struct{})
	seen := make(chan []string, 1)
	go func() {
		var bad []string
		looks := 0
		defer func() { seen <- append(bad, fmt.Sprint(looks)) }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			looks++
			filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
				if err != nil || p == dir {
					return nil
				}
				fi, err := e.Info()
				if err != nil {
					return nil
				}
				// Others can open p when p allows it and so does the
				// directory it is in.
				parent, err := os.Stat(filepath.Dir(p))
				if err == nil && fi.Mode().Perm()&0o077 != 0 && parent.Mode().Perm()&0o077 != 0 {
					bad = append(bad, fmt.Sprintf("%s %v in %v", p, fi.Mode(), parent.Mode()))
				}
				return nil
			})
		}
	}()
	progressCalls := 0
	err := d.BackupProgress(ctx, target, func(done, total int64) { progressCalls++ })
	close(stop)
	result := <-seen
	checkCode(t, err, "")
	if bad := result[:len(result)-1]; len(bad) > 0 {
		t.Fatalf("readable by others while written (after %s looks): %d times, first %v", result[len(result)-1], len(bad), bad[0])
	}
	if progressCalls == 0 {
		t.Error("progress was never reported")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "copy.db" {
		t.Fatalf("left behind in the target directory: %v", entries)
	}
}
