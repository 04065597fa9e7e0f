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
	tx, err := db.beginMail(ctx, batch)
	if err != nil {
		failAll(batch, err)
		return true
	}
	defer tx.Rollback()
	q := db.write(tx)
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if r.errs, r.err = db.storeLetter(ctx, q, r); r.err != nil {
			return false
		}
	}
	if err := db.flushLetters(ctx, q); err != nil {
		// Which request it was is not known here: the savepoints tell.
		return false
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
	tx, err := db.beginMail(ctx, batch)
	if err != nil {
		failAll(batch, err)
		return
	}
	defer tx.Rollback()
	q := db.write(tx)
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := q.ExecContext(ctx, sqlSavepoint); err != nil {
			failAll(batch, fmt.Errorf("store offline message: savepoint: %w", err))
			return
		}
		r.errs, r.err = db.storeLetter(ctx, q, r)
		if r.err == nil {
			r.err = db.flushLetters(ctx, q)
		}
		if r.err != nil {
			db.mailLetters = db.mailLetters[:0]
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

// beginMail starts the transaction that stores batch and brings the
// mailer's memory up to date with the database.
func (db *DB) beginMail(ctx context.Context, batch []*mailRequest) (*dbTx, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store offline message: %w", err)
	}
	db.mailLetters = db.mailLetters[:0]
	if err := lockMailboxes(ctx, tx, batch); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := db.checkMailMemory(ctx, tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	if !db.pg && db.mailUnsorted >= db.mailSortEvery {
		if _, err := db.write(tx).ExecContext(ctx, sqlSortMail); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("store offline message: sort: %w", err)
		}
		// Should this transaction roll back, the rows stay unsorted
		// until the next sort: slower to read, still all there.
		db.mailUnsorted = 0
	}
	return tx, nil
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

// pendingLetter is a letter the mailer has resolved but not yet written:
// its message and, in db.mailBoxes[from:to], the ids of the mailboxes
// that take it.
type pendingLetter struct {
	m        *chatd.OfflineMessage
	from, to int
}

// storeLetter stores r's message for the users in r.to inside the
// mailer's transaction; see StoreOfflineAll. On SQLite the rows are
// written later, together with the rest of the batch (flushLetters);
// on PostgreSQL at once, since its mailbox counts must see them.
func (db *DB) storeLetter(ctx context.Context, q prepared, r *mailRequest) (errs []error, err error) {
	errs = make([]error, len(r.to))
	if len(db.mailLetters) == 0 {
		db.mailBoxes = db.mailBoxes[:0]
	}
	boxes := 0
	for i, name := range r.to {
		id, err := db.mailboxRoom(ctx, q, name, r.m.From, r.limit)
		if chatd.ErrorCode(err) != chatd.EInternal {
			errs[i] = err
			continue
		}
		if err != nil {
			return nil, err
		}
		db.mailBoxes = append(db.mailBoxes, id)
		boxes++
	}
	if boxes == 0 {
		return errs, nil
	}
	db.mailLetters = append(db.mailLetters, pendingLetter{m: &r.m, from: len(db.mailBoxes) - boxes, to: len(db.mailBoxes)})
	if q.pg() {
		if err := db.flushLetters(ctx, q); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

// flushLetters writes the pending letters and their mailbox rows.
//
// On SQLite a batch's letters are written with a few multi-row INSERTs
// (sqlInsertLetters, sqlInsertMails) instead of two statements per
// message: each statement costs a trip through database/sql and the
// driver that is worth several rows' work. The ids are given, not left to
// SQLite: one more than the largest in the table, in order, which is what
// SQLite would choose itself, but known before the insert so that the
// mailbox rows can name their letter. Only the mailer inserts into either
// table, and the mailer's transaction holds SQLite's write lock, so the
// largest ids read at the mailer's first flush stay the largest it has
// given until another handle on the file commits (checkMailMemory reads
// them again then): the mailer counts on from them, batch after batch,
// without a query. Deliveries only delete, so an id is never given twice;
// the ids of a batch that rolled back are skipped, which is harmless.
func (db *DB) flushLetters(ctx context.Context, q prepared) error {
	letters := db.mailLetters
	if len(letters) == 0 {
		return nil
	}
	db.mailLetters = letters[:0]
	if q.pg() {
		return db.writeLettersPG(ctx, q, letters, db.mailBoxes)
	}
	if !db.mailTops {
		err := q.QueryRowxContext(ctx, sqlMailTops).Scan(&db.mailLetterTop, &db.mailBoxTop)
		if err != nil {
			return fmt.Errorf("store offline message: largest ids: %w", err)
		}
		db.mailTops = true
	}
	args := db.mailArgs[:0]
	for _, l := range letters {
		db.mailLetterTop++
		args = append(args, db.mailLetterTop, l.m.From, strings.Join(l.m.To, " "), l.m.Text, millis(l.m.Time),
			db.msgID(l.m.MsgID, l.m.Time))
	}
	if err := execRows(ctx, q, sqlInsertLetters, 6, args, "store offline message"); err != nil {
		return err
	}
	args = args[:0]
	letter := db.mailLetterTop - int64(len(letters))
	for _, l := range letters {
		letter++
		for _, box := range db.mailBoxes[l.from:l.to] {
			db.mailBoxTop++
			args = append(args, db.mailBoxTop, box, letter)
		}
	}
	err := execRows(ctx, q, sqlInsertMails, 3, args, "store offline message")
	db.mailUnsorted += len(args) / 3
	clear(args) // hold no texts between batches
	db.mailArgs = args[:0]
	return err
}

// execRows inserts the rows in args (width values each) with the
// multi-row statements stmts, stmts[k] taking 1<<k rows: the largest that
// fits first, so a batch of n rows takes at most log2(n)+1 statements
// (past the largest, n/largest more). An error names what it was doing.
func execRows(ctx context.Context, q prepared, stmts []string, width int, args []any, what string) error {
	for len(args) > 0 {
		k := len(stmts) - 1
		for (1<<k)*width > len(args) {
			k--
		}
		n := (1 << k) * width
		if _, err := q.ExecContext(ctx, stmts[k], args[:n]...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		args = args[n:]
	}
	return nil
}

// writeLettersPG writes letters one by one on PostgreSQL, taking each
// letter's id from its sequence.
func (db *DB) writeLettersPG(ctx context.Context, q prepared, letters []pendingLetter, boxes []int64) error {
	for _, l := range letters {
		var letter int64
		// pgx has no LastInsertId.
		err := q.QueryRowxContext(ctx, sqlInsertLetter+` RETURNING id`,
			l.m.From, strings.Join(l.m.To, " "), l.m.Text, millis(l.m.Time), db.msgID(l.m.MsgID, l.m.Time)).Scan(&letter)
		if err != nil {
			return fmt.Errorf("store offline message: %w", err)
		}
		for _, id := range boxes[l.from:l.to] {
			if _, err := q.ExecContext(ctx, sqlInsertMail, id, letter); err != nil {
				return fmt.Errorf("store offline message: %w", err)
			}
		}
	}
	return nil
}

// mailboxRoom returns the id of user to when their mailbox has room for one
// more message from from, or ENoSuchUser / EBlocked / EMailboxFull (nil
// error with an id otherwise; any other error is internal). The block is
// checked here, in the mailer's own transaction, so that a message to
// someone offline costs the sender no read transaction of its own.
//
// Counting a mailbox costs a step per message in it, so the mailer keeps,
// per recipient, an upper bound of its size (db.mailBounds: mailer
// goroutine only): the size at its last count plus the messages stored
// since. Only the mailer adds to a mailbox, and deliveries and deleted
// accounts only take away (a new account that gets a deleted one's id
// starts empty), so the bound never falls below the truth. While it is
// under the limit there is room, without counting; at the limit the
// mailbox is counted again, after the letters of the batch still pending
// are written, so that the count sees them.
//
// On PostgreSQL other nodes add to mailboxes too, so no bound holds: the
// mailbox is counted every time, under the lock lockMailboxes took, so that
// two nodes cannot both see room for the last message.
func (db *DB) mailboxRoom(ctx context.Context, q prepared, to, from string, limit int) (int64, error) {
	id, err := db.recipient(ctx, q, to, from)
	if err != nil {
		return 0, err
	}
	if q.pg() {
		if limit <= 0 {
			return id, nil
		}
		// The mailbox is locked (lockMailboxes) until the commit.
		var n int
		if err := q.QueryRowxContext(ctx, sqlMailboxSize, id).Scan(&n); err != nil {
			return 0, fmt.Errorf("count offline messages for %s: %w", to, err)
		}
		if n >= limit {
			return 0, chatd.Errorf(chatd.EMailboxFull, "%s has too many messages waiting; try again later", to)
		}
		return id, nil
	}
	bounds := db.mailBounds
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
	if err := db.flushLetters(ctx, q); err != nil {
		return 0, err
	}
	var n int
	if err := q.QueryRowxContext(ctx, sqlMailboxSizeSorting, id).Scan(&n); err != nil {
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

// mailRcpt is what the mailer remembers of a recipient (SQLite only): their
// user id and the name keys of the users they block.
type mailRcpt struct {
	id     int64
	blocks map[string]bool // nil: blocks nobody
}

// recipient returns the id of user to, or ENoSuchUser, or EBlocked when to
// blocks from (from "" is nobody's to block: a notice from the server).
//
// On SQLite the mailer remembers each recipient it has looked up, with the
// users they block (db.mailRcpts: mailer goroutine only), so that a
// message costs no lookup. What could make that memory wrong is a deleted
// user (whose name may be registered again with another id) or a block
// made or lifted; checkMailMemory forgets it all when this handle has done
// either (db.usersChanged) or another handle has committed anything. A
// name that is not registered is not remembered: the next message looks
// again, so a new user is found at once.
//
// On PostgreSQL other nodes change users and blocks too: one statement
// asks each time.
func (db *DB) recipient(ctx context.Context, q prepared, to, from string) (int64, error) {
	if q.pg() {
		return recipientID(ctx, q, to, from)
	}
	key := chatd.Key(to)
	rc := db.mailRcpts[key]
	if rc == nil {
		var err error
		if rc, err = loadRecipient(ctx, q, to, key); err != nil {
			return 0, err
		}
		if len(db.mailRcpts) >= mailBounds {
			clear(db.mailRcpts)
		}
		db.mailRcpts[key] = rc
	}
	if from != "" && rc.blocks != nil && rc.blocks[chatd.Key(from)] {
		return 0, blockedBy(to)
	}
	return rc.id, nil
}

// loadRecipient reads user to (key: chatd.Key(to)) and whom they block.
func loadRecipient(ctx context.Context, q prepared, to, key string) (*mailRcpt, error) {
	rows, err := q.QueryContext(ctx, sqlRecipientBlocks, key)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", to, err)
	}
	defer rows.Close()
	var rc *mailRcpt
	for rows.Next() {
		var id int64
		var blocked string
		if err := rows.Scan(&id, &blocked); err != nil {
			return nil, fmt.Errorf("look up user %s: %w", to, err)
		}
		if rc == nil {
			rc = &mailRcpt{id: id}
		}
		if blocked != "" {
			if rc.blocks == nil {
				rc.blocks = map[string]bool{}
			}
			rc.blocks[blocked] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up user %s: %w", to, err)
	}
	if rc == nil {
		return nil, noSuchUser(to)
	}
	return rc, nil
}

// recipientID is recipient asked of the database: one statement.
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
		return 0, blockedBy(to)
	}
	return r.ID, nil
}

func blockedBy(to string) error {
	return chatd.Errorf(chatd.EBlocked, "%s is not accepting messages from you", to)
}

// checkMailMemory makes the mailer forget what it remembers of the
// database (mailbox bounds, recipients) where that may have changed
// without it. On SQLite another handle on the same file (a second
// process, or a second Open in tests) may have committed since the mailer
// last looked: its mail is not in the bounds, its deleted users and blocks
// not in the recipients. SQLite's data_version changes exactly then, and
// BEGIN IMMEDIATE already holds off any later commit until this
// transaction ends. This handle's own deletions of users and changes of
// blocks bump db.usersGen, inside their transaction: the writer's one
// connection is theirs until they end, so a bump is seen by the next
// batch after them.
func (db *DB) checkMailMemory(ctx context.Context, tx *dbTx) error {
	if db.pg {
		return nil
	}
	var v int64
	if err := db.write(tx).QueryRowxContext(ctx, sqlDataVersion).Scan(&v); err != nil {
		return fmt.Errorf("store offline message: data version: %w", err)
	}
	if v != db.mailVersion {
		clear(db.mailBounds)
		clear(db.mailRcpts)
		db.mailTops = false
		db.mailVersion = v
	}
	if g := db.usersGen.Load(); g != db.mailUsersGen {
		clear(db.mailRcpts)
		db.mailUsersGen = g
	}
	return nil
}

// mailSortEvery is how many new offline_messages rows the mailer lets
// gather before it sorts them into the recipient index: few enough that
// reading a mailbox walks few unsorted rows, enough that a sort changes a
// page of the index for many messages at once.
const mailSortEvery = 1024

// mailBounds bounds how many mailbox sizes, and how many recipients, the
// mailer keeps.
const mailBounds = 1 << 16

// The statements of the mailer, prepared when the database opens.
const (
	sqlSavepoint    = `SAVEPOINT mail`
	sqlRollbackTo   = `ROLLBACK TO mail`
	sqlRelease      = `RELEASE mail`
	sqlInsertLetter = `INSERT INTO letters (sender, recipients, body, ts, mid) VALUES (?, ?, ?, ?, ?)`
	sqlInsertMail   = `INSERT INTO offline_messages (recipient, letter) VALUES (?, ?)`
	sqlMailboxSize  = `SELECT count(*) FROM offline_messages WHERE recipient = ?`
	// sqlLastSorted is the largest id of a sorted offline_messages row
	// (SQLite; 0 for none): every row above it is unsorted. The rows
	// are walked from the top, so it costs a step per unsorted row.
	sqlLastSorted = `(SELECT coalesce((SELECT id FROM offline_messages NOT INDEXED
		WHERE sorted = 1 ORDER BY id DESC LIMIT 1), 0))`
	// sqlMailboxSizeSorting is sqlMailboxSize on SQLite: the sorted rows
	// from the index, the unsorted ones from the top of the table.
	sqlMailboxSizeSorting = `SELECT (SELECT count(*) FROM offline_messages WHERE recipient = ?1 AND sorted = 1)
		+ (SELECT count(*) FROM offline_messages WHERE id > ` + sqlLastSorted + ` AND sorted = 0 AND recipient = ?1)`
	// sqlSortMail puts every unsorted row into the recipient index.
	sqlSortMail = `UPDATE offline_messages SET sorted = 1 WHERE id > ` + sqlLastSorted + ` AND sorted = 0`
	sqlMailTops = `SELECT (SELECT coalesce(max(id), 0) FROM letters), (SELECT coalesce(max(id), 0) FROM offline_messages)`
	// sqlDataVersion changes when another handle on the file commits
	// (checkMailMemory). A prepared PRAGMA reads it anew at every step.
	sqlDataVersion = `PRAGMA data_version`
	// sqlRecipient is the recipient's id and whether they block the sender
	// (first argument), in one step.
	sqlRecipient = `SELECT id, EXISTS (SELECT 1 FROM blocks
		WHERE blocker = users.id AND blocked = (SELECT id FROM users WHERE name_key = ?)) AS blocked
		FROM users WHERE name_key = ?`
	// sqlRecipientBlocks is the recipient's id with the name key of each
	// user they block: one row per block, or one with '' for none.
	sqlRecipientBlocks = `SELECT u.id, coalesce(b.name_key, '') FROM users u
		LEFT JOIN blocks k ON k.blocker = u.id LEFT JOIN users b ON b.id = k.blocked
		WHERE u.name_key = ?`
)

// sqlInsertLetters[k] and sqlInsertMails[k] insert 1<<k rows with their
// ids (SQLite; see flushLetters). A statement of 64 rows has at most 320
// parameters, far below SQLite's limit (32,766) and PostgreSQL's (65,535).
var (
	sqlInsertLetters = insertStatements(`INSERT INTO letters (id, sender, recipients, body, ts, mid) VALUES `, 6)
	sqlInsertMails   = insertStatements(`INSERT INTO offline_messages (id, recipient, letter, sorted) VALUES `, 3)
)

func insertStatements(head string, width int) []string {
	stmts := make([]string, 7)
	for k := range stmts {
		stmts[k] = insertRows(head, width, 1<<k)
	}
	return stmts
}

// execBatches runs head followed by rows (width values each) and tail,
// perStmt rows to a statement: one statement for many rows, because
// SQLite opens a savepoint for each statement and its full-text index
// writes what it holds to disk at every savepoint (a statement per row
// would make an index segment per row and keep it busy merging them).
func execBatches(ctx context.Context, tx *dbTx, head, tail string, width, perStmt int, rows []any) error {
	for len(rows) > 0 {
		n := min(len(rows)/width, perStmt)
		if _, err := tx.ExecContext(ctx, insertRows(head, width, n)+tail, rows[:n*width]...); err != nil {
			return err
		}
		rows = rows[n*width:]
	}
	return nil
}

// placeholders is n question marks separated by commas.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// insertRows is head followed by n rows of width placeholders; a row of
// offline_messages also says that it is not sorted yet.
func insertRows(head string, width, n int) string {
	row := "(" + placeholders(width) + ")"
	if strings.Contains(head, "offline_messages") {
		row = "(" + strings.Repeat("?, ", width) + "0)"
	}
	return head + strings.Repeat(row+", ", n-1) + row
}

const (
	sqlOfflinePage = `SELECT o.id, l.sender, l.recipients, l.body, l.ts, l.mid
		FROM offline_messages o JOIN letters l ON l.id = o.letter
		WHERE o.recipient = ? AND o.id > ? ORDER BY o.id LIMIT ?`
	// sqlOfflinePageSorting is sqlOfflinePage on SQLite: the sorted rows,
	// then the unsorted ones (all above them), in one statement so that a
	// sort in between cannot hide any.
	sqlOfflinePageSorting = `SELECT o.id, l.sender, l.recipients, l.body, l.ts, l.mid FROM (
		SELECT * FROM (SELECT id, letter FROM offline_messages
			WHERE recipient = ?1 AND sorted = 1 AND id > ?2 ORDER BY id LIMIT ?3)
		UNION ALL
		SELECT * FROM (SELECT id, letter FROM offline_messages
			WHERE id > max(?2, ` + sqlLastSorted + `) AND sorted = 0 AND recipient = ?1 ORDER BY id LIMIT ?3)
	) o JOIN letters l ON l.id = o.letter ORDER BY o.id LIMIT ?3`
)

// OfflinePage returns up to n messages (n < 0: all) of to's mailbox whose
// IDs are greater than after, oldest first: a big mailbox is read and
// delivered a page at a time.
func (db *DB) OfflinePage(ctx context.Context, to string, after int64, n int) ([]chatd.OfflineMessage, error) {
	id, err := userID(ctx, db.read(), to)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID         int64  `db:"id"`
		Sender     string `db:"sender"`
		Recipients string `db:"recipients"`
		Body       string `db:"body"`
		TS         int64  `db:"ts"`
		MID        string `db:"mid"`
	}
	query := sqlOfflinePage
	if !db.pg {
		query = sqlOfflinePageSorting
	}
	err = sqlx.SelectContext(ctx, db.read(), &rows, query, id, after, db.limit(n))
	if err != nil {
		return nil, fmt.Errorf("read offline messages for %s: %w", to, err)
	}
	msgs := make([]chatd.OfflineMessage, len(rows))
	for i, r := range rows {
		msgs[i] = chatd.OfflineMessage{
			ID:    r.ID,
			MsgID: r.MID,
			From:  r.Sender,
			To:    strings.Fields(r.Recipients),
			Text:  r.Body,
			Time:  fromMillis(r.TS),
		}
	}
	return msgs, nil
}

// OfflineCount returns how many messages wait in to's mailbox.
func (db *DB) OfflineCount(ctx context.Context, to string) (int, error) {
	id, err := userID(ctx, db.read(), to)
	if err != nil {
		return 0, err
	}
	query := sqlMailboxSize
	if !db.pg {
		query = sqlMailboxSizeSorting
	}
	var n int
	if err := sqlx.GetContext(ctx, db.read(), &n, query, id); err != nil {
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
