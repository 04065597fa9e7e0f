package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatd"
)

// searchWords are the words of the lines fillSearchRoom stores: every line
// holds all of them but one, so a search for all eight matches nothing and
// walks each word's whole list in the index.
var searchWords = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}

// fillSearchRoom stores n lines in room straight through the store.
func fillSearchRoom(t *testing.T, ts *testServer, room string, n int) {
	t.Helper()
	ctx := context.Background()
	var batch []chatd.RoomLine
	for i := range n {
		var ws []string
		for j, w := range searchWords {
			if j != i%len(searchWords) {
				ws = append(ws, w)
			}
		}
		batch = append(batch, chatd.RoomLine{Room: room, Line: chatd.HistoryLine{From: "alice", Text: strings.Join(ws, " ")}})
		if len(batch) == 1000 || i == n-1 {
			if err := ts.store.AppendHistoryBatch(ctx, batch, 1<<20); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// TestSearchBounded: a search counts each word once and holds at most 8
// different ones; one that outlives messages.search_timeout is stopped
// with server_busy; and while four users search with a word repeated
// hundreds of times, another user's history is answered.
func TestSearchBounded(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Messages.HistoryKeep = 1 << 20
	})
	ts.addUsers("alice", "bob", "s1", "s2", "s3", "s4")
	alice := login(t, ts.addr, "alice", "password1")
	alice.do("create den", "create")
	fillSearchRoom(t, ts, "den", 40000)
	// The line holding every word, the newest.
	alice.send(strings.Join(searchWords, " "))
	alice.settle()

	t.Run("RepeatedWordsCountOnce", func(t *testing.T) {
		a := alice.in(t)
		once := a.historyOf("search hotel")
		many := a.historyOf("search " + strings.TrimSpace(strings.Repeat("hotel HOTEL ", 300)))
		if len(once) != 20 || len(many) != len(once) || many[0].str("text") != once[0].str("text") {
			t.Fatalf("search hotel: %d lines; repeated: %d", len(once), len(many))
		}
	})
	t.Run("AtMostEightWords", func(t *testing.T) {
		a := alice.in(t)
		// Eight words over 40,000 lines is the heaviest search here: under
		// the race detector on a busy machine it may take seconds.
		if got := a.historyOfWithin("search "+strings.Join(searchWords, " "), 30*time.Second); len(got) != 1 {
			t.Fatalf("eight words: %d lines, want 1", len(got))
		}
		ev := a.fails("search "+strings.Join(searchWords, " ")+" india", "search", "bad_args")
		if !strings.Contains(ev.str("text"), "at most 8") {
			t.Fatalf("nine words: %v", ev)
		}
	})
	t.Run("TimeBudget", func(t *testing.T) {
		a := alice.in(t)
		cfg := ts.cfg
		// Far less than walking 40,000 lines for eight words takes.
		cfg.Messages.SearchTimeout = chatd.Duration{Duration: time.Millisecond}
		if _, err := ts.srv.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		defer ts.srv.Reload(ts.cfg)
		ev := a.fails("search "+strings.Join(searchWords, " "), "search", "server_busy")
		if !strings.Contains(ev.str("text"), "too long") {
			t.Fatalf("stopped search: %v", ev)
		}
		if _, err := ts.srv.Reload(ts.cfg); err != nil {
			t.Fatal(err)
		}
		a.historyOf("search hotel") // the reader it used works
	})
	t.Run("OthersAreAnswered", func(t *testing.T) {
		heavy := "search " + strings.TrimSpace(strings.Repeat("alpha ", 600))
		var searchers []*client
		for _, name := range []string{"s1", "s2", "s3", "s4"} {
			c := login(t, ts.addr, name, "password1")
			c.do("join den", "join")
			searchers = append(searchers, c)
		}
		for _, c := range searchers {
			c.send(heavy, heavy, heavy, heavy, heavy)
		}
		bob := login(t, ts.addr, "bob", "password1")
		bob.do("join den", "join")
		for range 3 {
			bob.send("history 20")
			// A bound for the test, not a timing: the history waited
			// tens of seconds behind searches that held every reader.
			deadline := time.Now().Add(10 * time.Second)
			for {
				ev, err := bob.tryNext(time.Until(deadline))
				if err != nil {
					t.Fatalf("history 20 not answered while others search: %v", err)
				}
				if ev.str("type") == "ok" && ev.str("cmd") == "history" {
					break
				}
			}
		}
		// Each search is answered: its lines, or server_busy when its
		// time ran out waiting for a turn.
		for _, c := range searchers {
			for answered := 0; answered < 5; {
				ev, err := c.tryNext(30 * time.Second)
				if err != nil {
					t.Fatalf("%s: %d searches answered: %v", c.name, answered, err)
				}
				if ev.str("cmd") != "search" {
					continue
				}
				if ev.str("type") == "error" && ev.str("code") != "server_busy" {
					t.Fatalf("%s: %v", c.name, ev)
				}
				answered++
			}
		}
	})
}

// TestHistoryPaysForItsOutput: the lines a history answer sends count
// against the sender's line budget, so a client that asks for history 200
// of long lines again and again is refused (and at length ended as
// flooding) instead of getting megabytes a second for a few bytes.
func TestHistoryPaysForItsOutput(t *testing.T) {
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond = 10
		c.Rate.Burst = 30
	})
	ts.addUsers("alice")
	alice := login(t, ts.addr, "alice", "password1")
	var batch []chatd.RoomLine
	for i := range 200 {
		text := fmt.Sprintf("%03d %s", i, strings.Repeat("x", 4000))
		batch = append(batch, chatd.RoomLine{Room: "lobby", Line: chatd.HistoryLine{From: "bob", Text: text}})
	}
	if err := ts.store.AppendHistoryBatch(context.Background(), batch, 1000); err != nil {
		t.Fatal(err)
	}
	const asked = 10
	for range asked {
		alice.send("history 200")
	}
	answered, refused, lines := 0, 0, 0
	for answered+refused < asked {
		ev, err := alice.tryNext(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d answers and %d refusals: %v", answered, refused, err)
		}
		switch {
		case ev.str("type") == "message" && ev.str("kind") == "history":
			lines++
		case ev.str("type") == "ok" && ev.str("cmd") == "history":
			answered++
		case ev.str("type") == "error" && ev.str("code") == "rate_limited":
			refused++
		case ev.str("type") == "bye":
			t.Fatalf("ended after %d answers and %d refusals: %v", answered, refused, ev)
		}
	}
	// 800 KB of lines is 200 lines of budget: the second request comes
	// long before that is paid back.
	if answered > 1 || lines > 200 {
		t.Fatalf("%d of %d history 200 answered (%d lines); want one, the rest refused", answered, asked, lines)
	}
}
