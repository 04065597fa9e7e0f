package db

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Mentions (chatd.MentionStore): room_history.mentions keeps whom a line
// marks, for showing it; room_mentions the same as one row per marked
// user, for finding a user's mentions. Both are written with the line
// (addMentions, inside AppendHistoryBatch).

// MembersNamed; see chatd.MentionStore. One look-up through the users'
// name keys and the membership index, however many names.
func (db *DB) MembersNamed(ctx context.Context, room string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(names)+1)
	args = append(args, chatd.Key(room))
	for _, n := range names {
		args = append(args, chatd.Key(n))
	}
	q := `SELECT u.name FROM users u
		JOIN room_members m ON m.user_id = u.id
		JOIN rooms r ON r.id = m.room_id
		WHERE r.name_key = ? AND u.name_key IN (` + placeholders(len(names)) + `)`
	var out []string
	if err := db.reader.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("look up the members of %s named in a line: %w", room, err)
	}
	return out, nil
}

// addMentions records that the stored line mid of room rid marks each of
// users (registered spellings; those deleted meanwhile are skipped).
func addMentions(ctx context.Context, tx *dbTx, rid int64, mid string, users []string) error {
	args := make([]any, 0, len(users)+2)
	args = append(args, rid, mid)
	for _, u := range users {
		args = append(args, chatd.Key(u))
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO room_mentions (user_id, line_id)
		SELECT u.id, h.id FROM room_history h, users u
		WHERE h.room_id = ? AND h.mid = ? AND u.name_key IN (`+placeholders(len(users))+`)
		ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return fmt.Errorf("record the mentions of line %s: %w", mid, err)
	}
	return nil
}

// mentionsOf is the one place that says which lines count as a user's
// mentions: the lines that marked them (m), in rooms they are still a
// member of (rm), with the line (h) and its room (r). Its one argument is
// the user's id. A condition on the line itself (say, leaving out lines
// deleted since) belongs at the end of this WHERE, and then holds for the
// list and the welcome's count alike.
const mentionsOf = `room_mentions m
	JOIN room_history h ON h.id = m.line_id
	JOIN room_members rm ON rm.room_id = h.room_id AND rm.user_id = m.user_id
	JOIN rooms r ON r.id = h.room_id
	WHERE m.user_id = ? AND NOT h.deleted`

// Mentions; see chatd.MentionStore.
func (db *DB) Mentions(ctx context.Context, user, before string, n int) ([]chatd.Mention, bool, error) {
	uid, err := userID(ctx, db.read(), user)
	if err != nil {
		return nil, false, err
	}
	if n <= 0 {
		return nil, false, nil
	}
	q := `SELECT r.name AS room, h.id, h.sender, h.body, h.ts, h.action, h.mid, h.mentions, h.reply_to, h.edited, h.deleted FROM ` + mentionsOf
	args := []any{uid}
	if before != "" {
		q += ` AND h.mid < ?`
		args = append(args, before)
	}
	q += ` ORDER BY h.mid DESC LIMIT ?`
	args = append(args, n+1)
	var rows []struct {
		Room string `db:"room"`
		historyRow
	}
	if err := db.reader.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, false, fmt.Errorf("read the mentions of %s: %w", user, err)
	}
	more := len(rows) > n
	if more {
		rows = rows[:n]
	}
	hrows := make([]historyRow, len(rows))
	for i, r := range rows {
		hrows[i] = r.historyRow
	}
	lines, err := db.historyLines(ctx, "room_line", hrows)
	if err != nil {
		return nil, false, err
	}
	out := make([]chatd.Mention, len(rows))
	for i, r := range rows {
		out[i] = chatd.Mention{Room: r.Room, Line: lines[i]}
	}
	return out, more, nil
}

// UnreadMentions; see chatd.MentionStore. A room the user has no marker
// in counts every mention in it.
func (db *DB) UnreadMentions(ctx context.Context, user string) (int, error) {
	uid, err := userID(ctx, db.read(), user)
	if err != nil {
		return 0, err
	}
	var n int
	err = sqlx.GetContext(ctx, db.read(), &n, `SELECT count(*) FROM (SELECT 1 FROM `+mentionsOf+`
		AND h.mid > coalesce((SELECT k.mid FROM read_markers k WHERE k.user_id = m.user_id AND k.conv = '#' || r.name), '')
		LIMIT ?) AS t`, uid, chatd.UnreadCap)
	if err != nil {
		return 0, fmt.Errorf("count the unread mentions of %s: %w", user, err)
	}
	return n, nil
}
