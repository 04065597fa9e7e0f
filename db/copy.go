package db

// Copying a whole community from one database to another (chatd migrate):
// SQLite to PostgreSQL when a community moves to several nodes, and back.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"chatd"
)

// copyTable is one table the copy carries over.
type copyTable struct {
	name string
	// key orders the rows as they are read: the table's primary key, so
	// that the target is written in the order of its own index.
	key string
}

// copyTables is every table the copy carries, in an order that satisfies
// the foreign keys (a table after those it refers to). A new table of
// either schema is one more entry here, or one in copySkipped;
// TestCopyCoversEveryTable fails until it is. The columns are not listed:
// every column of the source is copied (copyDerived excepted) and must
// exist in the target.
var copyTables = []copyTable{
	{"users", "id"},
	{"rooms", "id"},
	{"blocks", "blocker, blocked"},
	{"bans", "user_id"},
	{"login_attempts", "id"},
	{"room_attempts", "id"},
	{"room_members", "id"},
	{"room_bans", "room_id, user_id"},
	{"room_masks", "id"},
	{"room_invites", "room_id, user_id"},
	{"room_history", "id"},
	{"room_mentions", "user_id, line_id"},
	{"private_history", "id"},
	{"message_edits", "id"},
	{"message_reactions", "id"},
	{"letters", "id"},
	{"offline_messages", "id"},
	{"read_markers", "user_id, conv"},
	{"user_settings", "user_id, key"},
	{"keys", "id"},
	{"watchers", "watcher, watched"},
	{"metadata", "id"},
	{"actions", "id"},
}

// copySkipped names the tables of either schema that the copy leaves out,
// and why. SQLite's full-text tables (their names hold "_fts") are left
// out too: the target's own triggers fill them as the rows go in.
var copySkipped = map[string]string{
	"schema_version":   "PostgreSQL's schema version: the target has its own",
	"online_sessions":  "who is online on a running daemon, which empties it when it starts",
	"cluster_nodes":    "a cluster's live nodes",
	"cluster_sessions": "who is online on a cluster's nodes",
	"cluster_events":   "a cluster's event log between running nodes",
	"cluster_clock":    "a cluster's message id clock (ids are time based; a new clock starts past the copied ones)",
	"cluster_mail":     "private messages in transit between running nodes; a node that starts hands them to the mailboxes",
}

// skipped reports whether table is left out of the copy.
func skipped(table string) bool {
	_, ok := copySkipped[table]
	return ok || strings.Contains(table, "_fts")
}

// copyDerived are the columns one backend computes from the others: they
// are neither copied nor in a checksum, and the target fills its own
// (derive).
var copyDerived = map[string]bool{
	"room_history.words":      true, // PostgreSQL's search index
	"private_history.words":   true,
	"offline_messages.sorted": true, // SQLite's sorting of new mail into its index
}

// derive is the value of the target's derived column col of table for a
// row whose copied columns are cols.
func derive(table, col string, cols []string, row []any) any {
	switch table + "." + col {
	case "room_history.words", "private_history.words":
		body, _ := row[slices.Index(cols, "body")].(string)
		return searchWords(body)
	case "offline_messages.sorted":
		// Every copied row goes into the recipient index at once: none is
		// left for the mailer to sort.
		return 1
	}
	return nil
}

// TableSum is what a table held in a copy: its row count and a checksum
// over a canonical rendering of every row's copied columns (Cols, in this
// order), the same whichever backend computes it.
type TableSum struct {
	Table string
	Cols  []string
	Rows  int64
	Sum   string
}

// CopyProgress is told, every so often and once at each table's end, how
// many of a table's rows have been copied.
type CopyProgress func(table string, done, total int64)

