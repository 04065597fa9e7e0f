package db

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd"
)

// undoPG7 turns a new PostgreSQL database back into version 6, for the
// tests that migrate from older versions.
const undoPG7 = `DROP TABLE message_edits; DROP TABLE message_reactions;
DROP INDEX room_history_by_mid; DROP INDEX private_history_by_mid; DROP INDEX letters_mid;
ALTER TABLE room_history DROP COLUMN reply_to, DROP COLUMN edited, DROP COLUMN deleted;
ALTER TABLE private_history DROP COLUMN reply_to, DROP COLUMN edited, DROP COLUMN deleted;
UPDATE schema_version SET version = 6;
`

// reactionsText writes reactions as "👍:alice,bob +1:carol".
func reactionsText(r *chatd.Reactions) string {
	if r == nil {
		return ""
	}
	var parts []string
	for _, x := range r.List {
		parts = append(parts, x.Reaction+":"+strings.Join(x.Users, ","))
	}
	return strings.Join(parts, " ")
}

func TestMessageActionsRoom(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
		var lines []chatd.RoomLine
		for i := range 4 {
			from := []string{"alice", "bob"}[i%2]
			lines = append(lines, chatd.RoomLine{Room: "den", Line: chatd.HistoryLine{MsgID: fmt.Sprintf("m%02d", i), From: from,
				Text: fmt.Sprintf("apple line %d", i), Time: t0.Add(time.Duration(i) * time.Second)}})
		}
		lines[3].Line.ReplyTo = "m00"
		checkCode(t, db.AppendHistoryBatch(ctx, lines, 100), "")

		m, err := db.FindMessage(ctx, "bob", "m00")
		checkCode(t, err, "")
		if m.Ref.Room != "den" || m.Line.From != "alice" || m.Line.Text != "apple line 0" {
			t.Fatalf("FindMessage = %+v", m)
		}
		_, err = db.FindMessage(ctx, "bob", "nope")
		checkCode(t, err, chatd.ENoSuchMessage)
		last, err := db.LastMessage(ctx, "den", "alice")
		checkCode(t, err, "")
		if last.Ref.ID != "m02" {
			t.Fatalf("LastMessage = %+v, want m02", last)
		}

		edited := t0.Add(time.Minute)
		checkCode(t, db.EditMessage(ctx, m.Ref, "alice", "banana line 0", edited), "")
		checkCode(t, db.DeleteMessage(ctx, chatd.MessageRef{ID: "m01", Room: "den"}, "alice", edited), "")
		checkCode(t, db.EditMessage(ctx, chatd.MessageRef{ID: "m01", Room: "den"}, "bob", "again", edited), chatd.ENoSuchMessage)
		for _, r := range []struct {
			user, reaction string
			on             bool
			changed        bool
		}{{"bob", "+1", true, true}, {"alice", "+1", true, true}, {"bob", "+1", true, false}, {"bob", "ok", true, true}, {"bob", "ok", false, true}, {"bob", "ok", false, false}} {
			changed, err := db.React(ctx, m.Ref, r.user, r.reaction, r.on, edited)
			checkCode(t, err, "")
			if changed != r.changed {
				t.Errorf("React(%s %s %v) changed = %v, want %v", r.user, r.reaction, r.on, changed, r.changed)
			}
		}
		_, err = db.React(ctx, chatd.MessageRef{ID: "m01", Room: "den"}, "bob", "+1", true, edited)
		checkCode(t, err, chatd.ENoSuchMessage)

		p, err := db.RoomHistoryPage(ctx, "den", chatd.PageQuery{N: 10, Keep: 100})
		checkCode(t, err, "")
		got := p.Lines
		if len(got) != 4 || got[0].Text != "banana line 0" || !got[0].Edited.Equal(edited) || reactionsText(got[0].Reactions) != "+1:bob,alice" {
			t.Errorf("edited line = %+v", got[0])
		}
		if !got[1].Deleted || got[1].Text != "" || got[1].MsgID != "m01" {
			t.Errorf("deleted line = %+v", got[1])
		}
		if got[3].ReplyTo != "m00" {
			t.Errorf("reply = %+v", got[3])
		}
		for q, want := range map[string]string{"apple": "m03 m02", "banana": "m00", "line": "m03 m02 m00"} {
			found, err := db.SearchHistory(ctx, "den", q, 10, 100)
			checkCode(t, err, "")
			var ids []string
			for _, l := range found {
				ids = append(ids, l.MsgID)
			}
			if strings.Join(ids, " ") != want {
				t.Errorf("search %s = %v, want %s", q, ids, want)
			}
		}
		edits, err := db.MessageEdits(ctx, chatd.MessageRef{Room: "den"}, 10)
		checkCode(t, err, "")
		if len(edits) != 2 || edits[0].Old != "apple line 0" || edits[0].New != "banana line 0" || edits[0].By != "alice" ||
			!edits[1].Deleted || edits[1].Old != "apple line 1" || edits[1].From != "bob" {
			t.Errorf("edits = %+v", edits)
		}
	})
}

