package db

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

const sqlSettings = `SELECT key, value FROM user_settings WHERE user_id = ?`

// Settings returns the settings user has set, by key.
func (db *DB) Settings(ctx context.Context, user string) (map[string]string, error) {
	id, err := userID(ctx, db.read(), user)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Key   string `db:"key"`
		Value string `db:"value"`
	}
	if err := sqlx.SelectContext(ctx, db.read(), &rows, sqlSettings, id); err != nil {
		return nil, fmt.Errorf("read the settings of %s: %w", user, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Value
	}
	return out, nil
}

// SetSetting stores one setting of user, replacing its old value.
func (db *DB) SetSetting(ctx context.Context, user, key, value string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := userID(ctx, tx, user)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO user_settings (user_id, key, value) VALUES (?, ?, ?)
		 ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value`, id, key, value)
	if err != nil {
		return fmt.Errorf("set %s of %s: %w", key, user, err)
	}
	return commit(tx, "set "+key+" of "+user)
}
