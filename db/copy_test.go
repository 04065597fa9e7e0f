package db

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatd"
	"chatd/internal/pgtest"
)

// Every table of either schema, the cluster's included, is copied or
// named in copySkipped with its reason: a table added by a later change
// cannot be forgotten by chatd migrate.
func TestCopyCoversEveryTable(t *testing.T) {
	ctx := context.Background()
	listed := map[string]bool{}
	for _, c := range copyTables {
		listed[c.name] = true
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			var db *DB
			var tables []string
			var err error
			if backend == "postgres" {
				url := pgtest.URL(t)
				db = openPG(t, url)
				c, cerr := OpenCluster(ctx, url, "n1")
				if cerr != nil {
					t.Fatal(cerr)
				}
				c.Close()
				err = db.reader.Select(&tables, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
			} else {
				db = openAt(t, filepath.Join(t.TempDir(), "chatd.db"))
				err = db.reader.Select(&tables, `SELECT name FROM sqlite_schema WHERE type = 'table'`)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tables) < len(copyTables) {
				t.Fatalf("only %d tables: %v", len(tables), tables)
			}
			for _, name := range tables {
				if listed[name] == skipped(name) {
					t.Errorf("table %s: add it to copyTables (db/copy.go) or, with the reason, to copySkipped", name)
				}
			}
			for _, c := range copyTables {
				if !slices.Contains(tables, c.name) {
					t.Errorf("copyTables names %s, which the %s schema does not have", c.name, backend)
				}
			}
		})
	}
}

// fillCommunity stores a little of everything the copy carries.
func fillCommunity(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	mustUsers(t, db, "alice", "Bob", "carol", "dave")
	_, err := db.CreateUser(ctx, "root", "hash-root", true)
	checkCode(t, err, "")
	checkCode(t, db.SetSeen(ctx, []chatd.Seen{{Name: "alice", LastLogin: at, LastSeen: at, LastActive: at}}), "")
	checkCode(t, db.Block(ctx, "carol", "Bob"), "")
	checkCode(t, db.Ban(ctx, chatd.Ban{User: "dave", Reason: "spam", By: "root", Created: at, Expires: at.Add(time.Hour)}), "")
	checkCode(t, db.RecordAttempt(ctx, "alice", "127.0.0.1", at, false), "")
	checkCode(t, db.RecordAttempt(ctx, "nobody", "127.0.0.2", at, false), "")
	checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "Den", Owner: "alice", Created: at}, 0, 0), "")
	checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "vault", Owner: "Bob", Created: at}, 0, 0), "")
	checkCode(t, db.SetRoomTopic(ctx, "Den", "plans for the café"), "")
	checkCode(t, db.SetRoomPassword(ctx, "vault", "hash-vault"), "")
	checkCode(t, db.RecordRoomAttempt(ctx, "vault", "carol", at, false), "")
	checkCode(t, db.AddMember(ctx, "alice", "Den", at, 0), "")
	checkCode(t, db.AddMember(ctx, "Bob", "Den", at, 0), "")
	checkCode(t, db.RoomBan(ctx, chatd.RoomBan{Room: "Den", User: "carol", By: "alice", Created: at}), "")
	checkCode(t, db.Invite(ctx, "vault", "alice", "Bob", at), "")
	for i, text := range []string{"hello Den", "the Café opens at nine", "naïve question", "bye now"} {
		appendLine(t, db, "Den", chatd.HistoryLine{From: "alice", Text: text, Time: at.Add(time.Duration(i) * time.Second), Action: i == 3}, 100)
	}
	appendLine(t, db, chatd.Lobby, chatd.HistoryLine{From: "Bob", Text: "lobby line", Time: at}, 100)
	checkCode(t, db.AppendPrivateBatch(ctx, []chatd.PrivateLine{
		{With: "Bob", Line: chatd.HistoryLine{From: "alice", Text: "secret plan", Time: at, Recipients: "Bob"}},
		{With: "alice", Line: chatd.HistoryLine{From: "Bob", Text: "agreed", Time: at.Add(time.Second), Recipients: "alice"}},
	}, 100), "")
	m := chatd.OfflineMessage{From: "alice", To: []string{"carol", "dave"}, Text: "while you were out", Time: at}
	if errs, err := db.StoreOfflineAll(ctx, m.To, m, 0); err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("store offline: %v %v", errs, err)
	}
	page, err := db.RoomHistoryPage(ctx, "Den", chatd.PageQuery{N: 2, Keep: 100})
	checkCode(t, err, "")
	_, _, err = db.SetReadMarker(ctx, "Bob", "#Den", page.Lines[0].MsgID)
	checkCode(t, err, "")
	checkCode(t, db.SetSetting(ctx, "Bob", "timezone", "Europe/Paris"), "")
	checkCode(t, db.Notice(ctx, "maintenance at noon", "root"), "")
	checkCode(t, db.SetOnline(ctx, []chatd.OnlineSession{{User: "alice", Room: "Den", Addr: "127.0.0.1:1", Since: at, LastActive: at}}), "")
}

