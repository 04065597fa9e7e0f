package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Backup writes a consistent copy of the database to path with VACUUM INTO,
// which reads one snapshot and so neither stops nor sees writers that commit
// meanwhile. It refuses to overwrite an existing file.
//
// The copy is made on a connection of its own: VACUUM INTO counts as a write
// for the query_only readers, and on the writer it would hold up every other
// write for as long as the copy takes.
func (db *DB) Backup(ctx context.Context, path string) error {
	if path == "" {
		return chatd.Errorf(chatd.EBadArgs, "the backup needs a file name")
	}
	if _, err := os.Stat(path); err == nil {
		return chatd.Errorf(chatd.EBadArgs, "%s already exists; the backup will not overwrite it", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup to %s: %w", path, err)
	}

	conn, err := sqlx.Open("sqlite", dsn(db.path))
	if err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	// A backup holds the same password hashes as the database.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	// SQLite does not promise that the output of VACUUM INTO has reached
	// the disk; a backup that a power cut can take away is not one.
	if err := syncFile(path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
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
