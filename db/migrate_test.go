package db

import (
	"context"
	"database/sql"
	_ "embed"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatd"
)

//go:embed testdata/schema_v1.sql
var schemaV1 string

// schema_v5.sql is schema.sql as it was at version 5, before message ids.
//
//go:embed testdata/schema_v5.sql
var schemaV5 string

// v5Rows fills a version 5 database (either backend: ids are given) with
// two rooms' history and a letter waiting for two users.
func v5Rows(ms int64) []string {
	return []string{
		`INSERT INTO users (id, name, pass_hash, created, name_key) VALUES (1, 'ann', 'h', 0, 'ann'), (2, 'bob', 'h', 0, 'bob'), (3, 'cy', 'h', 0, 'cy')`,
		`INSERT INTO rooms (id, name, created, name_key) VALUES (1, 'lobby', 0, 'lobby'), (2, 'den', 0, 'den')`,
		// Two lines in one millisecond, one in the next, and one of
		// the den with the same time and row ids far apart.
		`INSERT INTO room_history (id, room_id, sender, body, ts) VALUES
			(1, 1, 'ann', 'one', ` + itoa(ms) + `), (2, 1, 'bob', 'two', ` + itoa(ms) + `),
			(3, 1, 'ann', 'three', ` + itoa(ms+1) + `), (5, 2, 'cy', 'den one', ` + itoa(ms) + `)`,
		`INSERT INTO letters (id, sender, recipients, body, ts) VALUES (1, 'ann', 'bob cy', 'hi both', ` + itoa(ms) + `)`,
		`INSERT INTO offline_messages (id, recipient, letter) VALUES (1, 2, 1), (2, 3, 1)`,
	}
}

// checkV5Migrated checks that what v5Rows stored is all there after the
// migration, each line and letter with an id: a room's ids in the order
// of its lines, no two the same, and new ids above them all.
func checkV5Migrated(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	lobby, err := db.History(ctx, "lobby", 10)
	if err != nil || len(lobby) != 3 {
		t.Fatalf("History(lobby) = %+v, %v; want the 3 lines", lobby, err)
	}
	den, err := db.History(ctx, "den", 10)
	if err != nil || len(den) != 1 || den[0].Text != "den one" {
		t.Fatalf("History(den) = %+v, %v", den, err)
	}
	seen := map[string]bool{}
	for i, l := range append(lobby, den...) {
		if _, ok := chatd.ParseID(l.MsgID); !ok || len(l.MsgID) != 16 || seen[l.MsgID] {
			t.Fatalf("line %d %q has id %q: not an id, or not unique", i, l.Text, l.MsgID)
		}
		seen[l.MsgID] = true
		if i > 0 && i < 3 && l.MsgID <= lobby[i-1].MsgID {
			t.Fatalf("lobby ids out of order: %q after %q", l.MsgID, lobby[i-1].MsgID)
		}
	}
	var mail []string
	for _, u := range []string{"bob", "cy"} {
		m, err := db.OfflinePage(ctx, u, 0, -1)
		if err != nil || len(m) != 1 || m[0].Text != "hi both" || m[0].MsgID == "" || seen[m[0].MsgID] {
			t.Fatalf("OfflinePage(%s) = %+v, %v; want the letter with an id of its own", u, m, err)
		}
		mail = append(mail, m[0].MsgID)
	}
	if mail[0] != mail[1] {
		t.Fatalf("one letter, two ids: %q", mail)
	}
	last, err := db.LastMessageID(ctx)
	if err != nil || last < lobby[2].MsgID || last < mail[0] {
		t.Fatalf("LastMessageID = %q, %v; want the greatest of %q, %q", last, err, lobby[2].MsgID, mail[0])
	}
	// A line stored now gets an id above every old one.
	if err := db.AppendHistoryBatch(ctx, []chatd.RoomLine{{Room: "lobby", Line: chatd.HistoryLine{From: "ann", Text: "four"}}}, 100); err != nil {
		t.Fatal(err)
	}
	lobby, err = db.History(ctx, "lobby", 10)
	if err != nil || len(lobby) != 4 || lobby[3].MsgID <= last {
		t.Fatalf("History(lobby) after a new line = %+v, %v; want a 4th line above %q", lobby, err, last)
	}
}

