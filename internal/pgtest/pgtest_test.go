package pgtest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// Each URL is its own database: a table made in one is absent from the
// other, and the server runs as a user that is not root.
func TestFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, err := sql.Open("pgx", URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("pgx", URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.ExecContext(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database b sees a's table")
	}
	if err := a.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("database a lost its table")
	}
	var super bool
	if err := a.QueryRowContext(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Fatal("the test role should be the superuser postgres")
	}
	mu.Lock()
	dir, pid := srv.dir, srv.cmd.Process.Pid
	mu.Unlock()
	fi, err := os.Stat(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && fi.Sys().(*syscall.Stat_t).Uid == 0 {
		t.Fatal("data directory owned by root: the server would refuse to start")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("server process %d: %v", pid, err)
	}
}

// A dropped database really goes away when its test ends.
func TestDropOnCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		u := URL(t)
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	mu.Lock()
	admin := srv.admin
	mu.Unlock()
	var n int
	if err := admin.QueryRow("SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if name == "" || n != 0 {
		t.Fatalf("database %q still exists after its test (%d)", name, n)
	}
}

// Pause stalls queries until resume; the server then answers again.
func TestPause(t *testing.T) {
	db, err := sql.Open("pgx", URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	resume := Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Fatal("a paused server answered")
	}
	resume()
	resume() // harmless
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after resume: %v, %d", err, one)
	}
}
