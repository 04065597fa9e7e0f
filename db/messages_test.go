package db

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"chatd"
)

func TestStoreOffline(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name    string
			waiting int // messages bob already holds
			to      string
			limit   int
			blocks  string // whom bob blocks
			want    chatd.Code
		}{
			{"OK", 0, "bob", 3, "", ""},
			{"OKOtherCase", 0, "BOB", 3, "", ""},
			{"OKBelowLimit", 2, "bob", 3, "", ""},
			{"OKNoLimit", 5, "bob", 0, "", ""},
			{"OKNegativeLimitIsNone", 5, "bob", -1, "", ""},
			{"ErrMailboxFull", 3, "bob", 3, "", chatd.EMailboxFull},
			{"ErrMailboxOverFull", 4, "bob", 3, "", chatd.EMailboxFull}, // the limit was lowered
			{"ErrNoSuchUser", 0, "ghost", 3, "", chatd.ENoSuchUser},
			{"OKBlocksSomeoneElse", 0, "bob", 3, "carol", ""},
			{"ErrBlocked", 0, "bob", 3, "alice", chatd.EBlocked},
			{"ErrBlockedBeforeFull", 3, "bob", 3, "ALICE", chatd.EBlocked},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "alice", "bob", "carol")
				for i := range tt.waiting {
					m := chatd.OfflineMessage{From: "alice", Text: fmt.Sprint(i)}
					checkCode(t, db.StoreOffline(ctx, "bob", m, 0), "")
				}
				if tt.blocks != "" {
					checkCode(t, db.Block(ctx, "bob", tt.blocks), "")
				}
				m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: "new"}
				checkCode(t, db.StoreOffline(ctx, tt.to, m, tt.limit), tt.want)
				msgs, err := db.OfflinePage(ctx, "bob", 0, -1)
				checkCode(t, err, "")
				want := tt.waiting
				if tt.want == "" {
					want++
				}
				if len(msgs) != want {
					t.Errorf("bob holds %d messages, want %d", len(msgs), want)
				}
			})
		}
	})
}

// One letter to several: a recipient who blocks the sender is refused on
// their own and the others get it, in the same call.
func TestStoreOfflineAllSkipsWhoBlocks(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob", "carol", "dave")
		checkCode(t, db.Block(ctx, "carol", "alice"), "")
		m := chatd.OfflineMessage{From: "alice", To: []string{"bob", "carol", "dave"}, Text: "hi all"}
		errs, err := db.StoreOfflineAll(ctx, []string{"bob", "carol", "dave"}, m, 10)
		checkCode(t, err, "")
		for i, want := range []chatd.Code{"", chatd.EBlocked, ""} {
			checkCode(t, errs[i], want)
		}
		for name, want := range map[string]int{"bob": 1, "carol": 0, "dave": 1} {
			if n, err := db.OfflineCount(ctx, name); err != nil || n != want {
				t.Errorf("%s holds %d messages (%v), want %d", name, n, err, want)
			}
		}
		// A message from nobody (a server notice) is never blocked.
		checkCode(t, db.StoreOffline(ctx, "carol", chatd.OfflineMessage{Text: "maintenance"}, 10), "")
	})
}

