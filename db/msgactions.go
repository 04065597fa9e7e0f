package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Message actions (chatd.MessageActionStore): edits, deletions and
// reactions of stored lines. A room line is one row of room_history; a
// private message is a row of private_history in each conversation it
// went to. The edit log (message_edits) and the reactions
// (message_reactions) point at those rows and go with them.

// lineRow is a stored line as the message actions read it.
type lineRow struct {
	ID         int64         `db:"id"`
	Room       string        `db:"room"`
	Lo         int64         `db:"user_lo"`
	Hi         int64         `db:"user_hi"`
	Sender     string        `db:"sender"`
	Recipients string        `db:"recipients"`
	Body       string        `db:"body"`
	TS         int64         `db:"ts"`
	Action     bool          `db:"action"`
	MID        string        `db:"mid"`
	ReplyTo    string        `db:"reply_to"`
	Edited     sql.NullInt64 `db:"edited"`
	Deleted    bool          `db:"deleted"`
	Kind       string        `db:"kind"`
}

func (r *lineRow) line() chatd.HistoryLine {
	return chatd.HistoryLine{MsgID: r.MID, From: r.Sender, Text: r.Body, Time: fromMillis(r.TS), Action: r.Action,
		Recipients: r.Recipients, ReplyTo: r.ReplyTo, Edited: fromNullMillis(r.Edited), Deleted: r.Deleted, Kind: r.Kind}
}

const (
	sqlRoomLineByMID = `SELECT h.id, r.name AS room, 0 AS user_lo, 0 AS user_hi, h.sender, '' AS recipients, h.body, h.ts,
	    h.action, h.mid, h.reply_to, h.edited, h.deleted, h.kind
	FROM room_history h JOIN rooms r ON r.id = h.room_id`
	sqlPrivateLineByMID = `SELECT h.id, '' AS room, h.user_lo, h.user_hi, h.sender, h.recipients, h.body, h.ts,
	    false AS action, h.mid, h.reply_to, h.edited, h.deleted, h.kind
	FROM private_history h`
)

func noSuchMessage(id string) error {
	return chatd.Errorf(chatd.ENoSuchMessage, "there is no message %s that you can act on", id)
}

// FindMessage; see chatd.MessageActionStore. Message ids are unique on the
// server, so an id is in one room, or in the conversations of one
// private message; both are found through the index of ids.
func (db *DB) FindMessage(ctx context.Context, user, id string) (chatd.StoredMessage, error) {
	q := db.read()
	var r lineRow
	err := sqlx.GetContext(ctx, q, &r, sqlRoomLineByMID+` WHERE h.mid = ? LIMIT 1`, id)
	if err == nil {
		return chatd.StoredMessage{Ref: chatd.MessageRef{ID: id, Room: r.Room}, Line: r.line()}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return chatd.StoredMessage{}, fmt.Errorf("look up message %s: %w", id, err)
	}
	uid, err := userID(ctx, q, user)
	if err != nil {
		return chatd.StoredMessage{}, err
	}
	err = sqlx.GetContext(ctx, q, &r, sqlPrivateLineByMID+` WHERE h.mid = ? AND (h.user_lo = ? OR h.user_hi = ?) ORDER BY h.id LIMIT 1`,
		id, uid, uid)
	if errors.Is(err, sql.ErrNoRows) {
		return chatd.StoredMessage{}, noSuchMessage(id)
	}
	if err != nil {
		return chatd.StoredMessage{}, fmt.Errorf("look up message %s: %w", id, err)
	}
	other := r.Lo
	if other == uid {
		other = r.Hi
	}
	var with string
	if err := sqlx.GetContext(ctx, q, &with, `SELECT name FROM users WHERE id = ?`, other); err != nil {
		return chatd.StoredMessage{}, fmt.Errorf("look up message %s: %w", id, err)
	}
	return chatd.StoredMessage{Ref: chatd.MessageRef{ID: id, User: user, With: with}, Line: r.line()}, nil
}

// LastMessage; see chatd.MessageActionStore. It walks the room's newest
// lines through room_history_mid.
func (db *DB) LastMessage(ctx context.Context, room, user string) (chatd.StoredMessage, error) {
	q := db.read()
	rid, err := roomID(ctx, q, room)
	if err != nil {
		return chatd.StoredMessage{}, err
	}
	var r lineRow
	err = sqlx.GetContext(ctx, q, &r, sqlRoomLineByMID+` WHERE h.room_id = ? AND h.sender = ? AND NOT h.deleted AND h.kind = ''
		ORDER BY h.mid DESC LIMIT 1`, rid, user)
	if errors.Is(err, sql.ErrNoRows) {
		return chatd.StoredMessage{}, chatd.Errorf(chatd.ENoSuchMessage, "you have no message in %s to act on", room)
	}
	if err != nil {
		return chatd.StoredMessage{}, fmt.Errorf("look up your last line in %s: %w", room, err)
	}
	return chatd.StoredMessage{Ref: chatd.MessageRef{ID: r.MID, Room: r.Room}, Line: r.line()}, nil
}

