package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// Private messages are kept per pair conversation (schema.sql,
// private_history): a pair is its two users' ids, the lower first, and
// its lines are walked in message id order through private_history_pair.

// pair is a private conversation: its users' ids, lo < hi.
type pair struct{ lo, hi int64 }

func pairOf(a, b int64) pair {
	if a > b {
		a, b = b, a
	}
	return pair{a, b}
}

// The head of the statement that stores private messages, one row each
// tuple after it, and its tail: a message its conversation already holds
// (same id) is skipped.
const (
	privateInsert   = `INSERT INTO private_history (user_lo, user_hi, sender, recipients, body, ts, mid, reply_to, kind) VALUES `
	privateInsertPG = `INSERT INTO private_history (user_lo, user_hi, sender, recipients, body, ts, mid, reply_to, kind, words) VALUES `
	privateConflict = ` ON CONFLICT DO NOTHING`
)

// sqlInsertPrivates[k] stores up to 1<<k private messages on SQLite
// (execPadded), k from 0 to 8. They are prepared when the database opens
// (hotWrites): compiled from its text for every batch, a statement of
// 200 rows cost more than the rows it wrote.
var sqlInsertPrivates = paddedStatements(privateInsert, privateConflict, 9, 9)

// paddedStatements is sizes statements that insert 1, 2, 4, ... rows of
// head (width values each), followed by tail, and skip every row whose
// first value is NULL: any number of rows up to the largest goes in one
// statement, padded to the next size with rows of NULLs (execPadded).
// One statement matters for a table with a full-text index: SQLite's
// writes what it holds as a new segment at the end of each statement.
func paddedStatements(head, tail string, width, sizes int) []string {
	cols := make([]string, width)
	for i := range cols {
		cols[i] = fmt.Sprintf("column%d", i+1) // the columns of a VALUES list
	}
	into, _ := strings.CutSuffix(head, " VALUES ")
	stmts := make([]string, sizes)
	for k := range stmts {
		stmts[k] = into + " SELECT " + strings.Join(cols, ", ") + " FROM (" +
			insertRows("VALUES ", width, 1<<k) + ") WHERE column1 IS NOT NULL" + tail
	}
	return stmts
}

