package db

import (
	"context"
	"testing"
	"time"

	"chatd"
)

func TestBan(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		expires := t0.Add(24 * time.Hour)
		created := t0.Add(-time.Hour)
		tests := []struct {
			name    string
			earlier *chatd.Ban // a ban already in place
			ban     chatd.Ban
			want    chatd.Code
			stored  *chatd.Ban
		}{
			{
				name:   "OKPermanent",
				ban:    chatd.Ban{User: "bob", Reason: "spam", By: "root", Created: created},
				stored: &chatd.Ban{User: "bob", Reason: "spam", By: "root", Created: created},
			},
			{
				name:   "OKTimedOtherCase",
				ban:    chatd.Ban{User: "BOB", Reason: "flood", By: "root", Expires: expires},
				stored: &chatd.Ban{User: "bob", Reason: "flood", By: "root", Created: t0, Expires: expires},
			},
			{
				name:    "OKReplaces",
				earlier: &chatd.Ban{User: "bob", Reason: "old", By: "alice", Expires: expires},
				ban:     chatd.Ban{User: "bob", Reason: "new", By: "root", Created: created},
				stored:  &chatd.Ban{User: "bob", Reason: "new", By: "root", Created: created},
			},
			{
				name: "ErrNoSuchUser",
				ban:  chatd.Ban{User: "ghost", Reason: "x"},
				want: chatd.ENoSuchUser,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "bob")
				if tt.earlier != nil {
					checkCode(t, db.Ban(ctx, *tt.earlier), "")
				}
				checkCode(t, db.Ban(ctx, tt.ban), tt.want)
				if tt.want != "" {
					return
				}
				got, err := db.BanOf(ctx, "bob")
				if err != nil || got == nil || *got != *tt.stored {
					t.Fatalf("BanOf = %+v, %v; want %+v", got, err, tt.stored)
				}
				if got.Permanent() != tt.stored.Expires.IsZero() {
					t.Errorf("Permanent = %v", got.Permanent())
				}
				if bans, err := db.Bans(ctx); err != nil || len(bans) != 1 {
					t.Errorf("Bans = %d, %v; want exactly one", len(bans), err)
				}
			})
		}
	})
}

func TestUnban(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name  string
			unban string
			want  chatd.Code
		}{
			{"OK", "bob", ""},
			{"OKOtherCase", "Bob", ""},
			{"ErrNotBanned", "alice", chatd.EBadArgs},
			{"ErrNoSuchUser", "ghost", chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "bob")
				checkCode(t, db.Ban(ctx, chatd.Ban{User: "bob", Expires: t0.Add(-time.Hour)}), "")
				err := db.Unban(ctx, tt.unban)
				checkCode(t, err, tt.want)
				if tt.want == chatd.EBadArgs && chatd.ErrorMessage(err) != "alice is not banned" {
					t.Errorf("message = %q", chatd.ErrorMessage(err))
				}
				if tt.want != "" {
					return
				}
				if b, err := db.BanOf(ctx, "bob"); err != nil || b != nil {
					t.Errorf("BanOf after Unban = %+v, %v", b, err)
				}
				// A second unban finds nothing to lift.
				checkCode(t, db.Unban(ctx, tt.unban), chatd.EBadArgs)
			})
		}
	})
}

func TestBanOf(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob")
		checkCode(t, db.Ban(ctx, chatd.Ban{User: "bob", Reason: "r"}), "")
		tests := []struct {
			name     string
			user     string
			want     chatd.Code
			wantUser string // "": no ban
		}{
			{"OK", "BOB", "", "Bob"},
			{"OKNotBanned", "alice", "", ""},
			{"ErrNoSuchUser", "ghost", chatd.ENoSuchUser, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b, err := db.BanOf(ctx, tt.user)
				checkCode(t, err, tt.want)
				switch {
				case tt.wantUser == "" && b != nil:
					t.Errorf("BanOf = %+v, want nil", b)
				case tt.wantUser != "" && (b == nil || b.User != tt.wantUser):
					t.Errorf("BanOf = %+v, want a ban on %s", b, tt.wantUser)
				}
			})
		}
	})
}

func TestBans(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, clk := openTest(t)
		mustUsers(t, db, "carol", "Alice", "bob", "dave")
		checkCode(t, db.Ban(ctx, chatd.Ban{User: "carol"}), "")
		checkCode(t, db.Ban(ctx, chatd.Ban{User: "alice", Expires: t0.Add(time.Minute)}), "")
		checkCode(t, db.Ban(ctx, chatd.Ban{User: "bob", Expires: t0.Add(-time.Minute)}), "") // expired
		clk.Add(time.Hour)

		bans, err := db.Bans(ctx)
		checkCode(t, err, "")
		want := []struct {
			user   string
			active bool
		}{{"Alice", false}, {"bob", false}, {"carol", true}}
		if len(bans) != len(want) {
			t.Fatalf("Bans = %d bans, want %d", len(bans), len(want))
		}
		for i, w := range want {
			if bans[i].User != w.user || bans[i].ActiveAt(clk.Now()) != w.active {
				t.Errorf("Bans[%d] = %+v, want %s active=%v", i, bans[i], w.user, w.active)
			}
		}
	})
}
