package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// roomRow is a rooms row as stored.
type roomRow struct {
	Name     string `db:"name"`
	Owner    string `db:"owner"`
	PassHash string `db:"pass_hash"`
	Created  int64  `db:"created"`
	Topic    string `db:"topic"`
	Modes    string `db:"modes"`
	Limit    int    `db:"member_limit"`
	TopicBy  string `db:"topic_by"`
	TopicAt  int64  `db:"topic_at"`
}

const roomColumns = `name, owner, pass_hash, created, topic, modes, member_limit, topic_by, topic_at`

func (r *roomRow) room() *chatd.Room {
	return &chatd.Room{Name: r.Name, Owner: r.Owner, PassHash: r.PassHash, Created: fromMillis(r.Created), Topic: r.Topic,
		Modes: r.Modes, Limit: r.Limit, TopicBy: r.TopicBy, TopicAt: fromNullMillis(sql.NullInt64{Int64: r.TopicAt, Valid: r.TopicAt != 0})}
}

// CreateRoomLimited stores r. It fails with ERoomExists when the name is
// taken in any spelling, and with ENotPermitted when r.Owner already owns
// maxPerOwner rooms or when maxTotal rooms exist besides the lobby, checked
// in the same transaction as the insert. A limit <= 0 is no limit; a zero
// r.Created means now.
func (db *DB) CreateRoomLimited(ctx context.Context, r chatd.Room, maxPerOwner, maxTotal int) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r.Created = db.orNow(r.Created)
	if maxPerOwner > 0 || maxTotal > 0 {
		// Two creators (on two nodes) must not both see room for the last one.
		if err := tx.serialize(ctx, "rooms"); err != nil {
			return err
		}
	}
	if maxPerOwner > 0 {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM rooms WHERE owner_key = ?`, chatd.Key(r.Owner)); err != nil {
			return fmt.Errorf("count rooms of %s: %w", r.Owner, err)
		}
		if n >= maxPerOwner {
			return chatd.Errorf(chatd.ENotPermitted, "you already own %d rooms, the most anyone may (rooms.max_per_user); close one first", n)
		}
	}
	if maxTotal > 0 {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM rooms WHERE owner_key != ''`); err != nil {
			return fmt.Errorf("count rooms: %w", err)
		}
		if n >= maxTotal {
			return chatd.Errorf(chatd.ENotPermitted, "the server already has %d rooms, its limit (rooms.max_total); ask an admin", n)
		}
	}
	if err := insertRoom(ctx, tx, r); err != nil {
		return err
	}
	return commit(tx, "create room "+r.Name)
}

// insertRoom stores r; a room without Modes gets chatd.DefaultRoomModes.
func insertRoom(ctx context.Context, tx *dbTx, r chatd.Room) error {
	if r.Modes == "" {
		r.Modes = chatd.DefaultRoomModes
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO rooms (name, name_key, owner, owner_key, pass_hash, created, topic, modes, member_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Name, chatd.Key(r.Name), r.Owner, chatd.Key(r.Owner), r.PassHash, millis(r.Created), r.Topic, chatd.NormalModes(r.Modes), max(r.Limit, 0))
	if isDuplicate(err) {
		return chatd.Errorf(chatd.ERoomExists, "a room named %s already exists", r.Name)
	}
	if err != nil {
		return fmt.Errorf("create room %s: %w", r.Name, err)
	}
	return nil
}

const sqlRoomByName = `SELECT ` + roomColumns + ` FROM rooms WHERE name_key = ?`

// RoomByName returns the room called name in any spelling, or ENoSuchRoom.
func (db *DB) RoomByName(ctx context.Context, name string) (*chatd.Room, error) {
	var r roomRow
	err := sqlx.GetContext(ctx, db.read(), &r, sqlRoomByName, chatd.Key(name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noSuchRoom(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read room %s: %w", name, err)
	}
	return r.room(), nil
}

// Rooms returns every room, the lobby included, sorted by name.
func (db *DB) Rooms(ctx context.Context) ([]*chatd.Room, error) {
	var rows []roomRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT `+roomColumns+` FROM rooms ORDER BY name_key`); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	rooms := make([]*chatd.Room, len(rows))
	for i := range rows {
		rooms[i] = rows[i].room()
	}
	return rooms, nil
}

// DeleteRoom removes the room called name and its history. The lobby cannot
// be deleted.
func (db *DB) DeleteRoom(ctx context.Context, name string) error {
	if chatd.Key(name) == chatd.Key(chatd.Lobby) {
		return chatd.Errorf(chatd.ENotPermitted, "the lobby cannot be closed")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteRoom(ctx, tx, name); err != nil {
		return err
	}
	return commit(tx, "delete room "+name)
}

func deleteRoom(ctx context.Context, tx *dbTx, name string) error {
	n, err := rowsChanged(ctx, tx, `DELETE FROM rooms WHERE name_key = ?`, chatd.Key(name))
	if err != nil {
		return fmt.Errorf("delete room %s: %w", name, err)
	}
	if n == 0 {
		return noSuchRoom(name)
	}
	return nil
}

// RenameRoom gives the room called name the name to; its history,
// members, bans and settings stay with it (they hold its id), and the
// read markers of the room's conversation move along. The lobby keeps
// its name.
func (db *DB) RenameRoom(ctx context.Context, name, to string) error {
	if chatd.Key(name) == chatd.Key(chatd.Lobby) || chatd.Key(to) == chatd.Key(chatd.Lobby) {
		return chatd.Errorf(chatd.ENotPermitted, "the lobby cannot be renamed")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var old string
	err = tx.GetContext(ctx, &old, `SELECT name FROM rooms WHERE name_key = ?`, chatd.Key(name))
	if errors.Is(err, sql.ErrNoRows) {
		return noSuchRoom(name)
	}
	if err != nil {
		return fmt.Errorf("rename room %s: %w", name, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE rooms SET name = ?, name_key = ? WHERE name_key = ?`, to, chatd.Key(to), chatd.Key(name))
	if isDuplicate(err) {
		return chatd.Errorf(chatd.ERoomExists, "a room named %s already exists", to)
	}
	if err != nil {
		return fmt.Errorf("rename room %s: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE read_markers SET conv = ? WHERE conv = ?`, "#"+to, "#"+old); err != nil {
		return fmt.Errorf("rename room %s: move read markers: %w", name, err)
	}
	return commit(tx, "rename room "+name)
}
