package db

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd"
)

// TestPrivateHistory: private messages are kept per pair, paged by id in
// both directions with more, searched, trimmed to keep, and a message
// stored twice (same id) is kept once.
func TestPrivateHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "Bob", "carol")
		var lines []chatd.PrivateLine
		for i := range 10 {
			from, with := "alice", "bob"
			if i%2 == 1 {
				from, with = "Bob", "alice"
			}
			lines = append(lines, chatd.PrivateLine{With: with, Line: chatd.HistoryLine{
				MsgID: fmt.Sprintf("m%02d", i), From: from, Text: fmt.Sprintf("line %d word%d", i, i%3),
				Time: t0.Add(time.Duration(i) * time.Second), Recipients: with}})
		}
		// To carol too: a row in alice's conversation with carol only.
		lines = append(lines, chatd.PrivateLine{With: "carol", Line: chatd.HistoryLine{MsgID: "m05", From: "alice", Text: "hi carol"}})
		// Gone users are skipped; a repeat of an id is kept once.
		lines = append(lines, chatd.PrivateLine{With: "nobody", Line: chatd.HistoryLine{MsgID: "m99", From: "alice", Text: "x"}})
		checkCode(t, db.AppendPrivateBatch(ctx, lines, 100), "")
		checkCode(t, db.AppendPrivateBatch(ctx, lines[:1], 100), "")

		ids := func(p chatd.Page) string {
			var s []string
			for _, l := range p.Lines {
				s = append(s, l.MsgID)
			}
			return fmt.Sprintf("%s more=%v", strings.Join(s, " "), p.More)
		}
		for _, tc := range []struct {
			name string
			q    chatd.PageQuery
			want string
		}{
			{"Newest", chatd.PageQuery{N: 3, Keep: 100}, "m07 m08 m09 more=true"},
			{"All", chatd.PageQuery{N: 10, Keep: 100}, "m00 m01 m02 m03 m04 m05 m06 m07 m08 m09 more=false"},
			{"Before", chatd.PageQuery{Before: "m03", N: 2, Keep: 100}, "m01 m02 more=true"},
			{"BeforeToStart", chatd.PageQuery{Before: "m03", N: 3, Keep: 100}, "m00 m01 m02 more=false"},
			{"After", chatd.PageQuery{After: "m06", N: 2, Keep: 100}, "m07 m08 more=true"},
			{"AfterToEnd", chatd.PageQuery{After: "m06", N: 3, Keep: 100}, "m07 m08 m09 more=false"},
			{"AfterLast", chatd.PageQuery{After: "m09", N: 3, Keep: 100}, " more=false"},
			{"Keep", chatd.PageQuery{N: 10, Keep: 4}, "m06 m07 m08 m09 more=false"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, err := db.PrivateHistoryPage(ctx, "BOB", "alice", tc.q)
				checkCode(t, err, "")
				if got := ids(p); got != tc.want {
					t.Errorf("page = %s, want %s", got, tc.want)
				}
			})
		}
		p, err := db.PrivateHistoryPage(ctx, "alice", "bob", chatd.PageQuery{N: 1, Keep: 100})
		checkCode(t, err, "")
		if len(p.Lines) != 1 || p.Lines[0].From != "Bob" || p.Lines[0].Recipients != "alice" || p.Lines[0].Text != "line 9 word0" {
			t.Errorf("newest line = %+v", p.Lines)
		}
		p, err = db.PrivateHistoryPage(ctx, "carol", "alice", chatd.PageQuery{N: 10, Keep: 100})
		checkCode(t, err, "")
		if got := ids(p); got != "m05 more=false" {
			t.Errorf("carol's conversation = %s", got)
		}
		_, err = db.PrivateHistoryPage(ctx, "carol", "alice", chatd.PageQuery{After: "m04", N: 10, Keep: 100})
		checkCode(t, err, chatd.ENoSuchMessage)
		_, err = db.PrivateHistoryPage(ctx, "carol", "nobody", chatd.PageQuery{N: 10, Keep: 100})
		checkCode(t, err, chatd.ENoSuchUser)
		// A bound that is no stored id pages without no_such_message.
		p, err = db.PrivateHistoryPage(ctx, "carol", "alice", chatd.PageQuery{After: "m04", N: 10, Keep: 100, Bound: true})
		checkCode(t, err, "")
		if got := ids(p); got != "m05 more=false" {
			t.Errorf("page after the bound m04 = %s", got)
		}
		// alice's conversations by their newest line: carol's (m05), bob's
		// (m09); between bounds, at most n.
		ends := func(after, before string, n int) string {
			list, err := db.PrivateConversations(ctx, "ALICE", after, before, n)
			checkCode(t, err, "")
			var s []string
			for _, c := range list {
				s = append(s, c.Conversation+"="+c.LastID)
			}
			return strings.Join(s, " ")
		}
		for _, tc := range []struct {
			after, before string
			n             int
			want          string
		}{
			{"", "z", 10, "@carol=m05 @Bob=m09"},
			{"", "z", 1, "@carol=m05"},
			{"m05", "z", 10, "@Bob=m09"},
			{"", "m09", 10, "@carol=m05"},
		} {
			if got := ends(tc.after, tc.before, tc.n); got != tc.want {
				t.Errorf("PrivateConversations(%q, %q, %d) = %s, want %s", tc.after, tc.before, tc.n, got, tc.want)
			}
		}
		_, err = db.PrivateConversations(ctx, "nobody", "", "z", 10)
		checkCode(t, err, chatd.ENoSuchUser)

		found, err := db.SearchPrivate(ctx, "alice", "bob", "WORD1", 20, 100)
		checkCode(t, err, "")
		var got []string
		for _, l := range found {
			got = append(got, l.MsgID)
		}
		if strings.Join(got, " ") != "m07 m04 m01" {
			t.Errorf("search = %v, want m07 m04 m01", got)
		}
		if found, _ := db.SearchPrivate(ctx, "alice", "carol", "word1", 20, 100); len(found) != 0 {
			t.Errorf("search of alice and carol found %+v", found)
		}

		// Trimming keeps the newest keep of the pair.
		var more []chatd.PrivateLine
		for i := range 70 {
			more = append(more, chatd.PrivateLine{With: "bob", Line: chatd.HistoryLine{MsgID: fmt.Sprintf("n%02d", i), From: "alice", Text: "t"}})
		}
		checkCode(t, db.AppendPrivateBatch(ctx, more, 5), "")
		var n int
		if err := db.reader.Get(&n, `SELECT count(*) FROM private_history WHERE recipients <> 'carol' AND body <> 'hi carol'`); err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("%d lines kept of alice and bob, want 5", n)
		}
		if last, err := db.LastMessageID(ctx); err != nil || last != "n69" {
			t.Errorf("LastMessageID = %q, %v; want n69", last, err)
		}
	})
}