// TestOfflinePageAll reads whole mailboxes (n < 0), as a login does when
// they are small.
func TestOfflinePageAll(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, clk := openTest(t)
		mustUsers(t, db, "alice", "Bob", "carol")
		sent := []chatd.OfflineMessage{
			{From: "alice", To: []string{"Bob", "carol"}, Text: "to you both", Time: t0.Add(time.Second)},
			{From: "carol", To: []string{"Bob"}, Text: "just you"},                // zero time: the clock
			{From: "alice", To: nil, Text: "no list", Time: t0.Add(-time.Second)}, // older stamp, stored later
		}
		clk.Add(time.Minute)
		for _, m := range sent {
			checkCode(t, db.StoreOffline(ctx, "bob", m, 0), "")
		}
		checkCode(t, db.StoreOffline(ctx, "carol", chatd.OfflineMessage{From: "alice", Text: "for carol"}, 0), "")

		tests := []struct {
			name string
			to   string
			want []chatd.OfflineMessage // without IDs
			code chatd.Code
		}{
			{"OKInStoreOrder", "bob", []chatd.OfflineMessage{
				{From: "alice", To: []string{"Bob", "carol"}, Text: "to you both", Time: t0.Add(time.Second)},
				{From: "carol", To: []string{"Bob"}, Text: "just you", Time: t0.Add(time.Minute)},
				{From: "alice", Text: "no list", Time: t0.Add(-time.Second)},
			}, ""},
			{"OKOwnMailboxOnly", "CAROL", []chatd.OfflineMessage{
				{From: "alice", Text: "for carol", Time: t0.Add(time.Minute)},
			}, ""},
			{"OKEmpty", "alice", nil, ""},
			{"ErrNoSuchUser", "ghost", nil, chatd.ENoSuchUser},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := db.OfflinePage(ctx, tt.to, 0, -1)
				checkCode(t, err, tt.code)
				if len(got) != len(tt.want) {
					t.Fatalf("OfflinePage = %+v, want %+v", got, tt.want)
				}
				var last int64
				for i, m := range got {
					if m.ID <= last {
						t.Errorf("IDs not increasing: %d after %d", m.ID, last)
					}
					last = m.ID
					w := tt.want[i]
					if m.From != w.From || m.Text != w.Text || !slices.Equal(m.To, w.To) || !m.Time.Equal(w.Time) || m.Time.Location() != time.UTC {
						t.Errorf("message %d = %+v, want %+v", i, m, w)
					}
				}
			})
		}
	})
}

func TestDeleteOffline(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		tests := []struct {
			name     string
			delete   func(ids []int64) []int64
			wantLeft []string
		}{
			{"OKSome", func(ids []int64) []int64 { return ids[:2] }, []string{"2"}},
			{"OKAll", func(ids []int64) []int64 { return ids }, nil},
			{"OKNone", func([]int64) []int64 { return nil }, []string{"0", "1", "2"}},
			{"OKUnknownIgnored", func(ids []int64) []int64 { return []int64{ids[1], 999999} }, []string{"0", "2"}},
			{"OKTwice", func(ids []int64) []int64 { return []int64{ids[0], ids[0]} }, []string{"1", "2"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, _ := openTest(t)
				mustUsers(t, db, "bob")
				for i := range 3 {
					checkCode(t, db.StoreOffline(ctx, "bob", chatd.OfflineMessage{From: "x", Text: fmt.Sprint(i)}, 0), "")
				}
				msgs, err := db.OfflinePage(ctx, "bob", 0, -1)
				checkCode(t, err, "")
				var ids []int64
				for _, m := range msgs {
					ids = append(ids, m.ID)
				}
				checkCode(t, db.DeleteOffline(ctx, tt.delete(ids)), "")
				msgs, err = db.OfflinePage(ctx, "bob", 0, -1)
				checkCode(t, err, "")
				var left []string
				for _, m := range msgs {
					left = append(left, m.Text)
				}
				if !slices.Equal(left, tt.wantLeft) {
					t.Errorf("left = %v, want %v", left, tt.wantLeft)
				}
			})
		}
	})
}

// TestStoreOfflineLimitUnderRace has many senders race for the last places
// in one mailbox, from two handles on the file: the count and the insert
// share a transaction, so exactly limit messages get in.
func TestStoreOfflineLimitUnderRace(t *testing.T) {
	eachBackend(t, testStoreOfflineLimitUnderRace)
}

