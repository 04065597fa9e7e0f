package db

import (
	"context"
	"fmt"
	"time"

	"chatd"
)

// SetOnline replaces the online-sessions table with sessions, in one
// transaction. The daemon calls it when it starts writing the table and
// after a failed UpdateOnline; nil empties the table (at start and at
// shutdown). Sessions without an ID get ids above the largest given.
//
// With a thousand users online that is a thousand rows each time, so the
// rows go in with the prepared multi-row INSERTs of sqlInsertOnline, 64 at
// a time, as the mailer writes its batches (execRows): a statement per row
// cost a trip through database/sql and the driver per row, and compiling
// each one from its text cost more than running it.
func (db *DB) SetOnline(ctx context.Context, sessions []chatd.OnlineSession) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := db.write(tx)
	if _, err := q.ExecContext(ctx, sqlClearOnline); err != nil {
		return fmt.Errorf("write online sessions: %w", err)
	}
	var next int64
	for _, s := range sessions {
		next = max(next, s.ID)
	}
	args := make([]any, 0, onlineWidth*len(sessions))
	for _, s := range sessions {
		if s.ID == 0 {
			next++
			s.ID = next
		}
		args = appendOnline(args, s)
	}
	if err := execRows(ctx, q, sqlInsertOnline, onlineWidth, args, "write online sessions"); err != nil {
		return err
	}
	return commit(tx, "write online sessions")
}

// UpdateOnline deletes the online-sessions rows whose ids are in gone and
// the rows of put's ids, and inserts put, in one transaction: what moved
// since the daemon's last write (logins, logouts, room changes, idle
// times), so that a server at rest writes nothing and a busy one writes
// its changes only, not a row per user online. Each row of put needs an
// ID. Both go through prepared multi-row statements, 64 rows at most.
func (db *DB) UpdateOnline(ctx context.Context, gone []int64, put []chatd.OnlineSession) error {
	if len(gone) == 0 && len(put) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := db.write(tx)
	ids := make([]any, 0, len(gone)+len(put))
	for _, id := range gone {
		ids = append(ids, id)
	}
	for _, s := range put {
		if s.ID == 0 {
			return fmt.Errorf("write online sessions: the session of %s has no row id", s.User)
		}
		ids = append(ids, s.ID)
	}
	if err := execRows(ctx, q, sqlDeleteOnline, 1, ids, "write online sessions"); err != nil {
		return err
	}
	args := make([]any, 0, onlineWidth*len(put))
	for _, s := range put {
		args = appendOnline(args, s)
	}
	if err := execRows(ctx, q, sqlInsertOnline, onlineWidth, args, "write online sessions"); err != nil {
		return err
	}
	return commit(tx, "write online sessions")
}

// appendOnline appends the values of one sqlInsertOnline row.
func appendOnline(args []any, s chatd.OnlineSession) []any {
	return append(args, s.ID, s.User, s.Room, s.Addr, s.Listener, millis(s.Since), millis(s.LastActive))
}

// MarkOnlineSeen sets last_seen to at for every user in the
// online-sessions table, in one statement: the daemon keeps the table
// within a second of who is online, so the database finds the users
// itself instead of being handed a row per user.
func (db *DB) MarkOnlineSeen(ctx context.Context, at time.Time) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := db.write(tx).ExecContext(ctx, sqlMarkOnlineSeen, millis(at)); err != nil {
		return fmt.Errorf("write last seen times: %w", err)
	}
	return commit(tx, "write last seen times")
}

const (
	sqlClearOnline = `DELETE FROM online_sessions`
	onlineWidth    = 7 // the columns sqlInsertOnline gives per row
	// users.name has a unique index (NOCASE on SQLite); the table holds
	// the registered spelling.
	sqlMarkOnlineSeen = `UPDATE users SET last_seen = ? WHERE name IN (SELECT "user" FROM online_sessions)`
)

// sqlInsertOnline[k] inserts 1<<k online_sessions rows (up to 64: 448
// parameters, far below either database's limit).
var sqlInsertOnline = insertStatements(`INSERT INTO online_sessions (id, "user", room, addr, listener, since, last_active) VALUES `, onlineWidth)

// sqlDeleteOnline[k] deletes the online_sessions rows of 1<<k ids.
var sqlDeleteOnline = inStatements(`DELETE FROM online_sessions WHERE id IN `)

// inStatements are head followed by a list of 1<<k placeholders, for k
// from 0 to 6, as insertStatements for one column.
func inStatements(head string) []string {
	stmts := make([]string, 7)
	for k := range stmts {
		stmts[k] = head + "(" + placeholders(1<<k) + ")"
	}
	return stmts
}

// Online lists the sessions the daemon last wrote, sorted by user name.
func (db *DB) Online(ctx context.Context) ([]chatd.OnlineSession, error) {
	var rows []struct {
		ID         int64  `db:"id"`
		User       string `db:"user"`
		Room       string `db:"room"`
		Addr       string `db:"addr"`
		Listener   string `db:"listener"`
		Since      int64  `db:"since"`
		LastActive int64  `db:"last_active"`
	}
	err := db.reader.SelectContext(ctx, &rows,
		`SELECT id, "user", room, addr, listener, since, last_active FROM online_sessions ORDER BY "user", id`)
	if err != nil {
		return nil, fmt.Errorf("read online sessions: %w", err)
	}
	out := make([]chatd.OnlineSession, len(rows))
	for i, r := range rows {
		out[i] = chatd.OnlineSession{ID: r.ID, User: r.User, Room: r.Room, Addr: r.Addr, Listener: r.Listener,
			Since: fromMillis(r.Since), LastActive: fromMillis(r.LastActive)}
	}
	return out, nil
}

// Ping runs a trivial query on a reader connection, for health checks.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.reader.GetContext(ctx, &n, `SELECT 1`); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}
