package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// The read markers (chatd.MarkerStore). A marker's id only grows: the
// upsert's WHERE leaves a row alone that is at or past the new id, on
// SQLite and PostgreSQL alike (mid compares bytewise on both: SQLite's
// default BINARY collation, PostgreSQL's "C"). ts is the time (Unix
// milliseconds) a client marked with, 0 for none; it only grows too, and
// is only set when it is past both the stored ts and the stored id's
// clock time (mid below the first id of that millisecond).

const sqlAdvanceMarker = `INSERT INTO read_markers (user_id, conv, mid) VALUES (?, ?, ?)
 ON CONFLICT (user_id, conv) DO UPDATE SET mid = excluded.mid WHERE excluded.mid > read_markers.mid`

const sqlMarkerAt = `INSERT INTO read_markers (user_id, conv, mid, ts) VALUES (?, ?, ?, ?)
 ON CONFLICT (user_id, conv) DO UPDATE SET ts = excluded.ts,
  mid = CASE WHEN excluded.mid > read_markers.mid THEN excluded.mid ELSE read_markers.mid END
 WHERE excluded.ts > read_markers.ts AND read_markers.mid < ?
 RETURNING mid, ts`

// markerRow is a read_markers row's marker.
type markerRow struct {
	MID string `db:"mid"`
	TS  int64  `db:"ts"`
}

// marker is r as user's marker in conv.
func (r markerRow) marker(user, conv string) chatd.ReadMarker {
	m := chatd.ReadMarker{User: user, Conversation: conv, MsgID: r.MID}
	if r.TS != 0 {
		m.At = time.UnixMilli(r.TS)
	}
	return m
}

// SetReadMarker; see chatd.MarkerStore.
func (db *DB) SetReadMarker(ctx context.Context, user, conv, id string) (chatd.ReadMarker, bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return chatd.ReadMarker{}, false, err
	}
	defer tx.Rollback()
	uid, err := userID(ctx, tx, user)
	if err != nil {
		return chatd.ReadMarker{}, false, err
	}
	n, err := rowsChanged(ctx, tx, sqlAdvanceMarker, uid, conv, id)
	if err != nil {
		return chatd.ReadMarker{}, false, fmt.Errorf("move the read marker of %s in %s: %w", user, conv, err)
	}
	cur, err := readMarker(ctx, tx, uid, user, conv)
	if err != nil {
		return chatd.ReadMarker{}, false, err
	}
	if n > 0 {
		return cur, true, commit(tx, "move the read marker of "+user)
	}
	return cur, false, nil
}

// SetReadMarkerAt; see chatd.MarkerStore.
func (db *DB) SetReadMarkerAt(ctx context.Context, user, conv, id string, at time.Time) (chatd.ReadMarker, bool, error) {
	ms := at.UnixMilli()
	if ms <= 0 {
		// Nothing is marked before the epoch; 0 is "no time".
		cur, err := db.ReadMarker(ctx, user, conv)
		return cur, false, err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return chatd.ReadMarker{}, false, err
	}
	defer tx.Rollback()
	uid, err := userID(ctx, tx, user)
	if err != nil {
		return chatd.ReadMarker{}, false, err
	}
	var r markerRow
	err = sqlx.GetContext(ctx, tx, &r, sqlMarkerAt, uid, conv, id, ms, chatd.FormatID(uint64(ms)<<16))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		cur, err := readMarker(ctx, tx, uid, user, conv)
		return cur, false, err
	case err != nil:
		return chatd.ReadMarker{}, false, fmt.Errorf("move the read marker of %s in %s: %w", user, conv, err)
	}
	return r.marker(user, conv), true, commit(tx, "move the read marker of "+user)
}

// ReadMarker; see chatd.MarkerStore.
func (db *DB) ReadMarker(ctx context.Context, user, conv string) (chatd.ReadMarker, error) {
	uid, err := userID(ctx, db.read(), user)
	if err != nil {
		return chatd.ReadMarker{}, err
	}
	return readMarker(ctx, db.read(), uid, user, conv)
}

