package daemon

import (
	"runtime"
	"runtime/debug"
	"testing"

	"chatd"
)

// TestMemoryLimitFollowsLiveHeap: the soft memory limit a managed server
// sets is argon2's slots and a fixed headroom while the live heap is
// small, and grows with the heap past that, so that many sessions do not
// pin the collector's goal at what is live.
func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a 192 MiB live heap")
	}
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	cfg := chatd.DefaultConfig()
	cfg.Argon2.MemoryKiB, cfg.Argon2.MaxConcurrent = 1024, 2
	s := &Server{manageMemory: true}
	s.live.Store(&cfg)
	const hashes = 2 << 20

	runtime.GC()
	s.applyMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got < hashes+128<<20 {
		t.Fatalf("limit %d MiB with a small heap, want at least the slots and 128 MiB", got>>20)
	}

	const big = 192 << 20
	live := make([][]byte, 0, big>>20)
	for range big >> 20 {
		live = append(live, make([]byte, 1<<20))
	}
	runtime.GC() // the live heap is measured by a finished cycle
	s.applyMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got < hashes+2*big {
		t.Errorf("limit %d MiB with %d MiB live, want at least %d MiB", got>>20, big>>20, (hashes+2*big)>>20)
	}
	runtime.KeepAlive(live)
}
