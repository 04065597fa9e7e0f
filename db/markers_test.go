package db

import (
	"context"
	"testing"
	"time"

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
		if err != nil || !moved || cur.MsgID != id(7) || !cur.At.IsZero() {
			t.Fatalf("first marker: %q %v %v", cur, moved, err)
		}
		cur, moved, err = db.SetReadMarker(ctx, "alice", lobby, id(3))
		if err != nil || moved || cur.MsgID != id(7) {
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

// TestReadMarkersByTime: a marker set by a time keeps that time and the
// id given (or none), moves only to a time past both its time and its
// id's, keeps the greater id, and a move by id keeps the time.
func TestReadMarkersByTime(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob")
		at := func(ms int64) time.Time { return time.UnixMilli(ms) }
		id := func(ms int64) string { return chatd.FormatID(uint64(ms)<<16 | 7) }
		check := func(what string, cur chatd.ReadMarker, moved bool, err error, wantID string, wantAt, wantTime int64, wantMoved bool) {
			t.Helper()
			if err != nil || moved != wantMoved || cur.MsgID != wantID || cur.At.UnixMilli() != wantAt && !(wantAt == 0 && cur.At.IsZero()) ||
				cur.Time().UnixMilli() != wantTime || cur.User != "alice" || cur.Conversation != "#den" {
				t.Fatalf("%s: %+v (time %d) moved %v, %v; want id %q at %d time %d moved %v",
					what, cur, cur.Time().UnixMilli(), moved, err, wantID, wantAt, wantTime, wantMoved)
			}
		}

		cur, err := db.ReadMarker(ctx, "alice", "#den")
		if err != nil || cur.MsgID != "" || !cur.Time().IsZero() {
			t.Fatalf("no marker yet: %+v, %v", cur, err)
		}
		// A time with no message at or before it: the time alone.
		cur, moved, err := db.SetReadMarkerAt(ctx, "alice", "#den", "", at(5000))
		check("first time", cur, moved, err, "", 5000, 5000, true)
		cur, err = db.ReadMarker(ctx, "alice", "#den")
		check("read back", cur, true, err, "", 5000, 5000, true)
		cur, moved, err = db.SetReadMarkerAt(ctx, "alice", "#den", "", at(5000))
		check("same time", cur, moved, err, "", 5000, 5000, false)
		cur, moved, err = db.SetReadMarkerAt(ctx, "alice", "#den", "", at(4000))
		check("older time", cur, moved, err, "", 5000, 5000, false)
		// A later time with a message before it.
		cur, moved, err = db.SetReadMarkerAt(ctx, "alice", "#den", id(5500), at(6000))
		check("later time", cur, moved, err, id(5500), 6000, 6000, true)
		// By id, past the time: the id's time is the marker's time.
		cur, moved, err = db.SetReadMarker(ctx, "alice", "#den", id(9000))
		check("by id", cur, moved, err, id(9000), 6000, 9000, true)
		// A time before the id's is no move; one in the id's millisecond
		// neither.
		cur, moved, err = db.SetReadMarkerAt(ctx, "alice", "#den", id(7000), at(7000))
		check("time before the id", cur, moved, err, id(9000), 6000, 9000, false)
		cur, moved, err = db.SetReadMarkerAt(ctx, "alice", "#den", id(9000), at(9000))
		check("time of the id", cur, moved, err, id(9000), 6000, 9000, false)
		// A later time whose newest message is older than the stored id
		// (trimmed since): the id stays.
		cur, moved, err = db.SetReadMarkerAt(ctx, "alice", "#den", id(2000), at(9001))
		check("later time, older id", cur, moved, err, id(9000), 9001, 9001, true)
		// The ids alone, for unread.
		marks, err := db.ReadMarkers(ctx, "alice")
		if err != nil || len(marks) != 1 || marks["#den"] != id(9000) {
			t.Fatalf("alice's markers %v, %v", marks, err)
		}
		_, _, err = db.SetReadMarkerAt(ctx, "nobody", "#den", "", at(1))
		checkCode(t, err, chatd.ENoSuchUser)
		_, err = db.ReadMarker(ctx, "nobody", "#den")
		checkCode(t, err, chatd.ENoSuchUser)
	})
}
