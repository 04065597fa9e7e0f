package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/jmoiron/sqlx"
	"golang.org/x/text/unicode/norm"

	"chatd"
)

// AppendHistoryBatch stores lines in one transaction, so a busy server pays
// one commit per batch instead of one per chat line. Each room touched is
// trimmed once, at the end. Rooms closed meanwhile are skipped.
func (db *DB) AppendHistoryBatch(ctx context.Context, lines []chatd.RoomLine, keep int) error {
	if keep <= 0 || len(lines) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ids := map[string]int64{} // chatd.Key(room) -> id, or -1 when gone
	var order []int64
	added := map[int64]int{}
	var rows []any // room_id, sender, body, ts, action, mid, mentions, reply_to, kind (and words) for each line kept
	var marks []lineMentions
	for _, rl := range lines {
		k := chatd.Key(rl.Room)
		id, ok := ids[k]
		if !ok {
			id, err = roomID(ctx, tx, rl.Room)
			if chatd.ErrorCode(err) == chatd.ENoSuchRoom {
				id = -1
			} else if err != nil {
				return err
			} else {
				order = append(order, id)
			}
			ids[k] = id
		}
		if id < 0 {
			continue
		}
		added[id]++
		at := db.orNow(rl.Line.Time)
		mid := db.msgID(rl.Line.MsgID, at)
		rows = append(rows, id, rl.Line.From, rl.Line.Text, millis(at), rl.Line.Action, mid, rl.Line.Mentions, rl.Line.ReplyTo, rl.Line.Kind)
		if rl.Line.Mentions != "" && rl.Line.Kind == "" {
			marks = append(marks, lineMentions{id, mid, strings.Fields(rl.Line.Mentions)})
		}
		if db.pg {
			rows = append(rows, lineWords(rl.Line))
		}
	}
	cols, head := 9, historyInsert
	if db.pg {
		cols, head = 10, historyInsertPG
	}
	if err := execBatches(ctx, tx, head, "", cols, historyBatchRows, rows); err != nil {
		return fmt.Errorf("append room history: %w", err)
	}
	for _, m := range marks {
		if err := addMentions(ctx, tx, m.room, m.mid, m.users); err != nil {
			return err
		}
	}
	// Trimming finds the oldest line to keep by walking keep entries of
	// the room's index, so it is done once per trimStep lines, not per
	// batch: a room holds at most keep + trimStep lines between trims.
	// Each room is trimmed the first time this process writes to it, so a
	// lowered history_keep applies at once.
	db.trimMu.Lock()
	if db.untrimmed == nil {
		db.untrimmed = map[int64]int{}
	}
	due := dueTrims(db.untrimmed, order, added, trimStep(keep), true)
	db.trimMu.Unlock()
	for _, id := range due {
		if err := trimHistory(ctx, tx, id, keep); err != nil {
			db.forgetTrims(due)
			return err
		}
	}
	if err := commit(tx, "append room history"); err != nil {
		db.forgetTrims(due)
		return err
	}
	return nil
}

// dueTrims adds the lines each conversation in order gained (added) to its
// count since its last trim (counts) and returns those due a trim: step
// lines since, or, with first, never trimmed by this process. The caller
// holds trimMu.
func dueTrims[K comparable](counts map[K]int, order []K, added map[K]int, step int, first bool) []K {
	var due []K
	for _, k := range order {
		n, seen := counts[k]
		n += added[k]
		if first && !seen || n >= step {
			due = append(due, k)
			n = 0
		}
		counts[k] = n
	}
	return due
}

// trimStep is how many lines a room may gain beyond keep before it is
// trimmed back to keep.
func trimStep(keep int) int { return max(64, keep/8) }

// forgetTrims marks rooms whose trim was rolled back as due again.
func (db *DB) forgetTrims(ids []int64) {
	db.trimMu.Lock()
	defer db.trimMu.Unlock()
	for _, id := range ids {
		delete(db.untrimmed, id)
	}
}

