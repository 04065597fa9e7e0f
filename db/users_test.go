package db

import (
	"context"
	"slices"
	"testing"
	"time"

	"chatd"
)

func TestCreateUser(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name  string
			user  string
			admin bool
			want  chatd.Code
		}{
			{"OK", "bob", false, ""},
			{"OKAdmin", "root", true, ""},
			{"ErrUserExists", "Alice", false, chatd.EUserExists},
			{"ErrUserExistsOtherCase", "ALICE", false, chatd.EUserExists},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "Alice")
				u, err := db.CreateUser(ctx, tt.user, "hash", tt.admin)
				checkCode(t, err, tt.want)
				if tt.want != "" {
					return
				}
				want := &chatd.User{ID: u.ID, Name: tt.user, PassHash: "hash", Admin: tt.admin, Created: t0}
				if u.ID == 0 || *u != *want {
					t.Errorf("CreateUser = %+v, want %+v", u, want)
				}
				got, err := db.UserByName(ctx, tt.user)
				if err != nil || *got != *want {
					t.Errorf("UserByName = %+v, %v; want %+v", got, err, want)
				}
			})
		}
	})
}

func TestUserByName(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "Alice")
		tests := []struct {
			name   string
			lookup string
			want   chatd.Code
		}{
			{"OK", "Alice", ""},
			{"OKOtherCase", "aLICE", ""},
			{"ErrNoSuchUser", "bob", chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, err := db.UserByName(ctx, tt.lookup)
				checkCode(t, err, tt.want)
				if err != nil {
					return
				}
				if u.Name != "Alice" || u.PassHash != "hash-Alice" || u.Admin || !u.Created.Equal(t0) ||
					!u.LastLogin.IsZero() || !u.LastSeen.IsZero() || !u.LastActive.IsZero() {
					t.Errorf("UserByName(%s) = %+v", tt.lookup, u)
				}
			})
		}
	})
}

func TestUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name  string
			users []string
			want  []string
		}{
			{"Empty", nil, nil},
			{"SortedIgnoringCase", []string{"bob", "Dave", "alice", "Carol"}, []string{"alice", "bob", "Carol", "Dave"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, tt.users...)
				users, err := db.Users(ctx)
				checkCode(t, err, "")
				var got []string
				for _, u := range users {
					got = append(got, u.Name)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("Users = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestDeleteUserAction(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name   string
			delete string
			want   chatd.Code
		}{
			{"OK", "bob", ""},
			{"OKOtherCase", "BOB", ""},
			{"ErrNoSuchUser", "carol", chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "bob")
				checkCode(t, db.Ban(ctx, chatd.Ban{User: "bob"}), "")
				// Mail first: once bob blocks alice the store refuses it.
				checkCode(t, db.StoreOffline(ctx, "bob", chatd.OfflineMessage{From: "alice", Text: "x"}, 0), "")
				checkCode(t, db.Block(ctx, "bob", "alice"), "")
				checkCode(t, db.Block(ctx, "alice", "bob"), "")
				checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "bobroom", Owner: "Bob"}, 0, 0), "")
				checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "aliceroom", Owner: "alice"}, 0, 0), "")

				checkCode(t, db.DeleteUserAction(ctx, tt.delete, "root"), tt.want)
				if tt.want != "" {
					return
				}
				_, err := db.UserByName(ctx, "bob")
				checkCode(t, err, chatd.ENoSuchUser)
				// A new bob starts clean: the old ban, blocks and mail went
				// with the old account.
				mustUsers(t, db, "bob")
				if b, err := db.BanOf(ctx, "bob"); err != nil || b != nil {
					t.Errorf("BanOf(new bob) = %+v, %v; want nil", b, err)
				}
				if m, err := db.OfflinePage(ctx, "bob", 0, -1); err != nil || len(m) != 0 {
					t.Errorf("OfflinePage(new bob) = %+v, %v; want none", m, err)
				}
				if l, err := db.Blocked(ctx, "alice"); err != nil || len(l) != 0 {
					t.Errorf("Blocked(alice) = %v, %v; want none", l, err)
				}
				if l, err := db.Blocked(ctx, "bob"); err != nil || len(l) != 0 {
					t.Errorf("Blocked(new bob) = %v, %v; want none", l, err)
				}
				// The old bob's room went with him; alice's stays.
				_, err = db.RoomByName(ctx, "bobroom")
				checkCode(t, err, chatd.ENoSuchRoom)
				_, err = db.RoomByName(ctx, "aliceroom")
				checkCode(t, err, "")
			})
		}
	})
}

func TestSetPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name string
			user string
			want chatd.Code
		}{
			{"OK", "alice", ""},
			{"OKOtherCase", "Alice", ""},
			{"ErrNoSuchUser", "bob", chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice")
				checkCode(t, db.SetPassword(ctx, tt.user, "new-hash"), tt.want)
				if tt.want != "" {
					return
				}
				if u, err := db.UserByName(ctx, "alice"); err != nil || u.PassHash != "new-hash" {
					t.Errorf("after SetPassword: %+v, %v", u, err)
				}
			})
		}
	})
}

func TestSetAdminAction(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name  string
			user  string
			admin bool
			want  chatd.Code
		}{
			{"OKGrant", "alice", true, ""},
			{"OKRevoke", "ALICE", false, ""},
			{"ErrNoSuchUser", "bob", true, chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				if _, err := db.CreateUser(ctx, "alice", "h", !tt.admin); err != nil {
					t.Fatal(err)
				}
				checkCode(t, db.SetAdminAction(ctx, tt.user, tt.admin, "root"), tt.want)
				if tt.want != "" {
					return
				}
				if u, err := db.UserByName(ctx, "alice"); err != nil || u.Admin != tt.admin {
					t.Errorf("after SetAdminAction(%v): %+v, %v", tt.admin, u, err)
				}
			})
		}
	})
}

// TestSetSeenLogin: a login's times (all three columns) go in one call
// with other users' logins and logouts.
func TestSetSeenLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		at, later := t0.Add(time.Hour), t0.Add(2*time.Hour)
		login := func(name string, at time.Time) chatd.Seen {
			return chatd.Seen{Name: name, LastLogin: at, LastSeen: at, LastActive: at}
		}
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "carol")
		checkCode(t, db.SetSeen(ctx, []chatd.Seen{login("alice", at)}), "")
		// carol logs in, alice leaves (no login time), a deleted user too.
		checkCode(t, db.SetSeen(ctx, []chatd.Seen{login("ghost", later), login("CAROL", at), {Name: "alice", LastSeen: later}}), "")
		for name, want := range map[string][3]time.Time{"alice": {at, later, at}, "carol": {at, at, at}} {
			u, err := db.UserByName(ctx, name)
			if err != nil || !u.LastLogin.Equal(want[0]) || !u.LastSeen.Equal(want[1]) || !u.LastActive.Equal(want[2]) {
				t.Errorf("%s: %+v, %v; want login, seen, active %v", name, u, err, want)
			}
		}
	})
}

func TestSetSeen(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		before := t0.Add(-time.Hour)
		seen, active := t0.Add(time.Minute), t0.Add(2*time.Minute)
		tests := []struct {
			name       string
			seen       []chatd.Seen
			wantSeen   time.Time
			wantActive time.Time
		}{
			{"OK", []chatd.Seen{{Name: "alice", LastSeen: seen, LastActive: active}}, seen, active},
			{"OKOtherCase", []chatd.Seen{{Name: "ALICE", LastSeen: seen, LastActive: active}}, seen, active},
			{"OKZeroKeepsOld", []chatd.Seen{{Name: "alice", LastSeen: seen}}, seen, before},
			{"OKUnknownSkipped", []chatd.Seen{{Name: "ghost", LastSeen: active}, {Name: "alice", LastSeen: seen, LastActive: active}}, seen, active},
			{"OKEmpty", nil, before, before},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "bob")
				checkCode(t, db.SetSeen(ctx, []chatd.Seen{{Name: "alice", LastLogin: before, LastSeen: before, LastActive: before}, {Name: "bob", LastLogin: before, LastSeen: before, LastActive: before}}), "")
				checkCode(t, db.SetSeen(ctx, tt.seen), "")
				u, err := db.UserByName(ctx, "alice")
				if err != nil || !u.LastSeen.Equal(tt.wantSeen) || !u.LastActive.Equal(tt.wantActive) || !u.LastLogin.Equal(before) {
					t.Errorf("alice = %+v, %v; want seen %v, active %v", u, err, tt.wantSeen, tt.wantActive)
				}
				if b, err := db.UserByName(ctx, "bob"); err != nil || !b.LastSeen.Equal(before) {
					t.Errorf("bob changed: %+v, %v", b, err)
				}
			})
		}
	})
}

