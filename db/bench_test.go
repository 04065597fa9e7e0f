package db

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
)

// BenchmarkAppendHistory measures one room-history line per transaction,
// which is what the daemon's history writer does for each chat line.
func BenchmarkAppendHistory(b *testing.B) {
	d := openBench(b)
	ctx := context.Background()
	line := chatd.HistoryLine{From: "alice", Text: "hello there, this is a chat line", Time: time.Now()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.AppendHistory(ctx, chatd.Lobby, line, 20); err != nil {
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
