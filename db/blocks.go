package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Block makes blocker stop receiving from blocked.
func (db *DB) Block(ctx context.Context, blocker, blocked string) error {
	if err := notSelf("block", blocker, blocked); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := insertBlock(ctx, tx, blocker, blocked, db.now()); err != nil {
		return err
	}
	return commit(tx, fmt.Sprintf("%s blocks %s", blocker, blocked))
}

func insertBlock(ctx context.Context, tx *dbTx, blocker, blocked string, now time.Time) error {
	tx.usersChanged()
	from, to, err := blockIDs(ctx, tx, blocker, blocked)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO blocks (blocker, blocked, created) VALUES (?, ?, ?)`,
		from, to, millis(now))
	if isDuplicate(err) {
		return chatd.Errorf(chatd.EAlreadyBlocked, "you have already blocked %s", blocked)
	}
	if err != nil {
		return fmt.Errorf("%s blocks %s: %w", blocker, blocked, err)
	}
	return nil
}

// Unblock lets blocker receive from blocked again.
func (db *DB) Unblock(ctx context.Context, blocker, blocked string) error {
	if err := notSelf("unblock", blocker, blocked); err != nil {
		return err
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteBlock(ctx, tx, blocker, blocked); err != nil {
		return err
	}
	return commit(tx, fmt.Sprintf("%s unblocks %s", blocker, blocked))
}

func deleteBlock(ctx context.Context, tx *dbTx, blocker, blocked string) error {
	tx.usersChanged()
	from, to, err := blockIDs(ctx, tx, blocker, blocked)
	if err != nil {
		return err
	}
	n, err := rowsChanged(ctx, tx, `DELETE FROM blocks WHERE blocker = ? AND blocked = ?`, from, to)
	if err != nil {
		return fmt.Errorf("%s unblocks %s: %w", blocker, blocked, err)
	}
	if n == 0 {
		return chatd.Errorf(chatd.ENotBlocked, "you have not blocked %s", blocked)
	}
	return nil
}

// Blocked lists, sorted, the users blocker has blocked.
func (db *DB) Blocked(ctx context.Context, blocker string) ([]string, error) {
	id, err := userID(ctx, db.read(), blocker)
	if err != nil {
		return nil, err
	}
	var names []string
	err = sqlx.SelectContext(ctx, db.read(), &names, sqlBlocked, id)
	if err != nil {
		return nil, fmt.Errorf("list users blocked by %s: %w", blocker, err)
	}
	return names, nil
}

const sqlBlocked = `SELECT u.name FROM blocks b JOIN users u ON u.id = b.blocked
	WHERE b.blocker = ? ORDER BY u.name_key`

// IsBlocked reports whether blocker has blocked blocked. Either name being
// unknown is ENoSuchUser.
func (db *DB) IsBlocked(ctx context.Context, blocker, blocked string) (bool, error) {
	// Both users and the block in one statement: a private message asks
	// this for every recipient.
	var r struct {
		From sql.NullInt64 `db:"blocker"`
		To   sql.NullInt64 `db:"blocked"`
		Yes  bool          `db:"yes"`
	}
	err := sqlx.GetContext(ctx, db.read(), &r, sqlIsBlocked, chatd.Key(blocker), chatd.Key(blocked))
	switch {
	case err != nil:
		return false, fmt.Errorf("check whether %s blocked %s: %w", blocker, blocked, err)
	case !r.From.Valid:
		return false, noSuchUser(blocker)
	case !r.To.Valid:
		return false, noSuchUser(blocked)
	}
	return r.Yes, nil
}

const sqlIsBlocked = `SELECT a.id AS blocker, b.id AS blocked,
	EXISTS (SELECT 1 FROM blocks WHERE blocker = a.id AND blocked = b.id) AS yes
	FROM (SELECT (SELECT id FROM users WHERE name_key = ?) AS id) a,
	     (SELECT (SELECT id FROM users WHERE name_key = ?) AS id) b`

// blockIDs resolves both sides of a block.
func blockIDs(ctx context.Context, q sqlx.QueryerContext, blocker, blocked string) (from, to int64, err error) {
	if from, err = userID(ctx, q, blocker); err != nil {
		return 0, 0, err
	}
	if to, err = userID(ctx, q, blocked); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

// notSelf refuses to (un)block oneself, in any spelling.
func notSelf(verb, blocker, blocked string) error {
	if chatd.Key(blocker) == chatd.Key(blocked) {
		return chatd.Errorf(chatd.ESelf, "you cannot %s yourself", verb)
	}
	return nil
}
