package db

import (
	"cmp"
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
	return db.updateRoom(ctx, room, "set the modes of", `UPDATE rooms SET modes = ?, member_limit = ? WHERE id = ?`,
		chatd.NormalModes(modes), max(limit, 0))
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
	n, err := rowsChanged(ctx, tx, `UPDATE room_members SET role = ? WHERE room_id = ? AND user_id = ?`, roles, rid, uid)
	if err != nil {
		return fmt.Errorf("set the role of %s in %s: %w", user, room, err)
	}
	if n == 0 {
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

// maskList names a list of room masks in errors.
func maskList(kind string) string {
	switch kind {
	case chatd.MaskException:
		return "the ban exceptions of "
	case chatd.MaskInvite:
		return "the invite exceptions of "
	}
	return "the bans of "
}

// AddRoomMask puts m.Mask on m.Room's list m.Kind ("" for the bans;
// EBadArgs when it already is there). A zero m.Created means now.
func (db *DB) AddRoomMask(ctx context.Context, m chatd.RoomMask) error {
	kind := cmp.Or(m.Kind, chatd.MaskBan)
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, err := roomID(ctx, tx, m.Room)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO room_masks (room_id, mask, "by", created, kind) VALUES (?, ?, ?, ?, ?)`,
		rid, m.Mask, m.By, millis(db.orNow(m.Created)), kind)
	if isDuplicate(err) {
		return chatd.Errorf(chatd.EBadArgs, "%s is already on %s%s", m.Mask, maskList(kind), m.Room)
	}
	if err != nil {
		return fmt.Errorf("add %s to %s%s: %w", m.Mask, maskList(kind), m.Room, err)
	}
	return commit(tx, "add "+m.Mask+" to "+maskList(kind)+m.Room)
}

// RemoveRoomMask takes mask off room's list kind ("" for the bans;
// EBadArgs when it is not there).
func (db *DB) RemoveRoomMask(ctx context.Context, room, kind, mask string) error {
	kind = cmp.Or(kind, chatd.MaskBan)
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rid, err := roomID(ctx, tx, room)
	if err != nil {
		return err
	}
	n, err := rowsChanged(ctx, tx, `DELETE FROM room_masks WHERE room_id = ? AND kind = ? AND mask = ?`, rid, kind, mask)
	if err != nil {
		return fmt.Errorf("take %s off %s%s: %w", mask, maskList(kind), room, err)
	}
	if n == 0 {
		return chatd.Errorf(chatd.EBadArgs, "%s is not on %s%s", mask, maskList(kind), room)
	}
	return commit(tx, "take "+mask+" off "+maskList(kind)+room)
}

// RoomMasks lists the masks of all of room's lists, oldest first.
func (db *DB) RoomMasks(ctx context.Context, room string) ([]chatd.RoomMask, error) {
	var rows []struct {
		Room    string `db:"room"`
		Mask    string `db:"mask"`
		By      string `db:"by"`
		Created int64  `db:"created"`
		Kind    string `db:"kind"`
	}
	err := sqlx.SelectContext(ctx, db.read(), &rows, `SELECT r.name AS room, m.mask, m."by", m.created, m.kind
		FROM room_masks m JOIN rooms r ON r.id = m.room_id WHERE r.name_key = ? ORDER BY m.id`, chatd.Key(room))
	if err != nil {
		return nil, fmt.Errorf("read the bans of %s: %w", room, err)
	}
	out := make([]chatd.RoomMask, len(rows))
	for i, r := range rows {
		out[i] = chatd.RoomMask{Room: r.Room, Mask: r.Mask, By: r.By, Created: fromMillis(r.Created), Kind: r.Kind}
	}
	return out, nil
}
