package db

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"

	"chatd"
)

// postgresSchema creates the newest PostgreSQL schema in one go.
//
//go:embed schema_postgres.sql
var postgresSchema string

// PostgresSchemaVersion is the version of schema_postgres.sql. PostgreSQL
// counts its versions apart from SQLite's chatd.SchemaVersion: each backend
// owns its schema and migrations. To change the PostgreSQL schema, change
// schema_postgres.sql, bump this, and append to postgresMigrations the
// statements that bring the previous version to the new shape.
const PostgresSchemaVersion = 5

// postgresMigrations[i] turns a PostgreSQL database at version i+1 into
// version i+2, like migrations does for SQLite.
var postgresMigrations = []string{
	// 1 -> 2: a letter whose last two copies were delivered at once on two
	// nodes was left behind.
	`-- A letter goes with its last recipient row. Two nodes deleting the last
-- two rows at once each still see the other's: the letter's row lock makes
-- the second wait for the first to commit, and its next look (a new
-- snapshot) sees that row gone.
CREATE OR REPLACE FUNCTION offline_messages_last() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM letters WHERE id = OLD.letter FOR UPDATE;
    DELETE FROM letters WHERE id = OLD.letter
        AND NOT EXISTS (SELECT 1 FROM offline_messages WHERE letter = OLD.letter);
    RETURN NULL;
END $$;`,
	// 2 -> 3 (issue 20): message ids, given to the rows already stored
	// as the SQLite migration to version 6 gives them.
	`ALTER TABLE room_history ADD COLUMN mid TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE room_history SET mid = lpad(to_hex((ts << 16) | (id & 32767)), 16, '0');
CREATE UNIQUE INDEX room_history_mid ON room_history(room_id, mid);
ALTER TABLE letters ADD COLUMN mid TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE letters SET mid = lpad(to_hex((ts << 16) | 32768 | (id & 32767)), 16, '0');`,
	// 3 -> 4 (issue 20): private conversations as history, on the
	// privhist branch; empty here, as SQLite's 6 -> 7.
	`SELECT 1`,
	// 4 -> 5 (issue 20): read markers.
	`CREATE TABLE read_markers (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conv    TEXT   NOT NULL,
    mid     TEXT   COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, conv)
);`,
}

// migrateLockKey names the advisory lock that makes nodes starting at once
// migrate one after the other.
const migrateLockKey = "chatd migrate"

// OpenPostgres connects to the PostgreSQL database at rawURL
// (postgres://user:password@host:port/dbname?sslmode=...), brings its schema
// up to PostgresSchemaVersion and makes sure the lobby exists. It refuses a
// database written by a newer chatd, and one holding tables of something
// else. Several chatd processes may share the database.
func OpenPostgres(rawURL string) (*DB, error) {
	if rawURL == "" {
		return nil, errors.New("open db: no PostgreSQL URL given (database.url)")
	}
	name := "(unparsable URL)"
	if u, err := url.Parse(rawURL); err == nil {
		name = u.Redacted()
	}
	p, err := sqlx.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("open db %s: %w", name, err)
	}
	// Every connection may be in a transaction at once; the server's
	// max_connections (100 by default) bounds what all nodes may hold.
	n := max(8, 2*runtime.GOMAXPROCS(0))
	p.SetMaxOpenConns(n)
	p.SetMaxIdleConns(n)
	p.SetConnMaxIdleTime(5 * time.Minute)
	pool := &dbPool{DB: p, pg: true}
	db := &DB{Now: time.Now, path: name, pg: true, writer: pool, reader: pool,
		readStmts: newStmtCache(pool, true), writeStmts: newStmtCache(pool, false)}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.PingContext(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("open db %s: %w", name, err)
	}
	if err := db.migratePostgres(ctx); err != nil {
		p.Close()
		return nil, err
	}
	db.startMailer()
	return db, nil
}

// migratePostgres is migrate for PostgreSQL.
func (db *DB) migratePostgres(ctx context.Context) error {
	if len(postgresMigrations)+1 != PostgresSchemaVersion {
		return fmt.Errorf("migrate db %s: this build has %d PostgreSQL migrations for schema version %d",
			db.path, len(postgresMigrations), PostgresSchemaVersion)
	}
	return db.migrateWith(ctx, db.migratePostgresStep)
}

// migratePostgresStep moves the database one version forward, under an
// advisory lock so that two nodes starting together take turns. It reports
// done when the database already is at PostgresSchemaVersion.
func (db *DB) migratePostgresStep(ctx context.Context) (done bool, err error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	defer tx.Rollback()
	if err := tx.serialize(ctx, migrateLockKey); err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	v, err := postgresVersion(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	var next int
	switch {
	case v == PostgresSchemaVersion:
		return true, nil
	case v > PostgresSchemaVersion:
		return false, fmt.Errorf("database %s has PostgreSQL schema version %d, this chatd understands up to %d; upgrade chatd",
			db.path, v, PostgresSchemaVersion)
	case v < 0:
		return false, fmt.Errorf("database %s has PostgreSQL schema version %d, which no chatd ever wrote", db.path, v)
	case v == 0:
		// The cluster's own tables (db/cluster.go) may come first.
		var n int
		if err := tx.GetContext(ctx, &n,
			`SELECT count(*) FROM information_schema.tables
			 WHERE table_schema = current_schema() AND table_name NOT LIKE 'cluster\_%'`); err != nil {
			return false, fmt.Errorf("migrate db %s: inspect schema: %w", db.path, err)
		}
		if n > 0 {
			return false, fmt.Errorf("database %s has %d tables but no chatd schema version; it is not a chatd database", db.path, n)
		}
		if _, err := tx.ExecContext(ctx, postgresSchema); err != nil {
			return false, fmt.Errorf("migrate db %s: create schema: %w", db.path, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return false, fmt.Errorf("migrate db %s: %w", db.path, err)
		}
		next = PostgresSchemaVersion
	default:
		if _, err := tx.ExecContext(ctx, postgresMigrations[v-1]); err != nil {
			return false, fmt.Errorf("migrate db %s from version %d to %d: %w", db.path, v, v+1, err)
		}
		next = v + 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, next); err != nil {
		return false, fmt.Errorf("migrate db %s: set version %d: %w", db.path, next, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate db %s to version %d: %w", db.path, next, err)
	}
	return false, nil
}

// postgresVersion reads the schema version; 0 for a database without the
// schema_version table.
func postgresVersion(ctx context.Context, q *dbTx) (int, error) {
	var exists bool
	if err := q.GetContext(ctx, &exists, `SELECT to_regclass('schema_version') IS NOT NULL`); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := q.GetContext(ctx, &v, `SELECT version FROM schema_version`); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// errBackupPostgres is what BackupProgress says on PostgreSQL: chatd's backup
// copies a SQLite file; PostgreSQL has its own tools.
func (db *DB) errBackupPostgres() error {
	return chatd.Errorf(chatd.ENotPermitted,
		"chatd backup copies a SQLite database; this one is PostgreSQL (%s): back it up with pg_dump (see docs/operations.md)", db.path)
}
