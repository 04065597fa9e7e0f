// Package db keeps chatd's state in a SQLite file. It holds every SQL
// statement of the project and implements chatd.Store.
//
// A DB has two connection pools on the same file: a single writer connection
// that every transaction goes through, so writes never race each other for
// the lock inside this process, and a pool of read-only connections for
// queries. Another process (the admin CLI) may write the same file at the same
// time; busy_timeout and BEGIN IMMEDIATE make it wait its turn instead of
// failing.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"chatd"
)

// DB is a chatd database. Create it with Open.
type DB struct {
	// Now is the clock for the times the database stamps itself (creation
	// times, and times a caller left zero). It defaults to time.Now; tests
	// replace it after Open.
	Now func() time.Time

	path   string
	writer *sqlx.DB // exactly one connection; every write goes through it
	reader *sqlx.DB // pooled, query_only

	// Prepared statements of the busy paths, per pool (prepared.go).
	readStmts, writeStmts *stmtCache

	// untrimmed counts, per room id, the history lines appended by
	// AppendHistoryBatch since that room was last trimmed.
	trimMu    sync.Mutex
	untrimmed map[int64]int

	// The mailer goroutine (messages.go) stores offline messages with
	// group commit: requests come in on mail; closing stops it and
	// mailDone says it has.
	mail     chan *mailRequest
	closing  chan struct{}
	mailDone chan struct{}
	// mailBounds: upper bounds of mailbox sizes (mailer goroutine only,
	// see mailboxRoom).
	mailBounds map[int64]int
	closeOnce  sync.Once
}

var _ chatd.Store = (*DB)(nil)

// The pragmas every connection gets. They are in the DSN rather than run once
// after opening because database/sql opens connections whenever it likes.
// synchronous=FULL: an offline message that was acknowledged to its sender
// must survive a power cut, which WAL with NORMAL does not promise.
var pragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	"foreign_keys(1)",
	"synchronous(FULL)",
}

// dsn builds a modernc.org/sqlite URI for path with the shared pragmas and
// any extra query parameters.
func dsn(path string, extra ...string) string {
	// The path part of an SQLite URI ends at '?' or '#', and '%' starts an
	// escape, so those three must be escaped; everything else is literal.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	params := make([]string, 0, len(pragmas)+len(extra))
	for _, p := range pragmas {
		params = append(params, "_pragma="+p)
	}
	params = append(params, extra...)
	return "file:" + esc + "?" + strings.Join(params, "&")
}

// Open opens (creating if needed) the database file at path, brings its
// schema up to chatd.SchemaVersion and makes sure the lobby exists. It
// refuses a file written by a newer chatd.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open db: no path given")
	}
	if strings.Contains(path, ":memory:") || strings.HasPrefix(path, "file:") {
		// Open builds the URI itself. An in-memory database would be a
		// different one on every connection, so the readers would never
		// see what the writer wrote.
		return nil, fmt.Errorf("open db %s: a file path is required (not a URI, not :memory: either)", path)
	}
	db := &DB{Now: time.Now, path: path}

	// The file holds password hashes: create it readable by its owner only.
	// SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	f.Close()

	w, err := sqlx.Open("sqlite", dsn(path, "_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.writer = w

	ctx := context.Background()
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err // names the path already
	}

	// The readers are opened only after the writer has switched the file to
	// WAL and created the schema.
	r, err := sqlx.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
	}
	db.reader = r
	db.readStmts = newStmtCache(r, true)
	db.writeStmts = newStmtCache(w, false)
	if err := db.writeStmts.prepare(ctx, hotWrites...); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open db %s: prepare: %w", path, err)
	}
	db.mail = make(chan *mailRequest)
	db.mailBounds = map[int64]int{}
	db.closing = make(chan struct{})
	db.mailDone = make(chan struct{})
	go db.mailer()
	return db, nil
}

// Close stops the mailer, after the batch it may be storing, and closes
// both connection pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closing)
		<-db.mailDone
		db.readStmts.close()
		db.writeStmts.close()
	})
	return errors.Join(db.reader.Close(), db.writer.Close())
}

// begin starts a write transaction on the writer connection. The writer's
// DSN makes it BEGIN IMMEDIATE, so the write lock is taken (or waited for,
// up to busy_timeout) at the start rather than on the first write, where a
// conflict could not be retried.
func (db *DB) begin(ctx context.Context) (*sqlx.Tx, error) {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return tx, nil
}

// commit commits tx and names what for in the error.
func commit(tx *sqlx.Tx, what string) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

// now is the database clock in UTC, truncated to what the database stores.
func (db *DB) now() time.Time {
	f := db.Now
	if f == nil {
		f = time.Now
	}
	return f().UTC().Truncate(time.Millisecond)
}

// orNow returns t, or the database clock when t is zero.
func (db *DB) orNow(t time.Time) time.Time {
	if t.IsZero() {
		return db.now()
	}
	return t
}

// millis converts t for a NOT NULL INTEGER time column.
func millis(t time.Time) int64 { return t.UnixMilli() }

// nullMillis converts t for a nullable time column: the zero time is NULL.
func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMillis converts a stored time back to a UTC time.Time.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// fromNullMillis converts a nullable stored time; NULL is the zero time.
func fromNullMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return fromMillis(ms.Int64)
}

// isDuplicate reports whether err is SQLite refusing a row because a UNIQUE
// or PRIMARY KEY constraint already holds that value.
func isDuplicate(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

const sqlUserID = `SELECT id FROM users WHERE name_key = ?`

// hotWrites are the statements the writer prepares when the database
// opens: those run inside the transactions of the busy paths.
var hotWrites = []string{
	sqlUserID,
	sqlSavepoint, sqlRollbackTo, sqlRelease, sqlInsertLetter, sqlInsertMail, sqlMailboxSize,
}

// userID returns the id of the user called name, or ENoSuchUser.
func userID(ctx context.Context, q sqlx.QueryerContext, name string) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, q, &id, sqlUserID, chatd.Key(name))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, noSuchUser(name)
	}
	if err != nil {
		return 0, fmt.Errorf("look up user %s: %w", name, err)
	}
	return id, nil
}

// roomID returns the id of the room called name, or ENoSuchRoom.
func roomID(ctx context.Context, q sqlx.QueryerContext, name string) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, q, &id, `SELECT id FROM rooms WHERE name_key = ?`, chatd.Key(name))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, noSuchRoom(name)
	}
	if err != nil {
		return 0, fmt.Errorf("look up room %s: %w", name, err)
	}
	return id, nil
}

func noSuchUser(name string) error {
	return chatd.Errorf(chatd.ENoSuchUser, "there is no user named %s", name)
}

func noSuchRoom(name string) error {
	return chatd.Errorf(chatd.ENoSuchRoom, "there is no room named %s", name)
}
