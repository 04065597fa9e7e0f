package db

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"chatd"
)

// TestMetadata: keys of accounts and rooms are set, replaced, listed
// sorted, bounded by chatd.MaxMetadataKeys, deleted one by one or all at
// once, and go with their account or room.
func TestMetadata(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "Den", Owner: "alice"}, 0, 0), "")

		set := func(room bool, name, key, value string) {
			t.Helper()
			if err := db.SetMetadata(ctx, room, name, chatd.Meta{Key: key, Value: value}); err != nil {
				t.Fatalf("SetMetadata(%v, %s, %s): %v", room, name, key, err)
			}
		}
		list := func(room bool, name string) []chatd.Meta {
			t.Helper()
			got, err := db.Metadata(ctx, room, name)
			if err != nil {
				t.Fatalf("Metadata(%v, %s): %v", room, name, err)
			}
			return got
		}
		set(false, "alice", "display-name", "Alice")
		set(false, "ALICE", "avatar", "https://example.com/a.png")
		set(false, "alice", "display-name", "Alice A.")
		set(true, "den", "display-name", "The Den")
		want := []chatd.Meta{
			{Key: "avatar", Value: "https://example.com/a.png", Visibility: "*"},
			{Key: "display-name", Value: "Alice A.", Visibility: "*"},
		}
		if got := list(false, "Alice"); !slices.Equal(got, want) {
			t.Fatalf("alice's metadata = %v, want %v", got, want)
		}
		if got := list(true, "DEN"); !slices.Equal(got, []chatd.Meta{{Key: "display-name", Value: "The Den", Visibility: "*"}}) {
			t.Fatalf("den's metadata = %v", got)
		}
		if got := list(false, "bob"); len(got) != 0 {
			t.Fatalf("bob's metadata = %v, want none", got)
		}

		_, err := db.Metadata(ctx, false, "ghost")
		checkCode(t, err, chatd.ENoSuchUser)
		checkCode(t, db.SetMetadata(ctx, true, "nowhere", chatd.Meta{Key: "a", Value: "b"}), chatd.ENoSuchRoom)

		gone, err := db.DeleteMetadata(ctx, false, "alice", []string{"avatar", "color"})
		if err != nil || !slices.Equal(gone, []string{"avatar"}) {
			t.Fatalf("DeleteMetadata(avatar, color) = %v, %v; want [avatar]", gone, err)
		}
		set(false, "alice", "color", "#c90076")
		gone, err = db.DeleteMetadata(ctx, false, "alice", nil)
		if err != nil || !slices.Equal(gone, []string{"color", "display-name"}) {
			t.Fatalf("DeleteMetadata(all) = %v, %v", gone, err)
		}

		for i := range chatd.MaxMetadataKeys {
			set(false, "bob", fmt.Sprintf("k%02d", i), "v")
		}
		checkCode(t, db.SetMetadata(ctx, false, "bob", chatd.Meta{Key: "one-more", Value: "v"}), chatd.ETooManyKeys)
		set(false, "bob", "k00", "replaced at the bound")

		if err := db.DeleteRoom(ctx, "den"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteUserAction(ctx, "bob", "test"); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := db.reader.GetContext(ctx, &rows, `SELECT count(*) FROM metadata`); err != nil || rows != 0 {
			t.Fatalf("metadata rows after the room and the account went = %d, %v; want 0", rows, err)
		}
	})
}