// Copy copies every table of copyTables from src to dst, which must be
// empty (nothing but the lobby that opening it created), and returns what
// each table held. It reads src in one transaction, so it copies one
// consistent snapshot even while a daemon writes to src; what is written
// after the snapshot is not in the copy. It writes dst in one transaction
// too: a failure leaves dst as it was. On PostgreSQL the identity
// sequences are set past the copied ids. Check the result with
// dst.VerifyCopy.
func Copy(ctx context.Context, src, dst *DB, progress CopyProgress) ([]TableSum, error) {
	stx, err := src.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: read %s: %w", src.path, err)
	}
	defer stx.Rollback()
	dtx, err := dst.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy: write %s: %w", dst.path, err)
	}
	defer dtx.Rollback()
	// A node starting on the target meanwhile waits, as for a schema
	// migration, and then finds the community in place.
	if err := dtx.serialize(ctx, migrateLockKey); err != nil {
		return nil, fmt.Errorf("copy to %s: %w", dst.path, err)
	}
	if err := checkEmpty(ctx, dtx, dst.path); err != nil {
		return nil, err
	}
	sums := make([]TableSum, 0, len(copyTables))
	for _, t := range copyTables {
		sum, err := copyRows(ctx, stx, dtx, t, progress)
		if err != nil {
			return nil, fmt.Errorf("copy table %s from %s to %s: %w", t.name, src.path, dst.path, err)
		}
		sums = append(sums, sum)
	}
	if dst.pg {
		if err := setSequences(ctx, dtx); err != nil {
			return nil, fmt.Errorf("copy to %s: %w", dst.path, err)
		}
	}
	if err := commit(dtx, "copy to "+dst.path); err != nil {
		return nil, err
	}
	return sums, nil
}

