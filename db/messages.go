package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"chatd"

	"github.com/jmoiron/sqlx"
)

// StoreOffline keeps m for to, who is offline, and returns only once the
// message is committed to disk. It fails with ENoSuchUser when to is not
// registered and with EMailboxFull when to already holds limit messages
// (limit <= 0: no limit). The check and the insert share one transaction, so
// two senders cannot both slip past the limit. A zero m.Time means now.
func (db *DB) StoreOffline(ctx context.Context, to string, m chatd.OfflineMessage, limit int) error {
	errs, err := db.StoreOfflineAll(ctx, []string{to}, m, limit)
	if err != nil {
		return err
	}
	return errs[0]
}

// StoreOfflineAll keeps m for every user in to: the text and the
// recipient list are stored once, with one small row per recipient. errs[i]
// is the outcome for to[i] (nil: stored; ENoSuchUser or EMailboxFull: not
// stored for that one); err is a failure of the whole, after which nothing
// was stored. It returns only once the transaction holding m has committed.
//
// Concurrent calls share that transaction (group commit): the mailer takes
// every call waiting when the previous commit ends, stores each inside a
// savepoint of its own, and commits them with one fsync. A busy server so
// pays for one disk flush per batch instead of one per message, and no
// message is acknowledged before it is durable.
func (db *DB) StoreOfflineAll(ctx context.Context, to []string, m chatd.OfflineMessage, limit int) (errs []error, err error) {
	r := &mailRequest{ctx: ctx, to: to, m: m, limit: limit, done: make(chan struct{})}
	r.m.Time = db.orNow(m.Time)
	select {
	case db.mail <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-db.closing:
		return nil, errors.New("store offline message: the database is closed")
	}
	<-r.done // once taken, a request is stored or failed with its batch
	return r.errs, r.err
}

// mailRequest is one StoreOfflineAll call on its way to the mailer.
type mailRequest struct {
	ctx   context.Context
	to    []string
	m     chatd.OfflineMessage
	limit int

	errs []error // set by the mailer before done is closed
	err  error
	done chan struct{}
}

// mailBatch bounds how many calls share one transaction.
const mailBatch = 256

