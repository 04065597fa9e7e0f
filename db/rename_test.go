package db

import (
	"context"
	"testing"

	"chatd"
)

// RenameRoom keeps the room: its history goes with it, the old name is
// free, a taken name or the lobby is refused.
func TestRenameRoom(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "attic", Owner: "bob"}, 0, 0), "")
		appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: "old"}, 10)

		checkCode(t, db.RenameRoom(ctx, "DEN", "attic"), chatd.ERoomExists)
		checkCode(t, db.RenameRoom(ctx, "cellar", "hall"), chatd.ENoSuchRoom)
		checkCode(t, db.RenameRoom(ctx, "lobby", "hall"), chatd.ENotPermitted)
		checkCode(t, db.RenameRoom(ctx, "den", "Hall"), "")

		r, err := db.RoomByName(ctx, "hall")
		if err != nil || r.Name != "Hall" || r.Owner != "alice" {
			t.Fatalf("RoomByName(hall) = %+v, %v", r, err)
		}
		_, err = db.RoomByName(ctx, "den")
		checkCode(t, err, chatd.ENoSuchRoom)
		if h, err := db.History(ctx, "hall", 10); err != nil || len(h) != 1 || h[0].Text != "old" {
			t.Errorf("History of hall = %+v, %v; want the old line", h, err)
		}
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "bob"}, 0, 0), "")
	})
}