// lineTarget is which rows an action changes, and the column of the edit
// log and of the reactions that points at them.
type lineTarget struct {
	table, col string
	rows       []lineRow
}

// targetRows reads, in tx, the rows of the message ref points to: a room
// line, or with all set every conversation's copy of a private message
// that ref.User is a side of (for an edit or deletion by its sender),
// else the copy in the conversation of ref.User and ref.With.
func targetRows(ctx context.Context, tx *dbTx, ref chatd.MessageRef, all bool) (lineTarget, error) {
	var t lineTarget
	if ref.Room != "" {
		t.table, t.col = "room_history", "room_line"
		rid, err := roomID(ctx, tx, ref.Room)
		if err != nil {
			return t, err
		}
		err = tx.SelectContext(ctx, &t.rows, sqlRoomLineByMID+` WHERE h.room_id = ? AND h.mid = ?`, rid, ref.ID)
		if err != nil {
			return t, fmt.Errorf("look up message %s: %w", ref.ID, err)
		}
	} else {
		t.table, t.col = "private_history", "private_line"
		uid, err := userID(ctx, tx, ref.User)
		if err != nil {
			return t, err
		}
		if all {
			err = tx.SelectContext(ctx, &t.rows, sqlPrivateLineByMID+` WHERE h.mid = ? AND (h.user_lo = ? OR h.user_hi = ?) ORDER BY h.id`,
				ref.ID, uid, uid)
		} else {
			var oid int64
			if oid, err = userID(ctx, tx, ref.With); err != nil {
				return t, err
			}
			p := pairOf(uid, oid)
			err = tx.SelectContext(ctx, &t.rows, sqlPrivateLineByMID+` WHERE h.user_lo = ? AND h.user_hi = ? AND h.mid = ?`,
				p.lo, p.hi, ref.ID)
		}
		if err != nil {
			return t, fmt.Errorf("look up message %s: %w", ref.ID, err)
		}
	}
	if len(t.rows) == 0 || t.rows[0].Deleted {
		return t, noSuchMessage(ref.ID)
	}
	return t, nil
}

// EditMessage; see chatd.MessageActionStore. SQLite's full-text index
// follows through the update triggers; PostgreSQL's words are written
// here.
func (db *DB) EditMessage(ctx context.Context, ref chatd.MessageRef, by, text string, at time.Time) error {
	return db.changeMessage(ctx, ref, by, text, false, db.orNow(at))
}

// DeleteMessage; see chatd.MessageActionStore.
func (db *DB) DeleteMessage(ctx context.Context, ref chatd.MessageRef, by string, at time.Time) error {
	return db.changeMessage(ctx, ref, by, "", true, db.orNow(at))
}