func testStoreOfflineLimitUnderRace(t *testing.T) {
	ctx := context.Background()
	a, b := openTwo(t)
	mustUsers(t, a, "bob")
	const limit, senders = 5, 20
	var wg sync.WaitGroup
	codes := make(chan chatd.Code, senders)
	for i := range senders {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.StoreOffline(ctx, "bob", chatd.OfflineMessage{From: fmt.Sprint(i), Text: "hi"}, limit)
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
	if count[""] != limit || count[chatd.EMailboxFull] != senders-limit {
		t.Errorf("outcomes = %v, want %d stored and %d mailbox_full", count, limit, senders-limit)
	}
	msgs, err := b.OfflinePage(ctx, "bob", 0, -1)
	if err != nil || len(msgs) != limit {
		t.Errorf("bob holds %d, %v; want %d", len(msgs), err, limit)
	}
}

// TestStoreOfflineTwoHandlesTakeTurns: two handles on one file store mail
// in turn. Each mailer counts its letter and mailbox ids on from the
// largest it has read, so it must read them again after the other
// handle's commit, or its next letter would take an id already taken.
func TestStoreOfflineTwoHandlesTakeTurns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	a, b := openAt(t, path), openAt(t, path)
	mustUsers(t, a, "bob", "cy")
	var want []string
	for i := range 6 {
		db := a
		if i%2 == 1 {
			db = b
		}
		text := fmt.Sprint("note ", i)
		errs, err := db.StoreOfflineAll(ctx, []string{"bob", "cy"}, chatd.OfflineMessage{From: "ann", To: []string{"bob", "cy"}, Text: text}, 0)
		if err != nil || errs[0] != nil || errs[1] != nil {
			t.Fatalf("store %q from handle %d: %v, %v", text, i%2, errs, err)
		}
		want = append(want, text)
	}
	for _, u := range []string{"bob", "cy"} {
		msgs, err := a.OfflinePage(ctx, u, 0, -1)
		var got []string
		for _, m := range msgs {
			got = append(got, m.Text)
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s holds %q, %v; want %q", u, got, err, want)
		}
	}
}

// TestStoreOfflineIsDurableOnReturn checks that once StoreOffline returns, a
// separate handle (another process) reads the message.
func TestStoreOfflineIsDurableOnReturn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chatd.db")
	daemon := openAt(t, path)
	mustUsers(t, daemon, "bob")
	checkCode(t, daemon.StoreOffline(ctx, "bob", chatd.OfflineMessage{From: "a", Text: "kept"}, 0), "")
	other := openAt(t, path)
	msgs, err := other.OfflinePage(ctx, "bob", 0, -1)
	if err != nil || len(msgs) != 1 || msgs[0].Text != "kept" {
		t.Errorf("other handle reads %+v, %v", msgs, err)
	}
}

// TestStoreOfflineGroupCommit: many senders at once share commits, and each
// still gets exactly its own outcome. The mailbox limit holds across a
// batch (the count sees the messages stored earlier in the same
// transaction), a full mailbox or an unknown name fails only that call,
// and a caller that gave up stores nothing.
func TestStoreOfflineGroupCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		db, _ := openTest(t)
		ctx := context.Background()
		for _, n := range []string{"open", "small"} {
			if _, err := db.CreateUser(ctx, n, "x", false); err != nil {
				t.Fatal(err)
			}
		}
		const senders, each, smallLimit = 40, 25, 30
		var stored, full, unknown sync.Map
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					from := fmt.Sprintf("s%d", s)
					text := fmt.Sprintf("%s-%d", from, i)
					m := chatd.OfflineMessage{From: from, To: []string{"open", "small", "ghost"}, Text: text}
					errs, err := db.StoreOfflineAll(ctx, []string{"open", "small", "ghost"}, m, smallLimit)
					if err != nil {
						t.Errorf("%s: %v", text, err)
						return
					}
					if errs[0] == nil {
						stored.Store(text, true)
					}
					if chatd.ErrorCode(errs[1]) == chatd.EMailboxFull {
						full.Store(text, true)
					}
					if chatd.ErrorCode(errs[2]) == chatd.ENoSuchUser {
						unknown.Store(text, true)
					}
				}
			}()
		}
		wg.Wait()
		count := func(m *sync.Map) (n int) {
			m.Range(func(any, any) bool { n++; return true })
			return n
		}
		total := senders * each
		if n := count(&unknown); n != total {
			t.Errorf("%d of %d calls reported the unknown recipient", n, total)
		}
		got := func(name string) []chatd.OfflineMessage {
			msgs, err := db.OfflinePage(ctx, name, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			return msgs
		}
		// The limit applies to both recipients, and both get every message
		// until full: exactly smallLimit calls stored, every later one was
		// refused as full.
		if n := len(got("open")); n != smallLimit || count(&stored) != smallLimit {
			t.Errorf("open holds %d, %d calls stored for it; want %d", n, count(&stored), smallLimit)
		}
		if n := len(got("small")); n != smallLimit || count(&full) != total-smallLimit {
			t.Errorf("small holds %d with %d refused as full; want %d and %d", n, count(&full), smallLimit, total-smallLimit)
		}
		// Each stored message is there once, under its own text.
		for _, m := range got("small") {
			if _, ok := stored.Load(m.Text); !ok {
				t.Errorf("small holds %q, which no call reported stored", m.Text)
			}
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := db.StoreOfflineAll(cancelled, []string{"open"}, chatd.OfflineMessage{From: "x", Text: "late"}, 0); err == nil {
			t.Error("a cancelled call reported success")
		}
		for _, m := range got("open") {
			if m.Text == "late" {
				t.Error("a cancelled call stored its message")
			}
		}
	})
}

