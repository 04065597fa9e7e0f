package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// RecordAttempt stores one login attempt. name need not be a registered user:
// attempts for unknown names are kept too, so a lockout does not reveal which
// names exist. A zero at means now.
func (db *DB) RecordAttempt(ctx context.Context, name, addr string, at time.Time, success bool) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := insertAttempt(ctx, db.write(tx), name, addr, db.orNow(at), success); err != nil {
		return err
	}
	return commit(tx, "record login attempt for "+name)
}

const sqlInsertAttempt = `INSERT INTO login_attempts (name, name_key, addr, ts, success) VALUES (?, ?, ?, ?, ?)`

func insertAttempt(ctx context.Context, q sqlx.ExecerContext, name, addr string, at time.Time, success bool) error {
	_, err := q.ExecContext(ctx, sqlInsertAttempt, name, chatd.Key(name), addr, millis(at), success)
	if err != nil {
		return fmt.Errorf("record login attempt for %s: %w", name, err)
	}
	return nil
}

const sqlAttempts = `SELECT ts, success FROM login_attempts
	WHERE name_key = ? AND ts >= ? AND (? = '' OR addr = ?)
	ORDER BY ts, id`

// Attempts returns the attempts for name in any spelling made at or after
// since, oldest first. An empty addr matches every address.
func (db *DB) Attempts(ctx context.Context, name, addr string, since time.Time) ([]chatd.LoginAttempt, error) {
	var rows []struct {
		TS      int64 `db:"ts"`
		Success bool  `db:"success"`
	}
	err := sqlx.SelectContext(ctx, db.read(), &rows, sqlAttempts, chatd.Key(name), millis(since), addr, addr)
	if err != nil {
		return nil, fmt.Errorf("read login attempts for %s: %w", name, err)
	}
	attempts := make([]chatd.LoginAttempt, len(rows))
	for i, r := range rows {
		attempts[i] = chatd.LoginAttempt{Time: fromMillis(r.TS), Success: r.Success}
	}
	return attempts, nil
}

// PruneAttempts deletes attempts made before before and reports how many
// went. Without it the table would grow with every failed login, and
// failed logins for made-up names cost an attacker nothing but time.
func (db *DB) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	for _, table := range []string{"login_attempts", "room_attempts"} {
		k, err := rowsChanged(ctx, tx, `DELETE FROM `+table+` WHERE ts < ?`, millis(before))
		if err != nil {
			return 0, fmt.Errorf("prune %s: %w", table, err)
		}
		n += k
	}
	return n, commit(tx, "prune login attempts")
}

// RecordRoomAttempt stores one try of user at the password of room. A zero
// at means now.
func (db *DB) RecordRoomAttempt(ctx context.Context, room, user string, at time.Time, success bool) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	uid, err := userID(ctx, tx, user)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO room_attempts (room_id, user_id, ts, success) VALUES (?, ?, ?, ?)`,
		rid, uid, millis(db.orNow(at)), success); err != nil {
		return fmt.Errorf("record password attempt of %s for room %s: %w", user, room, err)
	}
	return commit(tx, "record room password attempt")
}

// RoomAttempts returns the tries of user at the password of room made at or
// after since, oldest first. A room or user that does not exist has none.
func (db *DB) RoomAttempts(ctx context.Context, room, user string, since time.Time) ([]chatd.LoginAttempt, error) {
	var rows []struct {
		TS      int64 `db:"ts"`
		Success bool  `db:"success"`
	}
	err := db.reader.SelectContext(ctx, &rows,
		`SELECT a.ts, a.success FROM room_attempts a
		 JOIN rooms r ON r.id = a.room_id JOIN users u ON u.id = a.user_id
		 WHERE r.name_key = ? AND u.name_key = ? AND a.ts >= ?
		 ORDER BY a.ts, a.id`,
		chatd.Key(room), chatd.Key(user), millis(since))
	if err != nil {
		return nil, fmt.Errorf("read password attempts of %s for room %s: %w", user, room, err)
	}
	attempts := make([]chatd.LoginAttempt, len(rows))
	for i, r := range rows {
		attempts[i] = chatd.LoginAttempt{Time: fromMillis(r.TS), Success: r.Success}
	}
	return attempts, nil
}
