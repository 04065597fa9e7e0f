// Package db keeps chatd's state in a SQLite file or a PostgreSQL database.
// It holds every SQL statement of the project and implements chatd.Store.
//
// Both backends share the statements that read the same in both dialects:
// they are written with ? placeholders, which dbPool and dbTx rebind to
// PostgreSQL's $n (SQLite takes them as they are, at no cost). What differs
// lives per backend: the schema and its migrations (migrate.go and
// schema.sql for SQLite, postgres.go and schema_postgres.sql for
// PostgreSQL), full-text search, backup, and the few statements that branch
// on db.pg. Names are compared through chatd.Key, computed in Go, so both
// databases fold case by one rule: neither database folds anything.
//
// On SQLite a DB has two connection pools on the same file: a single writer connection
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

	// ids gives a message stored without an id (by a tool or a test;
	// the daemon gives each its own) one: see msgID.
	ids chatd.IDClock

	path   string  // the SQLite file, or the PostgreSQL URL without its password
	pg     bool    // PostgreSQL; SQLite otherwise
	writer *dbPool // SQLite: exactly one connection; every write goes through it
	reader *dbPool // SQLite: pooled, query_only. PostgreSQL: the writer's pool

	// Prepared statements of the busy paths, per pool (prepared.go).
	readStmts, writeStmts *stmtCache

	// untrimmed counts, per room id, the history lines appended by
	// AppendHistoryBatch since that room was last trimmed; guarded by
	// trimMu (leaf, DEVELOPING.md "Locks").
	trimMu    sync.Mutex
	untrimmed map[int64]int
	// untrimmedPairs is untrimmed for private conversations.
	untrimmedPairs map[pair]int

	// The mailer goroutine (messages.go) stores offline messages with
	// group commit: requests come in on mail; closing stops it and
	// mailDone says it has.
	mail     chan *mailRequest
	closing  chan struct{}
	mailDone chan struct{}
	// mailBounds: upper bounds of mailbox sizes (mailer goroutine only,
	// see mailboxRoom).
	mailBounds map[int64]int
	// mailVersion is SQLite's data_version when the mailer last looked
	// (mailer goroutine only): another handle's commit changes it, and
	// then the bounds are forgotten.
	mailVersion int64
	// mailRcpts: the recipients the mailer has looked up, by name key
	// (mailer goroutine only, SQLite only; see recipient). usersGen counts
	// this handle's transactions that deleted a user or changed a block;
	// mailUsersGen is its value when the mailer last looked.
	mailRcpts    map[string]*mailRcpt
	usersGen     atomic.Uint64
	mailUsersGen uint64
	// The batch being written (mailer goroutine only; see flushLetters):
	// letters resolved but not yet inserted, their mailbox ids, the
	// statement arguments, and the largest ids the mailer has used, once
	// read (mailTops) and until another handle commits (mailVersion).
	mailLetters               []pendingLetter
	mailBoxes                 []int64
	mailArgs                  []any
	mailTops                  bool
	mailLetterTop, mailBoxTop int64
	// mailUnsorted counts the offline_messages rows written since the
	// mailer last sorted them into the recipient index, which it does
	// once there are mailSortEvery (SQLite; see schema.sql).
	mailUnsorted, mailSortEvery int
	closeOnce                   sync.Once

	// searchSlots bounds the searches running at once (history.go,
	// searchSlot); made on first use.
	searchOnce  sync.Once
	searchSlots chan struct{}
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
	db.writer = &dbPool{DB: w}

	ctx := context.Background()
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err // names the path already
	}

	// A statement that writes several rows (the mailer's multi-row INSERTs,
	// a history trim) keeps a statement journal of the pages it changes, to
	// undo itself alone should it fail. SQLite spills that journal to a
	// temporary file past 64 KiB, which a batch of offline messages to many
	// mailboxes passes: a write(2) per page. The writer keeps it in memory.
	// It is set after the migrations, whose index builds may sort more than
	// memory should hold; the writer's one connection is kept for good.
	if _, err := w.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		w.Close()
		return nil, fmt.Errorf("open db %s: %w", path, err)
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
	db.reader = &dbPool{DB: r}
	db.readStmts = newStmtCache(db.reader, true)
	db.writeStmts = newStmtCache(db.writer, false)
	if err := db.writeStmts.prepare(ctx, hotWrites...); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open db %s: prepare: %w", path, err)
	}
	db.startMailer()
	return db, nil
}

func (db *DB) startMailer() {
	db.mail = make(chan *mailRequest)
	db.mailBounds = map[int64]int{}
	db.mailRcpts = map[string]*mailRcpt{}
	db.mailSortEvery = mailSortEvery
	db.mailUnsorted = mailSortEvery // whatever an earlier run left unsorted
	db.closing = make(chan struct{})
	db.mailDone = make(chan struct{})
	go db.mailer()
}

// OpenConfig opens the database c names: the SQLite file at c.Path, or the
// PostgreSQL database at c.URL.
func OpenConfig(c chatd.DatabaseConfig) (*DB, error) {
	switch c.Driver {
	case "", "sqlite":
		return Open(c.Path)
	case "postgres":
		return OpenPostgres(c.URL)
	}
	return nil, fmt.Errorf("open db: unknown database.driver %q (sqlite or postgres)", c.Driver)
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
	if db.reader == db.writer {
		return db.writer.Close()
	}
	return errors.Join(db.reader.Close(), db.writer.Close())
}

// dbPool is a connection pool that rebinds each statement's ? placeholders
// for its database: unchanged for SQLite, $1, $2, ... for PostgreSQL.
type dbPool struct {
	*sqlx.DB
	pg bool
}