// trimHistory keeps the newest keep lines of a room: it finds the id of the
// oldest line to keep through the (room_id, id) index and deletes what is
// older, so the cost is the lines deleted, not the lines kept.
func trimHistory(ctx context.Context, tx *dbTx, id int64, keep int) error {
	var cut int64
	err := tx.GetContext(ctx, &cut,
		`SELECT id FROM room_history WHERE room_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?`, id, max(keep-1, 0))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // fewer than keep lines
	}
	if err != nil {
		return fmt.Errorf("trim room history: %w", err)
	}
	if keep <= 0 {
		cut++ // delete the newest line too
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM room_history WHERE room_id = ? AND id < ?`, id, cut); err != nil {
		return fmt.Errorf("trim room history: %w", err)
	}
	return nil
}

// historyBatchRows is how many history lines (room or private) one
// INSERT statement writes (execBatches).
const historyBatchRows = 200

// The head of the statements that store history lines. PostgreSQL also
// stores the line's words, its search index (see searchWords).
const (
	historyInsert   = `INSERT INTO room_history (room_id, sender, body, ts, action, mid, mentions, reply_to, kind) VALUES `
	historyInsertPG = `INSERT INTO room_history (room_id, sender, body, ts, action, mid, mentions, reply_to, kind, words) VALUES `
)

// lineWords is what PostgreSQL's search index holds of an entry: a line's
// words (searchWords), none of an event's (a topic, a TAGMSG's tags),
// which search never finds.
func lineWords(l chatd.HistoryLine) []string {
	if l.Kind != "" {
		return []string{}
	}
	return searchWords(l.Text)
}

// lineMentions is a stored line's mentions, for room_mentions.
type lineMentions struct {
	room  int64
	mid   string
	users []string
}

// History returns the newest n lines of room, oldest first: in the order
// of their ids, which in a cluster is the order every node delivered them
// in (the nodes store their own lines, so the rows' order may differ).
func (db *DB) History(ctx context.Context, room string, n int) ([]chatd.HistoryLine, error) {
	id, err := roomID(ctx, db.reader, room)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	var rows []historyRow
	err = db.reader.SelectContext(ctx, &rows,
		`SELECT id, sender, body, ts, action, mid, mentions, reply_to, edited, deleted FROM room_history WHERE room_id = ? AND kind = '' ORDER BY mid DESC LIMIT ?`, id, n)
	if err != nil {
		return nil, fmt.Errorf("read the history of %s: %w", room, err)
	}
	lines, err := db.historyLines(ctx, "room_line", rows)
	if err != nil {
		return nil, err
	}
	slices.Reverse(lines)
	return lines, nil
}

// historyRow is a stored line as History and SearchHistory read it.
type historyRow struct {
	ID     int64  `db:"id"`
	Sender string `db:"sender"`
	Body   string `db:"body"`
	TS     int64  `db:"ts"`
	Action bool   `db:"action"`
	MID    string `db:"mid"`
	// Recipients is a private message's, space-separated.
	Recipients string `db:"recipients"`
	// Mentions is a room line's, space-separated.
	Mentions string        `db:"mentions"`
	ReplyTo  string        `db:"reply_to"`
	Edited   sql.NullInt64 `db:"edited"`
	Deleted  bool          `db:"deleted"`
	Kind     string        `db:"kind"`
}

// historyLines turns rows into lines with their reactions, which col
// (room_line or private_line) of message_reactions points at.
func (db *DB) historyLines(ctx context.Context, col string, rows []historyRow) ([]chatd.HistoryLine, error) {
	lines := make([]chatd.HistoryLine, len(rows))
	ids := make([]int64, len(rows))
	for i, r := range rows {
		lines[i] = chatd.HistoryLine{MsgID: r.MID, From: r.Sender, Text: r.Body, Time: fromMillis(r.TS), Action: r.Action,
			Recipients: r.Recipients, Mentions: r.Mentions, ReplyTo: r.ReplyTo, Edited: fromNullMillis(r.Edited), Deleted: r.Deleted, Kind: r.Kind}
		ids[i] = r.ID
	}
	if err := db.withReactions(ctx, col, ids, lines); err != nil {
		return nil, err
	}
	return lines, nil
}

// LastMessageID; see chatd.HistoryStore. It reads every room's index
// (room_id, mid), every conversation's and every letter: once, at start.
func (db *DB) LastMessageID(ctx context.Context) (string, error) {
	var last string
	err := sqlx.GetContext(ctx, db.read(), &last, `SELECT coalesce(max(m), '') FROM (
		SELECT max(mid) AS m FROM room_history UNION ALL SELECT max(mid) FROM letters
		UNION ALL SELECT max(mid) FROM private_history) AS t`)
	if err != nil {
		return "", fmt.Errorf("read the last message id: %w", err)
	}
	return last, nil
}

// searchSQL finds lines through the full-text index: the index is the outer
// loop (CROSS JOIN fixes the order) and yields rowids newest first, each
// row of room_history is then read by its primary key. TestSearchUsesIndex
// checks the plan.
// Lines older than the newest keep of the room (kept until the next trim)
// are left out.
const searchSQL = `SELECT h.id, h.sender, h.body, h.ts, h.action, h.mid, h.mentions, h.reply_to, h.edited, h.deleted
	FROM room_history_fts f CROSS JOIN room_history h ON h.id = f.rowid
	WHERE room_history_fts MATCH ? AND h.room_id = ? AND h.kind = '' AND h.id >= coalesce(
	    (SELECT id FROM room_history WHERE room_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?), 0)
	ORDER BY f.rowid DESC LIMIT ?`

// searchWordsMax is how many distinct words one search may hold. Each word
// is one more walk through the full-text index, and more than a few words
// rarely narrow a search further: a longer query is refused, not cut.
const searchWordsMax = 8

// SearchHistory returns up to n lines of room holding every word of query,
// newest first. Words are matched whole and case-insensitively; query's
// punctuation is not FTS syntax, it only separates words. A word given
// twice counts once; more than searchWordsMax distinct words is bad_args.
//
// A search may be slow (common words, many lines): it runs within ctx, and
// one whose ctx's deadline passes is interrupted and answered server_busy.
// Searches together hold at most all but one of the reader pool's
// connections, so other reads always find one; a search that cannot get a
// slot before ctx's deadline is answered server_busy too.
func (db *DB) SearchHistory(ctx context.Context, room, query string, n, keep int) ([]chatd.HistoryLine, error) {
	words := searchTerms(query)
	if len(words) == 0 {
		return nil, chatd.Errorf(chatd.EBadArgs, "give at least one word to search for")
	}
	if len(words) > searchWordsMax {
		return nil, chatd.Errorf(chatd.EBadArgs, "search for at most %d different words; that was %d", searchWordsMax, len(words))
	}
	match, q := any(ftsQuery(words)), searchSQL
	if db.pg {
		match, q = searchWords(query), searchSQLPG
	}
	id, err := roomID(ctx, db.reader, room)
	if err != nil {
		return nil, searchStopped(ctx, err)
	}
	var rows []historyRow
	if keep <= 0 {
		return nil, nil
	}
	release, err := db.searchSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := db.reader.SelectContext(ctx, &rows, q, match, id, id, keep-1, n); err != nil {
		return nil, searchStopped(ctx, fmt.Errorf("search the history of %s: %w", room, err))
	}
	// The search's time budget is for the search; the reactions of what
	// it found are one indexed read more.
	return db.historyLines(context.WithoutCancel(ctx), "room_line", rows)
}

// searchSlot waits for one of the search slots: one fewer than the reader
// pool's connections (at least one), so that searches, however slow, never
// hold every reader. release gives the slot back.
func (db *DB) searchSlot(ctx context.Context) (release func(), err error) {
	db.searchOnce.Do(func() {
		db.searchSlots = make(chan struct{}, max(1, db.reader.Stats().MaxOpenConnections-1))
	})
	release = func() { <-db.searchSlots }
	select {
	case db.searchSlots <- struct{}{}: // a free slot is taken whatever ctx says
		return release, nil
	default:
	}
	select {
	case db.searchSlots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, chatd.Errorf(chatd.EServerBusy, "too many searches are running; try again in a moment")
		}
		return nil, ctx.Err()
	}
}

// searchStopped is err, or server_busy when it came of ctx's deadline: the
// search's time budget ran out and SQLite was interrupted (PostgreSQL
// cancelled the statement).
func searchStopped(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return chatd.Errorf(chatd.EServerBusy, "that search took too long and was stopped; search for fewer or rarer words")
	}
	return err
}

// searchTerms is the distinct words of what a user typed, in the order
// given: a word is a run of letters and digits, and two words are the same
// when the index would fold them to the same (case, diacritics; see
// searchWords). Each keeps its first spelling.
func searchTerms(q string) []string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	seen := make(map[string]bool, len(words))
	out := words[:0]
	for _, w := range words {
		k := strings.Join(searchWords(w), " ")
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, w)
	}
	return out
}

// ftsQuery turns words (searchTerms) into an FTS5 query that matches lines
// holding all of them: each word becomes a quoted string, so nothing the
// user types is FTS syntax.
func ftsQuery(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = `"` + w + `"`
	}
	return strings.Join(quoted, " ")
}

// searchSQLPG is searchSQL for PostgreSQL: the lines of the room whose
// words hold every word searched for (@> on the GIN-indexed array).
const searchSQLPG = `SELECT h.id, h.sender, h.body, h.ts, h.action, h.mid, h.mentions, h.reply_to, h.edited, h.deleted
	FROM room_history h
	WHERE h.words @> ? AND h.room_id = ? AND h.kind = '' AND h.id >= coalesce(
	    (SELECT id FROM room_history WHERE room_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?), 0)
	ORDER BY h.id DESC LIMIT ?`

// searchWords is what PostgreSQL indexes of a line, and looks up of a
// query: its distinct words, folded as SQLite's FTS5 unicode61 tokenizer
// folds them, so search finds the same lines on both backends. Diacritics
// go (café is cafe), letters are lowercased, and a word is a run of letters
// and digits, as in ftsQuery.
func searchWords(s string) []string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	words := strings.FieldsFunc(b.String(), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	slices.Sort(words)
	return slices.Compact(words)
}
