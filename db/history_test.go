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

func TestAppendHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name   string
			before int // lines appended first, with keep 100
			room   string
			keep   int
			want   []string // all lines of den afterwards
			code   chatd.Code
		}{
			{"OK", 2, "den", 10, []string{"0", "1", "new"}, ""},
			{"OKOtherCase", 0, "DEN", 10, []string{"new"}, ""},
			{"OKTrims", 5, "den", 3, []string{"3", "4", "new"}, ""},
			{"OKKeepOne", 5, "den", 1, []string{"new"}, ""},
			{"OKKeepZeroStoresNothing", 3, "den", 0, nil, ""},
			{"OKKeepNegativeStoresNothing", 3, "den", -5, nil, ""},
			{"ErrNoSuchRoom", 2, "attic", 10, []string{"0", "1"}, chatd.ENoSuchRoom},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				checkCode(t, db.CreateRoom(ctx, chatd.Room{Name: "den", Owner: "alice"}), "")
				for i := range tt.before {
					checkCode(t, db.AppendHistory(ctx, "den", chatd.HistoryLine{From: "alice", Text: fmt.Sprint(i)}, 100), "")
				}
				// The lobby's history is not touched by trimming den.
				checkCode(t, db.AppendHistory(ctx, chatd.Lobby, chatd.HistoryLine{From: "bob", Text: "lobby"}, 100), "")

				checkCode(t, db.AppendHistory(ctx, tt.room, chatd.HistoryLine{From: "alice", Text: "new"}, tt.keep), tt.code)
				if got := historyTexts(t, db, "den", 1000); !slices.Equal(got, tt.want) {
					t.Errorf("den history = %v, want %v", got, tt.want)
				}
				if got := historyTexts(t, db, chatd.Lobby, 1000); !slices.Equal(got, []string{"lobby"}) {
					t.Errorf("lobby history = %v", got)
				}
			})
		}
	})
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
		checkCode(t, db.CreateRoom(ctx, chatd.Room{Name: "Den", Owner: "alice"}), "")
		for i := range 5 {
			clk.Add(time.Second)
			checkCode(t, db.AppendHistory(ctx, "den", chatd.HistoryLine{From: "alice", Text: fmt.Sprint(i)}, 100), "")
		}
		stamped := t0.Add(-time.Hour)
		checkCode(t, db.AppendHistory(ctx, "den", chatd.HistoryLine{From: "bob", Text: "5", Time: stamped}, 100), "")

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
			want := []chatd.HistoryLine{
				{From: "alice", Text: "4", Time: t0.Add(5 * time.Second)},
				{From: "bob", Text: "5", Time: stamped},
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
		checkCode(t, db.CreateRoom(ctx, chatd.Room{Name: "den", Owner: "alice"}), "")
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
