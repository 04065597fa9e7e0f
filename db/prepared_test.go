package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"chatd"
)

// The statements of a login (and of joining a room, and of writing who is
// online) run prepared on SQLite: compiling them from their text on every
// call was a third of the daemon's CPU in a storm of logins. For each
// statement, a call of the function that runs it must leave it in its
// pool's cache, and once the cached statement is swapped for another the
// function must run that other: it runs what the cache holds, not the same
// text unprepared. (The writer's statements are in the cache from Open, so
// only the second check tells for them.)
func TestBusyPathsRunPrepared(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, db *DB) {
		mustUsers(t, db, "alice", "bob", "carol")
		for _, err := range []error{
			db.Block(ctx, "alice", "carol"),
			db.SetSetting(ctx, "alice", "tz", "UTC"),
			db.StoreOffline(ctx, "alice", chatd.OfflineMessage{From: "bob", To: []string{"alice"}, Text: "hi", Time: t0}, 0),
			db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "bob"}, 0, 0),
			db.RoomBan(ctx, chatd.RoomBan{Room: "den", User: "alice", By: "bob"}),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	online := func(n int) []chatd.OnlineSession {
		s := make([]chatd.OnlineSession, n)
		for i := range s {
			s[i] = chatd.OnlineSession{User: fmt.Sprint("u", i), Room: chatd.Lobby, Addr: "127.0.0.1:1", Since: t0, LastActive: t0}
		}
		return s
	}
	type call func(db *DB) error
	var (
		userByName = func(db *DB) error { _, err := db.UserByName(ctx, "alice"); return err }
		banOf      = func(db *DB) error { _, err := db.BanOf(ctx, "alice"); return err }
		blocked    = func(db *DB) error {
			b, err := db.Blocked(ctx, "alice")
			if err == nil && !slices.Equal(b, []string{"carol"}) {
				err = fmt.Errorf("Blocked = %q", b)
			}
			return err
		}
		settings = func(db *DB) error {
			s, err := db.Settings(ctx, "alice")
			if err == nil && s["tz"] != "UTC" {
				err = fmt.Errorf("Settings = %v", s)
			}
			return err
		}
		offlineCount = func(db *DB) error {
			n, err := db.OfflineCount(ctx, "alice")
			if err == nil && n != 1 {
				err = fmt.Errorf("OfflineCount = %d", n)
			}
			return err
		}
		offlinePage = func(db *DB) error {
			m, err := db.OfflinePage(ctx, "alice", 0, 10)
			if err == nil && len(m) != 1 {
				err = fmt.Errorf("OfflinePage: %d messages", len(m))
			}
			return err
		}
		attempts    = func(db *DB) error { _, err := db.Attempts(ctx, "alice", "", t0); return err }
		roomByName  = func(db *DB) error { _, err := db.RoomByName(ctx, "den"); return err }
		roomBanOf   = func(db *DB) error { _, err := db.RoomBanOf(ctx, "den", "alice"); return err }
		seenAt      = []chatd.Seen{{Name: "alice", LastLogin: t0, LastSeen: t0, LastActive: t0}}
		recordLogin = func(db *DB) error { return db.SetSeen(ctx, seenAt) }
		recordTry   = func(db *DB) error { return db.RecordAttempt(ctx, "alice", "127.0.0.1", t0, true) }
		setOnline   = func(db *DB) error { return db.SetOnline(ctx, online(67)) } // 64 + 2 + 1 rows
	)
	tests := []struct {
		name  string
		query string
		write bool
		call  call
	}{
		{"UserByName", sqlUserByName, false, userByName},
		{"BanOf/user", sqlUserID, false, banOf},
		{"BanOf", sqlBanOf, false, banOf},
		{"Blocked/user", sqlUserID, false, blocked},
		{"Blocked", sqlBlocked, false, blocked},
		{"Settings/user", sqlUserID, false, settings},
		{"Settings", sqlSettings, false, settings},
		{"OfflineCount/user", sqlUserID, false, offlineCount},
		{"OfflineCount", sqlMailboxSizeSorting, false, offlineCount},
		{"OfflinePage/user", sqlUserID, false, offlinePage},
		{"OfflinePage", sqlOfflinePageSorting, false, offlinePage},
		{"Attempts", sqlAttempts, false, attempts},
		{"RoomByName", sqlRoomByName, false, roomByName},
		{"RoomBanOf/room", sqlRoomID, false, roomBanOf},
		{"RoomBanOf/user", sqlUserID, false, roomBanOf},
		{"RoomBanOf", sqlRoomBanOf, false, roomBanOf},
		{"SetSeen", sqlSetSeen, true, recordLogin},
		{"RecordAttempt", sqlInsertAttempt, true, recordTry},
		{"SetOnline/clear", sqlClearOnline, true, setOnline},
		{"SetOnline/64", sqlInsertOnline[6], true, setOnline},
		{"SetOnline/2", sqlInsertOnline[1], true, setOnline},
		{"SetOnline/1", sqlInsertOnline[0], true, setOnline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, _ := openTest(t)
			setup(t, db)
			cache := db.readStmts
			if tt.write {
				cache = db.writeStmts
			}
			cache.mu.Lock()
			_, before := cache.m[tt.query]
			cache.mu.Unlock()
			if before && !tt.write {
				// The setup's writes use no reader statements; if
				// this one is there already the check below proves
				// nothing.
				t.Fatalf("%s is prepared before the call", tt.name)
			}
			if err := tt.call(db); err != nil {
				t.Fatalf("first call: %v", err)
			}
			// Swap the cached statement for one with 30,000
			// parameters: the call fails for want of arguments if
			// it runs what the cache holds.
			marker, err := cache.pool.PreparexContext(ctx, `SELECT ?30000`)
			if err != nil {
				t.Fatal(err)
			}
			cache.mu.Lock()
			st := cache.m[tt.query]
			if st != nil {
				cache.m[tt.query] = marker // closed with the cache
			}
			cache.mu.Unlock()
			if st == nil {
				marker.Close()
				t.Fatalf("after the call the statement is not prepared:\n%s", tt.query)
			}
			st.Close()
			err = tt.call(db)
			if err == nil || !strings.Contains(err.Error(), "missing argument with index") {
				t.Errorf("with its prepared statement swapped, the call returned %v; want it to run the swapped one (it ran the text unprepared)", err)
			}
		})
	}
}