// mailer is the goroutine that stores offline messages, batch by batch,
// until the database closes.
func (db *DB) mailer() {
	defer close(db.mailDone)
	for {
		var batch []*mailRequest
		select {
		case r := <-db.mail:
			batch = append(batch, r)
		case <-db.closing:
			return
		}
		// Everyone who queued up during the last commit joins this one.
	more:
		for len(batch) < mailBatch {
			select {
			case r := <-db.mail:
				batch = append(batch, r)
			default:
				break more
			}
		}
		db.storeMail(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// storeMail stores a batch of requests in one transaction. A request that
// fails (a failure of the database, not a refusal such as a full mailbox,
// which writes nothing) must take nothing of the others with it, so
// storing each request inside a savepoint of its own would do; but that
// costs two more statements per message on the busiest path, for a case
// that does not happen in practice. So the batch is stored plainly first,
// and only when a request fails is that transaction rolled back and the
// batch stored again, each request in its savepoint.
func (db *DB) storeMail(batch []*mailRequest) {
	if db.storeMailPlain(batch) {
		return
	}
	for _, r := range batch {
		r.errs, r.err = nil, nil
	}
	db.storeMailSavepoints(batch)
}

// failAll fails every request of batch that has not failed on its own.
func failAll(batch []*mailRequest, err error) {
	for _, r := range batch {
		if r.err == nil {
			r.errs, r.err = nil, err
		}
	}
}

// storeMailPlain stores batch in one transaction without savepoints. It
// reports false, having rolled back, when a request failed.
func (db *DB) storeMailPlain(batch []*mailRequest) bool {
	ctx := context.Background() // one caller giving up must not end the others' transaction
	tx, err := db.begin(ctx)
	if err != nil {
		failAll(batch, fmt.Errorf("store offline message: %w", err))
		return true
	}
	defer tx.Rollback()
	q := db.write(tx)
	if err := lockMailboxes(ctx, tx, batch); err != nil {
		failAll(batch, err)
		return true
	}
	if err := db.checkBounds(ctx, tx); err != nil {
		failAll(batch, err)
		return true
	}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if r.errs, r.err = storeLetter(ctx, q, r.to, r.m, r.limit, db.mailBounds); r.err != nil {
			return false
		}
	}
	if err := commit(tx, "store offline message"); err != nil {
		failAll(batch, err)
	}
	return true
}

// storeMailSavepoints stores batch in one transaction, each request in a
// savepoint so that one that fails takes nothing of the others with it.
func (db *DB) storeMailSavepoints(batch []*mailRequest) {
	ctx := context.Background()
	tx, err := db.begin(ctx)
	if err != nil {
		failAll(batch, fmt.Errorf("store offline message: %w", err))
		return
	}
	defer tx.Rollback()
	q := db.write(tx)
	if err := lockMailboxes(ctx, tx, batch); err != nil {
		failAll(batch, err)
		return
	}
	if err := db.checkBounds(ctx, tx); err != nil {
		failAll(batch, err)
		return
	}
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := q.ExecContext(ctx, sqlSavepoint); err != nil {
			failAll(batch, fmt.Errorf("store offline message: savepoint: %w", err))
			return
		}
		r.errs, r.err = storeLetter(ctx, q, r.to, r.m, r.limit, db.mailBounds)
		if r.err != nil {
			if _, err := q.ExecContext(ctx, sqlRollbackTo); err != nil {
				failAll(batch, fmt.Errorf("store offline message: roll back to savepoint: %w", err))
				return
			}
		}
		if _, err := q.ExecContext(ctx, sqlRelease); err != nil {
			failAll(batch, fmt.Errorf("store offline message: release savepoint: %w", err))
			return
		}
	}
	if err := commit(tx, "store offline message"); err != nil {
		failAll(batch, err)
	}
}

// lockMailboxes takes, on PostgreSQL, the lock of every mailbox with a
// limit that batch writes to, before any is counted, so that another node's
// batch cannot slip a message past the limit between count and insert.
// They are taken at once and in one order (sorted keys), so two nodes'
// batches with recipients in opposite orders queue instead of deadlocking.
// SQLite's writes are serial already.
func lockMailboxes(ctx context.Context, tx *dbTx, batch []*mailRequest) error {
	if !tx.pg {
		return nil
	}
	var keys []string
	for _, r := range batch {
		if r.limit > 0 {
			for _, name := range r.to {
				keys = append(keys, chatd.Key(name))
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	// One round trip for them all; the subquery fixes the order.
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('mailbox ' || k))
		FROM (SELECT DISTINCT k FROM unnest(?::text[]) AS k ORDER BY k) AS s`, slices.Compact(keys))
	if err != nil {
		return fmt.Errorf("store offline message: lock mailboxes: %w", err)
	}
	return nil
}

// storeLetter stores m for the users in to inside tx; see StoreOfflineAll.
func storeLetter(ctx context.Context, tx prepared, to []string, m chatd.OfflineMessage, limit int, bounds map[int64]int) (errs []error, err error) {
	errs = make([]error, len(to))
	var ids []int64
	for i, name := range to {
		id, err := mailboxRoom(ctx, tx, name, m.From, limit, bounds)
		if chatd.ErrorCode(err) != chatd.EInternal {
			errs[i] = err
			continue
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return errs, nil
	}
	var letter int64
	if tx.pg() {
		// pgx has no LastInsertId.
		err = tx.QueryRowxContext(ctx, sqlInsertLetter+` RETURNING id`,
			m.From, strings.Join(m.To, " "), m.Text, millis(m.Time)).Scan(&letter)
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, sqlInsertLetter, m.From, strings.Join(m.To, " "), m.Text, millis(m.Time))
		if err == nil {
			letter, err = res.LastInsertId()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store offline message: %w", err)
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, sqlInsertMail, id, letter); err != nil {
			return nil, fmt.Errorf("store offline message: %w", err)
		}
	}
	return errs, nil
}

// mailboxRoom returns the id of user to when their mailbox has room for one
// more message from from, or ENoSuchUser / EBlocked / EMailboxFull (nil
// error with an id otherwise; any other error is internal). The block is
// checked here, in the mailer's own transaction, so that a message to
// someone offline costs the sender no read transaction of its own.
//
// Counting a mailbox costs a step per message in it, so the mailer keeps,
// per recipient, an upper bound of its size (bounds: mailer goroutine
// only): the size at its last count plus the messages stored since. Only
// the mailer adds to a mailbox, and deliveries and deleted accounts only
// take away (a new account that gets a deleted one's id starts empty), so
// the bound never falls below the truth. While it is under the limit there
// is room, without counting; at the limit the mailbox is counted again.
//
// On PostgreSQL other nodes add to mailboxes too, so no bound holds: the
// mailbox is counted every time, under the lock lockMailboxes took, so that
// two nodes cannot both see room for the last message.
func mailboxRoom(ctx context.Context, tx prepared, to, from string, limit int, bounds map[int64]int) (int64, error) {
	id, err := recipientID(ctx, tx, to, from)
	if err != nil {
		return 0, err
	}
	if tx.pg() {
		if limit <= 0 {
			return id, nil
		}
		// The mailbox is locked (lockMailboxes) until the commit.
		var n int
		if err := tx.QueryRowxContext(ctx, sqlMailboxSize, id).Scan(&n); err != nil {
			return 0, fmt.Errorf("count offline messages for %s: %w", to, err)
		}
		if n >= limit {
			return 0, chatd.Errorf(chatd.EMailboxFull, "%s has too many messages waiting; try again later", to)
		}
		return id, nil
	}
	if limit <= 0 {
		if n, ok := bounds[id]; ok {
			bounds[id] = n + 1 // no limit today; the bound still holds tomorrow
		}
		return id, nil
	}
	if n, ok := bounds[id]; ok && n < limit {
		bounds[id] = n + 1
		return id, nil
	}
	var n int
	if err := tx.QueryRowxContext(ctx, sqlMailboxSize, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("count offline messages for %s: %w", to, err)
	}
	if n >= limit {
		bounds[id] = n
		return 0, chatd.Errorf(chatd.EMailboxFull, "%s has too many messages waiting; try again later", to)
	}
	if len(bounds) >= mailBounds {
		clear(bounds) // forgetting a bound only costs a count
	}
	bounds[id] = n + 1
	return id, nil
}

// recipientID returns the id of user to, or ENoSuchUser, or EBlocked when
// to blocks from (from "" is nobody's to block: a notice from the server).
func recipientID(ctx context.Context, tx prepared, to, from string) (int64, error) {
	if from == "" {
		return userID(ctx, tx, to)
	}
	var r struct {
		ID      int64 `db:"id"`
		Blocked bool  `db:"blocked"`
	}
	err := sqlx.GetContext(ctx, tx, &r, sqlRecipient, chatd.Key(from), chatd.Key(to))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, noSuchUser(to)
	}
	if err != nil {
		return 0, fmt.Errorf("look up user %s: %w", to, err)
	}
	if r.Blocked {
		return 0, chatd.Errorf(chatd.EBlocked, "%s is not accepting messages from you", to)
	}
	return r.ID, nil
}

// checkBounds forgets the mailer's mailbox bounds when another handle on
// the same SQLite file (a second process, or a second Open in tests) has
// committed since the mailer last looked: its mail is not in them. SQLite's
// data_version changes exactly then, and BEGIN IMMEDIATE already holds off
// any later commit until this transaction ends.
func (db *DB) checkBounds(ctx context.Context, tx *dbTx) error {
	if db.pg {
		return nil
	}
	var v int64
	if err := tx.QueryRowxContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return fmt.Errorf("store offline message: data version: %w", err)
	}
	if v != db.mailVersion {
		clear(db.mailBounds)
		db.mailVersion = v
	}
	return nil
}

// mailBounds bounds how many mailbox sizes the mailer keeps.
const mailBounds = 1 << 16

// The statements of the mailer, prepared when the database opens.
const (
	sqlSavepoint    = `SAVEPOINT mail`
	sqlRollbackTo   = `ROLLBACK TO mail`
	sqlRelease      = `RELEASE mail`
	sqlInsertLetter = `INSERT INTO letters (sender, recipients, body, ts) VALUES (?, ?, ?, ?)`
	sqlInsertMail   = `INSERT INTO offline_messages (recipient, letter) VALUES (?, ?)`
	sqlMailboxSize  = `SELECT count(*) FROM offline_messages WHERE recipient = ?`
	// sqlRecipient is the recipient's id and whether they block the sender
	// (first argument), in one step.
	sqlRecipient = `SELECT id, EXISTS (SELECT 1 FROM blocks
		WHERE blocker = users.id AND blocked = (SELECT id FROM users WHERE name_key = ?)) AS blocked
		FROM users WHERE name_key = ?`
)

// OfflineMessages returns the whole mailbox of to, oldest first, with the
// IDs to pass to DeleteOffline once the messages are delivered.
func (db *DB) OfflineMessages(ctx context.Context, to string) ([]chatd.OfflineMessage, error) {
	return db.OfflinePage(ctx, to, 0, -1)
}

// OfflinePage returns up to n messages (n < 0: all) of to's mailbox whose
// IDs are greater than after, oldest first: a big mailbox is read and
// delivered a page at a time.
func (db *DB) OfflinePage(ctx context.Context, to string, after int64, n int) ([]chatd.OfflineMessage, error) {
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
		`SELECT o.id, l.sender, l.recipients, l.body, l.ts
		 FROM offline_messages o JOIN letters l ON l.id = o.letter
		 WHERE o.recipient = ? AND o.id > ? ORDER BY o.id LIMIT ?`, id, after, db.limit(n))
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

// OfflineCount returns how many messages wait in to's mailbox.
func (db *DB) OfflineCount(ctx context.Context, to string) (int, error) {
	id, err := userID(ctx, db.reader, to)
	if err != nil {
		return 0, err
	}
	var n int
	if err := db.reader.GetContext(ctx, &n, `SELECT count(*) FROM offline_messages WHERE recipient = ?`, id); err != nil {
		return 0, fmt.Errorf("count offline messages for %s: %w", to, err)
	}
	return n, nil
}

// DeleteOffline removes delivered messages (and each stored text once its
// last recipient has it). IDs that are already gone are ignored, so a retry
// after a failure is harmless.
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

func deleteOffline(ctx context.Context, tx *dbTx, ids []int64) error {
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