// communityView is what the users of db see, read through the Store.
func communityView(t *testing.T, db *DB) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	add := func(what string, v any, err error) {
		t.Helper()
		checkCode(t, err, "")
		fmt.Fprintf(&b, "%s: %+v\n", what, v)
	}
	users, err := db.Users(ctx)
	for _, u := range users {
		add("user", *u, err)
	}
	rooms, err := db.Rooms(ctx)
	for _, r := range rooms {
		add("room", *r, err)
	}
	bans, err := db.Bans(ctx)
	for _, b := range bans {
		add("ban", *b, err)
	}
	for _, u := range []string{"alice", "bob", "carol", "dave", "root"} {
		v, err := db.MemberRooms(ctx, u)
		add(u+" rooms", v, err)
		bl, err := db.Blocked(ctx, u)
		add(u+" blocks", bl, err)
		mail, err := db.OfflinePage(ctx, u, 0, -1)
		add(u+" mail", mail, err)
		marks, err := db.ReadMarkers(ctx, u)
		add(u+" markers", marks, err)
		set, err := db.Settings(ctx, u)
		add(u+" settings", set, err)
		att, err := db.Attempts(ctx, u, "127.0.0.1", time.Time{})
		add(u+" attempts", att, err)
	}
	for _, r := range []string{"den", "lobby"} {
		p, err := db.RoomHistoryPage(ctx, r, chatd.PageQuery{N: 50, Keep: 100})
		add(r+" history", p, err)
		for _, q := range []string{"cafe", "naive question", "bye"} {
			found, err := db.SearchHistory(ctx, r, q, 10, 100)
			add(r+" search "+q, found, err)
		}
	}
	p, err := db.PrivateHistoryPage(ctx, "alice", "bob", chatd.PageQuery{N: 50, Keep: 100})
	add("alice-bob", p, err)
	found, err := db.SearchPrivate(ctx, "bob", "alice", "plan", 10, 100)
	add("alice-bob search", found, err)
	rb, err := db.RoomBanOf(ctx, "den", "carol")
	add("room ban", rb, err)
	ra, err := db.RoomAttempts(ctx, "vault", "carol", time.Time{})
	add("room attempts", ra, err)
	acts, err := db.ActionsAfter(ctx, 0, 10)
	add("actions", acts, err)
	last, err := db.LastMessageID(ctx)
	add("last id", last, err)
	return b.String()
}

// allSums is the row count and checksum of every table db copies.
func allSums(t *testing.T, db *DB) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var out []string
	for _, c := range copyTables {
		cols, _, err := columns(ctx, tx, c.name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := tableSum(ctx, tx, c.name, copied(c.name, cols))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(s.Table, s.Rows, s.Sum))
	}
	return out
}

// copyVerified copies src to dst and verifies the copy.
func copyVerified(t *testing.T, src, dst *DB) []TableSum {
	t.Helper()
	ctx := context.Background()
	seen := map[string]int64{}
	sums, err := Copy(ctx, src, dst, func(table string, done, total int64) {
		if done > total || done < seen[table] {
			t.Errorf("progress of %s: %d of %d after %d", table, done, total, seen[table])
		}
		seen[table] = done
	})
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if err := dst.VerifyCopy(ctx, sums); err != nil {
		t.Fatalf("VerifyCopy: %v", err)
	}
	if len(seen) != len(copyTables) {
		t.Errorf("progress told of %d tables, want %d", len(seen), len(copyTables))
	}
	return sums
}

// A community copied from SQLite to PostgreSQL and back reads the same
// everywhere, search included, and each database goes on giving new ids
// past the copied ones.
func TestCopyBothDirections(t *testing.T) {
	ctx := context.Background()
	src := openAt(t, filepath.Join(t.TempDir(), "chatd.db"))
	fillCommunity(t, src)
	want := communityView(t, src)

	pg := openPG(t, pgtest.URL(t))
	toPG := copyVerified(t, src, pg)
	if got := communityView(t, pg); got != want {
		t.Fatalf("PostgreSQL after the copy:\n%s\nSQLite before:\n%s", got, want)
	}
	counts := map[string]int64{}
	for _, s := range toPG {
		counts[s.Table] = s.Rows
	}
	for _, table := range []string{"users", "rooms", "room_history", "private_history", "letters", "offline_messages", "read_markers", "user_settings", "actions", "blocks", "bans", "room_bans", "room_invites", "room_members", "login_attempts", "room_attempts"} {
		if counts[table] == 0 {
			t.Errorf("no rows of %s copied", table)
		}
	}

	back := openAt(t, filepath.Join(t.TempDir(), "back.db"))
	toSQLite := copyVerified(t, pg, back)
	if got := communityView(t, back); got != want {
		t.Fatalf("SQLite after the copy back:\n%s\nbefore:\n%s", got, want)
	}
	// The checksums do not depend on the backend that computed them.
	if !slices.EqualFunc(toPG, toSQLite, func(a, b TableSum) bool { return a.Table == b.Table && a.Rows == b.Rows && a.Sum == b.Sum }) {
		t.Fatalf("sums differ:\n%v\n%v", toPG, toSQLite)
	}

	// New rows get new ids on both copies.
	for _, db := range []*DB{pg, back} {
		mustUsers(t, db, "erin")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "new", Owner: "erin"}, 0, 0), "")
		checkCode(t, db.AddMember(ctx, "erin", "new", time.Now(), 0), "")
		appendLine(t, db, "Den", chatd.HistoryLine{From: "erin", Text: "after the move"}, 100)
		checkCode(t, db.StoreOffline(ctx, "carol", chatd.OfflineMessage{From: "erin", To: []string{"carol"}, Text: "new mail"}, 0), "")
		checkCode(t, db.RecordAttempt(ctx, "erin", "127.0.0.1", time.Now(), true), "")
		checkCode(t, db.Notice(ctx, "moved", "root"), "")
		mail, err := db.OfflinePage(ctx, "carol", 0, -1)
		if err != nil || len(mail) != 2 || mail[1].Text != "new mail" {
			t.Fatalf("carol's mail after a new letter: %+v, %v", mail, err)
		}
		found, err := db.SearchHistory(ctx, "Den", "move", 10, 100)
		if err != nil || len(found) != 1 {
			t.Fatalf("search for a new line: %+v, %v", found, err)
		}
	}
}

