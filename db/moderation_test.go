package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatd"
)

func TestSearchHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
		lines := []string{"the cat sat", "a dog ran", "Cat and dog", "cats are not cat", "nothing here"}
		for i, l := range lines {
			appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: l, Time: t0.Add(time.Duration(i) * time.Second)}, 100)
		}
		appendLine(t, db, chatd.Lobby, chatd.HistoryLine{From: "bob", Text: "cat in the lobby"}, 100)
		texts := func(ls []chatd.HistoryLine) string {
			var out []string
			for _, l := range ls {
				out = append(out, l.Text)
			}
			return strings.Join(out, "|")
		}
		tests := []struct {
			name, room, query string
			n                 int
			want              string
			code              chatd.Code
		}{
			{"OKNewestFirst", "den", "cat", 20, "cats are not cat|Cat and dog|the cat sat", ""},
			{"OKAllWords", "DEN", "dog cat", 20, "Cat and dog", ""},
			{"OKLimit", "den", "cat", 2, "cats are not cat|Cat and dog", ""},
			{"OKPunctuationIsNotSyntax", "den", `(cat) "dog*" -:^`, 20, "Cat and dog", ""},
			{"OKNoMatch", "den", "zebra", 20, "", ""},
			{"OKOtherRoom", chatd.Lobby, "cat", 20, "cat in the lobby", ""},
			{"ErrNothingToSearch", "den", " ,;* ", 20, "", chatd.EBadArgs},
			{"ErrNoSuchRoom", "attic", "cat", 20, "", chatd.ENoSuchRoom},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.SearchHistory(ctx, tt.room, tt.query, tt.n, 100)
				checkCode(t, err, tt.code)
				if texts(got) != tt.want {
					t.Fatalf("got %q, want %q", texts(got), tt.want)
				}
			})
		}
		t.Run("OKOnlyTheNewestKeep", func(t *testing.T) {
			// Lines past keep, waiting for the next trim, are not found.
			got, err := db.SearchHistory(ctx, "den", "cat", 20, 2)
			if err != nil || texts(got) != "cats are not cat" {
				t.Fatalf("keep 2: %q, %v", texts(got), err)
			}
		})
		t.Run("TrimmedLinesLeaveTheIndex", func(t *testing.T) {
			// Enough lines at once that the room is due for a trim.
			var last []chatd.RoomLine
			for range trimStep(1) {
				last = append(last, chatd.RoomLine{Room: "den", Line: chatd.HistoryLine{From: "alice", Text: "last"}})
			}
			checkCode(t, db.AppendHistoryBatch(ctx, last, 1), "")
			if got, _ := db.SearchHistory(ctx, "den", "cat", 20, 100); len(got) != 0 {
				t.Fatalf("trimmed lines still found: %q", texts(got))
			}
			checkFTS(t, db)
		})
		t.Run("ClosedRoomLeavesTheIndex", func(t *testing.T) {
			checkCode(t, db.DeleteRoom(ctx, "den"), "")
			checkFTS(t, db)
		})
	})
}

// checkFTS asks FTS5 to verify that the index matches the history table.
func checkFTS(t *testing.T, db *DB) {
	t.Helper()
	if db.pg {
		return // the words are in the row itself: no index to get out of step
	}
	if _, err := db.writer.Exec(`INSERT INTO room_history_fts (room_history_fts, rank) VALUES ('integrity-check', 1)`); err != nil {
		t.Fatalf("full-text index out of step with room_history: %v", err)
	}
}

// TestSearchUsesIndex: search is a lookup in the full-text index, newest
// first straight from it, never a scan of room_history or a sort.
func TestSearchUsesIndex(t *testing.T) {
	db, _ := openTest(t)
	rows, err := db.reader.Query(`EXPLAIN QUERY PLAN `+searchSQL, `"x"`, 1, 1, 99, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "\n")
	t.Logf("plan:\n%s", p)
	// FTS5 reports a MATCH constraint as "M" in its index string.
	if !strings.Contains(p, "VIRTUAL TABLE INDEX") || !strings.Contains(p, ":M") {
		t.Fatalf("search does not use the full-text index:\n%s", p)
	}
	if strings.Contains(p, "SCAN h") || strings.Contains(p, "SCAN room_history ") || strings.Contains(p, "TEMP B-TREE") {
		t.Fatalf("search scans or sorts:\n%s", p)
	}
}

