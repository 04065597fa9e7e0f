package password

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// The worker computes at most Run hashes at once, and starts the ones
// waiting in the order they came; a request without Run keeps the last
// limit. The daemon relies on both: it sends twice Run requests (Slots),
// and the gate's fairness holds only if the worker does not reorder them.
func TestServeHashesRunLimit(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var mu sync.Mutex
	running, most := 0, 0
	var started []uint64
	const n = 6
	// Each hash ends when the test lets it (release[id]), oldest first,
	// so that one waiting request can start at a time and the order they
	// start in is the worker's alone.
	release := map[uint64]chan struct{}{}
	for id := uint64(1); id <= n; id++ {
		release[id] = make(chan struct{})
	}
	compute := func(req workerRequest) workerReply {
		mu.Lock()
		running++
		most = max(most, running)
		started = append(started, req.ID)
		mu.Unlock()
		<-release[req.ID]
		mu.Lock()
		running--
		mu.Unlock()
		return workerReply{ID: req.ID, Hash: "h"}
	}
	served := make(chan error, 1)
	go func() { served <- serveHashes(inR, outW, func() error { return nil }, compute) }()

	sent := make(chan error, 1)
	go func() { // the worker reads the next request only once it can start it
		enc := json.NewEncoder(inW)
		for id := uint64(1); id <= n; id++ {
			req := workerRequest{ID: id, Op: "hash"}
			if id == 1 {
				req.Run = 2 // the later ones carry none: the limit stays
			}
			if err := enc.Encode(req); err != nil {
				sent <- err
				return
			}
		}
		sent <- inW.Close()
	}()
	// Two start; the rest wait until one ends.
	startedN := func() int { mu.Lock(); defer mu.Unlock(); return len(started) }
	waitFor(t, func() bool { return startedN() == 2 }, func() string {
		return fmt.Sprintf("%d hashes started, want 2", startedN())
	})
	time.Sleep(50 * time.Millisecond) // room for a third to start, wrongly
	mu.Lock()
	if len(started) != 2 {
		t.Errorf("%d hashes started with run 2", len(started))
	}
	mu.Unlock()

	replies := bufio.NewScanner(outR)
	for id := uint64(1); id <= n; id++ {
		close(release[id])
		if !replies.Scan() {
			t.Fatalf("no reply: %v", replies.Err())
		}
		// Its slot goes to the next request waiting, if any.
		if next := min(int(id)+2, n); startedN() < next {
			waitFor(t, func() bool { return startedN() == next }, func() string {
				return fmt.Sprintf("%d hashes started after %d ended, want %d", startedN(), id, next)
			})
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("send the requests: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serveHashes: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 2 {
		t.Errorf("at most %d hashes ran at once, want 2", most)
	}
	// The first two start together in either order; from the third on
	// each starts when one ends, in the order sent.
	if len(started) != n {
		t.Fatalf("started %v", started)
	}
	for i := 2; i < n; i++ {
		if started[i] != uint64(i+1) {
			t.Errorf("started in the order %v, want 3..%d in order after the first two", started, n)
			break
		}
	}
}
