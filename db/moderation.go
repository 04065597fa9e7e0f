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

// SetRoomTopic sets the topic of room ("" clears it).
func (db *DB) SetRoomTopic(ctx context.Context, room, topic string) error {
	return db.updateRoom(ctx, room, "set the topic of", `UPDATE rooms SET topic = ? WHERE id = ?`, topic)
}

// SetRoomTopicBy sets the topic of room as set by by at at.
func (db *DB) SetRoomTopicBy(ctx context.Context, room, topic, by string, at time.Time) error {
	return db.updateRoom(ctx, room, "set the topic of", `UPDATE rooms SET topic = ?, topic_by = ?, topic_at = ? WHERE id = ?`,
		topic, by, millis(db.orNow(at)))
}

// SetRoomPassword sets the password hash of room ("" removes the password).
func (db *DB) SetRoomPassword(ctx context.Context, room, passHash string) error {
	return db.updateRoom(ctx, room, "set the password of", `UPDATE rooms SET pass_hash = ? WHERE id = ?`, passHash)
}

// SetRoomOwner gives room to owner, stored in owner's registered spelling.
func (db *DB) SetRoomOwner(ctx context.Context, room, owner string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var name string
	err = tx.GetContext(ctx, &name, `SELECT name FROM users WHERE name_key = ?`, chatd.Key(owner))
	if errors.Is(err, sql.ErrNoRows) {
		return noSuchUser(owner)
	} else if err != nil {
		return fmt.Errorf("look up user %s: %w", owner, err)
	}
	id, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET owner = ?, owner_key = ? WHERE id = ?`, name, chatd.Key(name), id); err != nil {
		return fmt.Errorf("give room %s to %s: %w", room, name, err)
	}
	return commit(tx, "give room "+room+" to "+name)
}

// updateRoom runs one UPDATE of the room called room; query takes vals,
// then the room's id.
func (db *DB) updateRoom(ctx context.Context, room, what, query string, vals ...any) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, query, append(vals, id)...); err != nil {
		return fmt.Errorf("%s room %s: %w", what, room, err)
	}
	return commit(tx, what+" room "+room)
}

// roomUserIDs resolves a room and a user name in tx.
func roomUserIDs(ctx context.Context, q sqlx.QueryerContext, room, user string) (rid, uid int64, err error) {
	if rid, err = roomID(ctx, q, room); err != nil {
		return 0, 0, err
	}
	if uid, err = userID(ctx, q, user); err != nil {
		return 0, 0, err
	}
	return rid, uid, nil
}

// RoomBan keeps b.User out of b.Room, replacing a room ban already there.
// A zero b.Created means now; a zero b.Expires makes it for good.
func (db *DB) RoomBan(ctx context.Context, b chatd.RoomBan) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, uid, err := roomUserIDs(ctx, tx, b.Room, b.User)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO room_bans (room_id, user_id, "by", created, expires) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (room_id, user_id) DO UPDATE SET
		   "by" = excluded."by", created = excluded.created, expires = excluded.expires`,
		rid, uid, b.By, millis(db.orNow(b.Created)), nullMillis(b.Expires))
	if err != nil {
		return fmt.Errorf("ban %s from room %s: %w", b.User, b.Room, err)
	}
	// An invitation does not outlive a ban.
	if _, err := tx.ExecContext(ctx, `DELETE FROM room_invites WHERE room_id = ? AND user_id = ?`, rid, uid); err != nil {
		return fmt.Errorf("ban %s from room %s: %w", b.User, b.Room, err)
	}
	return commit(tx, "ban "+b.User+" from room "+b.Room)
}

// RoomUnban lifts the room ban of user in room; EBadArgs when there is none
// (expired ones included).
func (db *DB) RoomUnban(ctx context.Context, room, user string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, uid, err := roomUserIDs(ctx, tx, room, user)
	if err != nil {
		return err
	}
	n, err := rowsChanged(ctx, tx, `DELETE FROM room_bans WHERE room_id = ? AND user_id = ?`, rid, uid)
	if err != nil {
		return fmt.Errorf("lift the room ban of %s in %s: %w", user, room, err)
	}
	if n == 0 {
		return chatd.Errorf(chatd.EBadArgs, "%s is not banned from %s", user, room)
	}
	return commit(tx, "lift the room ban of "+user+" in "+room)
}

const sqlRoomBanOf = `SELECT r.name AS room, u.name, b."by", b.created, b.expires
	FROM room_bans b JOIN rooms r ON r.id = b.room_id JOIN users u ON u.id = b.user_id
	WHERE b.room_id = ? AND b.user_id = ?`

// RoomBanOf returns the ban of user in room, expired or not, or nil.
func (db *DB) RoomBanOf(ctx context.Context, room, user string) (*chatd.RoomBan, error) {
	var r struct {
		Room    string        `db:"room"`
		User    string        `db:"name"`
		By      string        `db:"by"`
		Created int64         `db:"created"`
		Expires sql.NullInt64 `db:"expires"`
	}
	rid, uid, err := roomUserIDs(ctx, db.read(), room, user)
	if err != nil {
		return nil, err
	}
	err = sqlx.GetContext(ctx, db.read(), &r, sqlRoomBanOf, rid, uid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the room ban of %s in %s: %w", user, room, err)
	}
	return &chatd.RoomBan{Room: r.Room, User: r.User, By: r.By, Created: fromMillis(r.Created), Expires: fromNullMillis(r.Expires)}, nil
}

// Invite lets user join room once without its password. Inviting again
// renews the invitation.
func (db *DB) Invite(ctx context.Context, room, user, by string, at time.Time) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, uid, err := roomUserIDs(ctx, tx, room, user)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO room_invites (room_id, user_id, "by", created) VALUES (?, ?, ?, ?)
		 ON CONFLICT (room_id, user_id) DO UPDATE SET "by" = excluded."by", created = excluded.created`,
		rid, uid, by, millis(db.orNow(at)))
	if err != nil {
		return fmt.Errorf("invite %s to room %s: %w", user, room, err)
	}
	return commit(tx, "invite "+user+" to room "+room)
}

// InvitesOf lists the rooms user has an invitation to, oldest first.
func (db *DB) InvitesOf(ctx context.Context, user string) ([]string, error) {
	var rooms []string
	err := sqlx.SelectContext(ctx, db.read(), &rooms, `SELECT r.name FROM room_invites i
		JOIN rooms r ON r.id = i.room_id JOIN users u ON u.id = i.user_id
		WHERE u.name_key = ? ORDER BY i.created, r.name`, chatd.Key(user))
	if err != nil {
		return nil, fmt.Errorf("read the invitations of %s: %w", user, err)
	}
	return rooms, nil
}

// UseInvite consumes the invitation of user to room and reports whether
// there was one.
func (db *DB) UseInvite(ctx context.Context, room, user string) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	rid, uid, err := roomUserIDs(ctx, tx, room, user)
	if err != nil {
		return false, err
	}
	n, err := rowsChanged(ctx, tx, `DELETE FROM room_invites WHERE room_id = ? AND user_id = ?`, rid, uid)
	if err != nil {
		return false, fmt.Errorf("use the invitation of %s to %s: %w", user, room, err)
	}
	if err := commit(tx, "use the invitation of "+user+" to "+room); err != nil {
		return false, err
	}
	return n > 0, nil
}
