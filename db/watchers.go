package db

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Watch puts watched on watcher's list (PROTOCOL.md 13), at most
// chatd.MaxWatching of them.
func (db *DB) Watch(ctx context.Context, watcher, watched string) (bool, error) {
	if chatd.Key(watcher) == chatd.Key(watched) {
		return false, chatd.Errorf(chatd.ESelf, "you cannot watch yourself")
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	from, to, err := watchIDs(ctx, tx, watcher, watched)
	if err != nil {
		return false, err
	}
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM watchers WHERE watcher = ?`, from); err != nil {
		return false, fmt.Errorf("count the users %s watches: %w", watcher, err)
	}
	added, err := rowsChanged(ctx, tx, `INSERT INTO watchers (watcher, watched, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		from, to, millis(db.now()))
	if err != nil {
		return false, fmt.Errorf("%s watches %s: %w", watcher, watched, err)
	}
	if added == 0 {
		return false, nil
	}
	if n >= chatd.MaxWatching {
		return false, chatd.Errorf(chatd.ETooManyWatched, "you watch %d users already, the most there may be; unwatch one first", n)
	}
	return true, commit(tx, fmt.Sprintf("%s watches %s", watcher, watched))
}

// Unwatch takes watched off watcher's list.
func (db *DB) Unwatch(ctx context.Context, watcher, watched string) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	from, to, err := watchIDs(ctx, tx, watcher, watched)
	if err != nil {
		return false, err
	}
	removed, err := rowsChanged(ctx, tx, `DELETE FROM watchers WHERE watcher = ? AND watched = ?`, from, to)
	if err != nil {
		return false, fmt.Errorf("%s unwatches %s: %w", watcher, watched, err)
	}
	if removed == 0 {
		return false, nil
	}
	return true, commit(tx, fmt.Sprintf("%s unwatches %s", watcher, watched))
}

// Watching lists, sorted, the users watcher watches.
func (db *DB) Watching(ctx context.Context, watcher string) ([]string, error) {
	id, err := userID(ctx, db.read(), watcher)
	if err != nil {
		return nil, err
	}
	var names []string
	err = sqlx.SelectContext(ctx, db.read(), &names, `SELECT u.name FROM watchers w JOIN users u ON u.id = w.watched
	WHERE w.watcher = ? ORDER BY u.name_key`, id)
	if err != nil {
		return nil, fmt.Errorf("list the users %s watches: %w", watcher, err)
	}
	return names, nil
}

// watchIDs looks up the ids of a watcher and the user watched.
func watchIDs(ctx context.Context, tx *dbTx, watcher, watched string) (from, to int64, err error) {
	if from, err = userID(ctx, tx, watcher); err != nil {
		return 0, 0, err
	}
	if to, err = userID(ctx, tx, watched); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}
