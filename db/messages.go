package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// StoreOffline keeps m for to, who is offline, and returns only once the
// message is committed to disk. It fails with ENoSuchUser when to is not
// registered and with EMailboxFull when to already holds limit messages
// (limit <= 0: no limit). The check and the insert share one transaction, so
// two senders cannot both slip past the limit. A zero m.Time means now.
func (db *DB) StoreOffline(ctx context.Context, to string, m chatd.OfflineMessage, limit int) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	m.Time = db.orNow(m.Time)
	if err := insertOffline(ctx, tx, to, m, limit); err != nil {
		return err
	}
	return commit(tx, "store offline message for "+to)
}

func insertOffline(ctx context.Context, tx *sqlx.Tx, to string, m chatd.OfflineMessage, limit int) error {
	id, err := userID(ctx, tx, to)
	if err != nil {
		return err
	}
	if limit > 0 {
		var n int
		err := tx.GetContext(ctx, &n, `SELECT count(*) FROM offline_messages WHERE recipient = ?`, id)
		if err != nil {
			return fmt.Errorf("count offline messages for %s: %w", to, err)
		}
		if n >= limit {
			return chatd.Errorf(chatd.EMailboxFull, "%s has too many messages waiting; try again later", to)
		}
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO offline_messages (recipient, sender, recipients, body, ts) VALUES (?, ?, ?, ?, ?)`,
		id, m.From, strings.Join(m.To, " "), m.Text, millis(m.Time))
	if err != nil {
		return fmt.Errorf("store offline message for %s: %w", to, err)
	}
	return nil
}

// OfflineMessages returns the mailbox of to, oldest first, with the IDs to
// pass to DeleteOffline once the messages are delivered.
func (db *DB) OfflineMessages(ctx context.Context, to string) ([]chatd.OfflineMessage, error) {
	id, err := userID(ctx, db.reader, to)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID         int64  `db:"id"`
		Sender     string `db:"sender"`
		Recipients string `db:"recipients"`
		Body       string `db:"body"`
		TS         int64  `db:"ts"`
	}
	err = db.reader.SelectContext(ctx, &rows,
		`SELECT id, sender, recipients, body, ts FROM offline_messages
		 WHERE recipient = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read offline messages for %s: %w", to, err)
	}
	msgs := make([]chatd.OfflineMessage, len(rows))
	for i, r := range rows {
		msgs[i] = chatd.OfflineMessage{
			ID:   r.ID,
			From: r.Sender,
			To:   strings.Fields(r.Recipients),
			Text: r.Body,
			Time: fromMillis(r.TS),
		}
	}
	return msgs, nil
}

// DeleteOffline removes delivered messages. IDs that are already gone are
// ignored, so a retry after a failure is harmless.
func (db *DB) DeleteOffline(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteOffline(ctx, tx, ids); err != nil {
		return err
	}
	return commit(tx, "delete offline messages")
}

func deleteOffline(ctx context.Context, tx *sqlx.Tx, ids []int64) error {
	stmt, err := tx.PreparexContext(ctx, `DELETE FROM offline_messages WHERE id = ?`)
	if err != nil {
		return fmt.Errorf("delete offline messages: %w", err)
	}
	defer stmt.Close()
	for _, id := range ids {
		if _, err := stmt.ExecContext(ctx, id); err != nil {
			return fmt.Errorf("delete offline message %d: %w", id, err)
		}
	}
	return nil
}
