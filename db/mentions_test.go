package db

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"chatd"
)

// TestMentions: a stored line keeps whom it marks; each marked user finds
// it among their mentions (newest first, a page at a time, only in rooms
// they are still a member of); the unread count stops at their read
// marker of each room; trimmed lines and deleted users take their marks
// with them.
func TestMentions(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob", "carol")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
		for _, u := range []string{"alice", "bob"} {
			checkCode(t, db.AddMember(ctx, u, "den", t0, 0), "")
		}

		got, err := db.MembersNamed(ctx, "den", []string{"BOB", "carol", "alice", "nobody"})
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []string{"Bob", "alice"}) {
			t.Fatalf("MembersNamed(den) = %q, %v", got, err)
		}
		if got, err := db.MembersNamed(ctx, "nosuch", []string{"bob"}); err != nil || len(got) != 0 {
			t.Fatalf("MembersNamed(nosuch) = %q, %v", got, err)
		}

		id := func(i int) string { return chatd.FormatID(uint64(5000 + i)) }
		line := func(i int, room, mentions string) chatd.RoomLine {
			return chatd.RoomLine{Room: room, Line: chatd.HistoryLine{MsgID: id(i), From: "alice", Text: "line " + id(i), Time: t0, Mentions: mentions}}
		}
		// Lines 0-5 in den: bob is marked in 1, 2, 4 and 5 (with carol in
		// 4, carol being no member of den); lines 6-7 in the lobby mark
		// carol and bob.
		checkCode(t, db.AppendHistoryBatch(ctx, []chatd.RoomLine{
			line(0, "den", ""), line(1, "den", "Bob"), line(2, "den", "Bob"), line(3, "den", ""),
			line(4, "den", "carol Bob"), line(5, "den", "Bob"), line(6, "lobby", "carol"), line(7, "lobby", "Bob"),
		}, 100), "")

		h, err := db.History(ctx, "den", 10)
		if err != nil || len(h) != 6 || h[4].Mentions != "carol Bob" || h[0].Mentions != "" {
			t.Fatalf("History(den) = %+v, %v", h, err)
		}
		page, err := db.RoomHistoryPage(ctx, "den", chatd.PageQuery{N: 2, Keep: 100})
		if err != nil || len(page.Lines) != 2 || page.Lines[1].Mentions != "Bob" {
			t.Fatalf("RoomHistoryPage(den) = %+v, %v", page, err)
		}

		ids := func(ms []chatd.Mention) (out []string) {
			for _, m := range ms {
				out = append(out, m.Room+" "+m.Line.MsgID)
			}
			return out
		}
		ms, more, err := db.Mentions(ctx, "BOB", "", 3)
		if err != nil || !more || !slices.Equal(ids(ms), []string{"lobby " + id(7), "den " + id(5), "den " + id(4)}) {
			t.Fatalf("Mentions(bob, 3) = %v, %v, %v", ids(ms), more, err)
		}
		if ms[2].Line.Mentions != "carol Bob" || ms[2].Line.Text != "line "+id(4) || ms[2].Line.From != "alice" {
			t.Fatalf("a mention's line: %+v", ms[2].Line)
		}
		ms, more, err = db.Mentions(ctx, "bob", id(4), 3)
		if err != nil || more || !slices.Equal(ids(ms), []string{"den " + id(2), "den " + id(1)}) {
			t.Fatalf("Mentions(bob, before %s) = %v, %v, %v", id(4), ids(ms), more, err)
		}
		// carol is no member of den: only the lobby's mark counts.
		ms, _, err = db.Mentions(ctx, "carol", "", 10)
		if err != nil || !slices.Equal(ids(ms), []string{"lobby " + id(6)}) {
			t.Fatalf("Mentions(carol) = %v, %v", ids(ms), err)
		}
		_, _, err = db.Mentions(ctx, "nobody", "", 10)
		checkCode(t, err, chatd.ENoSuchUser)

		unread := func(user string, want int) {
			t.Helper()
			if n, err := db.UnreadMentions(ctx, user); err != nil || n != want {
				t.Fatalf("UnreadMentions(%s) = %d, %v; want %d", user, n, err, want)
			}
		}
		unread("bob", 5)
		_, _, err = db.SetReadMarker(ctx, "bob", "#den", id(2))
		checkCode(t, err, "")
		unread("bob", 3)
		_, _, err = db.SetReadMarker(ctx, "bob", "#lobby", id(7))
		checkCode(t, err, "")
		unread("bob", 2)
		unread("carol", 1)

		// Leaving den: its mentions are no longer bob's.
		if _, err := db.RemoveMember(ctx, "bob", "den"); err != nil {
			t.Fatal(err)
		}
		if ms, _, err := db.Mentions(ctx, "bob", "", 10); err != nil || !slices.Equal(ids(ms), []string{"lobby " + id(7)}) {
			t.Fatalf("Mentions(bob) after leaving den = %v, %v", ids(ms), err)
		}
		unread("bob", 0)

		// Trimmed lines and a deleted user take their marks along.
		// (A room is trimmed once it gained trimStep lines.)
		var more8 []chatd.RoomLine
		for i := range trimStep(1) {
			more8 = append(more8, line(8+i, "lobby", ""))
		}
		checkCode(t, db.AppendHistoryBatch(ctx, more8, 1), "")
		if ms, _, err := db.Mentions(ctx, "carol", "", 10); err != nil || len(ms) != 0 {
			t.Fatalf("Mentions(carol) after the lobby was trimmed = %v, %v", ids(ms), err)
		}
		checkCode(t, db.DeleteUserAction(ctx, "Bob", "test"), "")
		var n int
		if err := db.reader.GetContext(ctx, &n, `SELECT count(*) FROM room_mentions`); err != nil || n != 1 {
			t.Fatalf("%d marks left, want carol's one in den; %v", n, err)
		}
	})
}