func TestMessageActionsPrivate(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob", "carol")
		line := chatd.HistoryLine{MsgID: "p01", From: "alice", Text: "secret plan", Time: t0, Recipients: "bob carol"}
		checkCode(t, db.AppendPrivateBatch(ctx, []chatd.PrivateLine{{With: "bob", Line: line}, {With: "carol", Line: line}}, 100), "")
		// Mail still waiting for carol and bob.
		errs, err := db.StoreOfflineAll(ctx, []string{"bob", "carol"}, chatd.OfflineMessage{MsgID: "p01", From: "alice",
			To: []string{"bob", "carol"}, Text: "secret plan", Time: t0}, 0)
		checkCode(t, err, "")
		checkCode(t, errs[0], "")
		_, err = db.FindMessage(ctx, "nobody", "p01")
		checkCode(t, err, chatd.ENoSuchUser)
		mustUsers(t, db, "dave")
		_, err = db.FindMessage(ctx, "dave", "p01")
		checkCode(t, err, chatd.ENoSuchMessage)
		m, err := db.FindMessage(ctx, "carol", "p01")
		checkCode(t, err, "")
		if m.Ref.With != "alice" || m.Line.Recipients != "bob carol" {
			t.Fatalf("FindMessage = %+v", m)
		}
		checkCode(t, db.EditMessage(ctx, chatd.MessageRef{ID: "p01", User: "alice", With: "bob"}, "alice", "open plan", t0), "")
		for _, who := range []string{"bob", "carol"} {
			mail, err := db.OfflinePage(ctx, who, 0, -1)
			checkCode(t, err, "")
			if len(mail) != 1 || mail[0].Text != "open plan" {
				t.Errorf("%s's mail = %+v", who, mail)
			}
			p, err := db.PrivateHistoryPage(ctx, who, "alice", chatd.PageQuery{N: 5, Keep: 100})
			checkCode(t, err, "")
			if len(p.Lines) != 1 || p.Lines[0].Text != "open plan" {
				t.Errorf("%s's conversation = %+v", who, p.Lines)
			}
			found, err := db.SearchPrivate(ctx, who, "alice", "secret", 5, 100)
			checkCode(t, err, "")
			if len(found) != 0 {
				t.Errorf("%s finds the old text: %+v", who, found)
			}
		}
		// bob's reaction is in his conversation only.
		changed, err := db.React(ctx, chatd.MessageRef{ID: "p01", User: "bob", With: "alice"}, "bob", "👍", true, t0)
		checkCode(t, err, "")
		if !changed {
			t.Error("React changed nothing")
		}
		p, _ := db.PrivateHistoryPage(ctx, "carol", "alice", chatd.PageQuery{N: 5, Keep: 100})
		if len(p.Lines) != 1 || p.Lines[0].Reactions != nil {
			t.Errorf("carol sees %+v", p.Lines)
		}
		checkCode(t, db.DeleteMessage(ctx, chatd.MessageRef{ID: "p01", User: "alice", With: "bob"}, "alice", t0), "")
		for _, who := range []string{"bob", "carol"} {
			if n, err := db.OfflineCount(ctx, who); err != nil || n != 0 {
				t.Errorf("%s's mail after delete: %d, %v", who, n, err)
			}
		}
		p, _ = db.PrivateHistoryPage(ctx, "bob", "alice", chatd.PageQuery{N: 5, Keep: 100})
		if len(p.Lines) != 1 || !p.Lines[0].Deleted || p.Lines[0].Text != "" || p.Lines[0].Reactions != nil {
			t.Errorf("bob's conversation after delete = %+v", p.Lines)
		}
		found, _ := db.SearchPrivate(ctx, "bob", "alice", "plan", 5, 100)
		if len(found) != 0 {
			t.Errorf("the deleted text is found: %+v", found)
		}
		edits, err := db.MessageEdits(ctx, chatd.MessageRef{User: "bob", With: "alice"}, 10)
		checkCode(t, err, "")
		if len(edits) != 2 || edits[0].Old != "secret plan" || !edits[1].Deleted || edits[1].Old != "open plan" {
			t.Errorf("edits = %+v", edits)
		}
	})
}

func TestReactionBounds(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		var users []string
		for i := range chatd.MaxReactionKinds + 1 {
			users = append(users, fmt.Sprintf("u%d", i))
		}
		mustUsers(t, db, users...)
		checkCode(t, db.AppendHistoryBatch(ctx, []chatd.RoomLine{{Room: chatd.Lobby, Line: chatd.HistoryLine{MsgID: "m1", From: "u0", Text: "hi"}}}, 100), "")
		ref := chatd.MessageRef{ID: "m1", Room: chatd.Lobby}
		for i := range chatd.MaxReactionsPerUser {
			_, err := db.React(ctx, ref, "u0", fmt.Sprintf("r%d", i), true, t0)
			checkCode(t, err, "")
		}
		_, err := db.React(ctx, ref, "u0", "one-more", true, t0)
		checkCode(t, err, chatd.ENotPermitted)
		for i := chatd.MaxReactionsPerUser; i < chatd.MaxReactionKinds; i++ {
			_, err := db.React(ctx, ref, users[i], fmt.Sprintf("r%d", i), true, t0)
			checkCode(t, err, "")
		}
		_, err = db.React(ctx, ref, users[chatd.MaxReactionKinds], "new-kind", true, t0)
		checkCode(t, err, chatd.ENotPermitted)
		// A reaction already there may still be given.
		_, err = db.React(ctx, ref, users[chatd.MaxReactionKinds], "r3", true, t0)
		checkCode(t, err, "")
	})
}
