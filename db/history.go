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

// AppendHistoryBatch stores lines in one transaction, so a busy server pays
// one commit per batch instead of one per chat line. Each room touched is
// trimmed once, at the end. Rooms closed meanwhile are skipped.
func (db *DB) AppendHistoryBatch(ctx context.Context, lines []chatd.RoomLine, keep int) error {
	if keep <= 0 || len(lines) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ids := map[string]int64{} // chatd.Key(room) -> id, or -1 when gone
	var order []int64
	for _, rl := range lines {
		k := chatd.Key(rl.Room)
		id, ok := ids[k]
		if !ok {
			id, err = roomID(ctx, tx, rl.Room)
			if chatd.ErrorCode(err) == chatd.ENoSuchRoom {
				id = -1
			} else if err != nil {
				return err
			} else {
				order = append(order, id)
			}
			ids[k] = id
		}
		if id < 0 {
			continue
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO room_history (room_id, sender, body, ts) VALUES (?, ?, ?, ?)`,
			id, rl.Line.From, rl.Line.Text, millis(db.orNow(rl.Line.Time)))
		if err != nil {
			return fmt.Errorf("append to the history of %s: %w", rl.Room, err)
		}
	}
	for _, id := range order {
		if err := trimHistory(ctx, tx, id, keep); err != nil {
			return err
		}
	}
	return commit(tx, "append room history")
}

func trimHistory(ctx context.Context, tx *sqlx.Tx, id int64, keep int) error {
	_, err := tx.ExecContext(ctx,
		`DELETE FROM room_history WHERE room_id = ? AND id NOT IN
		   (SELECT id FROM room_history WHERE room_id = ? ORDER BY id DESC LIMIT ?)`,
		id, id, keep)
	if err != nil {
		return fmt.Errorf("trim room history: %w", err)
	}
	return nil
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
	return trimHistory(ctx, tx, id, keep)
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