// SetOnline writes more sessions than one multi-row INSERT holds (1,003:
// fifteen statements of 64 rows, then 32, 8, 2 and 1), and Online reads
// every one back, in order; a smaller set then replaces them all, and nil
// empties the table.
func TestSetOnlineManyRows(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		const n = 1003
		sessions := make([]chatd.OnlineSession, n)
		for i := range sessions {
			sessions[i] = chatd.OnlineSession{
				ID:         int64(i + 1),
				User:       fmt.Sprintf("user%04d", i),
				Room:       fmt.Sprint("room", i%7),
				Addr:       fmt.Sprintf("127.0.0.1:%d", 20000+i),
				Listener:   []string{"json", "irc", "telnet"}[i%3],
				Since:      t0.Add(time.Duration(i) * time.Second),
				LastActive: t0.Add(time.Duration(i) * time.Minute),
			}
		}
		check := func(want []chatd.OnlineSession) {
			t.Helper()
			got, err := db.Online(ctx)
			if err != nil {
				t.Fatalf("Online: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("Online: %d sessions, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("Online[%d] = %+v, want %+v", i, got[i], want[i])
				}
			}
		}
		if err := db.SetOnline(ctx, sessions); err != nil {
			t.Fatalf("SetOnline(%d): %v", n, err)
		}
		check(sessions)
		fewer := sessions[500:503]
		if err := db.SetOnline(ctx, fewer); err != nil {
			t.Fatalf("SetOnline(3): %v", err)
		}
		check(fewer)
		if err := db.SetOnline(ctx, nil); err != nil {
			t.Fatalf("SetOnline(nil): %v", err)
		}
		check(nil)
	})
}
