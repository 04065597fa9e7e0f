package password

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
)

func gateOf(slots int) *Gate { return NewGate(GateOptions{Slots: func() int { return slots }}) }

// gateWaiting counts the waiters of the gate.
func gateWaiting(g *Gate) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queuedLocked()
}

func waitGate(t *testing.T, g *Gate, n int) {
	t.Helper()
	waitFor(t, func() bool { return gateWaiting(g) >= n }, func() string {
		return fmt.Sprintf("only %d callers are waiting, want %d", gateWaiting(g), n)
	})
}

// waitFor polls ok for up to 5 s, then fails with what failure says.
func waitFor(t *testing.T, ok func() bool, failure func() string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHashGateConcurrencyLimit(t *testing.T) {
	g := gateOf(3)
	var running, peak atomic.Int32
	var busy, done atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprint("10.0.0.", i%7)
			err := g.Do(addr, time.Now().Add(time.Minute), nil, func() {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				running.Add(-1)
			})
			if err != nil {
				busy.Add(1)
			} else {
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 {
		t.Fatalf("%d ran at once, limit 3", p)
	}
	if busy.Load() != 0 || done.Load() != 200 {
		t.Fatalf("busy %d done %d; all could finish in time", busy.Load(), done.Load())
	}
	if len(g.addrs) != 0 || g.running != 0 {
		t.Fatalf("gate not empty after all returned: %d addrs, %d running", len(g.addrs), g.running)
	}
}

// A flood from one address queues behind its own requests: a request from
// another address is served next, not after the flood.
func TestHashGateFairPerAddress(t *testing.T) {
	g := gateOf(1)
	release := make(chan struct{})
	var order []string
	var mu sync.Mutex
	run := func(who string) func() {
		return func() {
			mu.Lock()
			order = append(order, who)
			mu.Unlock()
			<-release
		}
	}
	far := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	start := func(addr, who string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Do(addr, far, nil, run(who)); err != nil {
				t.Errorf("%s: %v", who, err)
			}
		}()
	}
	start("flood", "f0") // takes the slot
	waitRunning(t, g, 1)
	for i := 1; i <= 10; i++ {
		start("flood", fmt.Sprint("f", i))
		waitGate(t, g, i)
	}
	start("legit", "legit")
	waitGate(t, g, 11)
	for range 12 {
		release <- struct{}{}
	}
	wg.Wait()
	if order[0] != "f0" || order[1] != "legit" {
		t.Fatalf("served in order %v; want the legit request right after the running one", order)
	}
}

func waitRunning(t *testing.T, g *Gate, n int) {
	t.Helper()
	running := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.running
	}
	waitFor(t, func() bool { return running() >= n }, func() string {
		return fmt.Sprintf("%d running, want %d", running(), n)
	})
}

// What cannot be served before its deadline is refused at once; a waiter
// whose deadline passes, or whose session ends, leaves without hashing.
func TestHashGateDeadlines(t *testing.T) {
	g := gateOf(1)
	g.avg = time.Second
	release := make(chan struct{})
	go g.Do("a", time.Now().Add(time.Minute), nil, func() { <-release })
	waitRunning(t, g, 1)

	ran := false
	start := time.Now()
	err := g.Do("b", time.Now().Add(100*time.Millisecond), nil, func() { ran = true })
	if chatd.ErrorCode(err) != chatd.EServerBusy || ran || gateWaiting(g) != 0 {
		t.Fatalf("a wait of ~1s with 100ms left: err %v, ran %v", err, ran)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Logf("refusal took %v; it should not wait", time.Since(start))
	}

	g.mu.Lock()
	g.avg = time.Millisecond // admitted, but the deadline comes first
	g.mu.Unlock()
	err = g.Do("b", time.Now().Add(50*time.Millisecond), nil, func() { ran = true })
	if chatd.ErrorCode(err) != chatd.EServerBusy || ran {
		t.Fatalf("deadline passed while waiting: err %v, ran %v", err, ran)
	}

	gone := make(chan struct{})
	errc := make(chan error)
	go func() { errc <- g.Do("c", time.Now().Add(time.Minute), gone, func() { ran = true }) }()
	waitGate(t, g, 1)
	close(gone)
	if err := <-errc; chatd.ErrorCode(err) != chatd.EServerBusy || ran {
		t.Fatalf("session ended while waiting: err %v, ran %v", err, ran)
	}
	close(release)
	waitRunning(t, g, 0)
}