// execPadded inserts the rows in args (width values each, the first never
// NULL) with stmts from paddedStatements: as many rows to a statement as
// the largest takes, fewer padded to the next size.
func execPadded(ctx context.Context, q prepared, stmts []string, width int, args []any) error {
	var pad []any
	for len(args) > 0 {
		rows := min(len(args)/width, 1<<(len(stmts)-1))
		k := 0
		for 1<<k < rows {
			k++
		}
		n := rows * width
		vals := args[:n]
		if extra := (1<<k)*width - n; extra > 0 {
			pad = append(append(pad[:0], vals...), make([]any, extra)...)
			vals = pad
		}
		if _, err := q.ExecContext(ctx, stmts[k], vals...); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// AppendPrivateBatch; see chatd.HistoryStore. As AppendHistoryBatch, one
// transaction for the batch and each conversation trimmed now and then,
// not at every line.
func (db *DB) AppendPrivateBatch(ctx context.Context, lines []chatd.PrivateLine, keep int) error {
	if keep <= 0 || len(lines) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := db.write(tx)         // the look-ups run prepared (hotWrites)
	ids := map[string]int64{} // chatd.Key(name) -> id, or -1 when gone
	id := func(name string) (int64, error) {
		k := chatd.Key(name)
		if v, ok := ids[k]; ok {
			return v, nil
		}
		v, err := userID(ctx, w, name)
		if chatd.ErrorCode(err) == chatd.ENoSuchUser {
			v, err = -1, nil
		}
		ids[k] = v
		return v, err
	}
	var order []pair
	added := map[pair]int{}
	var rows []any // user_lo, user_hi, sender, recipients, body, ts, mid, reply_to, kind (and words) for each message kept
	for _, pl := range lines {
		from, err := id(pl.Line.From)
		if err != nil {
			return err
		}
		to, err := id(pl.With)
		if err != nil {
			return err
		}
		if from < 0 || to < 0 || from == to {
			continue
		}
		p := pairOf(from, to)
		if _, ok := added[p]; !ok {
			order = append(order, p)
		}
		added[p]++
		at := db.orNow(pl.Line.Time)
		rows = append(rows, p.lo, p.hi, pl.Line.From, pl.Line.Recipients, pl.Line.Text, millis(at), db.msgID(pl.Line.MsgID, at), pl.Line.ReplyTo, pl.Line.Kind)
		if db.pg {
			rows = append(rows, lineWords(pl.Line))
		}
	}
	if db.pg {
		err = execBatches(ctx, tx, privateInsertPG, privateConflict, 10, historyBatchRows, rows)
	} else {
		err = execPadded(ctx, w, sqlInsertPrivates, 9, rows)
	}
	if err != nil {
		return fmt.Errorf("append private history: %w", err)
	}
	db.trimMu.Lock()
	if db.untrimmedPairs == nil {
		db.untrimmedPairs = map[pair]int{}
	}
	// Unlike a room, a pair is not trimmed at its first write of this
	// process: there are as many pairs as people who talk, and a trim at
	// the first message of each would cost a query per message. A pair
	// that came over from an earlier run holds at most keep + trimStep
	// lines, and is trimmed once it has gained trimStep more.
	due := dueTrims(db.untrimmedPairs, order, added, trimStep(keep), false)
	db.trimMu.Unlock()
	forget := func() {
		db.trimMu.Lock()
		defer db.trimMu.Unlock()
		for _, p := range due {
			delete(db.untrimmedPairs, p)
		}
	}
	for _, p := range due {
		if err := trimPrivate(ctx, tx, p, keep); err != nil {
			forget()
			return err
		}
	}
	if err := commit(tx, "append private history"); err != nil {
		forget()
		return err
	}
	return nil
}

// trimPrivate keeps the newest keep (> 0) messages of a conversation, found
// through private_history_pair.
func trimPrivate(ctx context.Context, tx *dbTx, p pair, keep int) error {
	var cut string
	err := tx.GetContext(ctx, &cut, `SELECT mid FROM private_history WHERE user_lo = ? AND user_hi = ?
		ORDER BY mid DESC LIMIT 1 OFFSET ?`, p.lo, p.hi, keep-1)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trim private history: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM private_history WHERE user_lo = ? AND user_hi = ? AND mid < ?`,
		p.lo, p.hi, cut); err != nil {
		return fmt.Errorf("trim private history: %w", err)
	}
	return nil
}

// conversationQuery is where one conversation's lines are: the table, and
// the condition (with its arguments) that picks them out; the condition
// is a prefix of an index whose next column is mid.
type conversationQuery struct {
	table, cond string
	args        []any
	cols        string // id, sender, body, ts, action, mid, recipients, reply_to, edited, deleted, kind (and a room's mentions)
	reactions   string // the column of message_reactions that points at its lines
}

var (
	roomConversation = conversationQuery{table: "room_history", cond: "room_id = ?",
		cols: "id, sender, body, ts, action, mid, '' AS recipients, reply_to, edited, deleted, kind, mentions", reactions: "room_line"}
	privateConversation = conversationQuery{table: "private_history", cond: "user_lo = ? AND user_hi = ?",
		cols: "id, sender, body, ts, false AS action, mid, recipients, reply_to, edited, deleted, kind", reactions: "private_line"}
)

// pageSQL is the statements of a page of history. Each walks the
// conversation's (…, mid) index from one end or from an id, and stops
// after n+1 lines (the one past the page says whether there is more).
// Lines older than the conversation's newest keep (kept until its next
// trim) are left out, and so are the entries that are not lines unless
// q asks for events (the floor counts them: trimming keeps entries of
// every kind). TestHistoryPageUsesIndex checks the plans.
func pageSQL(c conversationQuery, q chatd.PageQuery) (string, bool) {
	floor := fmt.Sprintf(`mid >= coalesce((SELECT mid FROM %s WHERE %s ORDER BY mid DESC LIMIT 1 OFFSET ?), '')`, c.table, c.cond)
	if !q.Events {
		floor += " AND kind = ''"
	}
	switch {
	case q.After != "":
		return fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND mid > ? AND %s ORDER BY mid ASC LIMIT ?`, c.cols, c.table, c.cond, floor), false
	case q.Before != "":
		return fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND mid < ? AND %s ORDER BY mid DESC LIMIT ?`, c.cols, c.table, c.cond, floor), true
	default:
		return fmt.Sprintf(`SELECT %s FROM %s WHERE %s AND mid > ? AND %s ORDER BY mid DESC LIMIT ?`, c.cols, c.table, c.cond, floor), true
	}
}

// page reads the page q of conversation c.
func (db *DB) page(ctx context.Context, c conversationQuery, name string, q chatd.PageQuery) (chatd.Page, error) {
	if q.N <= 0 || q.Keep <= 0 {
		if q.Before == "" && q.After == "" {
			return chatd.Page{}, nil
		}
	}
	if at := q.Before + q.After; at != "" && !q.Bound {
		var n int
		if err := sqlx.GetContext(ctx, db.read(), &n, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s AND mid = ?`, c.table, c.cond),
			append(slices.Clone(c.args), at)...); err != nil {
			return chatd.Page{}, fmt.Errorf("read the history of %s: %w", name, err)
		}
		if n == 0 {
			return chatd.Page{}, chatd.Errorf(chatd.ENoSuchMessage, "there is no message %s in %s", at, name)
		}
	}
	if q.N <= 0 || q.Keep <= 0 {
		return chatd.Page{}, nil
	}
	stmt, newestFirst := pageSQL(c, q)
	args := slices.Clone(c.args)
	args = append(args, q.Before+q.After) // "" for the newest: every id is above it
	args = append(args, c.args...)
	args = append(args, q.Keep-1, q.N+1)
	var rows []historyRow
	if err := sqlx.SelectContext(ctx, db.read(), &rows, stmt, args...); err != nil {
		return chatd.Page{}, fmt.Errorf("read the history of %s: %w", name, err)
	}
	more := len(rows) > q.N
	if more {
		rows = rows[:q.N]
	}
	lines, err := db.historyLines(ctx, c.reactions, rows)
	if err != nil {
		return chatd.Page{}, fmt.Errorf("read the history of %s: %w", name, err)
	}
	p := chatd.Page{Lines: lines, More: more}
	if newestFirst {
		slices.Reverse(p.Lines)
	}
	return p, nil
}

