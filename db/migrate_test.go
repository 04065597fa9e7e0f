package db

import (
	"context"
	_ "embed"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"chatd"
)

//go:embed testdata/schema_v1.sql
var schemaV1 string

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