func TestRoomModeration(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")

		checkCode(t, db.SetRoomTopic(ctx, "DEN", "cats only"), "")
		checkCode(t, db.SetRoomPassword(ctx, "den", "hash"), "")
		checkCode(t, db.SetRoomOwner(ctx, "den", "bob"), "")
		r, err := db.RoomByName(ctx, "den")
		if err != nil || r.Topic != "cats only" || r.PassHash != "hash" || r.Owner != "Bob" {
			t.Fatalf("room %+v, %v", r, err)
		}
		checkCode(t, db.SetRoomTopic(ctx, "attic", "x"), chatd.ENoSuchRoom)
		checkCode(t, db.SetRoomOwner(ctx, "den", "nobody"), chatd.ENoSuchUser)

		// Invitations are used once; a ban takes one away.
		checkCode(t, db.Invite(ctx, "den", "alice", "Bob", t0), "")
		if ok, err := db.UseInvite(ctx, "den", "ALICE"); !ok || err != nil {
			t.Fatalf("first use: %v %v", ok, err)
		}
		if ok, err := db.UseInvite(ctx, "den", "alice"); ok || err != nil {
			t.Fatalf("second use: %v %v", ok, err)
		}
		checkCode(t, db.Invite(ctx, "den", "nobody", "Bob", t0), chatd.ENoSuchUser)

		checkCode(t, db.Invite(ctx, "den", "alice", "Bob", t0), "")
		until := t0.Add(time.Hour)
		checkCode(t, db.RoomBan(ctx, chatd.RoomBan{Room: "den", User: "alice", By: "Bob", Expires: until}), "")
		if ok, _ := db.UseInvite(ctx, "den", "alice"); ok {
			t.Fatal("invitation survived a ban")
		}
		b, err := db.RoomBanOf(ctx, "Den", "Alice")
		if err != nil || b == nil || b.User != "alice" || b.Room != "den" || !b.Expires.Equal(until) || !b.ActiveAt(t0) || b.ActiveAt(until) {
			t.Fatalf("room ban %+v, %v", b, err)
		}
		checkCode(t, db.RoomUnban(ctx, "den", "alice"), "")
		checkCode(t, db.RoomUnban(ctx, "den", "alice"), chatd.EBadArgs)
		if b, err := db.RoomBanOf(ctx, "den", "alice"); b != nil || err != nil {
			t.Fatalf("after unban: %+v, %v", b, err)
		}
		// Closing the room takes its bans and invitations with it.
		checkCode(t, db.RoomBan(ctx, chatd.RoomBan{Room: "den", User: "alice"}), "")
		checkCode(t, db.Invite(ctx, "den", "bob", "alice", t0), "")
		checkCode(t, db.DeleteRoom(ctx, "den"), "")
		var n int
		if err := db.reader.Get(&n, `SELECT (SELECT count(*) FROM room_bans) + (SELECT count(*) FROM room_invites)`); err != nil || n != 0 {
			t.Fatalf("left behind: %d, %v", n, err)
		}
	})
}

func TestSettings(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice")
		checkCode(t, db.SetSetting(ctx, "ALICE", "timezone", "Europe/Paris"), "")
		checkCode(t, db.SetSetting(ctx, "alice", "timezone", "Asia/Tokyo"), "")
		checkCode(t, db.SetSetting(ctx, "alice", "timestamps", "on"), "")
		checkCode(t, db.SetSetting(ctx, "nobody", "timestamps", "on"), chatd.ENoSuchUser)
		got, err := db.Settings(ctx, "alice")
		if err != nil || len(got) != 2 || got["timezone"] != "Asia/Tokyo" || got["timestamps"] != "on" {
			t.Fatalf("settings %v, %v", got, err)
		}
		_, err = db.Settings(ctx, "nobody")
		checkCode(t, err, chatd.ENoSuchUser)
	})
}

// TestMigrateFromV1: a version 1 file with history is brought to the
// current version with its lines kept and searchable.
func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatd.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, `PRAGMA user_version = 1`,
		`INSERT INTO rooms (name, owner, pass_hash, created) VALUES ('den', 'alice', '', 0)`,
		`INSERT INTO room_history (room_id, sender, body, ts) VALUES (1, 'alice', 'old cat line', 0)`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db := openAt(t, path)
	got, err := db.SearchHistory(context.Background(), "den", "cat", 20, 100)
	if err != nil || len(got) != 1 || got[0].Text != "old cat line" {
		t.Fatalf("search after migration: %v, %v", got, err)
	}
	r, err := db.RoomByName(context.Background(), "den")
	if err != nil || r.Topic != "" {
		t.Fatalf("room after migration: %+v, %v", r, err)
	}
	checkFTS(t, db)
	// Same tables and columns as a new file.
	fresh, _ := openTest(t)
	if a, b := shape(t, db), shape(t, fresh); a != b {
		t.Fatalf("migrated shape differs from a new file:\n%s\nnew:\n%s", a, b)
	}
}

// shape lists every table and index with its columns.
func shape(t *testing.T, db *DB) string {
	t.Helper()
	var names []string
	if err := db.reader.Select(&names, `SELECT type || ' ' || name FROM sqlite_schema ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ":")
		typ, name, _ := strings.Cut(n, " ")
		if typ == "table" {
			var cols []string
			if err := db.reader.Select(&cols, `SELECT name || ' ' || type || ' ' || "notnull" || ' ' || coalesce(dflt_value, '') FROM pragma_table_info(?)`, name); err != nil {
				t.Fatal(err)
			}
			b.WriteString(strings.Join(cols, ","))
		}
		b.WriteString("\n")
	}
	return b.String()
}
