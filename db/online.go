package db

import (
	"context"
	"fmt"

	"chatd"
)

// SetOnline replaces the online-sessions table with sessions, in one
// transaction. The daemon calls it when who is online changes; nil empties
// the table (at start and at shutdown).
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
	args := make([]any, 0, onlineWidth*len(sessions))
	for _, s := range sessions {
		args = append(args, s.User, s.Room, s.Addr, s.Listener, millis(s.Since), millis(s.LastActive))
	}
	if err := execRows(ctx, q, sqlInsertOnline, onlineWidth, args, "write online sessions"); err != nil {
		return err
	}
	return commit(tx, "write online sessions")
}

const (
	sqlClearOnline = `DELETE FROM online_sessions`
	onlineWidth    = 6 // the columns sqlInsertOnline gives per row
)

// sqlInsertOnline[k] inserts 1<<k online_sessions rows (up to 64: 384
// parameters, far below either database's limit).
var sqlInsertOnline = insertStatements(`INSERT INTO online_sessions ("user", room, addr, listener, since, last_active) VALUES `, onlineWidth)

// Online lists the sessions the daemon last wrote, sorted by user name.
func (db *DB) Online(ctx context.Context) ([]chatd.OnlineSession, error) {
	var rows []struct {
		User       string `db:"user"`
		Room       string `db:"room"`
		Addr       string `db:"addr"`
		Listener   string `db:"listener"`
		Since      int64  `db:"since"`
		LastActive int64  `db:"last_active"`
	}
	err := db.reader.SelectContext(ctx, &rows,
		`SELECT "user", room, addr, listener, since, last_active FROM online_sessions ORDER BY "user", id`)
	if err != nil {
		return nil, fmt.Errorf("read online sessions: %w", err)
	}
	out := make([]chatd.OnlineSession, len(rows))
	for i, r := range rows {
		out[i] = chatd.OnlineSession{User: r.User, Room: r.Room, Addr: r.Addr, Listener: r.Listener,
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
