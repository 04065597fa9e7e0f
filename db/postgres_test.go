package db

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
	"chatd/internal/pgtest"
)

// OpenPostgres creates the schema once, however many nodes open a new
// database at the same moment, refuses a database that holds something
// else or was written by a newer chatd, and leaves the lobby in place.
func TestOpenPostgres(t *testing.T) {
	ctx := context.Background()
	t.Run("OKConcurrentFirstOpens", func(t *testing.T) {
		url := pgtest.URL(t)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := OpenPostgres(url)
				if err == nil {
					db.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent open: %v", err)
			}
		}
		db := openPG(t, url)
		rooms, err := db.Rooms(ctx)
		if err != nil || len(rooms) != 1 || rooms[0].Name != chatd.Lobby {
			t.Fatalf("rooms %v, %v; want the lobby alone", rooms, err)
		}
		var v int
		if err := db.reader.GetContext(ctx, &v, `SELECT version FROM schema_version`); err != nil || v != PostgresSchemaVersion {
			t.Fatalf("schema version %d, %v", v, err)
		}
	})
	t.Run("ErrNotChatd", func(t *testing.T) {
		url := pgtest.URL(t)
		raw := rawPG(t, url)
		if _, err := raw.Exec(`CREATE TABLE invoices (id int)`); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenPostgres(url); err == nil || !strings.Contains(err.Error(), "not a chatd database") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrNewer", func(t *testing.T) {
		url := pgtest.URL(t)
		openPG(t, url).Close()
		if _, err := rawPG(t, url).Exec(`UPDATE schema_version SET version = version + 1`); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenPostgres(url); err == nil || !strings.Contains(err.Error(), "upgrade chatd") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrPasswordNotShown", func(t *testing.T) {
		_, err := OpenPostgres("postgres://chatd:hunter2@127.0.0.1:1/nowhere?connect_timeout=5")
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1/nowhere") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrBackup", func(t *testing.T) {
		db := openPG(t, pgtest.URL(t))
		err := db.BackupProgress(ctx, t.TempDir()+"/copy.db", nil)
		if chatd.ErrorCode(err) != chatd.ENotPermitted || !strings.Contains(err.Error(), "pg_dump") {
			t.Fatalf("err = %v", err)
		}
	})
}

// rawPG opens url without chatd's schema handling.
func rawPG(t *testing.T, url string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// A version 1 database is migrated to the newest version on open.
func TestPostgresMigrateFrom1(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	openPG(t, url).Close()
	raw := rawPG(t, url)
	// Version 1's trigger function, without the letter lock.
	if _, err := raw.Exec(undoPG7); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE OR REPLACE FUNCTION offline_messages_last() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM letters WHERE id = OLD.letter
        AND NOT EXISTS (SELECT 1 FROM offline_messages WHERE letter = OLD.letter);
    RETURN NULL;
END $$;
DROP TABLE private_history;
DROP TABLE room_members;
DROP INDEX room_history_mid;
ALTER TABLE room_history DROP COLUMN mid;
ALTER TABLE letters DROP COLUMN mid;
DROP TABLE read_markers;
DELETE FROM rooms;
UPDATE schema_version SET version = 1`); err != nil {
		t.Fatal(err)
	}
	// Rows of before message ids (version 2 and older) are kept and
	// given ids.
	rows := v5Rows(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli())
	for _, table := range []string{"users", "rooms", "room_history", "letters", "offline_messages"} {
		// The rows' ids were given: the identities go on past them.
		rows = append(rows, `SELECT setval(pg_get_serial_sequence('`+table+`', 'id'), 100)`)
	}
	for _, q := range rows {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db := openPG(t, url)
	var v int
	var src string
	if err := db.reader.GetContext(ctx, &v, `SELECT version FROM schema_version`); err != nil || v != PostgresSchemaVersion {
		t.Fatalf("version %d, %v", v, err)
	}
	if err := db.reader.GetContext(ctx, &src, `SELECT prosrc FROM pg_proc WHERE proname = 'offline_messages_last'`); err != nil || !strings.Contains(src, "FOR UPDATE") {
		t.Fatalf("trigger function not migrated: %q, %v", src, err)
	}
	checkV5Migrated(t, db)
}
