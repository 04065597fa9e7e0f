package db

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chatd"
)

// BenchmarkAppendHistory measures one room-history line per transaction:
// the history writer's batch when a line comes alone in its linger.
func BenchmarkAppendHistory(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	line := chatd.HistoryLine{From: "alice", Text: "hello there, this is a chat line", Time: time.Now()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.AppendHistoryBatch(ctx, []chatd.RoomLine{{Room: chatd.Lobby, Line: line}}, 20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreOffline measures an acknowledged offline message: the
// sender's "stored" waits for this commit.
func BenchmarkStoreOffline(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	if _, err := d.CreateUser(ctx, "bob", "x", false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := chatd.OfflineMessage{From: "alice", To: []string{"bob"}, Text: fmt.Sprint("note ", i), Time: time.Now()}
		if err := d.StoreOffline(ctx, "bob", m, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreOfflineParallel50 is 50 senders storing at once, each for
// its own offline recipient and each waiting for its commit, as 50 users
// sending private messages do: what group commit is for. ns/op is per
// acknowledged message.
func BenchmarkStoreOfflineParallel50(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	const senders = 50
	for i := range senders {
		if _, err := d.CreateUser(ctx, fmt.Sprint("rcpt", i), "x", false); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism((senders + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		to := fmt.Sprint("rcpt", next.Add(1)%senders)
		for i := 0; pb.Next(); i++ {
			m := chatd.OfflineMessage{From: "alice", To: []string{to}, Text: fmt.Sprint("note ", i), Time: time.Now()}
			if err := d.StoreOffline(ctx, to, m, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendHistoryBatch64 measures 64 lines per transaction, as the
// daemon's history writer batches them under load; ns/op is per line.
func BenchmarkAppendHistoryBatch64(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	batch := make([]chatd.RoomLine, 64)
	for i := range batch {
		batch[i] = chatd.RoomLine{Room: chatd.Lobby, Line: chatd.HistoryLine{From: "alice", Text: "hello there", Time: time.Now()}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		if err := d.AppendHistoryBatch(ctx, batch, 20); err != nil {
			b.Fatal(err)
		}
	}
}

func openBench(b *testing.B) *DB {
	d, err := Open(b.TempDir() + "/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// BenchmarkLoginQueries is one login's database work, as the daemon does
// it for a password login (checkPassword, then enter): the account, the
// lockout check and the attempt it records, the ban, the blocks, the
// settings, the mailbox count and first page, and the login time. The
// user has three blocks, two settings and five letters waiting, which
// stay (the daemon deletes them once written; that is not login work).
func BenchmarkLoginQueries(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin"} {
		if _, err := d.CreateUser(ctx, name, "x", false); err != nil {
			b.Fatal(err)
		}
	}
	for _, name := range []string{"bob", "carol", "dave"} {
		if err := d.Block(ctx, "alice", name); err != nil {
			b.Fatal(err)
		}
	}
	for _, kv := range [][2]string{{"format", "json"}, {"tz", "UTC"}} {
		if err := d.SetSetting(ctx, "alice", kv[0], kv[1]); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 5 {
		m := chatd.OfflineMessage{From: "erin", To: []string{"alice"}, Text: fmt.Sprint("note ", i), Time: time.Now()}
		if err := d.StoreOffline(ctx, "alice", m, 0); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		// Each login a millisecond after the last: the attempts read
		// back are the last one or two, as for a user logging in now
		// and then.
		now := start.Add(time.Duration(i) * time.Millisecond)
		if _, err := d.UserByName(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Attempts(ctx, "alice", "", now.Add(-time.Millisecond)); err != nil {
			b.Fatal(err)
		}
		if err := d.RecordAttempt(ctx, "alice", "127.0.0.1", now, true); err != nil {
			b.Fatal(err)
		}
		if _, err := d.BanOf(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Blocked(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Settings(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
		if n, err := d.OfflineCount(ctx, "alice"); err != nil || n != 5 {
			b.Fatal(n, err)
		}
		if m, err := d.OfflinePage(ctx, "alice", 0, 100); err != nil || len(m) != 5 {
			b.Fatal(len(m), err)
		}
		if err := d.SetSeen(ctx, []chatd.Seen{{Name: "alice", LastLogin: now, LastSeen: now, LastActive: now}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetOnline1000 is the daemon writing who is online with 1,000
// sessions, which it does whenever that changes.
func BenchmarkSetOnline1000(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	sessions := make([]chatd.OnlineSession, 1000)
	now := time.Now()
	for i := range sessions {
		sessions[i] = chatd.OnlineSession{User: fmt.Sprint("user", i), Room: chatd.Lobby,
			Addr: fmt.Sprintf("127.0.0.1:%d", 20000+i), Listener: "json", Since: now, LastActive: now}
	}
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		if err := d.SetOnline(ctx, sessions); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU resets the benchmark timer and returns a func that reports the
// process's CPU time (user and system) per op as cpu-ns/op. On a shared
// machine that is steadier than ns/op, and the commits' fsync waits, which
// the wall clock counts, are not in it.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	start := cpu()
	return func() {
		b.StopTimer()
		b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkAppendPrivateBatch64 measures 64 private messages per
// transaction, each between a different pair of users (as on a busy
// server, where most pairs are new to the batch); ns/op is per message.
func BenchmarkAppendPrivateBatch64(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	const users = 128
	for i := range users {
		if _, err := d.CreateUser(ctx, fmt.Sprintf("u%03d", i), "x", false); err != nil {
			b.Fatal(err)
		}
	}
	clock := chatd.IDClock{}
	batch := make([]chatd.PrivateLine, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		for j := range batch {
			k := (i + j) % users
			now := time.Now()
			batch[j] = chatd.PrivateLine{With: fmt.Sprintf("u%03d", (k+1+j)%users), Line: chatd.HistoryLine{
				MsgID: chatd.FormatID(clock.Next(now)), From: fmt.Sprintf("u%03d", k), Text: "hello there, how are you", Time: now}}
		}
		if err := d.AppendPrivateBatch(ctx, batch, 200); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOfflineWithHistory is the daemon's offline workload without
// the network: 50 senders store messages for 1,000 offline users, each
// waiting for its commit, while the history writer appends the same
// messages to private history 2,048 at a time on the same writer
// connection. ns/op is wall time per acknowledged message: what the
// writer connection's other work (history batches, checkpoints) costs
// the senders shows there, not in cpu-ns/op.
func BenchmarkOfflineWithHistory(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	const users, senders, batch = 1000, 50, 2048
	for i := range users {
		if _, err := d.CreateUser(ctx, fmt.Sprintf("u%04d", i), "x", false); err != nil {
			b.Fatal(err)
		}
	}
	var (
		mu      sync.Mutex
		clock   chatd.IDClock
		pending []chatd.PrivateLine
	)
	flush := func(all bool) {
		mu.Lock()
		if len(pending) < batch && !all {
			mu.Unlock()
			return
		}
		lines := pending
		pending = nil
		mu.Unlock()
		if err := d.AppendPrivateBatch(ctx, lines, 200); err != nil {
			b.Error(err)
		}
	}
	per := b.N / senders
	done := reportCPU(b)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := fmt.Sprintf("u%04d", s)
			for i := range per {
				to := fmt.Sprintf("u%04d", (s*37+i*13+1)%users)
				if to == from {
					continue
				}
				now := time.Now()
				mu.Lock()
				id := chatd.FormatID(clock.Next(now))
				mu.Unlock()
				text := fmt.Sprint("message number ", i, " from the bench")
				m := chatd.OfflineMessage{MsgID: id, From: from, To: []string{to}, Text: text, Time: now}
				if err := d.StoreOffline(ctx, to, m, 0); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				pending = append(pending, chatd.PrivateLine{With: to, Line: chatd.HistoryLine{MsgID: id, From: from, Recipients: to, Text: text, Time: now}})
				mu.Unlock()
				if s == 0 { // one sender plays the history writer
					flush(false)
				}
			}
		}()
	}
	wg.Wait()
	flush(true)
	done()
}
