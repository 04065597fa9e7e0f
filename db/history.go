package db

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// AppendHistory adds l to the history of room and drops all but the newest
// keep lines, in one transaction. With keep <= 0 the room keeps no history:
// l is not stored and older lines are removed. A zero l.Time means now.
func (db *DB) AppendHistory(ctx context.Context, room string, l chatd.HistoryLine, keep int) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	l.Time = db.orNow(l.Time)
	if err := appendHistory(ctx, tx, room, l, keep); err != nil {
		return err
	}
	return commit(tx, "append to the history of "+room)
}

func appendHistory(ctx context.Context, tx *sqlx.Tx, room string, l chatd.HistoryLine, keep int) error {
	id, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	keep = max(keep, 0)
	if keep > 0 {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO room_history (room_id, sender, body, ts) VALUES (?, ?, ?, ?)`,
			id, l.From, l.Text, millis(l.Time))
		if err != nil {
			return fmt.Errorf("append to the history of %s: %w", room, err)
		}
	}
	_, err = tx.ExecContext(ctx,
		`DELETE FROM room_history WHERE room_id = ? AND id NOT IN
		   (SELECT id FROM room_history WHERE room_id = ? ORDER BY id DESC LIMIT ?)`,
		id, id, keep)
	if err != nil {
		return fmt.Errorf("trim the history of %s: %w", room, err)
	}
	return nil
}

// History returns the newest n lines of room, oldest first.
func (db *DB) History(ctx context.Context, room string, n int) ([]chatd.HistoryLine, error) {
	id, err := roomID(ctx, db.reader, room)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	var rows []struct {
		Sender string `db:"sender"`
		Body   string `db:"body"`
		TS     int64  `db:"ts"`
	}
	err = db.reader.SelectContext(ctx, &rows,
		`SELECT sender, body, ts FROM room_history WHERE room_id = ? ORDER BY id DESC LIMIT ?`, id, n)
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", room, err)
	}
	lines := make([]chatd.HistoryLine, len(rows))
	for i, r := range rows {
		lines[i] = chatd.HistoryLine{From: r.Sender, Text: r.Body, Time: fromMillis(r.TS)}
	}
	slices.Reverse(lines)
	return lines, nil
}
