package main

import (
	"runtime"
	"testing"
)

// serve runs twice as many Ps as CPUs, unless GOMAXPROCS says otherwise.
func TestSpareProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(was)

	t.Setenv("GOMAXPROCS", "")
	runtime.GOMAXPROCS(3)
	spareProcs()
	if got := runtime.GOMAXPROCS(0); got != 6 {
		t.Errorf("GOMAXPROCS unset: %d Ps, want 6 (twice 3)", got)
	}

	t.Setenv("GOMAXPROCS", "3")
	runtime.GOMAXPROCS(3)
	spareProcs()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS=3 set: %d Ps, want it kept at 3", got)
	}
}
