package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// AddKey stores an SSH public key for k.User, at most chatd.MaxSSHKeys per
// account.
func (db *DB) AddKey(ctx context.Context, k chatd.SSHKey) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// On PostgreSQL the account's row is locked, so that two nodes adding
	// keys at once count one after the other; SQLite has one writer.
	q := sqlUserID
	if db.pg {
		q += ` FOR UPDATE`
	}
	var id int64
	if err := tx.GetContext(ctx, &id, q, chatd.Key(k.User)); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return noSuchUser(k.User)
		}
		return fmt.Errorf("add a key for %s: %w", k.User, err)
	}
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM keys WHERE user_id = ?`, id); err != nil {
		return fmt.Errorf("add a key for %s: %w", k.User, err)
	}
	if n >= chatd.MaxSSHKeys {
		return chatd.Errorf(chatd.EBadArgs, "%s has %d keys already, the most an account may hold; delete one first", k.User, n)
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO keys (user_id, key_type, public_key, fingerprint, comment, added) VALUES (?, ?, ?, ?, ?, ?)`,
		id, k.Type, k.Key, k.Fingerprint, k.Comment, millis(db.now()))
	if isDuplicate(err) {
		return chatd.Errorf(chatd.EBadArgs, "%s has that key already (%s)", k.User, k.Fingerprint)
	}
	if err != nil {
		return fmt.Errorf("add a key for %s: %w", k.User, err)
	}
	return commit(tx, "add a key for "+k.User)
}

// DeleteKey removes the key with that fingerprint from user's keys.
func (db *DB) DeleteKey(ctx context.Context, user, fingerprint string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, err := userID(ctx, tx, user)
	if err != nil {
		return err
	}
	n, err := rowsChanged(ctx, tx, `DELETE FROM keys WHERE user_id = ? AND fingerprint = ?`, id, fingerprint)
	if err != nil {
		return fmt.Errorf("delete a key of %s: %w", user, err)
	}
	if n == 0 {
		return chatd.Errorf(chatd.EBadArgs, "%s has no key with the fingerprint %s", user, fingerprint)
	}
	return commit(tx, "delete a key of "+user)
}

// Keys lists user's SSH keys, oldest first, or with user "" every
// account's, by account.
func (db *DB) Keys(ctx context.Context, user string) ([]chatd.SSHKey, error) {
	var rows []struct {
		User        string `db:"name"`
		Type        string `db:"key_type"`
		Key         string `db:"public_key"`
		Fingerprint string `db:"fingerprint"`
		Comment     string `db:"comment"`
		Added       int64  `db:"added"`
	}
	const cols = `SELECT u.name, k.key_type, k.public_key, k.fingerprint, k.comment, k.added
	FROM keys k JOIN users u ON u.id = k.user_id`
	var err error
	if user == "" {
		err = sqlx.SelectContext(ctx, db.reader, &rows, cols+` ORDER BY u.name_key, k.id`)
	} else {
		var id int64
		if id, err = userID(ctx, db.reader, user); err != nil {
			return nil, err
		}
		err = sqlx.SelectContext(ctx, db.reader, &rows, cols+` WHERE k.user_id = ? ORDER BY k.id`, id)
	}
	if err != nil {
		return nil, fmt.Errorf("list the keys of %q: %w", user, err)
	}
	out := make([]chatd.SSHKey, len(rows))
	for i, r := range rows {
		out[i] = chatd.SSHKey{User: r.User, Type: r.Type, Key: r.Key, Fingerprint: r.Fingerprint,
			Comment: r.Comment, Added: fromMillis(r.Added)}
	}
	return out, nil
}
