package daemon

import "testing"

// The collector runs at waveGCPercent from the first pass of syncOnline
// that writes a wave's rows until the writes stop, then at the pace the
// process had; a server that does not manage its process (or whose GOGC
// is set) leaves the pace alone.
func TestGCPacerWave(t *testing.T) {
	pace := 100
	var calls []int
	g := &gcPacer{set: func(p int) int { calls = append(calls, p); prev := pace; pace = p; return prev }}
	g.wave(waveRows - 1) // a few logins: no wave
	g.rest()
	if len(calls) != 0 {
		t.Fatalf("a pass of %d rows set the pace: %v", waveRows-1, calls)
	}
	g.wave(waveRows)
	g.wave(waveRows * 3) // still the same wave
	if pace != waveGCPercent || len(calls) != 1 {
		t.Fatalf("during a wave: pace %d after %v, want %d set once", pace, calls, waveGCPercent)
	}
	g.rest()
	g.rest()
	if pace != 100 || len(calls) != 2 {
		t.Fatalf("at rest: pace %d after %v, want 100 given back once", pace, calls)
	}

	off := (&Server{}).gcPacer() // Options.ManageMemory unset
	off.wave(waveRows * 10)
	off.rest()
	if off.paced {
		t.Fatal("a server that does not manage its process paced the collector")
	}
	t.Setenv("GOGC", "200")
	if (&Server{manageMemory: true}).gcPacer().set != nil {
		t.Fatal("the pacer acts although GOGC is set")
	}
}
