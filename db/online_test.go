package db

import (
	"context"
	"fmt"
	"testing"
	"time"

	"chatd"
)

// UpdateOnline changes only the rows it is given: a gone id's row goes, a
// put row replaces the row of its id or is added, the others stay as they
// were; more ids than one statement holds go in chunks, and nothing to do
// is no error.
func TestUpdateOnline(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		row := func(id int64, user, room string) chatd.OnlineSession {
			return chatd.OnlineSession{ID: id, User: user, Room: room, Addr: "127.0.0.1", Listener: "json",
				Since: t0, LastActive: t0.Add(time.Duration(id) * time.Second)}
		}
		check := func(want ...chatd.OnlineSession) {
			t.Helper()
			got, err := db.Online(ctx)
			if err != nil {
				t.Fatalf("Online: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("Online = %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("Online[%d] = %+v, want %+v", i, got[i], want[i])
				}
			}
		}
		checkCode(t, db.SetOnline(ctx, []chatd.OnlineSession{row(1, "alice", "lobby"), row(2, "bob", "lobby"), row(3, "carol", "lobby")}), "")
		checkCode(t, db.UpdateOnline(ctx, nil, nil), "")
		check(row(1, "alice", "lobby"), row(2, "bob", "lobby"), row(3, "carol", "lobby"))

		moved := row(1, "alice", "den")
		moved.LastActive = t0.Add(time.Hour)
		checkCode(t, db.UpdateOnline(ctx, []int64{2, 1, 99}, []chatd.OnlineSession{moved, row(4, "dave", "lobby")}), "")
		check(moved, row(3, "carol", "lobby"), row(4, "dave", "lobby"))

		// 130 rows in and out: 64 + 64 + 2 per statement.
		var many []chatd.OnlineSession
		var ids []int64
		for i := range 130 {
			many = append(many, row(int64(100+i), fmt.Sprintf("u%03d", i), "lobby"))
			ids = append(ids, int64(100+i))
		}
		checkCode(t, db.UpdateOnline(ctx, nil, many), "")
		if got, err := db.Online(ctx); err != nil || len(got) != 133 {
			t.Fatalf("Online after 130 more: %d rows, %v", len(got), err)
		}
		checkCode(t, db.UpdateOnline(ctx, append(ids, 1, 3, 4), nil), "")
		check()

		if err := db.UpdateOnline(ctx, nil, []chatd.OnlineSession{row(0, "eve", "lobby")}); err == nil {
			t.Error("UpdateOnline with a row without id: no error")
		}
	})
}

// MarkOnlineSeen sets last_seen of exactly the users the online table
// lists, whatever the case of the name there, and leaves last_active.
func TestMarkOnlineSeen(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob", "carol")
		for _, n := range []string{"alice", "Bob", "carol"} {
			checkCode(t, db.SetSeen(ctx, []chatd.Seen{{Name: n, LastLogin: t0, LastSeen: t0, LastActive: t0}}), "")
		}
		checkCode(t, db.SetOnline(ctx, []chatd.OnlineSession{
			{ID: 1, User: "alice", Room: "lobby", Since: t0, LastActive: t0},
			{ID: 2, User: "Bob", Room: "lobby", Since: t0, LastActive: t0},
			{ID: 3, User: "Bob", Room: "den", Since: t0, LastActive: t0},
		}), "")
		at := t0.Add(time.Minute)
		checkCode(t, db.MarkOnlineSeen(ctx, at), "")
		for name, want := range map[string]time.Time{"alice": at, "Bob": at, "carol": t0} {
			u, err := db.UserByName(ctx, name)
			if err != nil || !u.LastSeen.Equal(want) || !u.LastActive.Equal(t0) {
				t.Errorf("%s = %+v, %v; want last_seen %v, last_active %v", name, u, err, want, t0)
			}
		}
	})
}