// readMarker reads the marker of the user uid (named user) in conv.
func readMarker(ctx context.Context, q sqlx.QueryerContext, uid int64, user, conv string) (chatd.ReadMarker, error) {
	var r markerRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT mid, ts FROM read_markers WHERE user_id = ? AND conv = ?`, uid, conv)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return chatd.ReadMarker{}, fmt.Errorf("read the read marker of %s in %s: %w", user, conv, err)
	}
	return r.marker(user, conv), nil
}

// AdvanceMarkers; see chatd.MarkerStore.
func (db *DB) AdvanceMarkers(ctx context.Context, marks []chatd.ReadMarker) error {
	if len(marks) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ids := map[string]int64{}
	for _, m := range marks {
		k := chatd.Key(m.User)
		uid, ok := ids[k]
		if !ok {
			uid, err = userID(ctx, tx, m.User)
			if chatd.ErrorCode(err) == chatd.ENoSuchUser {
				ids[k] = 0
				continue
			}
			if err != nil {
				return err
			}
			ids[k] = uid
		}
		if uid == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, sqlAdvanceMarker, uid, m.Conversation, m.MsgID); err != nil {
			return fmt.Errorf("move the read marker of %s in %s: %w", m.User, m.Conversation, err)
		}
	}
	return commit(tx, "move read markers")
}

// ReadMarkers; see chatd.MarkerStore.
func (db *DB) ReadMarkers(ctx context.Context, user string) (map[string]string, error) {
	uid, err := userID(ctx, db.read(), user)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Conv string `db:"conv"`
		MID  string `db:"mid"`
	}
	if err := sqlx.SelectContext(ctx, db.read(), &rows,
		`SELECT conv, mid FROM read_markers WHERE user_id = ?`, uid); err != nil {
		return nil, fmt.Errorf("read the read markers of %s: %w", user, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Conv] = r.MID
	}
	return out, nil
}

// RoomHasMessage; see chatd.MarkerStore. One lookup in the index
// room_history_mid.
func (db *DB) RoomHasMessage(ctx context.Context, room, id string) (bool, error) {
	rid, err := roomID(ctx, db.read(), room)
	if err != nil {
		return false, err
	}
	var one int
	err = sqlx.GetContext(ctx, db.read(), &one, `SELECT 1 FROM room_history WHERE room_id = ? AND mid = ?`, rid, id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up line %s of %s: %w", id, room, err)
	}
	return true, nil
}

// PrivateHasMessage; see chatd.MarkerStore. One lookup in the index
// private_history_pair.
func (db *DB) PrivateHasMessage(ctx context.Context, user, other, id string) (bool, error) {
	p, err := db.privatePair(ctx, user, other)
	if err != nil {
		return false, err
	}
	var one int
	err = sqlx.GetContext(ctx, db.read(), &one, `SELECT 1 FROM private_history WHERE user_lo = ? AND user_hi = ? AND mid = ?`, p.lo, p.hi, id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up message %s of %s and %s: %w", id, user, other, err)
	}
	return true, nil
}

// UnreadCounts; see chatd.MarkerStore. Each conversation is counted
// through its id index (room_history_mid, private_history_pair) from the
// marker on, and the count stops at chatd.UnreadCap+1 rows, so a long
// unread history costs no more than that.
func (db *DB) UnreadCounts(ctx context.Context, user string, convs []string) ([]chatd.Unread, error) {
	marks, err := db.ReadMarkers(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]chatd.Unread, 0, len(convs))
	for _, conv := range convs {
		u := chatd.Unread{Conversation: conv}
		var n int
		var err error
		switch {
		case len(conv) > 1 && conv[0] == '#':
			n, err = db.roomUnread(ctx, conv[1:], user, marks[conv])
		case len(conv) > 1 && conv[0] == '@':
			n, err = db.privateUnread(ctx, user, conv[1:], marks[conv])
		}
		if err != nil {
			return nil, err
		}
		u.Count, u.More = min(n, chatd.UnreadCap), n > chatd.UnreadCap
		out = append(out, u)
	}
	return out, nil
}

// privateUnread counts up to chatd.UnreadCap+1 messages of user's
// conversation with other after the id after that were not sent by user.
func (db *DB) privateUnread(ctx context.Context, user, other, after string) (int, error) {
	p, err := db.privatePair(ctx, user, other)
	if chatd.ErrorCode(err) == chatd.ENoSuchUser {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int
	err = sqlx.GetContext(ctx, db.read(), &n, `SELECT count(*) FROM (SELECT 1 FROM private_history
 WHERE user_lo = ? AND user_hi = ? AND mid > ? AND sender <> ? AND kind = '' ORDER BY mid LIMIT ?) AS t`, p.lo, p.hi, after, user, chatd.UnreadCap+1)
	if err != nil {
		return 0, fmt.Errorf("count unread messages of %s and %s: %w", user, other, err)
	}
	return n, nil
}

// roomUnread counts up to chatd.UnreadCap+1 lines of room after the id
// after that were not sent by user.
func (db *DB) roomUnread(ctx context.Context, room, user, after string) (int, error) {
	rid, err := roomID(ctx, db.read(), room)
	if chatd.ErrorCode(err) == chatd.ENoSuchRoom {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int
	err = sqlx.GetContext(ctx, db.read(), &n, `SELECT count(*) FROM (SELECT 1 FROM room_history
 WHERE room_id = ? AND mid > ? AND sender <> ? AND kind = '' ORDER BY mid LIMIT ?) AS t`, rid, after, user, chatd.UnreadCap+1)
	if err != nil {
		return 0, fmt.Errorf("count unread lines of %s: %w", room, err)
	}
	return n, nil
}
