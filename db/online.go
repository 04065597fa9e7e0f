package db

import (
	"context"
	"fmt"

	"chatd"
)

// SetOnline replaces the online-sessions table with sessions, in one
// transaction. The daemon calls it when who is online changes; nil empties
// the table (at start and at shutdown).
func (db *DB) SetOnline(ctx context.Context, sessions []chatd.OnlineSession) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM online_sessions`); err != nil {
		return fmt.Errorf("write online sessions: %w", err)
	}
	for _, s := range sessions {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO online_sessions ("user", room, addr, listener, since, last_active) VALUES (?, ?, ?, ?, ?, ?)`,
			s.User, s.Room, s.Addr, s.Listener, millis(s.Since), millis(s.LastActive))
		if err != nil {
			return fmt.Errorf("write online sessions: %w", err)
		}
	}
	return commit(tx, "write online sessions")
}

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
