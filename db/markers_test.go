package db

import (
	"context"
	"testing"

	"chatd"
)

// TestReadMarkers: a marker moves forward only, AdvanceMarkers skips gone
// users, and unread counts are the lines after the marker that others
// sent, capped at chatd.UnreadCap.
func TestReadMarkers(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob")
		var lines []chatd.RoomLine
		for i := range chatd.UnreadCap + 20 {
			from := "bob"
			if i%2 == 0 && i < 10 {
				from = "alice"
			}
			lines = append(lines, chatd.RoomLine{Room: chatd.Lobby, Line: chatd.HistoryLine{
				MsgID: chatd.FormatID(uint64(1000 + i)), From: from, Text: "x", Time: t0}})
		}
		checkCode(t, db.AppendHistoryBatch(ctx, lines, 5000), "")
		id := func(i int) string { return chatd.FormatID(uint64(1000 + i)) }
		lobby := "#" + chatd.Lobby

		cur, moved, err := db.SetReadMarker(ctx, "ALICE", lobby, id(7))
		if err != nil || !moved || cur != id(7) {
			t.Fatalf("first marker: %q %v %v", cur, moved, err)
		}
		cur, moved, err = db.SetReadMarker(ctx, "alice", lobby, id(3))
		if err != nil || moved || cur != id(7) {
			t.Fatalf("older marker: %q %v %v, want %q unmoved", cur, moved, err, id(7))
		}
		_, _, err = db.SetReadMarker(ctx, "nobody", lobby, id(3))
		checkCode(t, err, chatd.ENoSuchUser)

		checkCode(t, db.AdvanceMarkers(ctx, []chatd.ReadMarker{
			{User: "alice", Conversation: lobby, MsgID: id(5)},  // behind: no change
			{User: "gone", Conversation: lobby, MsgID: id(9)},   // skipped
			{User: "alice", Conversation: "@bob", MsgID: id(2)}, // new
			{User: "bob", Conversation: lobby, MsgID: id(chatd.UnreadCap + 19)},
		}), "")
		marks, err := db.ReadMarkers(ctx, "alice")
		if err != nil || len(marks) != 2 || marks[lobby] != id(7) || marks["@bob"] != id(2) {
			t.Fatalf("alice's markers %v, %v", marks, err)
		}

		ok, err := db.RoomHasMessage(ctx, chatd.Lobby, id(4))
		if err != nil || !ok {
			t.Fatalf("RoomHasMessage(stored) = %v, %v", ok, err)
		}
		ok, err = db.RoomHasMessage(ctx, chatd.Lobby, chatd.FormatID(1))
		if err != nil || ok {
			t.Fatalf("RoomHasMessage(unknown) = %v, %v", ok, err)
		}
		_, err = db.RoomHasMessage(ctx, "nosuch", id(4))
		checkCode(t, err, chatd.ENoSuchRoom)

		// Alice read up to 7: lines 8.. are unread, her own (8) aside:
		// more than the cap.
		got, err := db.UnreadCounts(ctx, "alice", []string{lobby, "#nosuch", "@bob"})
		want := []chatd.Unread{{Conversation: lobby, Count: chatd.UnreadCap, More: true},
			{Conversation: "#nosuch"}, {Conversation: "@bob"}}
		if err != nil || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("alice's unread %+v, %v; want %+v", got, err, want)
		}
		// Bob read everything.
		got, err = db.UnreadCounts(ctx, "bob", []string{lobby})
		if err != nil || len(got) != 1 || got[0].Count != 0 || got[0].More {
			t.Fatalf("bob's unread %+v, %v", got, err)
		}
		checkCode(t, db.AdvanceMarkers(ctx, []chatd.ReadMarker{{User: "alice", Conversation: lobby, MsgID: id(chatd.UnreadCap - 2)}}), "")
		got, err = db.UnreadCounts(ctx, "alice", []string{lobby})
		if err != nil || len(got) != 1 || got[0].Count != 21 || got[0].More {
			t.Fatalf("alice's unread after advancing %+v, %v; want 21", got, err)
		}
	})
}
