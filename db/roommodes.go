package db

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Room modes (roommode): a room's flags and member limit, its members'
// roles, and its bans by mask.

// SetRoomModes sets room's flags (chatd.RoomFlags letters, stored in
// their order) and member limit (<= 0: none).
func (db *DB) SetRoomModes(ctx context.Context, room, modes string, limit int) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET modes = ?, member_limit = ? WHERE id = ?`,
		chatd.NormalModes(modes), max(limit, 0), id); err != nil {
		return fmt.Errorf("set the modes of room %s: %w", room, err)
	}
	return commit(tx, "set the modes of room "+room)
}

// SetMemberRole gives user, a member of room, roles (chatd.RoleOp and
// chatd.RoleVoice letters, "" for none). ENotInRoom when user is no
// member of room.
func (db *DB) SetMemberRole(ctx context.Context, room, user, roles string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, uid, err := roomUserIDs(ctx, tx, room, user)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE room_members SET role = ? WHERE room_id = ? AND user_id = ?`, roles, rid, uid)
	if err != nil {
		return fmt.Errorf("set the role of %s in %s: %w", user, room, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set the role of %s in %s: %w", user, room, err)
	} else if n == 0 {
		return chatd.Errorf(chatd.ENotInRoom, "%s is not a member of %s", user, room)
	}
	return commit(tx, "set the role of "+user+" in "+room)
}

// MemberRoles returns the roles of room's members that have one, by
// their registered names.
func (db *DB) MemberRoles(ctx context.Context, room string) (map[string]string, error) {
	var rows []struct {
		Name string `db:"name"`
		Role string `db:"role"`
	}
	err := sqlx.SelectContext(ctx, db.read(), &rows, `SELECT u.name, m.role FROM room_members m
		JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
		WHERE r.name_key = ? AND m.role != ''`, chatd.Key(room))
	if err != nil {
		return nil, fmt.Errorf("read the roles in %s: %w", room, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Name] = r.Role
	}
	return out, nil
}

// AddRoomMask bans m.Mask from m.Room (EBadArgs when it already is). A
// zero m.Created means now.
func (db *DB) AddRoomMask(ctx context.Context, m chatd.RoomMask) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, err := roomID(ctx, tx, m.Room)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO room_masks (room_id, mask, "by", created) VALUES (?, ?, ?, ?)`,
		rid, m.Mask, m.By, millis(db.orNow(m.Created)))
	if isDuplicate(err) {
		return chatd.Errorf(chatd.EBadArgs, "%s is already banned from %s", m.Mask, m.Room)
	}
	if err != nil {
		return fmt.Errorf("ban %s from %s: %w", m.Mask, m.Room, err)
	}
	return commit(tx, "ban "+m.Mask+" from "+m.Room)
}

// RemoveRoomMask lifts the ban of mask in room (EBadArgs when there is
// none).
func (db *DB) RemoveRoomMask(ctx context.Context, room, mask string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM room_masks WHERE room_id = ? AND mask = ?`, rid, mask)
	if err != nil {
		return fmt.Errorf("lift the ban of %s in %s: %w", mask, room, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("lift the ban of %s in %s: %w", mask, room, err)
	} else if n == 0 {
		return chatd.Errorf(chatd.EBadArgs, "%s is not banned from %s", mask, room)
	}
	return commit(tx, "lift the ban of "+mask+" in "+room)
}

// RoomMasks lists the masks banned from room, oldest first.
func (db *DB) RoomMasks(ctx context.Context, room string) ([]chatd.RoomMask, error) {
	var rows []struct {
		Room    string `db:"room"`
		Mask    string `db:"mask"`
		By      string `db:"by"`
		Created int64  `db:"created"`
	}
	err := sqlx.SelectContext(ctx, db.read(), &rows, `SELECT r.name AS room, m.mask, m."by", m.created
		FROM room_masks m JOIN rooms r ON r.id = m.room_id WHERE r.name_key = ? ORDER BY m.id`, chatd.Key(room))
	if err != nil {
		return nil, fmt.Errorf("read the bans of %s: %w", room, err)
	}
	out := make([]chatd.RoomMask, len(rows))
	for i, r := range rows {
		out[i] = chatd.RoomMask{Room: r.Room, Mask: r.Mask, By: r.By, Created: fromMillis(r.Created)}
	}
	return out, nil
}