// The mailer remembers how full each mailbox may be instead of counting it
// for every message; what it remembers must never let a full mailbox take
// more, nor keep an emptied one refusing.
func TestMailboxLimitAfterDeliveryAndUnlimitedStores(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	mustUsers(t, db, "alice", "bob")
	const limit = 3
	store := func(limit int, want chatd.Code) {
		t.Helper()
		m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: "hi"}
		checkCode(t, db.StoreOffline(ctx, "bob", m, limit), want)
	}
	for range limit {
		store(limit, "")
	}
	store(limit, chatd.EMailboxFull)

	// Delivered and deleted: the mailbox has room again.
	msgs, err := db.OfflinePage(ctx, "bob", 0, -1)
	checkCode(t, err, "")
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	checkCode(t, db.DeleteOffline(ctx, ids), "")
	store(limit, "")

	// Stored without a limit (a limit of 0) still fill the mailbox for
	// the next store that has one.
	store(0, "")
	store(0, "")
	store(limit, chatd.EMailboxFull)
	msgs, err = db.OfflinePage(ctx, "bob", 0, -1)
	checkCode(t, err, "")
	if len(msgs) != limit {
		t.Errorf("bob holds %d messages, want %d", len(msgs), limit)
	}
}

// A request that fails inside a batch (here a trigger refuses its text)
// fails alone: the batch is stored again without it, and every other
// request of the batch is stored exactly once and says so.
func TestStoreMailOneFailureInABatch(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	mustUsers(t, db, "alice", "bob", "carol")
	if _, err := db.writer.ExecContext(ctx, `CREATE TRIGGER poison BEFORE INSERT ON letters
		WHEN NEW.body = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	texts := []string{"one", "two", "poison", "three", "full"}
	var batch []*mailRequest
	for _, text := range texts {
		to := []string{"bob", "carol"}
		limit := 0
		if text == "full" {
			limit = 1 // bob already has more: refused for both, stores nothing
		}
		batch = append(batch, &mailRequest{ctx: ctx, to: to, limit: limit, done: make(chan struct{}),
			m: chatd.OfflineMessage{From: "alice", To: to, Text: text, Time: time.Now()}})
	}
	db.storeMail(batch)
	for i, r := range batch {
		switch texts[i] {
		case "poison":
			if r.err == nil {
				t.Errorf("the poisoned request reported success")
			}
		case "full":
			if r.err != nil || chatd.ErrorCode(r.errs[0]) != chatd.EMailboxFull {
				t.Errorf("%s: got %v, %v; want mailbox_full for bob", texts[i], r.errs, r.err)
			}
		default:
			if r.err != nil || r.errs[0] != nil || r.errs[1] != nil {
				t.Errorf("%s: got %v, %v; want stored", texts[i], r.errs, r.err)
			}
		}
	}
	for _, name := range []string{"bob", "carol"} {
		msgs, err := db.OfflinePage(ctx, name, 0, -1)
		checkCode(t, err, "")
		var got []string
		for _, m := range msgs {
			got = append(got, m.Text)
		}
		if !slices.Equal(got, []string{"one", "two", "three"}) {
			t.Errorf("%s holds %q, want one, two, three", name, got)
		}
	}
}

// The mailer remembers recipients and whom they block (SQLite); a block
// made or lifted, or a user deleted, by this handle or another, must reach
// the next message at once, and a name registered again after its user
// was deleted is a new mailbox.
func TestMailerForgetsChangedRecipients(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := openTwo(t)
		mustUsers(t, a, "alice", "bob", "dave")
		store := func(to string, want chatd.Code) {
			t.Helper()
			m := chatd.OfflineMessage{From: "alice", To: []string{to}, Text: "hi " + to}
			checkCode(t, a.StoreOffline(ctx, to, m, 10), want)
		}
		holds := func(name string, want int) {
			t.Helper()
			if n, err := b.OfflineCount(ctx, name); err != nil || n != want {
				t.Errorf("%s holds %d (%v), want %d", name, n, err, want)
			}
		}
		store("bob", "")
		for _, by := range []*DB{a, b} { // this handle, then another
			checkCode(t, by.Block(ctx, "bob", "alice"), "")
			store("bob", chatd.EBlocked)
			checkCode(t, by.Unblock(ctx, "bob", "ALICE"), "")
			store("bob", "")
		}
		holds("bob", 3)

		// bob goes; zed may get bob's old id, and a new bob another one.
		checkCode(t, a.DeleteUserAction(ctx, "bob", "root"), "")
		store("bob", chatd.ENoSuchUser)
		mustUsers(t, a, "zed", "bob")
		store("bob", "")
		holds("zed", 0)
		holds("bob", 1)

		store("dave", "")
		checkCode(t, b.DeleteUserAction(ctx, "dave", "root"), "")
		store("dave", chatd.ENoSuchUser)
		mustUsers(t, b, "dave")
		store("dave", "")
		holds("dave", 1)
	})
}

// A batch's letters are written together at its end (several rows per
// statement on SQLite): every message is stored once, whole, in the order
// of the requests, and a mailbox limit still holds exactly inside one
// batch, where the mailbox must be counted with letters not yet written.
func TestStoreMailBatchOrderAndLimit(t *testing.T) {
	eachBackend(t, func(t *testing.T) {
		ctx := context.Background()
		db, _ := openTest(t)
		mustUsers(t, db, "alice", "bob", "carol", "full")
		request := func(text string, limit int, to ...string) *mailRequest {
			return &mailRequest{ctx: ctx, to: to, limit: limit, done: make(chan struct{}),
				m: chatd.OfflineMessage{From: "alice", To: to, Text: text, Time: time.Now()}}
		}
		var batch []*mailRequest
		var wantBob, wantCarol []string
		for i := range 150 { // more letters than the largest statement takes
			text := fmt.Sprint("m", i)
			to := []string{"bob"}
			wantBob = append(wantBob, text)
			if i%3 == 0 {
				to = append(to, "carol")
				wantCarol = append(wantCarol, text)
			}
			batch = append(batch, request(text, 0, to...))
		}
		// Never counted before: the fourth finds three written and is refused.
		for i := range 5 {
			batch = append(batch, request(fmt.Sprint("f", i), 3, "full"))
		}
		db.storeMail(batch)
		for i, r := range batch {
			if r.err != nil {
				t.Fatalf("request %d: %v", i, r.err)
			}
			want := chatd.Code("")
			if i >= 150+3 {
				want = chatd.EMailboxFull
			}
			for _, err := range r.errs {
				if chatd.ErrorCode(err) != want && !(want == "" && err == nil) {
					t.Errorf("request %d (%s): %v, want %q", i, r.m.Text, err, want)
				}
			}
		}
		check := func(name string, want []string) {
			t.Helper()
			msgs, err := db.OfflinePage(ctx, name, 0, -1)
			checkCode(t, err, "")
			var got []string
			for _, m := range msgs {
				got = append(got, m.Text)
				wantTo := []string{"bob"}
				if name == "full" {
					wantTo = []string{"full"}
				} else if slices.Contains(wantCarol, m.Text) {
					wantTo = []string{"bob", "carol"}
				}
				if m.From != "alice" || !slices.Equal(m.To, wantTo) {
					t.Errorf("%s: %q from %q to %q, want from alice to %q", name, m.Text, m.From, m.To, wantTo)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s holds %q, want %q", name, got, want)
			}
		}
		check("bob", wantBob)
		check("carol", wantCarol)
		check("full", []string{"f0", "f1", "f2"})
	})
}

// The writer keeps statement journals in memory (see Open): a multi-row
// INSERT over many mailboxes must not write a temporary file per page.
func TestWriterTempStoreInMemory(t *testing.T) {
	db, _ := openTest(t)
	var mode int
	if err := db.writer.GetContext(context.Background(), &mode, `PRAGMA temp_store`); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("writer temp_store = %d, want 2 (memory)", mode)
	}
}

// New offline mail reaches the recipient index in sorted batches
// (SQLite): a mailbox read or counted while some of its messages are
// sorted and some not has them all, once each, in order, page by page;
// the limit counts both; a deleted user takes their unsorted mail along.
func TestOfflineMailSortedAndUnsorted(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.mailSortEvery = 4
	mustUsers(t, db, "alice", "bob", "carol", "dave")
	var want []string
	for i := range 11 {
		text := fmt.Sprint("m", i)
		m := chatd.OfflineMessage{From: "alice", To: []string{"bob", "carol"}, Text: text}
		errs, err := db.StoreOfflineAll(ctx, []string{"bob", "carol"}, m, 100)
		checkCode(t, err, "")
		checkCode(t, errs[0], "")
		want = append(want, text)
		if i == 9 {
			checkCode(t, db.StoreOffline(ctx, "dave", chatd.OfflineMessage{From: "alice", Text: "d"}, 0), "")
		}
	}
	var sorted, unsorted int
	if err := db.reader.GetContext(ctx, &sorted, `SELECT count(*) FROM offline_messages WHERE sorted = 1`); err != nil {
		t.Fatal(err)
	}
	if err := db.reader.GetContext(ctx, &unsorted, `SELECT count(*) FROM offline_messages WHERE sorted = 0`); err != nil {
		t.Fatal(err)
	}
	if sorted == 0 || unsorted == 0 || sorted+unsorted != 23 {
		t.Fatalf("%d rows sorted and %d not; want some of each, 23 in all", sorted, unsorted)
	}
	for _, name := range []string{"bob", "carol"} {
		if n, err := db.OfflineCount(ctx, name); err != nil || n != len(want) {
			t.Errorf("OfflineCount(%s) = %d, %v; want %d", name, n, err, len(want))
		}
		var got []string
		var after int64
		for {
			page, err := db.OfflinePage(ctx, name, after, 3)
			checkCode(t, err, "")
			for _, m := range page {
				got = append(got, m.Text)
				after = m.ID
			}
			if len(page) < 3 {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s reads %q page by page, want %q", name, got, want)
		}
	}
	// The limit counts the unsorted messages too.
	m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: "over"}
	checkCode(t, db.StoreOffline(ctx, "bob", m, len(want)), chatd.EMailboxFull)

	checkCode(t, db.DeleteUserAction(ctx, "carol", "root"), "")
	var left int
	if err := db.reader.GetContext(ctx, &left, `SELECT count(*) FROM offline_messages o
		WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.recipient)`); err != nil || left != 0 {
		t.Errorf("%d messages of the deleted user left (%v)", left, err)
	}
}
