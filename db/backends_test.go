package db

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"chatd"
)

// Two nodes creating rooms at once never pass rooms.max_total between
// them: the count and the insert are one step on either backend.
func TestCreateRoomLimitUnderRace(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := openTwo(t)
		const total, creators = 3, 12
		var wg sync.WaitGroup
		codes := make(chan chatd.Code, creators)
		for i := range creators {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.CreateRoomLimited(ctx, chatd.Room{Name: fmt.Sprintf("room%d", i), Owner: fmt.Sprintf("u%d", i)}, 0, total)
				if err == nil {
					codes <- ""
					return
				}
				codes <- chatd.ErrorCode(err)
			}()
		}
		wg.Wait()
		close(codes)
		count := map[chatd.Code]int{}
		for c := range codes {
			count[c]++
		}
		if count[""] != total || count[chatd.ENotPermitted] != creators-total {
			t.Errorf("outcomes = %v, want %d created and %d not_permitted", count, total, creators-total)
		}
		rooms, err := b.Rooms(ctx)
		if err != nil || len(rooms) != total+1 {
			t.Errorf("%d rooms (lobby included), %v; want %d", len(rooms), err, total+1)
		}
	})
}

// Search finds the same lines on both backends: FTS5 on SQLite, the words
// array on PostgreSQL. Case, diacritics, punctuation and word boundaries
// are where the two could part ways.
func TestSearchSameOnBothBackends(t *testing.T) {
	lines := []string{
		"The Café opens at nine",
		"a naïve question about CAFE hours",
		"foo-bar and bar.baz, e-mail: x@example.org",
		"ÉCOLE école Ecole",
		"numbers 42 and 3.14 and v2beta",
		"Straße and STRASSE",
		"日本語 text",
		"don't stop",
		"under_score word",
	}
	queries := []string{
		"cafe", "CAFÉ", "naive", "foo", "bar baz", "foo-bar", "example", "org",
		"ecole", "42", "14", "v2beta", "strasse", "straße", "日本語", "don", "t",
		"under", "under_score", "nine question", "opens nine", "mail",
	}
	results := map[string][]string{}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db, _ := openTest(t)
			ctx := context.Background()
			checkCode(t, db.CreateRoomLimited(ctx, chatd.Room{Name: "den", Owner: "alice"}, 0, 0), "")
			for _, l := range lines {
				appendLine(t, db, "den", chatd.HistoryLine{From: "alice", Text: l}, 100)
			}
			for _, q := range queries {
				got, err := db.SearchHistory(ctx, "den", q, 20, 100)
				if err != nil {
					t.Fatalf("search %q: %v", q, err)
				}
				var texts []string
				for _, h := range got {
					texts = append(texts, h.Text)
				}
				sort.Strings(texts)
				results[backend] = append(results[backend], q+" => "+strings.Join(texts, " | "))
			}
		})
	}
	if !slices.Equal(results["sqlite"], results["postgres"]) {
		for i := range results["sqlite"] {
			if results["sqlite"][i] != results["postgres"][i] {
				t.Errorf("sqlite:   %s\npostgres: %s", results["sqlite"][i], results["postgres"][i])
			}
		}
	}
	if len(results["sqlite"]) != len(queries) {
		t.Fatalf("%d sqlite results for %d queries", len(results["sqlite"]), len(queries))
	}
}

