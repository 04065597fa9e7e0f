package main

import (
	"context"
	"database/sql"
	"fmt"
	"syscall"
	"testing"
	"time"

	"chatd/internal/pgtest"
)

// TestStopWithStalledDatabase: SIGTERM stops the daemon even while its
// database does not answer (SQLite: another connection holds the write
// lock; PostgreSQL: the server is stopped with SIGSTOP). The sessions
// online then cannot write their last-seen times or their logouts; the
// daemon gives them shutdown_grace, then at most a few seconds more
// (daemon's shutdownExtra), and exits.
func TestStopWithStalledDatabase(t *testing.T) {
	pgtest.EachBackend(t, func(t *testing.T) {
		c := newCLIWithDB(t)
		// More sessions than the old unbounded stop could get through: on
		// SQLite each waited out busy_timeout (10 s) in turn.
		const users = 8
		for i := range users {
			c.ok("password-x\n", "useradd", fmt.Sprintf("user%d", i))
		}
		d := c.serveWith(`shutdown_grace = "1s"`, "")
		for i := range users {
			d.login(fmt.Sprintf("user%d", i), "password-x")
		}
		if pgtest.IsPostgres(t) {
			pgtest.Pause(t) // continued by the test's cleanup
		} else {
			holdWriteLock(t, c.dbPath)
		}

		d.cmd.Process.Signal(syscall.SIGTERM)
		// Generous against 1 s of grace and the daemon's 5 s bound: this
		// is a check that it ends, not a measurement.
		select {
		case err := <-d.exit:
			t.Logf("daemon exited (%v)\n%s", err, d.logs)
		case <-time.After(40 * time.Second):
			t.Fatalf("daemon did not stop within 40 s of SIGTERM with its database stalled\n%s", d.logs)
		}
	})
}

// holdWriteLock takes SQLite's write lock on the database at path from a
// connection of its own until the test ends.
func holdWriteLock(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	t.Cleanup(func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
		db.Close()
	})
}
