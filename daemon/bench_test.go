package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
	"chatd/daemon"
	"chatd/db"
)

// BenchmarkRoomFanout measures room chat end to end over loopback TCP: one
// sender, 50 readers in the lobby; an op is one line delivered to all 51
// members (the sender's echo included).
func BenchmarkRoomFanout(b *testing.B) {
	const readers = 50
	cfg := chatd.DefaultConfig()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Database.Path = b.TempDir() + "/bench.db"
	cfg.Argon2 = chatd.Argon2Config{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, MaxConcurrent: 4}
	cfg.Rate.LinesPerSecond, cfg.Rate.Burst = 1e9, 1e9
	cfg.Server.MaxConnectionsPerIP = 1000 // every client is on loopback
	addr := startBench(b, cfg)

	// Every reader counts what it got; the sender keeps at most window
	// lines ahead of the slowest reader, so this measures sustained
	// throughput rather than how fast queues fill.
	const window = 200
	counts := make([]atomic.Int64, readers)
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		conn := benchLogin(b, addr, fmt.Sprintf("reader%02d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			countMessages(conn, b.N, &counts[i])
		}()
	}
	slowest := func() int64 {
		m := counts[0].Load()
		for i := range counts {
			m = min(m, counts[i].Load())
		}
		return m
	}
	sender := benchLogin(b, addr, "sender")
	go countMessages(sender, b.N, new(atomic.Int64))
	line := []byte("hello everyone, this is a benchmark line\n")
	b.ResetTimer()
	w := bufio.NewWriter(sender)
	for i := 0; i < b.N; i++ {
		w.Write(line)
		if int64(i+1)-slowest() >= window {
			w.Flush()
			for deadline := time.Now().Add(30 * time.Second); int64(i+1)-slowest() >= window/2; {
				if time.Now().After(deadline) {
					b.Fatalf("readers stalled at %d of %d", slowest(), i+1)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	w.Flush()
	wg.Wait()
	b.ReportMetric(float64(b.N*(readers+1))/b.Elapsed().Seconds(), "deliveries/s")
}

// countMessages reads until n room messages arrived (or 60 s passed).
func countMessages(conn net.Conn, n int, count *atomic.Int64) (got int) {
	defer func() {
		if got < n && os.Getenv("BENCH_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "reader %s got %d of %d\n", conn.LocalAddr(), got, n)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReaderSize(conn, 64<<10)
	last := ""
	marker := []byte(`"kind":"room"`)
	for got < n {
		line, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			if os.Getenv("BENCH_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "reader %s: %v after %d; last %q\n", conn.LocalAddr(), err, got, last)
			}
			return got
		}
		if bytes.Contains(line, marker) {
			got++
			count.Store(int64(got))
		} else {
			last = string(line)
		}
	}
	return got
}

// startBench runs a daemon for a benchmark and returns its address.
func startBench(b *testing.B, cfg chatd.Config) string {
	b.Helper()
	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{})
	o := daemon.Options{Config: cfg, Store: store, OnReady: func() { close(ready) }}
	if os.Getenv("BENCH_DEBUG") != "" {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv := daemon.New(o)
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; store.Close() })
	// A server that has not finished starting refuses connections.
	select {
	case <-ready:
	case <-done:
		b.Fatal("the server stopped before it was ready")
	}
	return srv.Addr().String()
}

// benchLogin registers name in JSON mode and returns the connection once
// the welcome has been read.
func benchLogin(b *testing.B, addr, name string) net.Conn {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "mode json\n%s\npassword1\npassword1\n", name)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("login %s: %v", name, err)
		}
		if bytes.Contains([]byte(line), []byte(`"type":"welcome"`)) {
			break
		}
	}
	return conn
}
