package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// migrations[i] turns a database at version i+1 into version i+2. A new, empty
// database never runs them: chatd.Schema creates the newest version in one
// go. To add version 2, change schema.sql to the new shape, bump
// chatd.SchemaVersion, and append here the statements that bring a version 1
// file to that same shape.
var migrations = []string{}

// migrate brings the file to chatd.SchemaVersion, one version per
// transaction, and then makes sure the lobby exists. The version is read
// inside each write transaction, so two processes opening a new file at once
// do not both create the schema.
func (db *DB) migrate(ctx context.Context) error {
	if len(migrations)+1 != chatd.SchemaVersion {
		return fmt.Errorf("migrate db %s: this build has %d migrations for schema version %d", db.path, len(migrations), chatd.SchemaVersion)
	}
	for {
		done, err := db.migrateStep(ctx)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}

	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	defer tx.Rollback()
	if err := ensureLobby(ctx, tx, db.now()); err != nil {
		return fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	return nil
}

// migrateStep moves the file one version forward. It reports done when the
// file already is at chatd.SchemaVersion.
func (db *DB) migrateStep(ctx context.Context) (done bool, err error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	defer tx.Rollback()

	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	var next int
	switch {
	case v == chatd.SchemaVersion:
		return true, nil
	case v > chatd.SchemaVersion:
		return false, fmt.Errorf("database %s has schema version %d, this chatd understands up to %d; upgrade chatd",
			db.path, v, chatd.SchemaVersion)
	case v < 0:
		return false, fmt.Errorf("database %s has schema version %d, which no chatd ever wrote", db.path, v)
	case v == 0:
		if err := createSchema(ctx, tx); err != nil {
			return false, fmt.Errorf("migrate db %s: %w", db.path, err)
		}
		next = chatd.SchemaVersion
	default:
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return false, fmt.Errorf("migrate db %s from version %d to %d: %w", db.path, v, v+1, err)
		}
		next = v + 1
	}
	// PRAGMA takes no bound parameters; next is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", next)); err != nil {
		return false, fmt.Errorf("migrate db %s: set version %d: %w", db.path, next, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate db %s to version %d: %w", db.path, next, err)
	}
	return false, nil
}

func schemaVersion(ctx context.Context, q sqlx.QueryerContext) (int, error) {
	var v int
	if err := sqlx.GetContext(ctx, q, &v, `PRAGMA user_version`); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// createSchema fills a version 0 file with chatd.Schema. A version 0 file
// that already has tables belongs to something else; it is left alone.
func createSchema(ctx context.Context, tx *sqlx.Tx) error {
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM sqlite_schema`); err != nil {
		return fmt.Errorf("inspect schema: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("the file has %d schema objects but no chatd schema version; it is not a chatd database", n)
	}
	if _, err := tx.ExecContext(ctx, chatd.Schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

// ensureLobby creates the lobby unless it exists.
func ensureLobby(ctx context.Context, tx *sqlx.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO rooms (name, owner, pass_hash, created) VALUES (?, '', '', ?)
		 ON CONFLICT (name) DO NOTHING`,
		chatd.Lobby, millis(now))
	if err != nil {
		return fmt.Errorf("create the lobby: %w", err)
	}
	return nil
}