// A version 5 file (the last without message ids) migrates with every row
// kept and given an id.
func TestMigrateFromVersion5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatd.db")
	raw := rawOpen(t, path)
	ms := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	for _, q := range append([]string{schemaV5, `PRAGMA user_version = 5`}, v5Rows(ms)...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	raw.Close()
	db := openAt(t, path)
	if v, err := schemaVersion(context.Background(), db.reader); err != nil || v != chatd.SchemaVersion {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	checkV5Migrated(t, db)
	// The search index still finds the lines the migration changed.
	found, err := db.SearchHistory(context.Background(), "lobby", "three", 10, 100)
	if err != nil || len(found) != 1 || found[0].MsgID == "" {
		t.Fatalf("SearchHistory(three) = %+v, %v", found, err)
	}
}

// A version 1 file, written before names had keys, migrates in one step:
// every name gets its key, the duplicate a NOCASE column let in (a Kelvin
// sign for K) loses its name, offline mail survives as letters.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	raw := rawOpen(t, path)
	ms := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	for _, q := range []string{
		schemaV1,
		`PRAGMA user_version = 1`,
		`INSERT INTO users (id, name, pass_hash, created) VALUES (1, 'Kate', 'h1', 0), (2, '` + "\u212aate" + `', 'h2', 0), (3, 'bob', 'h3', 0)`,
		`INSERT INTO rooms (name, owner, created) VALUES ('lobby', '', 0), ('Den', 'KATE', 0)`,
		`INSERT INTO login_attempts (name, addr, ts, success) VALUES ('KATE', '1.2.3.4', 5, 0), ('kate', '1.2.3.4', 6, 0)`,
		`INSERT INTO offline_messages (recipient, sender, recipients, body, ts) VALUES (3, 'Kate', 'bob', 'hello bob', ` + itoa(ms) + `)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	raw.Close()

	db := openAt(t, path)
	if v, err := schemaVersion(ctx, db.reader); err != nil || v != chatd.SchemaVersion {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	for _, spelling := range []string{"kate", "KATE", "Kate", "Ｋａｔｅ"} {
		u, err := db.UserByName(ctx, spelling)
		if err != nil || u.ID != 1 {
			t.Fatalf("UserByName(%q) = %+v, %v; want the oldest account, id 1", spelling, u, err)
		}
	}
	if a, err := db.Attempts(ctx, "Kate", "", time.Time{}); err != nil || len(a) != 2 {
		t.Fatalf("Attempts(Kate) = %v, %v; want both spellings' 2", a, err)
	}
	if r, err := db.RoomByName(ctx, "DEN"); err != nil || r.Name != "Den" {
		t.Fatalf("RoomByName(DEN) = %+v, %v", r, err)
	}
	m, err := db.OfflinePage(ctx, "bob", 0, -1)
	if err != nil || len(m) != 1 || m[0].Text != "hello bob" || m[0].From != "Kate" || !m[0].Time.Equal(time.UnixMilli(ms)) {
		t.Fatalf("OfflinePage(bob) = %+v, %v", m, err)
	}
	// The old duplicate cannot be re-created, nor can the room.
	if _, err := db.CreateUser(ctx, "kate", "h", false); chatd.ErrorCode(err) != chatd.EUserExists {
		t.Fatalf("CreateUser(kate) = %v; want user_exists", err)
	}
	// Deleting Kate deletes the room she owns, whatever spelling owns it.
	checkCode(t, db.DeleteUserAction(ctx, "kate", "root"), "")
	if _, err := db.RoomByName(ctx, "den"); chatd.ErrorCode(err) != chatd.ENoSuchRoom {
		t.Fatalf("RoomByName(den) after deleting kate = %v", err)
	}
	checkCode(t, db.DeleteOffline(ctx, []int64{m[0].ID}), "")
	var letters int
	if err := db.reader.GetContext(ctx, &letters, `SELECT count(*) FROM letters`); err != nil || letters != 0 {
		t.Fatalf("letters left after delivery: %d, %v", letters, err)
	}
}

// Names that differ only by case, width or compatibility form are one
// name in every table.
func TestNameKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "kate", "bob")
		for _, name := range []string{"Kate", "KATE", "\u212aate", "ｋａｔｅ"} {
			if _, err := db.CreateUser(ctx, name, "h", false); chatd.ErrorCode(err) != chatd.EUserExists {
				t.Errorf("CreateUser(%q) = %v; want user_exists", name, err)
			}
			checkCode(t, db.StoreOffline(ctx, name, chatd.OfflineMessage{From: "bob", Text: "x"}, 0), "")
		}
		if n, err := db.OfflineCount(ctx, "kate"); err != nil || n != 4 {
			t.Fatalf("OfflineCount(kate) = %d, %v; want 4", n, err)
		}
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "Straße", Owner: "\u212aATE"}, 0, 0), "")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "STRASSE", Owner: "bob"}, 0, 0), chatd.ERoomExists)
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "other", Owner: "kate"}, 1, 0), chatd.ENotPermitted)
	})
}

// A message to many offline users is stored once; each recipient has a
// small row, and the text goes with the last of them.
func TestStoreOfflineAllStoresOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "a", "b", "c", "full")
		checkCode(t, db.StoreOffline(ctx, "full", chatd.OfflineMessage{From: "x", Text: "first"}, 0), "")
		m := chatd.OfflineMessage{From: "x", To: []string{"a", "b", "c", "nobody", "full"}, Text: "to all"}
		errs, err := db.StoreOfflineAll(ctx, m.To, m, 1)
		if err != nil {
			t.Fatal(err)
		}
		want := []chatd.Code{"", "", "", chatd.ENoSuchUser, chatd.EMailboxFull}
		for i, e := range errs {
			checkCode(t, e, want[i])
		}
		count := func(table string) int {
			var n int
			if err := db.reader.GetContext(ctx, &n, `SELECT count(*) FROM `+table); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("letters"); n != 2 {
			t.Fatalf("%d letters; want 2 (one per message)", n)
		}
		for _, name := range []string{"a", "b"} {
			got, err := db.OfflinePage(ctx, name, 0, -1)
			if err != nil || len(got) != 1 || got[0].Text != "to all" || len(got[0].To) != 5 {
				t.Fatalf("%s: %+v, %v", name, got, err)
			}
			checkCode(t, db.DeleteOffline(ctx, []int64{got[0].ID}), "")
		}
		if n := count("letters"); n != 2 {
			t.Fatalf("%d letters; c has not read it yet", n)
		}
		checkCode(t, db.DeleteUserAction(ctx, "c", "root"), "")
		if n := count("letters"); n != 1 {
			t.Fatalf("%d letters after the last recipient went; want 1", n)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// schema_v18.sql is schema.sql as it was at version 18, when the full-text
// indexes kept a table of each row's size.
//
//go:embed testdata/schema_v18.sql
var schemaV18 string

// v18Rows fills a version 18 database with private and room lines the
// way chatd writes them (the triggers fill the full-text indexes), then
// edits one line of each, redacts one and trims one, as the message
// actions and the history trim do.
var v18Rows = []string{
	`INSERT INTO users (id, name, pass_hash, created, name_key) VALUES (1, 'ann', 'h', 0, 'ann'), (2, 'bob', 'h', 0, 'bob'), (3, 'cy', 'h', 0, 'cy')`,
	`INSERT INTO rooms (id, name, created, name_key) VALUES (1, 'lobby', 0, 'lobby'), (2, 'den', 0, 'den')`,
	`INSERT INTO private_history (id, user_lo, user_hi, sender, recipients, body, ts, mid) VALUES
		(1, 1, 2, 'ann', 'bob', 'Apple pie tonight', 1, '0000000000000001'),
		(2, 1, 2, 'bob', 'ann', 'apples are not apple', 2, '0000000000000002'),
		(3, 1, 2, 'ann', 'bob', 'the café at noon', 3, '0000000000000003'),
		(4, 1, 2, 'bob', 'ann', 'secret plan', 4, '0000000000000004'),
		(5, 1, 2, 'ann', 'bob', 'typo aple', 5, '0000000000000005'),
		(6, 1, 3, 'ann', 'cy', 'apple for cy', 6, '0000000000000006'),
		(7, 1, 2, 'ann', 'bob', 'gone apple', 7, '0000000000000007')`,
	`UPDATE private_history SET body = 'typo fixed apple', edited = 8 WHERE id = 5`,
	`UPDATE private_history SET body = '', deleted = 1 WHERE id = 4`,
	`DELETE FROM private_history WHERE id = 7`,
	`INSERT INTO room_history (id, room_id, sender, body, ts, mid) VALUES
		(1, 1, 'ann', 'Apple pie tonight', 1, '0000000000000011'),
		(2, 1, 'bob', 'cafe is open', 2, '0000000000000012'),
		(3, 1, 'cy', 'secret plan', 3, '0000000000000013'),
		(4, 1, 'ann', 'typo aple', 4, '0000000000000014'),
		(5, 2, 'bob', 'apple in the den', 5, '0000000000000015'),
		(6, 1, 'ann', 'gone apple', 6, '0000000000000016')`,
	`UPDATE room_history SET body = 'typo fixed apple', edited = 8 WHERE id = 4`,
	`UPDATE room_history SET body = '', deleted = 1 WHERE id = 3`,
	`DELETE FROM room_history WHERE id = 6`,
}

// ftsWords are the searches TestMigrateFTSWithoutSizes compares: whole
// words in any case, a word with and without its accent, the old and new
// words of an edited line, a redacted line's word, a prefix (which is no
// match: a search is of whole words) and two words at once.
var ftsWords = []string{"apple", "APPLE", "pie", "cafe", "café", "aple", "fixed", "typo", "secret", "app", "apple pie", "apples"}

// searchIDs runs the searches of SearchPrivate (ann and bob) and
// SearchHistory (the lobby) on a raw handle, so that a version 18 file
// can be searched without being migrated, and returns each word's ids.
func searchIDs(t *testing.T, raw *sql.DB) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	for _, w := range ftsWords {
		match := ftsQuery(searchTerms(w))
		for _, s := range []struct {
			q    string
			args []any
		}{
			{searchPrivateSQL, []any{match, 1, 2, 1, 2, 99, 100}},
			{searchSQL, []any{match, 1, 1, 99, 100}},
		} {
			rows, err := raw.Query(`SELECT id FROM (`+s.q+`)`, s.args...)
			if err != nil {
				t.Fatalf("search %q: %v", w, err)
			}
			ids := []int64{}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			key := "private " + w
			if s.q == searchSQL {
				key = "room " + w
			}
			out[key] = ids
		}
	}
	return out
}

// A version 18 file migrates to full-text indexes without their size
// tables, and search finds exactly the lines it found before; a new file
// gets those indexes directly.
func TestMigrateFTSWithoutSizes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	raw := rawOpen(t, path)
	for _, q := range append([]string{schemaV18, `PRAGMA user_version = 18`}, v18Rows...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	before := searchIDs(t, raw)
	if got := before["private apple"]; !slices.Equal(got, []int64{5, 2, 1}) {
		t.Fatalf("version 18 private search for apple = %v; the test's rows are not what it expects", got)
	}
	raw.Close()

	db := openAt(t, path)
	if v, err := schemaVersion(ctx, db.reader); err != nil || v != chatd.SchemaVersion {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	checkNoSizeTables(t, db)
	if after := searchIDs(t, db.reader.DB.DB); !maps.EqualFunc(before, after, slices.Equal) {
		t.Fatalf("search after the migration:\n%v\nbefore:\n%v", after, before)
	}
	// Through the store, as a user searches.
	for _, c := range []struct {
		room, query string
		want        []string
	}{
		{"", "apple", []string{"typo fixed apple", "apples are not apple", "Apple pie tonight"}},
		{"", "CAFE", []string{"the café at noon"}},
		{"", "aple", nil},
		{"", "secret", nil},
		{"", "app", nil},
		{"lobby", "apple", []string{"typo fixed apple", "Apple pie tonight"}},
		{"lobby", "café", []string{"cafe is open"}},
		{"lobby", "secret", nil},
		{"den", "apple", []string{"apple in the den"}},
	} {
		var got []chatd.HistoryLine
		var err error
		if c.room == "" {
			got, err = db.SearchPrivate(ctx, "ann", "bob", c.query, 10, 100)
		} else {
			got, err = db.SearchHistory(ctx, c.room, c.query, 10, 100)
		}
		var texts []string
		for _, l := range got {
			texts = append(texts, l.Text)
		}
		if err != nil || !slices.Equal(texts, c.want) {
			t.Errorf("search %q in %q = %q, %v; want %q", c.query, c.room, texts, err, c.want)
		}
	}
	// The indexes stay in step as lines come, change and go.
	checkCode(t, db.AppendPrivateBatch(ctx, []chatd.PrivateLine{{With: "bob", Line: chatd.HistoryLine{
		MsgID: "0000000000000020", From: "ann", Recipients: "bob", Text: "apple again", Time: t0}}}, 100), "")
	if got, err := db.SearchPrivate(ctx, "bob", "ann", "again", 10, 100); err != nil || len(got) != 1 {
		t.Fatalf("SearchPrivate(again) after the migration = %+v, %v", got, err)
	}
	checkFTS(t, db)
	if _, err := db.writer.Exec(`INSERT INTO private_history_fts (private_history_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Fatalf("private full-text index out of step: %v", err)
	}

	// A new file is made at the newest version with the same indexes.
	checkNoSizeTables(t, openAt(t, filepath.Join(t.TempDir(), "new.db")))
}

// checkNoSizeTables checks that neither full-text index keeps a table of
// its rows' sizes.
func checkNoSizeTables(t *testing.T, db *DB) {
	t.Helper()
	var tables []string
	if err := db.reader.Select(&tables, `SELECT name FROM sqlite_schema WHERE name LIKE '%history_fts%' AND type = 'table' ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"private_history_fts", "room_history_fts"} {
		if !slices.Contains(tables, want) {
			t.Errorf("no table %s among %q", want, tables)
		}
	}
	for _, name := range tables {
		if strings.HasSuffix(name, "_docsize") {
			t.Errorf("full-text size table %s is still there (tables %q)", name, tables)
		}
	}
}
