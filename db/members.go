package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Room membership (PROTOCOL.md 9.3): the rooms each account is in, whether
// or not it is online.

// AddMember makes user a member of room as of at, unless they already are.
// It fails with ETooManyRooms when user is a member of max rooms already
// (max <= 0: no limit). The count and the insert are one transaction, on
// the one writer (SQLite) or under the user's lock (PostgreSQL), so two
// joins at once cannot both take the last place.
func (db *DB) AddMember(ctx context.Context, user, room string, at time.Time, max int) error {
	return db.AddMemberWithin(ctx, user, room, at, max, 0)
}

// AddMemberWithin is AddMember that also fails with ERoomFull when room
// has limit members already (limit <= 0: no limit; its +l), counted in
// the same transaction, under the room's lock on PostgreSQL.
func (db *DB) AddMemberWithin(ctx context.Context, user, room string, at time.Time, max, limit int) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	uid, err := userID(ctx, tx, user)
	if err != nil {
		return err
	}
	rid, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	if err := tx.serialize(ctx, "members:"+chatd.Key(user)); err != nil {
		return err
	}
	var in int
	if err := tx.GetContext(ctx, &in, `SELECT count(*) FROM room_members WHERE user_id = ? AND room_id = ?`, uid, rid); err != nil {
		return fmt.Errorf("read membership of %s in %s: %w", user, room, err)
	}
	if in > 0 {
		return nil
	}
	if max > 0 {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM room_members WHERE user_id = ?`, uid); err != nil {
			return fmt.Errorf("count rooms of %s: %w", user, err)
		}
		if n >= max {
			return chatd.Errorf(chatd.ETooManyRooms,
				"you are in %d rooms, the most anyone may be in (rooms.max_joined); leave one first", n)
		}
	}
	if limit > 0 {
		if err := tx.serialize(ctx, "room members:"+chatd.Key(room)); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM room_members WHERE room_id = ?`, rid); err != nil {
			return fmt.Errorf("count the members of %s: %w", room, err)
		}
		if n >= limit {
			return chatd.Errorf(chatd.ERoomFull, "%s is full: it has %d members, its limit; ask one of its operators for an invitation", room, n)
		}
	}
	if err := addMember(ctx, tx, uid, rid, db.orNow(at)); err != nil {
		return fmt.Errorf("add %s to %s: %w", user, room, err)
	}
	return commit(tx, "add "+user+" to "+room)
}

func addMember(ctx context.Context, tx *dbTx, uid, rid int64, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO room_members (user_id, room_id, joined_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, uid, rid, millis(at))
	return err
}

// RemoveMember ends user's membership of room and reports whether there
// was one. An unknown user or room has none.
func (db *DB) RemoveMember(ctx context.Context, user, room string) (bool, error) {
	n, err := rowsChanged(ctx, db.writer, `DELETE FROM room_members
		WHERE user_id = (SELECT id FROM users WHERE name_key = ?) AND room_id = (SELECT id FROM rooms WHERE name_key = ?)`,
		chatd.Key(user), chatd.Key(room))
	if err != nil {
		return false, fmt.Errorf("remove %s from %s: %w", user, room, err)
	}
	return n > 0, nil
}

// MemberRooms lists the rooms of user, the one joined first first.
func (db *DB) MemberRooms(ctx context.Context, user string) ([]string, error) {
	var rooms []string
	err := sqlx.SelectContext(ctx, db.read(), &rooms, `SELECT r.name FROM room_members m
		JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
		WHERE u.name_key = ? ORDER BY m.joined_at, m.id`, chatd.Key(user))
	if err != nil {
		return nil, fmt.Errorf("read the rooms of %s: %w", user, err)
	}
	return rooms, nil
}
