package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// BackupProgress writes a consistent copy of the database to path with
// VACUUM INTO, which reads one snapshot and so neither stops nor sees
// writers that commit meanwhile. It refuses to overwrite an existing file.
// Progress, when not nil, is called every so often with the bytes written
// so far and the size of the database, and once at the end.
//
// The copy holds the password hashes, so no other user may open it at any
// moment: it is written inside a new directory of mode 0700 next to path,
// made 0600 and synced there, and only then linked to path, which fails
// rather than replace a file that appeared meanwhile.
//
// The copy is made on a connection of its own: VACUUM INTO counts as a write
// for the query_only readers, and on the writer it would hold up every other
// write for as long as the copy takes.
func (db *DB) BackupProgress(ctx context.Context, path string, progress func(done, total int64)) (err error) {
	if db.pg {
		return db.errBackupPostgres()
	}
	if path == "" {
		return chatd.Errorf(chatd.EBadArgs, "the backup needs a file name")
	}
	if _, err := os.Stat(path); err == nil {
		return chatd.Errorf(chatd.EBadArgs, "%s already exists; the backup will not overwrite it", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".chatd-backup-") // mode 0700
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "backup.db")

	var total int64
	if st, err := os.Stat(db.path); err == nil {
		total = st.Size()
	}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if progress == nil {
			return
		}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if st, err := os.Stat(tmp); err == nil {
				progress(min(st.Size(), total), total)
			}
		}
	}()
	err = db.vacuumInto(ctx, tmp)
	close(stop)
	<-watched
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	// SQLite does not promise that the output of VACUUM INTO has reached
	// the disk; a backup that a power cut can take away is not one.
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return chatd.Errorf(chatd.EBadArgs, "%s already exists; the backup will not overwrite it", path)
		}
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := syncFile(filepath.Dir(path)); err != nil {
		return fmt.Errorf("backup to %s: sync directory: %w", path, err)
	}
	if progress != nil {
		if st, err := os.Stat(path); err == nil {
			progress(st.Size(), max(total, st.Size()))
		}
	}
	return nil
}

func (db *DB) vacuumInto(ctx context.Context, path string) error {
	conn, err := sqlx.Open("sqlite", dsn(db.path))
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return err
	}
	return conn.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