// dbTx is a transaction that rebinds like dbPool.
type dbTx struct {
	*sqlx.Tx
	pg    bool
	users *atomic.Uint64 // DB.usersGen
}

// usersChanged says that tx deletes a user or makes or lifts a block, so
// that the mailer forgets the recipients it remembers (see
// DB.recipient). It is called inside the transaction: on SQLite the
// writer's one connection is the transaction's until it ends, so the
// mailer's next transaction, which looks, comes after it.
func (t *dbTx) usersChanged() {
	if t.users != nil {
		t.users.Add(1)
	}
}

func bind(pg bool, q string) string {
	if pg {
		return sqlx.Rebind(sqlx.DOLLAR, q)
	}
	return q
}

func (p *dbPool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return p.DB.ExecContext(ctx, bind(p.pg, q), args...)
}
func (p *dbPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return p.DB.QueryContext(ctx, bind(p.pg, q), args...)
}
func (p *dbPool) QueryxContext(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	return p.DB.QueryxContext(ctx, bind(p.pg, q), args...)
}
func (p *dbPool) QueryRowxContext(ctx context.Context, q string, args ...any) *sqlx.Row {
	return p.DB.QueryRowxContext(ctx, bind(p.pg, q), args...)
}
func (p *dbPool) GetContext(ctx context.Context, dest any, q string, args ...any) error {
	return p.DB.GetContext(ctx, dest, bind(p.pg, q), args...)
}
func (p *dbPool) SelectContext(ctx context.Context, dest any, q string, args ...any) error {
	return p.DB.SelectContext(ctx, dest, bind(p.pg, q), args...)
}

func (t *dbTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, bind(t.pg, q), args...)
}
func (t *dbTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, bind(t.pg, q), args...)
}
func (t *dbTx) QueryxContext(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	return t.Tx.QueryxContext(ctx, bind(t.pg, q), args...)
}
func (t *dbTx) QueryRowxContext(ctx context.Context, q string, args ...any) *sqlx.Row {
	return t.Tx.QueryRowxContext(ctx, bind(t.pg, q), args...)
}
func (t *dbTx) GetContext(ctx context.Context, dest any, q string, args ...any) error {
	return t.Tx.GetContext(ctx, dest, bind(t.pg, q), args...)
}
func (t *dbTx) SelectContext(ctx context.Context, dest any, q string, args ...any) error {
	return t.Tx.SelectContext(ctx, dest, bind(t.pg, q), args...)
}
func (t *dbTx) PreparexContext(ctx context.Context, q string) (*sqlx.Stmt, error) {
	return t.Tx.PreparexContext(ctx, bind(t.pg, q))
}

// serialize makes the transactions that pass the same key run one after
// another from here to their end. SQLite needs nothing: its writes are
// serial already. PostgreSQL takes a transaction-scoped advisory lock, so a
// check and the insert it allows (a mailbox limit, a room limit) cannot
// interleave with another's.
func (t *dbTx) serialize(ctx context.Context, key string) error {
	if !t.pg {
		return nil
	}
	if _, err := t.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	return nil
}

// limit is n for a LIMIT clause where n < 0 means no limit: SQLite reads a
// negative LIMIT so, PostgreSQL wants NULL.
func (db *DB) limit(n int) any {
	if n < 0 && db.pg {
		return nil
	}
	return n
}

// begin starts a write transaction on the writer connection. The writer's
// DSN makes it BEGIN IMMEDIATE, so the write lock is taken (or waited for,
// up to busy_timeout) at the start rather than on the first write, where a
// conflict could not be retried.
func (db *DB) begin(ctx context.Context) (*dbTx, error) {
	tx, err := db.writer.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	return &dbTx{Tx: tx, pg: db.pg, users: &db.usersGen}, nil
}

// commit commits tx and names what for in the error.
func commit(tx *dbTx, what string) error {
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

// msgID is id, or when id is "" a new one from the database's own clock
// at t: a message is never stored without an id.
func (db *DB) msgID(id string, t time.Time) string {
	if id != "" {
		return id
	}
	return chatd.FormatID(db.ids.Next(db.orNow(t)))
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

// isDuplicate reports whether err is the database refusing a row because a
// UNIQUE or PRIMARY KEY constraint already holds that value: SQLite's
// extended codes, or PostgreSQL's SQLSTATE 23505 (unique_violation).
func isDuplicate(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

const (
	sqlUserID = `SELECT id FROM users WHERE name_key = ?`
	sqlRoomID = `SELECT id FROM rooms WHERE name_key = ?`
)

// hotWrites are the statements the writer prepares when the database
// opens: those run inside the transactions of the busy paths.
var hotWrites = slices.Concat([]string{
	sqlUserID,
	sqlSavepoint, sqlRollbackTo, sqlRelease, sqlInsertLetter, sqlInsertMail, sqlMailboxSize, sqlRecipient,
	sqlRecipientBlocks, sqlMailTops, sqlDataVersion, sqlMailboxSizeSorting, sqlSortMail,
	sqlInsertAttempt, sqlSetSeen, sqlClearOnline,
}, sqlInsertLetters, sqlInsertMails, sqlInsertPrivates, sqlInsertOnline)

// rowsChanged runs a statement on q and returns how many rows it
// changed; the caller says what failed.
func rowsChanged(ctx context.Context, q sqlx.ExecerContext, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
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
	err := sqlx.GetContext(ctx, q, &id, sqlRoomID, chatd.Key(name))
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