// TestHistoryPageUsesIndex: a page of history is a walk of the
// conversation's (…, mid) index, never a scan or a sort, and private search
// goes through the full-text index.
func TestHistoryPageUsesIndex(t *testing.T) {
	db, _ := openTest(t)
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := db.reader.Query(`EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		return strings.Join(plan, "\n")
	}
	for _, c := range []struct {
		name  string
		conv  conversationQuery
		args  []any
		index string
	}{
		{"room", roomConversation, []any{1}, "room_history_mid"},
		{"private", privateConversation, []any{1, 2}, "private_history_pair"},
	} {
		for _, q := range []chatd.PageQuery{{N: 20}, {Before: "x", N: 20}, {After: "x", N: 20}} {
			stmt, _ := pageSQL(c.conv, q)
			args := append(append(append(append([]any{}, c.args...), "x"), c.args...), 99, 21)
			p := plan(stmt, args...)
			t.Logf("%s %+v:\n%s", c.name, q, p)
			if !strings.Contains(p, "USING INDEX "+c.index) && !strings.Contains(p, "USING COVERING INDEX "+c.index) {
				t.Errorf("%s page %+v does not use %s:\n%s", c.name, q, c.index, p)
			}
			if strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "SCAN ") {
				t.Errorf("%s page %+v scans or sorts:\n%s", c.name, q, p)
			}
		}
	}
	p := plan(searchPrivateSQL, `"x"`, 1, 2, 1, 2, 99, 20)
	if !strings.Contains(p, "VIRTUAL TABLE INDEX") || !strings.Contains(p, ":M") ||
		strings.Contains(p, "SCAN h") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("private search does not go through the full-text index:\n%s", p)
	}
}

// TestAppendPrivateBatchSizes: a batch of any size keeps each of its
// messages once, in order, searchable (SQLite writes it with statements
// of 1, 2, 4, ... 256 rows, padded), and the same batch again adds
// nothing.
func TestAppendPrivateBatchSizes(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		for _, n := range []int{1, 3, 64, 65, 256, 300, 600} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				a, b := fmt.Sprint("a", n), fmt.Sprint("b", n)
				mustUsers(t, db, a, b)
				lines := make([]chatd.PrivateLine, n)
				for i := range lines {
					from, with := a, b
					if i%3 == 0 {
						from, with = b, a
					}
					lines[i] = chatd.PrivateLine{With: with, Line: chatd.HistoryLine{
						MsgID: fmt.Sprintf("m%04d", i), From: from, Text: fmt.Sprintf("note %d", i),
						Time: t0.Add(time.Duration(i) * time.Millisecond), Recipients: with, ReplyTo: fmt.Sprintf("r%d", i)}}
				}
				for range 2 {
					checkCode(t, db.AppendPrivateBatch(ctx, lines, 10000), "")
					p, err := db.PrivateHistoryPage(ctx, a, b, chatd.PageQuery{N: n + 10, Keep: 10000})
					checkCode(t, err, "")
					if len(p.Lines) != n {
						t.Fatalf("%d lines kept, want %d", len(p.Lines), n)
					}
					for i, l := range p.Lines {
						want := lines[i].Line
						if l.MsgID != want.MsgID || l.From != want.From || l.Text != want.Text || l.ReplyTo != want.ReplyTo || l.Recipients != want.Recipients {
							t.Fatalf("line %d is %+v, want %+v", i, l, want)
						}
					}
				}
				found, err := db.SearchPrivate(ctx, a, b, "note", 1000, 10000)
				checkCode(t, err, "")
				if len(found) != n {
					t.Errorf("search found %d lines, want %d", len(found), n)
				}
			})
		}
	})
}