// The two schemas hold the same tables with the same columns, so a change
// to one that forgets the other fails here. Only the bookkeeping differs:
// PostgreSQL's schema_version table and room_history.words (its search
// index), SQLite's FTS5 tables.
func TestSchemasAgree(t *testing.T) {
	columns := map[string][]string{}
	// Columns of one backend only: PostgreSQL's version table and search
	// words, SQLite's sorting of new offline mail into its index.
	pgOnly := map[string]bool{"schema_version": true, "room_history.words": true, "private_history.words": true, "offline_messages.sorted": true}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db, _ := openTest(t)
			var cols []string
			var err error
			if db.pg {
				err = db.reader.Select(&cols, `SELECT table_name || '.' || column_name FROM information_schema.columns
					WHERE table_schema = current_schema()`)
			} else {
				err = db.reader.Select(&cols, `SELECT m.name || '.' || p.name FROM sqlite_schema m, pragma_table_info(m.name) p
					WHERE m.type = 'table' AND m.name NOT LIKE '%history_fts%'`)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				if !pgOnly[c] && !pgOnly[strings.Split(c, ".")[0]] {
					columns[backend] = append(columns[backend], c)
				}
			}
			sort.Strings(columns[backend])
		})
	}
	if len(columns["sqlite"]) < 50 || !slices.Equal(columns["sqlite"], columns["postgres"]) {
		t.Fatalf("the schemas differ:\nsqlite:   %v\npostgres: %v", columns["sqlite"], columns["postgres"])
	}
}

// Nodes storing messages for the same recipients in opposite orders, each
// batch checking a mailbox limit, neither deadlock nor fail.
func TestStoreOfflineAcrossNodesNoDeadlock(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := openTwo(t)
		mustUsers(t, a, "ann", "ben", "cat")
		orders := [][]string{{"ann", "ben", "cat"}, {"cat", "ben", "ann"}, {"ben", "ann"}, {"cat", "ann"}}
		const senders, each = 8, 15
		var wg sync.WaitGroup
		for s := range senders {
			db := a
			if s%2 == 1 {
				db = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					to := orders[(s+i)%len(orders)]
					errs, err := db.StoreOfflineAll(ctx, to, chatd.OfflineMessage{From: "x", To: to, Text: fmt.Sprint(s, i)}, 1000)
					if err != nil {
						t.Errorf("sender %d: %v", s, err)
						return
					}
					for j, e := range errs {
						if e != nil {
							t.Errorf("sender %d, %s: %v", s, to[j], e)
						}
					}
				}
			}()
		}
		wg.Wait()
		total := 0
		for _, n := range []string{"ann", "ben", "cat"} {
			c, err := b.OfflineCount(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			total += c
		}
		want := 0
		for s := range senders {
			for i := range each {
				want += len(orders[(s+i)%len(orders)])
			}
		}
		if total != want {
			t.Fatalf("%d messages stored, want %d", total, want)
		}
	})
}

// Two nodes delivering the last two copies of one letter at the same moment
// leave no letter behind: each sees the other's copy until it commits, so
// the trigger waits for the letter's lock and looks again.
func TestLetterGoesWithLastCopyAcrossNodes(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := openTwo(t)
		mustUsers(t, a, "ann", "ben")
		for i := range 20 {
			m := chatd.OfflineMessage{From: "x", To: []string{"ann", "ben"}, Text: fmt.Sprint(i)}
			if errs, err := a.StoreOfflineAll(ctx, m.To, m, 0); err != nil || errs[0] != nil || errs[1] != nil {
				t.Fatalf("store: %v %v", errs, err)
			}
			ann, err := a.OfflinePage(ctx, "ann", 0, -1)
			if err != nil || len(ann) != 1 {
				t.Fatalf("ann: %v %v", ann, err)
			}
			ben, err := b.OfflinePage(ctx, "ben", 0, -1)
			if err != nil || len(ben) != 1 {
				t.Fatalf("ben: %v %v", ben, err)
			}
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); checkCode(t, a.DeleteOffline(ctx, []int64{ann[0].ID}), "") }()
			go func() { defer wg.Done(); checkCode(t, b.DeleteOffline(ctx, []int64{ben[0].ID}), "") }()
			wg.Wait()
			var n int
			if err := b.reader.GetContext(ctx, &n, `SELECT count(*) FROM letters`); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("round %d: %d letters left without a recipient", i, n)
			}
		}
	})
}