// RoomHistoryPage; see chatd.HistoryStore.
func (db *DB) RoomHistoryPage(ctx context.Context, room string, q chatd.PageQuery) (chatd.Page, error) {
	id, err := roomID(ctx, db.read(), room)
	if err != nil {
		return chatd.Page{}, err
	}
	c := roomConversation
	c.args = []any{id}
	return db.page(ctx, c, room, q)
}

// privatePair looks up the conversation between user and other.
func (db *DB) privatePair(ctx context.Context, user, other string) (pair, error) {
	a, err := userID(ctx, db.read(), user)
	if err != nil {
		return pair{}, err
	}
	b, err := userID(ctx, db.read(), other)
	if err != nil {
		return pair{}, err
	}
	return pairOf(a, b), nil
}

// PrivateHistoryPage; see chatd.HistoryStore.
func (db *DB) PrivateHistoryPage(ctx context.Context, user, other string, q chatd.PageQuery) (chatd.Page, error) {
	p, err := db.privatePair(ctx, user, other)
	if err != nil {
		return chatd.Page{}, err
	}
	c := privateConversation
	c.args = []any{p.lo, p.hi}
	return db.page(ctx, c, "@"+other, q)
}

// privateConversationsSQL finds a user's conversations by the pair index
// (user_lo first) and private_history_hi, each with its newest id.
const privateConversationsSQL = `SELECT u.name AS other, max(h.mid) AS last
	FROM private_history h JOIN users u ON u.id = CASE WHEN h.user_lo = ? THEN h.user_hi ELSE h.user_lo END
	WHERE h.user_lo = ? OR h.user_hi = ?
	GROUP BY u.name HAVING max(h.mid) > ? AND max(h.mid) < ?
	ORDER BY last LIMIT ?`

