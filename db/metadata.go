package db

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// metaOwner is the column and id of a metadata target: an account's
// user_id or a room's room_id.
func metaOwner(ctx context.Context, q sqlx.QueryerContext, room bool, name string) (col string, id int64, err error) {
	if room {
		id, err = roomID(ctx, q, name)
		return "room_id", id, err
	}
	id, err = userID(ctx, q, name)
	return "user_id", id, err
}

// Metadata lists the keys set on an account or a room, sorted by key.
func (db *DB) Metadata(ctx context.Context, room bool, name string) ([]chatd.Meta, error) {
	col, id, err := metaOwner(ctx, db.reader, room, name)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Key        string `db:"key"`
		Value      string `db:"value"`
		Visibility string `db:"visibility"`
	}
	// col is one of two column names chosen above, never input.
	if err := sqlx.SelectContext(ctx, db.reader, &rows,
		`SELECT key, value, visibility FROM metadata WHERE `+col+` = ? ORDER BY key`, id); err != nil {
		return nil, fmt.Errorf("read the metadata of %s: %w", name, err)
	}
	out := make([]chatd.Meta, len(rows))
	for i, r := range rows {
		out[i] = chatd.Meta{Key: r.Key, Value: r.Value, Visibility: r.Visibility}
	}
	return out, nil
}

// SetMetadata sets m.Key to m.Value on an account or a room; a new key
// beyond chatd.MaxMetadataKeys is ETooManyKeys.
func (db *DB) SetMetadata(ctx context.Context, room bool, name string, m chatd.Meta) error {
	if m.Visibility == "" {
		m.Visibility = chatd.MetaPublic
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	col, id, err := metaOwner(ctx, tx, room, name)
	if err != nil {
		return err
	}
	if db.pg {
		// Two nodes setting keys on one target count one after the
		// other: the target's row is locked (SQLite has one writer).
		table := "users"
		if room {
			table = "rooms"
		}
		if _, err := tx.ExecContext(ctx, `SELECT id FROM `+table+` WHERE id = ? FOR UPDATE`, id); err != nil {
			return fmt.Errorf("set metadata on %s: %w", name, err)
		}
	}
	now := millis(db.now())
	n, err := rowsChanged(ctx, tx, `UPDATE metadata SET value = ?, visibility = ?, updated = ? WHERE `+col+` = ? AND key = ?`,
		m.Value, m.Visibility, now, id, m.Key)
	if err != nil {
		return fmt.Errorf("set metadata on %s: %w", name, err)
	}
	if n == 0 {
		var have int
		if err := tx.GetContext(ctx, &have, `SELECT count(*) FROM metadata WHERE `+col+` = ?`, id); err != nil {
			return fmt.Errorf("set metadata on %s: %w", name, err)
		}
		if have >= chatd.MaxMetadataKeys {
			return chatd.Errorf(chatd.ETooManyKeys, "%s has %d metadata keys, the most allowed; remove one first", name, have)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO metadata (`+col+`, key, value, visibility, updated) VALUES (?, ?, ?, ?, ?)`,
			id, m.Key, m.Value, m.Visibility, now); err != nil {
			return fmt.Errorf("set metadata on %s: %w", name, err)
		}
	}
	return commit(tx, "set metadata on "+name)
}

// DeleteMetadata removes keys from an account or a room, or all its keys
// when none is given, and returns the keys that were set, sorted.
func (db *DB) DeleteMetadata(ctx context.Context, room bool, name string, keys []string) ([]string, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	col, id, err := metaOwner(ctx, tx, room, name)
	if err != nil {
		return nil, err
	}
	var had []string
	if err := tx.SelectContext(ctx, &had, `SELECT key FROM metadata WHERE `+col+` = ? ORDER BY key`, id); err != nil {
		return nil, fmt.Errorf("delete metadata of %s: %w", name, err)
	}
	var gone []string
	for _, k := range had {
		if len(keys) > 0 && !slices.Contains(keys, k) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM metadata WHERE `+col+` = ? AND key = ?`, id, k); err != nil {
			return nil, fmt.Errorf("delete metadata of %s: %w", name, err)
		}
		gone = append(gone, k)
	}
	if err := commit(tx, "delete metadata of "+name); err != nil {
		return nil, err
	}
	return gone, nil
}