func (db *DB) changeMessage(ctx context.Context, ref chatd.MessageRef, by, text string, del bool, at time.Time) error {
	what := "edit"
	if del {
		what = "delete"
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t, err := targetRows(ctx, tx, ref, true)
	if err != nil {
		return err
	}
	for _, r := range t.rows {
		set, args := `body = ?, edited = ?`, []any{text, millis(at)}
		if del {
			set, args = `body = '', deleted = ?`, []any{true}
		}
		if db.pg {
			set += `, words = ?`
			args = append(args, searchWords(text))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+t.table+` SET `+set+` WHERE id = ?`, append(args, r.ID)...); err != nil {
			return fmt.Errorf("%s message %s: %w", what, ref.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO message_edits (`+t.col+`, editor, old_body, new_body, deleted, ts)
			VALUES (?, ?, ?, ?, ?, ?)`, r.ID, by, r.Body, text, del, millis(at)); err != nil {
			return fmt.Errorf("%s message %s: log: %w", what, ref.ID, err)
		}
		if del {
			if _, err := tx.ExecContext(ctx, `DELETE FROM message_reactions WHERE `+t.col+` = ?`, r.ID); err != nil {
				return fmt.Errorf("%s message %s: reactions: %w", what, ref.ID, err)
			}
		}
	}
	if ref.Room == "" {
		// The offline mail not yet delivered is delivered as it stands
		// now, or (deleted) not at all; the last recipient row takes its
		// letter with it (offline_messages_last).
		if del {
			_, err = tx.ExecContext(ctx, `DELETE FROM offline_messages WHERE letter IN (SELECT id FROM letters WHERE mid = ?)`, ref.ID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE letters SET body = ? WHERE mid = ?`, text, ref.ID)
		}
		if err != nil {
			return fmt.Errorf("%s message %s: offline mail: %w", what, ref.ID, err)
		}
	}
	return commit(tx, what+" message "+ref.ID)
}

// React; see chatd.MessageActionStore.
func (db *DB) React(ctx context.Context, ref chatd.MessageRef, user, reaction string, on bool, at time.Time) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	t, err := targetRows(ctx, tx, ref, false)
	if err != nil {
		return false, err
	}
	uid, err := userID(ctx, tx, user)
	if err != nil {
		return false, err
	}
	line := t.rows[0].ID
	if !on {
		n, err := rowsChanged(ctx, tx, `DELETE FROM message_reactions WHERE `+t.col+` = ? AND user_id = ? AND reaction = ?`, line, uid, reaction)
		if err != nil {
			return false, fmt.Errorf("take a reaction off message %s: %w", ref.ID, err)
		}
		return n > 0, commit(tx, "take a reaction off message "+ref.ID)
	}
	var have []struct {
		User     int64  `db:"user_id"`
		Reaction string `db:"reaction"`
	}
	if err := tx.SelectContext(ctx, &have, `SELECT user_id, reaction FROM message_reactions WHERE `+t.col+` = ?`, line); err != nil {
		return false, fmt.Errorf("react to message %s: %w", ref.ID, err)
	}
	kinds, mine, known := map[string]bool{}, 0, false
	for _, h := range have {
		kinds[h.Reaction] = true
		if h.User == uid {
			if h.Reaction == reaction {
				return false, nil // there already
			}
			mine++
		}
		known = known || h.Reaction == reaction
	}
	if !known && len(kinds) >= chatd.MaxReactionKinds {
		return false, chatd.Errorf(chatd.ENotPermitted, "message %s has %d different reactions already, the most it may have", ref.ID, chatd.MaxReactionKinds)
	}
	if mine >= chatd.MaxReactionsPerUser {
		return false, chatd.Errorf(chatd.ENotPermitted, "you have %d reactions on message %s already, the most one user may give", chatd.MaxReactionsPerUser, ref.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO message_reactions (`+t.col+`, user_id, reaction, created) VALUES (?, ?, ?, ?)`,
		line, uid, reaction, millis(db.orNow(at))); err != nil {
		return false, fmt.Errorf("react to message %s: %w", ref.ID, err)
	}
	return true, commit(tx, "react to message "+ref.ID)
}

// MessageEdits; see chatd.MessageActionStore.
func (db *DB) MessageEdits(ctx context.Context, ref chatd.MessageRef, n int) ([]chatd.MessageEdit, error) {
	q := db.read()
	var cond string
	var args []any
	var join string
	if ref.Room != "" {
		rid, err := roomID(ctx, q, ref.Room)
		if err != nil {
			return nil, err
		}
		join, cond, args = `room_history h ON h.id = e.room_line`, `h.room_id = ?`, []any{rid}
	} else {
		p, err := db.privatePair(ctx, ref.User, ref.With)
		if err != nil {
			return nil, err
		}
		join, cond, args = `private_history h ON h.id = e.private_line`, `h.user_lo = ? AND h.user_hi = ?`, []any{p.lo, p.hi}
	}
	var rows []struct {
		MID     string `db:"mid"`
		Sender  string `db:"sender"`
		Editor  string `db:"editor"`
		Old     string `db:"old_body"`
		New     string `db:"new_body"`
		Deleted bool   `db:"deleted"`
		TS      int64  `db:"ts"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT h.mid, h.sender, e.editor, e.old_body, e.new_body, e.deleted, e.ts
		FROM message_edits e JOIN `+join+` WHERE `+cond+` ORDER BY e.id DESC LIMIT ?`, append(args, n)...)
	if err != nil {
		return nil, fmt.Errorf("read the edits: %w", err)
	}
	out := make([]chatd.MessageEdit, len(rows))
	for i, r := range rows {
		out[len(rows)-1-i] = chatd.MessageEdit{ID: r.MID, From: r.Sender, By: r.Editor, Old: r.Old, New: r.New,
			Deleted: r.Deleted, Time: fromMillis(r.TS)}
	}
	return out, nil
}

// withReactions fills in the reactions of lines, whose rows (ids) are in
// table (room_history or private_history): one query for them all.
func (db *DB) withReactions(ctx context.Context, col string, ids []int64, lines []chatd.HistoryLine) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var rows []struct {
		Line     int64  `db:"line"`
		User     string `db:"name"`
		Reaction string `db:"reaction"`
	}
	err := sqlx.SelectContext(ctx, db.reader, &rows, `SELECT r.`+col+` AS line, u.name, r.reaction
		FROM message_reactions r JOIN users u ON u.id = r.user_id
		WHERE r.`+col+` IN (`+placeholders(len(ids))+`) ORDER BY r.id`, args...)
	if err != nil {
		return fmt.Errorf("read reactions: %w", err)
	}
	for _, r := range rows {
		if i := slices.Index(ids, r.Line); i >= 0 {
			lines[i].Reactions = lines[i].Reactions.With(r.Reaction, r.User, true)
		}
	}
	return nil
}
