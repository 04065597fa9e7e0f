package db

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"chatd"
)

func TestWatch(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name             string
			watcher, watched string
			added            bool
			want             chatd.Code
		}{
			{"OK", "alice", "bob", true, ""},
			{"OKOtherCase", "ALICE", "Bob", true, ""},
			{"OKAlready", "alice", "CAROL", false, ""},
			{"ErrSelf", "alice", "Alice", false, chatd.ESelf},
			{"ErrNoSuchWatcher", "ghost", "bob", false, chatd.ENoSuchUser},
			{"ErrNoSuchWatched", "alice", "ghost", false, chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "Bob", "carol")
				if _, err := db.Watch(ctx, "alice", "carol"); err != nil {
					t.Fatal(err)
				}
				added, err := db.Watch(ctx, tt.watcher, tt.watched)
				checkCode(t, err, tt.want)
				if added != tt.added {
					t.Errorf("Watch added = %v, want %v", added, tt.added)
				}
			})
		}
	})
}

// TestWatchingPersistsAndCascades: the list is sorted, bounded by
// chatd.MaxWatching, shrinks with Unwatch and loses a deleted account on
// either side.
func TestWatchingPersistsAndCascades(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob", "carol")
		for _, n := range []string{"carol", "bob"} {
			if _, err := db.Watch(ctx, "alice", n); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Watch(ctx, "carol", "alice"); err != nil {
			t.Fatal(err)
		}
		got, err := db.Watching(ctx, "ALICE")
		if err != nil || !slices.Equal(got, []string{"Bob", "carol"}) {
			t.Fatalf("Watching = %v, %v; want [Bob carol]", got, err)
		}
		if removed, err := db.Unwatch(ctx, "alice", "BOB"); err != nil || !removed {
			t.Fatalf("Unwatch = %v, %v", removed, err)
		}
		if removed, err := db.Unwatch(ctx, "alice", "bob"); err != nil || removed {
			t.Fatalf("second Unwatch = %v, %v; want false, nil", removed, err)
		}
		if _, err := db.Unwatch(ctx, "alice", "ghost"); chatd.ErrorCode(err) != chatd.ENoSuchUser {
			t.Fatalf("Unwatch(ghost) = %v, want no_such_user", err)
		}
		if err := db.DeleteUserAction(ctx, "carol", "test"); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Watching(ctx, "alice"); err != nil || len(got) != 0 {
			t.Fatalf("Watching after userdel of the watched = %v, %v; want none", got, err)
		}
		var rows int
		if err := db.reader.GetContext(ctx, &rows, `SELECT count(*) FROM watchers`); err != nil || rows != 0 {
			t.Fatalf("watchers rows after userdel = %d, %v; want 0", rows, err)
		}

		for i := range chatd.MaxWatching + 1 {
			mustUsers(t, db, fmt.Sprintf("u%03d", i))
		}
		for i := range chatd.MaxWatching {
			if _, err := db.Watch(ctx, "alice", fmt.Sprintf("u%03d", i)); err != nil {
				t.Fatalf("watch #%d: %v", i+1, err)
			}
		}
		_, err = db.Watch(ctx, "alice", fmt.Sprintf("u%03d", chatd.MaxWatching))
		checkCode(t, err, chatd.ETooManyWatched)
		if added, err := db.Watch(ctx, "alice", "u000"); err != nil || added {
			t.Fatalf("Watch of one already watched at the bound = %v, %v; want false, nil", added, err)
		}
		if got, err := db.Watching(ctx, "alice"); err != nil || len(got) != chatd.MaxWatching {
			t.Fatalf("Watching at the bound = %d names, %v", len(got), err)
		}
	})
}