// A target that holds anything is refused, and left as it was.
func TestCopyRefusesNonEmptyTarget(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		src := openAt(t, filepath.Join(t.TempDir(), "src.db"))
		fillCommunity(t, src)
		dst, _ := openTest(t)
		mustUsers(t, dst, "zed")
		before := allSums(t, dst)
		_, err := Copy(ctx, src, dst, nil)
		// (checkCode would take the test's directory, named after the
		// backend, for driver text.)
		if chatd.ErrorCode(err) != chatd.ENotPermitted || !strings.Contains(err.Error(), "users (1 rows)") {
			t.Errorf("err = %v", err)
		}
		if after := allSums(t, dst); !slices.Equal(after, before) {
			t.Fatalf("the refused target changed:\n%v\nwas:\n%v", after, before)
		}
	})
}

// VerifyCopy names the table whose rows differ from what was copied.
func TestVerifyCopyReportsMismatch(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		src := openAt(t, filepath.Join(t.TempDir(), "src.db"))
		fillCommunity(t, src)
		dst, _ := openTest(t)
		sums, err := Copy(ctx, src, dst, nil)
		checkCode(t, err, "")
		checkCode(t, dst.VerifyCopy(ctx, sums), "")

		// One character of one line changed: the same count, another sum.
		if _, err := dst.writer.ExecContext(ctx, `UPDATE room_history SET body = 'hello Den!' WHERE body = 'hello Den'`); err != nil {
			t.Fatal(err)
		}
		err = dst.VerifyCopy(ctx, sums)
		if err == nil || !strings.Contains(err.Error(), "room_history: checksum") || strings.Contains(err.Error(), "users") {
			t.Fatalf("err = %v", err)
		}
		// A row gone: the count says so.
		if _, err := dst.writer.ExecContext(ctx, `DELETE FROM user_settings`); err != nil {
			t.Fatal(err)
		}
		err = dst.VerifyCopy(ctx, sums)
		if err == nil || !strings.Contains(err.Error(), "user_settings has 0 rows, the source 1") {
			t.Fatalf("err = %v", err)
		}
	})
}

// The checksum does not depend on the order of the rows or on how a
// backend hands a value over (a flag as a boolean or an integer), and
// tells apart what a careless rendering would not.
func TestCopyChecksum(t *testing.T) {
	sum := func(rows ...[]any) string {
		var c checksum
		for _, r := range rows {
			vals := make([]any, len(r))
			for i, v := range r {
				vals[i] = canonical(v)
			}
			c.add(vals)
		}
		return c.String()
	}
	a, b := []any{int64(1), "alice", true, nil}, []any{int32(2), []byte("bob"), false, int64(7)}
	tests := []struct {
		name       string
		x, y       [][]any
		wantEquals bool
	}{
		{"OKOrder", [][]any{a, b}, [][]any{b, a}, true},
		{"OKBoolAsInteger", [][]any{{true, false}}, [][]any{{int64(1), int64(0)}}, true},
		{"OKWidths", [][]any{{int32(5)}}, [][]any{{int64(5)}}, true},
		{"ErrSplitText", [][]any{{"ab", "c"}}, [][]any{{"a", "bc"}}, false},
		{"ErrNullEmpty", [][]any{{nil}}, [][]any{{""}}, false},
		{"ErrTextNumber", [][]any{{"1"}}, [][]any{{int64(1)}}, false},
		{"ErrTextBlob", [][]any{{"x"}}, [][]any{{[]byte("x")}}, false},
		{"ErrRowMissing", [][]any{a, b}, [][]any{a}, false},
		{"ErrRowTwice", [][]any{a, a}, [][]any{a}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sum(tt.x...) == sum(tt.y...); got != tt.wantEquals {
				t.Fatalf("equal = %v, want %v", got, tt.wantEquals)
			}
		})
	}
}