// A version 9 file (before mentions) migrates: its lines mark nobody and
// new lines are marked.
func TestMigrateFromVersion9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatd.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	mustUsers(t, db, "alice", "bob")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw := rawOpen(t, path)
	for _, q := range []string{
		// Back to version 9: message actions (version 11) and mentions.
		`DROP TABLE message_edits`,
		`DROP TABLE message_reactions`,
		`DROP INDEX room_history_by_mid`,
		`DROP INDEX private_history_by_mid`,
		`DROP INDEX letters_mid`,
		`ALTER TABLE room_history DROP COLUMN reply_to`,
		`ALTER TABLE room_history DROP COLUMN edited`,
		`ALTER TABLE room_history DROP COLUMN deleted`,
		`ALTER TABLE private_history DROP COLUMN reply_to`,
		`ALTER TABLE private_history DROP COLUMN edited`,
		`ALTER TABLE private_history DROP COLUMN deleted`,
		`DROP TABLE room_mentions`,
		`ALTER TABLE room_history DROP COLUMN mentions`,
		`ALTER TABLE read_markers DROP COLUMN ts`, // version 14
		`INSERT INTO room_history (room_id, sender, body, ts, mid) SELECT id, 'alice', 'old', 0, '0000000000000001' FROM rooms`,
		`PRAGMA user_version = 9`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db = openAt(t, path)
	ctx := context.Background()
	if v, err := schemaVersion(ctx, db.reader); err != nil || v != chatd.SchemaVersion {
		t.Fatalf("user_version = %d, %v", v, err)
	}
	checkCode(t, db.AppendHistoryBatch(ctx, []chatd.RoomLine{{Room: chatd.Lobby, Line: chatd.HistoryLine{
		MsgID: "0000000000000002", From: "alice", Text: "@bob new", Time: t0, Mentions: "bob"}}}, 100), "")
	h, err := db.History(ctx, chatd.Lobby, 10)
	if err != nil || len(h) != 2 || h[0].Mentions != "" || h[1].Mentions != "bob" {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if ms, _, err := db.Mentions(ctx, "bob", "", 10); err != nil || len(ms) != 1 || ms[0].Line.Text != "@bob new" {
		t.Fatalf("Mentions(bob) = %+v, %v", ms, err)
	}
}
