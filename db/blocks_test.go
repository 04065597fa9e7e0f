package db

import (
	"context"
	"slices"
	"testing"

	"chatd"
)

func TestBlock(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name             string
			blocker, blocked string
			want             chatd.Code
		}{
			{"OK", "alice", "bob", ""},
			{"OKOtherCase", "ALICE", "Bob", ""},
			{"OKOtherDirection", "carol", "alice", ""}, // alice blocking carol is a different block
			{"ErrSelf", "alice", "Alice", chatd.ESelf},
			{"ErrNoSuchBlocker", "ghost", "bob", chatd.ENoSuchUser},
			{"ErrNoSuchBlocked", "alice", "ghost", chatd.ENoSuchUser},
			{"ErrAlreadyBlocked", "alice", "CAROL", chatd.EAlreadyBlocked},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "Bob", "carol")
				checkCode(t, db.Block(ctx, "alice", "carol"), "")
				checkCode(t, db.Block(ctx, tt.blocker, tt.blocked), tt.want)
				if tt.want != "" {
					return
				}
				yes, err := db.IsBlocked(ctx, tt.blocker, tt.blocked)
				if err != nil || !yes {
					t.Errorf("IsBlocked after Block = %v, %v", yes, err)
				}
			})
		}
	})
}

func TestUnblock(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name             string
			blocker, blocked string
			want             chatd.Code
		}{
			{"OK", "alice", "bob", ""},
			{"OKOtherCase", "Alice", "BOB", ""},
			{"ErrSelf", "alice", "ALICE", chatd.ESelf},
			{"ErrNoSuchBlocker", "ghost", "bob", chatd.ENoSuchUser},
			{"ErrNoSuchBlocked", "alice", "ghost", chatd.ENoSuchUser},
			{"ErrNotBlocked", "bob", "alice", chatd.ENotBlocked},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "bob")
				checkCode(t, db.Block(ctx, "alice", "bob"), "")
				checkCode(t, db.Unblock(ctx, tt.blocker, tt.blocked), tt.want)
				if tt.want != "" {
					return
				}
				if yes, err := db.IsBlocked(ctx, "alice", "bob"); err != nil || yes {
					t.Errorf("IsBlocked after Unblock = %v, %v", yes, err)
				}
				checkCode(t, db.Unblock(ctx, tt.blocker, tt.blocked), chatd.ENotBlocked)
			})
		}
	})
}

func TestBlocked(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "dave", "Bob", "carol", "eve")
		for _, b := range []string{"dave", "bob", "CAROL"} {
			checkCode(t, db.Block(ctx, "alice", b), "")
		}
		checkCode(t, db.Block(ctx, "eve", "alice"), "")
		tests := []struct {
			name    string
			blocker string
			want    []string
			code    chatd.Code
		}{
			{"OKSortedRegisteredSpelling", "ALICE", []string{"Bob", "carol", "dave"}, ""},
			{"OKOneWay", "eve", []string{"alice"}, ""},
			{"OKNone", "dave", nil, ""},
			{"ErrNoSuchUser", "ghost", nil, chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.Blocked(ctx, tt.blocker)
				checkCode(t, err, tt.code)
				if !slices.Equal(got, tt.want) {
					t.Errorf("Blocked = %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestIsBlocked(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob", "carol")
		checkCode(t, db.Block(ctx, "alice", "bob"), "")
		tests := []struct {
			name             string
			blocker, blocked string
			want             bool
			code             chatd.Code
		}{
			{"OKBlocked", "alice", "bob", true, ""},
			{"OKOtherCase", "ALICE", "Bob", true, ""},
			{"OKOtherDirection", "bob", "alice", false, ""},
			{"OKNotBlocked", "alice", "carol", false, ""},
			{"ErrNoSuchBlocker", "ghost", "bob", false, chatd.ENoSuchUser},
			{"ErrNoSuchBlocked", "alice", "ghost", false, chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.IsBlocked(ctx, tt.blocker, tt.blocked)
				checkCode(t, err, tt.code)
				if got != tt.want {
					t.Errorf("IsBlocked = %v, want %v", got, tt.want)
				}
			})
		}
	})
}
