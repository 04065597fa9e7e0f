package db

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "embed"

	"chatd"
	"chatd/internal/pgtest"
)

// schema_v6.sql is schema.sql as it was at version 6, before room
// membership.
//
//go:embed testdata/schema_v6.sql
var schemaV6 string

func TestMembers(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		if _, err := db.CreateUser(ctx, "Ann", "h", false); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"den", "attic", "cellar"} {
			if err := db.CreateRoomLimited(ctx, chatd.Room{Name: r, Owner: "Ann"}, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		rooms := func(want ...string) {
			t.Helper()
			got, err := db.MemberRooms(ctx, "ANN")
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("MemberRooms = %q, %v; want %q", got, err, want)
			}
		}
		rooms("lobby") // a new account is in the lobby
		t1 := t0.Add(time.Minute)
		if err := db.AddMember(ctx, "ann", "DEN", t1, 3); err != nil {
			t.Fatal(err)
		}
		if err := db.AddMember(ctx, "ann", "attic", t1.Add(time.Second), 3); err != nil {
			t.Fatal(err)
		}
		// Already a member: nothing changes, even at the limit.
		if err := db.AddMember(ctx, "ann", "den", t1.Add(time.Hour), 3); err != nil {
			t.Fatal(err)
		}
		rooms("lobby", "den", "attic")
		if err := db.AddMember(ctx, "ann", "cellar", t1, 3); chatd.ErrorCode(err) != chatd.ETooManyRooms {
			t.Fatalf("AddMember beyond max = %v; want too_many_rooms", err)
		}
		if err := db.AddMember(ctx, "ann", "nowhere", t1, 0); chatd.ErrorCode(err) != chatd.ENoSuchRoom {
			t.Fatalf("AddMember(nowhere) = %v", err)
		}
		if ok, err := db.RemoveMember(ctx, "ann", "Den"); !ok || err != nil {
			t.Fatalf("RemoveMember(den) = %v, %v", ok, err)
		}
		if ok, err := db.RemoveMember(ctx, "ann", "den"); ok || err != nil {
			t.Fatalf("RemoveMember(den) again = %v, %v", ok, err)
		}
		// A closed room's members are members no more.
		if err := db.DeleteRoom(ctx, "attic"); err != nil {
			t.Fatal(err)
		}
		rooms("lobby")
	})
}

// v6Rows are users and rooms of a version 6 database (either backend).
var v6Rows = []string{
	`INSERT INTO users (id, name, pass_hash, created, name_key) VALUES (1, 'ann', 'h', 0, 'ann'), (2, 'bob', 'h', 0, 'bob'), (3, 'cy', 'h', 0, 'cy')`,
	`INSERT INTO rooms (id, name, created, name_key) VALUES (1, 'lobby', 0, 'lobby'), (2, 'den', 0, 'den')`,
	`INSERT INTO room_history (id, room_id, sender, body, ts, mid) VALUES (1, 1, 'ann', 'one', 1, '0000000000010000')`,
}

// checkV6Migrated checks that the rows of v6Rows are all there and every
// account is a member of the lobby, and of nothing else.
func checkV6Migrated(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	for _, u := range []string{"ann", "bob", "cy"} {
		if got, err := db.MemberRooms(ctx, u); err != nil || !slices.Equal(got, []string{"lobby"}) {
			t.Fatalf("MemberRooms(%s) = %q, %v; want the lobby", u, got, err)
		}
	}
	var users, rooms int
	if err := db.reader.GetContext(ctx, &users, `SELECT count(*) FROM users`); err != nil || users != 3 {
		t.Fatalf("%d users, %v", users, err)
	}
	if err := db.reader.GetContext(ctx, &rooms, `SELECT count(*) FROM rooms`); err != nil || rooms != 2 {
		t.Fatalf("%d rooms, %v", rooms, err)
	}
	if h, err := db.History(ctx, "lobby", 10); err != nil || len(h) != 1 {
		t.Fatalf("History(lobby) = %+v, %v", h, err)
	}
	// New accounts keep coming in as lobby members.
	if _, err := db.CreateUser(ctx, "dee", "h", false); err != nil {
		t.Fatal(err)
	}
	if got, err := db.MemberRooms(ctx, "dee"); err != nil || !slices.Equal(got, []string{"lobby"}) {
		t.Fatalf("MemberRooms(dee) = %q, %v", got, err)
	}
}

// A version 6 file (main before room membership) migrates with every row
// kept and every account a member of the lobby.
func TestMigrateFromVersion6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatd.db")
	raw := rawOpen(t, path)
	for _, q := range append([]string{schemaV6, `PRAGMA user_version = 6`}, v6Rows...) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	raw.Close()
	db := openAt(t, path)
	if v, err := schemaVersion(context.Background(), db.reader); err != nil || v != chatd.SchemaVersion {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	checkV6Migrated(t, db)
}

// The same from PostgreSQL version 3.
func TestPostgresMigrateFrom3(t *testing.T) {
	url := pgtest.URL(t)
	openPG(t, url).Close()
	raw := rawPG(t, url)
	if _, err := raw.Exec(undoPG7 + `DROP TABLE room_members; DROP TABLE read_markers; DROP TABLE private_history; DELETE FROM rooms; UPDATE schema_version SET version = 3`); err != nil {
		t.Fatal(err)
	}
	rows := slices.Clone(v6Rows)
	for _, table := range []string{"users", "rooms", "room_history"} {
		rows = append(rows, `SELECT setval(pg_get_serial_sequence('`+table+`', 'id'), 100)`)
	}
	for _, q := range rows {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db := openPG(t, url)
	var v int
	if err := db.reader.GetContext(context.Background(), &v, `SELECT version FROM schema_version`); err != nil || v != PostgresSchemaVersion {
		t.Fatalf("version %d, %v", v, err)
	}
	checkV6Migrated(t, db)
}