// VerifyCopy reads every table of want from db again and compares its row
// count and checksum with what Copy read from the source. The error names
// every table that differs.
func (db *DB) VerifyCopy(ctx context.Context, want []TableSum) error {
	tx, err := db.snapshot(ctx)
	if err != nil {
		return fmt.Errorf("verify %s: %w", db.path, err)
	}
	defer tx.Rollback()
	var bad []string
	for _, w := range want {
		got, err := tableSum(ctx, tx, w.Table, w.Cols)
		if err != nil {
			return fmt.Errorf("verify %s: %w", db.path, err)
		}
		switch {
		case got.Rows != w.Rows:
			bad = append(bad, fmt.Sprintf("%s has %d rows, the source %d", w.Table, got.Rows, w.Rows))
		case got.Sum != w.Sum:
			bad = append(bad, fmt.Sprintf("%s: checksum %.16s, the source's %.16s", w.Table, got.Sum, w.Sum))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("verify %s: the copy differs from the source: %s", db.path, strings.Join(bad, "; "))
	}
	return nil
}

// snapshot starts a read-only transaction that sees one state of the
// database throughout: on SQLite (WAL) any read transaction does, on
// PostgreSQL a repeatable read one.
func (db *DB) snapshot(ctx context.Context) (*dbTx, error) {
	var opts *sql.TxOptions
	if db.pg {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := db.reader.BeginTxx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &dbTx{Tx: tx, pg: db.pg}, nil
}

// checkEmpty refuses a target that holds anything but the lobby a fresh
// database starts with, and removes that lobby: the source's comes with
// its id.
func checkEmpty(ctx context.Context, tx *dbTx, name string) error {
	var full []string
	for _, t := range copyTables {
		var n int64
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM `+t.name); err != nil {
			return fmt.Errorf("copy: look into %s: %w", name, err)
		}
		if t.name == "rooms" && n == 1 {
			var lobby int64
			if err := tx.GetContext(ctx, &lobby, `SELECT count(*) FROM rooms WHERE name_key = ?`, chatd.Key(chatd.Lobby)); err != nil {
				return fmt.Errorf("copy: look into %s: %w", name, err)
			}
			n -= lobby
		}
		if n > 0 {
			full = append(full, fmt.Sprintf("%s (%d rows)", t.name, n))
		}
	}
	if len(full) > 0 {
		return chatd.Errorf(chatd.ENotPermitted,
			"%s is not empty: it holds %s; the copy goes only into a new, empty database, and nothing was written",
			name, strings.Join(full, ", "))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rooms`); err != nil {
		return fmt.Errorf("copy: remove the new lobby of %s: %w", name, err)
	}
	return nil
}

// columns returns the columns of table, in their order, and which of them
// are booleans (PostgreSQL; SQLite stores flags as integers).
func columns(ctx context.Context, tx *dbTx, table string) (cols []string, boolean map[string]bool, err error) {
	boolean = map[string]bool{}
	if tx.pg {
		var rows []struct {
			Name string `db:"column_name"`
			Type string `db:"data_type"`
		}
		err = tx.SelectContext(ctx, &rows, `SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, table)
		for _, r := range rows {
			cols = append(cols, r.Name)
			boolean[r.Name] = r.Type == "boolean"
		}
	} else {
		err = tx.SelectContext(ctx, &cols, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	if len(cols) == 0 {
		return nil, nil, fmt.Errorf("there is no table %s", table)
	}
	return cols, boolean, nil
}

// copied is cols without the derived ones of table.
func copied(table string, cols []string) []string {
	return slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return copyDerived[table+"."+c] })
}

// quoted joins column names as quoted identifiers ("user", "by" and "key"
// are words of SQL).
func quoted(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c + `"`
	}
	return strings.Join(q, ", ")
}

// copyRows copies table t from stx to dtx and returns its sum.
func copyRows(ctx context.Context, stx, dtx *dbTx, t copyTable, progress CopyProgress) (TableSum, error) {
	scols, _, err := columns(ctx, stx, t.name)
	if err != nil {
		return TableSum{}, err
	}
	dcols, boolean, err := columns(ctx, dtx, t.name)
	if err != nil {
		return TableSum{}, err
	}
	cols := copied(t.name, scols)
	if d := copied(t.name, dcols); !sameSet(cols, d) {
		return TableSum{}, fmt.Errorf("the source has the columns %v and the target %v; both must run this chatd's schema", cols, d)
	}
	var extra []string // the target's derived columns
	for _, c := range dcols {
		if copyDerived[t.name+"."+c] {
			extra = append(extra, c)
		}
	}
	sum := TableSum{Table: t.name, Cols: cols}
	var total int64
	if err := stx.GetContext(ctx, &total, `SELECT count(*) FROM `+t.name); err != nil {
		return sum, fmt.Errorf("count rows: %w", err)
	}
	if progress != nil {
		progress(t.name, 0, total)
	}

	rows, err := stx.QueryContext(ctx, `SELECT `+quoted(cols)+` FROM `+t.name+` ORDER BY `+t.key)
	if err != nil {
		return sum, fmt.Errorf("read rows: %w", err)
	}
	defer rows.Close()
	width := len(cols) + len(extra)
	// One statement for many rows, within both databases' limits on
	// parameters (SQLite 32766, PostgreSQL 65535).
	perStmt := max(1, 2000/width)
	head := `INSERT INTO ` + t.name + ` (` + quoted(append(slices.Clone(cols), extra...)) + `) VALUES `
	tuple := "(" + placeholders(width) + "), "
	args := make([]any, 0, perStmt*width)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		q := head + strings.TrimSuffix(strings.Repeat(tuple, len(args)/width), ", ")
		if _, err := dtx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write rows: %w", err)
		}
		args = args[:0]
		if progress != nil {
			progress(t.name, sum.Rows, total)
		}
		return nil
	}
	var acc checksum
	row := newCanonicalRow(len(cols))
	for rows.Next() {
		vals, err := row.scan(rows)
		if err != nil {
			return sum, fmt.Errorf("read rows: %w", err)
		}
		acc.add(vals)
		sum.Rows++
		for i, v := range vals {
			args = append(args, forTarget(v, dtx.pg, boolean[cols[i]]))
		}
		for _, c := range extra {
			args = append(args, derive(t.name, c, cols, vals))
		}
		if len(args) >= perStmt*width {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("read rows: %w", err)
	}
	if err := flush(); err != nil {
		return sum, err
	}
	if sum.Rows != total {
		return sum, fmt.Errorf("read %d rows of the %d counted in the same snapshot", sum.Rows, total)
	}
	if progress != nil {
		progress(t.name, sum.Rows, total)
	}
	sum.Sum = acc.String()
	return sum, nil
}

// canonicalRow scans rows into one reused slice of values, each made
// canonical: the form in which copyRows and tableSum sum a row, so that
// the copy and its verification agree.
type canonicalRow struct{ vals, ptrs []any }

func newCanonicalRow(n int) *canonicalRow {
	r := &canonicalRow{vals: make([]any, n), ptrs: make([]any, n)}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r
}

// scan reads the current row of rows; the slice it returns is reused by
// the next scan.
func (r *canonicalRow) scan(rows interface{ Scan(...any) error }) ([]any, error) {
	if err := rows.Scan(r.ptrs...); err != nil {
		return nil, err
	}
	for i, v := range r.vals {
		r.vals[i] = canonical(v)
	}
	return r.vals, nil
}

// tableSum reads table's cols in tx and sums them as copyRows does.
func tableSum(ctx context.Context, tx *dbTx, table string, cols []string) (TableSum, error) {
	sum := TableSum{Table: table, Cols: cols}
	rows, err := tx.QueryContext(ctx, `SELECT `+quoted(cols)+` FROM `+table)
	if err != nil {
		return sum, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	var acc checksum
	row := newCanonicalRow(len(cols))
	for rows.Next() {
		vals, err := row.scan(rows)
		if err != nil {
			return sum, fmt.Errorf("read %s: %w", table, err)
		}
		acc.add(vals)
		sum.Rows++
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("read %s: %w", table, err)
	}
	sum.Sum = acc.String()
	return sum, nil
}

// setSequences moves every identity sequence of the copied tables past
// the largest id copied, so that the next row a node inserts gets a new
// id rather than a duplicate key error.
func setSequences(ctx context.Context, tx *dbTx) error {
	for _, t := range copyTables {
		var idents []string
		if err := tx.SelectContext(ctx, &idents, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'`, t.name); err != nil {
			return fmt.Errorf("find the identity of %s: %w", t.name, err)
		}
		for _, c := range idents {
			// With no rows the sequence starts again at 1.
			q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'),
				coalesce(max("%[2]s"), 1), max("%[2]s") IS NOT NULL) FROM %[1]s`, t.name, c)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("set the sequence of %s.%s: %w", t.name, c, err)
			}
		}
	}
	return nil
}

// canonical is a value as read from either backend, in one form per
// kind: nil, int64 (flags too: PostgreSQL's booleans become 0 and 1),
// string or []byte (a BLOB, or bytea).
func canonical(v any) any {
	switch v := v.(type) {
	case nil, int64, string, []byte:
		return v
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	case int32:
		return int64(v)
	case int:
		return int64(v)
	}
	return fmt.Sprint(v) // no column of either schema has another kind
}

// forTarget is a canonical value as the target's column takes it.
func forTarget(v any, pg, boolean bool) any {
	if n, ok := v.(int64); ok && pg && boolean {
		return n != 0
	}
	return v
}

// checksum sums the SHA-256 of every row's rendering, as 256-bit numbers
// modulo 2^256: the order the rows are read in does not matter, so each
// backend may read them in its own.
type checksum [4]uint64

func (c *checksum) add(row []any) {
	h := sha256.New()
	var b []byte
	for _, v := range row {
		switch v := v.(type) {
		case nil:
			b = append(b, 'N')
		case int64:
			b = append(b, 'I')
			b = strconv.AppendInt(b, v, 10)
		case string:
			b = append(b, 'S')
			b = strconv.AppendInt(b, int64(len(v)), 10)
			b = append(b, ':')
			b = append(b, v...)
		case []byte:
			b = append(b, 'B')
			b = strconv.AppendInt(b, int64(len(v)), 10)
			b = append(b, ':')
			b = append(b, v...)
		}
		b = append(b, ';')
	}
	h.Write(b)
	d := h.Sum(nil)
	var carry uint64
	for i := 3; i >= 0; i-- {
		c[i], carry = bits.Add64(c[i], binary.BigEndian.Uint64(d[8*i:]), carry)
	}
}

func (c checksum) String() string {
	var b [32]byte
	for i, w := range c {
		binary.BigEndian.PutUint64(b[8*i:], w)
	}
	return hex.EncodeToString(b[:])
}

// sameSet reports whether a and b hold the same names.
func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
