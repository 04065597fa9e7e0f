package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

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
// tuple after it, and its tail: a line its conversation already holds
// (same id) is skipped.
const (
	privateInsert   = `INSERT INTO private_history (user_lo, user_hi, sender, recipients, body, ts, mid, reply_to, kind) VALUES `
	privateInsertPG = `INSERT INTO private_history (user_lo, user_hi, sender, recipients, body, ts, mid, reply_to, kind, words) VALUES `
	privateConflict = ` ON CONFLICT DO NOTHING`
)

// sqlInsertPrivates[k] stores 1<<k private messages (execRows); the
// SQLite ones are prepared when the database opens (hotWrites), so a
// batch costs no compiling. PostgreSQL's also store each line's words.
var (
	sqlInsertPrivates   = insertStatements(privateInsert, privateConflict, 9)
	sqlInsertPrivatesPG = insertStatements(privateInsertPG, privateConflict, 10)
)

// privateRows collects private_history rows to write and the
// conversations they add to, in order. AppendPrivateBatch and the mailer
// (keepLetters) both fill one and write it with writePrivate.
type privateRows struct {
	args  []any // user_lo, user_hi, sender, recipients, body, ts, mid, reply_to, kind (and words) per line
	order []pair
	added map[pair]int
}

// add adds line l (its time and id already set) to conversation p.
func (r *privateRows) add(pg bool, p pair, l chatd.HistoryLine) {
	if r.added == nil {
		r.added = map[pair]int{}
	}
	if _, ok := r.added[p]; !ok {
		r.order = append(r.order, p)
	}
	r.added[p]++
	r.args = append(r.args, p.lo, p.hi, l.From, l.Recipients, l.Text, millis(l.Time), l.MsgID, l.ReplyTo, l.Kind)
	if pg {
		r.args = append(r.args, lineWords(l))
	}
}

// reset empties r for the next batch, holding no texts.
func (r *privateRows) reset() {
	clear(r.args)
	r.args = r.args[:0]
	r.order = r.order[:0]
	clear(r.added)
}

// writePrivate inserts r's rows inside q's transaction and trims each
// conversation that is due (see AppendPrivateBatch) to keep lines. It
// returns the conversations it trimmed: should the transaction not
// commit, the caller hands them to forgetPairs.
//
// A conversation is not trimmed at its first write of this process, unlike
// a room: there are as many pairs as people who talk, and a trim at the
// first message of each would cost a query per message. A pair that came
// over from an earlier run holds at most keep + trimStep lines, and is
// trimmed once it has gained trimStep more.
func (db *DB) writePrivate(ctx context.Context, q prepared, r *privateRows, keep int) ([]pair, error) {
	if len(r.args) == 0 {
		return nil, nil
	}
	cols, stmts := 9, sqlInsertPrivates
	if db.pg {
		cols, stmts = 10, sqlInsertPrivatesPG
	}
	if err := execRows(ctx, q, stmts, cols, r.args, "append private history"); err != nil {
		return nil, err
	}
	db.trimMu.Lock()
	if db.untrimmedPairs == nil {
		db.untrimmedPairs = map[pair]int{}
	}
	due := dueTrims(db.untrimmedPairs, r.order, r.added, trimStep(keep), false)
	db.trimMu.Unlock()
	for _, p := range due {
		if err := trimPrivate(ctx, q, p, keep); err != nil {
			db.forgetPairs(due)
			return nil, err
		}
	}
	return due, nil
}

// forgetPairs forgets the counts of conversations whose trim was rolled
// back.
func (db *DB) forgetPairs(due []pair) {
	if len(due) == 0 {
		return
	}
	db.trimMu.Lock()
	defer db.trimMu.Unlock()
	for _, p := range due {
		delete(db.untrimmedPairs, p)
	}
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
	w := db.write(tx)         // the look-ups and inserts run prepared (hotWrites)
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
	var rows privateRows
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
		l := pl.Line
		l.Time = db.orNow(l.Time)
		l.MsgID = db.msgID(l.MsgID, l.Time)
		rows.add(db.pg, pairOf(from, to), l)
	}
	due, err := db.writePrivate(ctx, w, &rows, keep)
	if err != nil {
		return err
	}
	if err := commit(tx, "append private history"); err != nil {
		db.forgetPairs(due)
		return err
	}
	return nil
}

// trimPrivate keeps the newest keep (> 0) messages of a conversation, found
// through private_history_pair.
func trimPrivate(ctx context.Context, q prepared, p pair, keep int) error {
	var cut string
	err := sqlx.GetContext(ctx, q, &cut, `SELECT mid FROM private_history WHERE user_lo = ? AND user_hi = ?
		ORDER BY mid DESC LIMIT 1 OFFSET ?`, p.lo, p.hi, keep-1)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trim private history: %w", err)
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM private_history WHERE user_lo = ? AND user_hi = ? AND mid < ?`,
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