// PrivateConversations; see chatd.HistoryStore.
func (db *DB) PrivateConversations(ctx context.Context, user, after, before string, n int) ([]chatd.ConversationEnd, error) {
	id, err := userID(ctx, db.read(), user)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Other string `db:"other"`
		Last  string `db:"last"`
	}
	if err := sqlx.SelectContext(ctx, db.read(), &rows, privateConversationsSQL, id, id, id, after, before, n); err != nil {
		return nil, fmt.Errorf("list the private conversations of %s: %w", user, err)
	}
	out := make([]chatd.ConversationEnd, len(rows))
	for i, r := range rows {
		out[i] = chatd.ConversationEnd{Conversation: "@" + r.Other, LastID: r.Last}
	}
	return out, nil
}

// searchPrivateSQL is searchSQL for a private conversation.
// TestSearchUsesIndex checks its plan too.
const searchPrivateSQL = `SELECT h.id, h.sender, h.body, h.ts, false AS action, h.mid, h.recipients, h.reply_to, h.edited, h.deleted
	FROM private_history_fts f CROSS JOIN private_history h ON h.id = f.rowid
	WHERE private_history_fts MATCH ? AND h.user_lo = ? AND h.user_hi = ? AND h.kind = '' AND h.mid >= coalesce(
	    (SELECT mid FROM private_history WHERE user_lo = ? AND user_hi = ? ORDER BY mid DESC LIMIT 1 OFFSET ?), '')
	ORDER BY f.rowid DESC LIMIT ?`

// searchPrivateSQLPG is searchPrivateSQL for PostgreSQL (see searchSQLPG).
const searchPrivateSQLPG = `SELECT h.id, h.sender, h.body, h.ts, false AS action, h.mid, h.recipients, h.reply_to, h.edited, h.deleted
	FROM private_history h
	WHERE h.words @> ? AND h.user_lo = ? AND h.user_hi = ? AND h.kind = '' AND h.mid >= coalesce(
	    (SELECT mid FROM private_history WHERE user_lo = ? AND user_hi = ? ORDER BY mid DESC LIMIT 1 OFFSET ?), '')
	ORDER BY h.id DESC LIMIT ?`

// SearchPrivate; see chatd.HistoryStore. The words, bounds and time budget
// are SearchHistory's.
func (db *DB) SearchPrivate(ctx context.Context, user, other, query string, n, keep int) ([]chatd.HistoryLine, error) {
	words := searchTerms(query)
	if len(words) == 0 {
		return nil, chatd.Errorf(chatd.EBadArgs, "give at least one word to search for")
	}
	if len(words) > searchWordsMax {
		return nil, chatd.Errorf(chatd.EBadArgs, "search for at most %d different words; that was %d", searchWordsMax, len(words))
	}
	match, q := any(ftsQuery(words)), searchPrivateSQL
	if db.pg {
		match, q = searchWords(query), searchPrivateSQLPG
	}
	p, err := db.privatePair(ctx, user, other)
	if err != nil {
		return nil, searchStopped(ctx, err)
	}
	if keep <= 0 {
		return nil, nil
	}
	release, err := db.searchSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var rows []historyRow
	if err := db.reader.SelectContext(ctx, &rows, q, match, p.lo, p.hi, p.lo, p.hi, keep-1, n); err != nil {
		return nil, searchStopped(ctx, fmt.Errorf("search the conversation with %s: %w", other, err))
	}
	// The search's time budget is for the search; the reactions of what
	// it found are one indexed read more.
	return db.historyLines(context.WithoutCancel(ctx), "private_line", rows)
}