func TestUsersSinceQueries(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "zed", "Amy", "bob", "never")
		// last_seen and last_active differ so each query is told apart.
		checkCode(t, db.SetSeen(ctx, []chatd.Seen{
			{Name: "zed", LastSeen: t0, LastActive: t0.Add(-time.Hour)},
			{Name: "Amy", LastSeen: t0.Add(time.Second), LastActive: t0.Add(time.Second)},
			{Name: "bob", LastSeen: t0.Add(-time.Millisecond), LastActive: t0},
		}), "")
		tests := []struct {
			name       string
			since      time.Time
			wantSeen   []string
			wantActive []string
		}{
			{"AtBoundaryIncluded", t0, []string{"Amy", "zed"}, []string{"Amy", "bob"}},
			{"Later", t0.Add(time.Second), []string{"Amy"}, []string{"Amy"}},
			{"AfterEveryone", t0.Add(time.Hour), nil, nil},
			{"ZeroMeansEveryoneEverSeen", time.Time{}, []string{"Amy", "bob", "zed"}, []string{"Amy", "bob", "zed"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.UsersSeenSince(ctx, tt.since)
				if err != nil || !slices.Equal(got, tt.wantSeen) {
					t.Errorf("UsersSeenSince = %v, %v; want %v", got, err, tt.wantSeen)
				}
				got, err = db.UsersActiveSince(ctx, tt.since)
				if err != nil || !slices.Equal(got, tt.wantActive) {
					t.Errorf("UsersActiveSince = %v, %v; want %v", got, err, tt.wantActive)
				}
			})
		}
	})
}

// A guest is an account whose hash is chatd.GuestPassHash: DeleteGuest
// and DeleteGuests remove guests, with their rooms and memberships, and
// never another account, not even one with an empty hash.
func TestDeleteGuests(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice")
		if _, err := db.CreateUser(ctx, "nohash", "", false); err != nil {
			t.Fatal(err)
		}
		for _, g := range []string{"visitor", "passerby"} {
			if _, err := db.CreateUser(ctx, g, chatd.GuestPassHash, false); err != nil {
				t.Fatal(err)
			}
		}
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "tent", Owner: "visitor"}, 0, 0), "")
		checkCode(t, db.AddMember(ctx, "visitor", "tent", time.Now(), 0), "")

		if ok, err := db.DeleteGuest(ctx, "alice"); ok || err != nil {
			t.Errorf("DeleteGuest(alice) = %v, %v; want false, nil", ok, err)
		}
		if ok, err := db.DeleteGuest(ctx, "nobody"); ok || err != nil {
			t.Errorf("DeleteGuest(nobody) = %v, %v; want false, nil", ok, err)
		}
		if ok, err := db.DeleteGuest(ctx, "VISITOR"); !ok || err != nil {
			t.Errorf("DeleteGuest(VISITOR) = %v, %v; want true, nil", ok, err)
		}
		_, err := db.RoomByName(ctx, "tent")
		checkCode(t, err, chatd.ENoSuchRoom)
		if n, err := db.DeleteGuests(ctx); n != 1 || err != nil {
			t.Errorf("DeleteGuests = %d, %v; want 1, nil", n, err)
		}
		for _, g := range []string{"visitor", "passerby"} {
			_, err := db.UserByName(ctx, g)
			checkCode(t, err, chatd.ENoSuchUser)
		}
		for _, n := range []string{"alice", "nohash"} {
			_, err = db.UserByName(ctx, n)
			checkCode(t, err, "")
		}
	})
}
