package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"chatd"
)

// TestAppendHistoryOneLine appends single lines, as the history writer
// does for a line that comes alone in its linger.
func TestAppendHistoryOneLine(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name   string
			before int // lines appended first, with keep 100
			room   string
			keep   int
			want   []string // all lines of den afterwards
		}{
			{"OK", 2, "den", 10, []string{"0", "1", "new"}},
			{"OKOtherCase", 0, "DEN", 10, []string{"new"}},
			{"OKKeepZeroStoresNothing", 3, "den", 0, []string{"0", "1", "2"}},
			{"OKKeepNegativeStoresNothing", 3, "den", -5, []string{"0", "1", "2"}},
			{"OKNoSuchRoomSkipped", 2, "attic", 10, []string{"0", "1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
				for i := range tt.before {
					appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: fmt.Sprint(i)}, 100)
				}
				appendLine(t, db, tt.room, chatd.HistoryLine{From: "alice", Text: "new"}, tt.keep)
				if got := historyTexts(t, db, "den", 1000); !slices.Equal(got, tt.want) {
					t.Errorf("den history = %v, want %v", got, tt.want)
				}
			})
		}

		// Lines appended one at a time are trimmed the first time this
		// process writes to the room and then every trimStep lines: the
		// newest keep are always there, and the room never holds more
		// than keep + trimStep. Trimming den leaves the lobby alone.
		t.Run("OKTrimsEveryTrimStep", func(t *testing.T) {
			db, _ := openTest(t)
			checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
			appendLine(t, db, chatd.Lobby, chatd.HistoryLine{From: "bob", Text: "lobby"}, 100)
			const keep = 3
			trimmed := false
			for i := range 2*trimStep(keep) + 10 {
				appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: fmt.Sprint(i)}, keep)
				all := historyTexts(t, db, "den", 1000)
				if len(all) > keep+trimStep(keep) {
					t.Fatalf("after line %d den holds %d lines, more than %d + %d", i, len(all), keep, trimStep(keep))
				}
				if newest := all[max(len(all)-keep, 0):]; newest[len(newest)-1] != fmt.Sprint(i) {
					t.Fatalf("after line %d the newest lines are %v", i, newest)
				}
				trimmed = trimmed || (i >= keep && len(all) == keep)
			}
			if !trimmed {
				t.Error("den was never trimmed back to keep lines")
			}
			if got := historyTexts(t, db, chatd.Lobby, 1000); !slices.Equal(got, []string{"lobby"}) {
				t.Errorf("lobby history = %v", got)
			}
		})
	})
}

// appendLine stores l in the history of room, keeping keep lines, as a
// batch of one.
func appendLine(t *testing.T, db *DB, room string, l chatd.HistoryLine, keep int) {
	t.Helper()
	checkCode(t, db.AppendHistoryBatch(context.Background(), []chatd.RoomLine{{Room: room, Line: l}}, keep), "")
}

func historyTexts(t *testing.T, db *DB, room string, n int) []string {
	t.Helper()
	lines, err := db.History(context.Background(), room, n)
	checkCode(t, err, "")
	var texts []string
	for _, l := range lines {
		texts = append(texts, l.Text)
	}
	return texts
}

func TestHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, clk := openTest(t)
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "Den", Owner: "alice"}, 0, 0), "")
		for i := range 5 {
			clk.Add(time.Second)
			appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: fmt.Sprint(i)}, 100)
		}
		stamped := t0.Add(-time.Hour)
		appendLine(t, db, "den", chatd.HistoryLine{MsgID: "ffffffffffffffff", From: "bob", Text: "5", Time: stamped}, 100)

		tests := []struct {
			name string
			room string
			n    int
			want []string
			code chatd.Code
		}{
			{"OKNewestOldestFirst", "den", 3, []string{"3", "4", "5"}, ""},
			{"OKMoreThanThere", "DEN", 50, []string{"0", "1", "2", "3", "4", "5"}, ""},
			{"OKZero", "den", 0, nil, ""},
			{"OKEmptyRoom", "lobby", 10, nil, ""},
			{"ErrNoSuchRoom", "attic", 10, nil, chatd.ENoSuchRoom},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				lines, err := db.History(ctx, tt.room, tt.n)
				checkCode(t, err, tt.code)
				var got []string
				for _, l := range lines {
					got = append(got, l.Text)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("History = %v, want %v", got, tt.want)
				}
			})
		}

		t.Run("OKFields", func(t *testing.T) {
			lines, err := db.History(ctx, "den", 2)
			checkCode(t, err, "")
			// A line stored without an id got one from the database.
			if len(lines) == 2 && len(lines[0].MsgID) == 16 {
				lines[0].MsgID = "given"
			}
			want := []chatd.HistoryLine{
				{MsgID: "given", From: "alice", Text: "4", Time: t0.Add(5 * time.Second)},
				{MsgID: "ffffffffffffffff", From: "bob", Text: "5", Time: stamped},
			}
			if !slices.Equal(lines, want) {
				t.Errorf("History = %+v, want %+v", lines, want)
			}
		})
	})
}

func TestAppendHistoryBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
		var lines []chatd.RoomLine
		for i := 0; i < 5; i++ {
			lines = append(lines,
				chatd.RoomLine{Room: "den", Line: chatd.HistoryLine{From: "alice", Text: fmt.Sprint("den ", i)}},
				chatd.RoomLine{Room: "gone", Line: chatd.HistoryLine{From: "alice", Text: "lost"}},
				chatd.RoomLine{Room: chatd.Lobby, Line: chatd.HistoryLine{From: "alice", Text: fmt.Sprint("lobby ", i)}})
		}
		checkCode(t, db.AppendHistoryBatch(ctx, lines, 3), "")
		for room, want := range map[string]string{"den": "den 2,den 3,den 4", chatd.Lobby: "lobby 2,lobby 3,lobby 4"} {
			got, err := db.History(ctx, room, 10)
			checkCode(t, err, "")
			var texts []string
			for _, l := range got {
				texts = append(texts, l.Text)
			}
			if strings.Join(texts, ",") != want {
				t.Errorf("history of %s = %v, want %s", room, texts, want)
			}
		}
	})
}

// Topic changes and persisted TAGMSGs are history entries of their own
// kind (IRC's event-playback): a page that asks for events holds them in
// id order with the lines, every other reader (pages without events, the
// join replay, search, unread counts, the last line to edit) sees lines
// only. Both backends, a room and a private conversation.
func TestHistoryEventEntries(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob")
		checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
		room := []chatd.RoomLine{
			{Room: "den", Line: chatd.HistoryLine{MsgID: "m01", From: "alice", Text: "hello topic"}},
			{Room: "den", Line: chatd.HistoryLine{MsgID: "m02", From: "alice", Text: "hello topic", Kind: chatd.EntryTopic}},
			{Room: "den", Line: chatd.HistoryLine{MsgID: "m03", From: "alice", Text: "+x=y;+draft/persist", Kind: chatd.EntryTagmsg}},
			{Room: "den", Line: chatd.HistoryLine{MsgID: "m04", From: "alice", Text: "second"}},
			{Room: "den", Line: chatd.HistoryLine{MsgID: "m05", From: "alice", Text: "topic", Kind: chatd.EntryTopic}},
		}
		checkCode(t, db.AppendHistoryBatch(ctx, room, 100), "")
		private := []chatd.PrivateLine{
			{With: "bob", Line: chatd.HistoryLine{MsgID: "m06", From: "alice", Text: "hi", Recipients: "bob"}},
			{With: "bob", Line: chatd.HistoryLine{MsgID: "m07", From: "alice", Text: "+x=y", Kind: chatd.EntryTagmsg, Recipients: "bob"}},
		}
		checkCode(t, db.AppendPrivateBatch(ctx, private, 100), "")

		show := func(lines []chatd.HistoryLine) string {
			var s []string
			for _, l := range lines {
				s = append(s, l.MsgID+":"+l.Kind)
			}
			return strings.Join(s, " ")
		}
		page := func(q chatd.PageQuery) string {
			p, err := db.RoomHistoryPage(ctx, "den", q)
			checkCode(t, err, "")
			return fmt.Sprintf("%s more=%v", show(p.Lines), p.More)
		}
		for _, tc := range []struct{ name, got, want string }{
			{"Events", page(chatd.PageQuery{N: 10, Keep: 100, Events: true}), "m01: m02:topic m03:tagmsg m04: m05:topic more=false"},
			{"EventsCounted", page(chatd.PageQuery{N: 2, Keep: 100, Events: true}), "m04: m05:topic more=true"},
			{"EventsAfter", page(chatd.PageQuery{After: "m01", N: 2, Keep: 100, Events: true}), "m02:topic m03:tagmsg more=true"},
			{"LinesOnly", page(chatd.PageQuery{N: 10, Keep: 100}), "m01: m04: more=false"},
			{"LinesOnlyCounted", page(chatd.PageQuery{N: 1, Keep: 100}), "m04: more=true"},
			{"LinesOnlyBefore", page(chatd.PageQuery{Before: "m05", N: 1, Keep: 100}), "m04: more=true"},
		} {
			if tc.got != tc.want {
				t.Errorf("%s: page = %q, want %q", tc.name, tc.got, tc.want)
			}
		}
		p, err := db.PrivateHistoryPage(ctx, "bob", "alice", chatd.PageQuery{N: 10, Keep: 100, Events: true})
		checkCode(t, err, "")
		if got := show(p.Lines); got != "m06: m07:tagmsg" {
			t.Errorf("private page with events = %q", got)
		}
		if p.Lines[1].Text != "+x=y" {
			t.Errorf("tagmsg entry text = %q, want its tags", p.Lines[1].Text)
		}
		p, err = db.PrivateHistoryPage(ctx, "bob", "alice", chatd.PageQuery{N: 10, Keep: 100})
		checkCode(t, err, "")
		if got := show(p.Lines); got != "m06:" {
			t.Errorf("private page = %q, want the line only", got)
		}

		lines, err := db.History(ctx, "den", 10)
		checkCode(t, err, "")
		if got := show(lines); got != "m01: m04:" {
			t.Errorf("History = %q, want lines only", got)
		}
		found, err := db.SearchHistory(ctx, "den", "topic", 10, 100)
		checkCode(t, err, "")
		if got := show(found); got != "m01:" {
			t.Errorf("SearchHistory(topic) = %q, want the line only", got)
		}
		unread, err := db.UnreadCounts(ctx, "bob", []string{"#den", "@alice"})
		checkCode(t, err, "")
		if len(unread) != 2 || unread[0].Count != 2 || unread[1].Count != 1 {
			t.Errorf("UnreadCounts = %+v, want 2 in den and 1 from alice", unread)
		}
		last, err := db.LastMessage(ctx, "den", "alice")
		checkCode(t, err, "")
		if last.Ref.ID != "m04" {
			t.Errorf("LastMessage = %s, want the last line m04", last.Ref.ID)
		}
	})
}
