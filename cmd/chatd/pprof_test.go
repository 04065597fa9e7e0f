package main

import (
	"os"
	"runtime"
	"testing"
)

// Heap sampling is off unless CHATD_PPROF asks for the profiles or GODEBUG
// sets its rate; this test binary ran init without either.
func TestMemProfileOffUnlessProfiling(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		keep bool
	}{
		{"OffByDefault", nil, false},
		{"OffWithOtherGODEBUG", map[string]string{"GODEBUG": "gctrace=1"}, false},
		{"OnForPprof", map[string]string{pprofEnv: "127.0.0.1:6060"}, true},
		{"OnForGODEBUGRate", map[string]string{"GODEBUG": "gctrace=1,memprofilerate=16384"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keepMemProfile(func(k string) string { return tt.env[k] }); got != tt.keep {
				t.Errorf("keepMemProfile = %v, want %v", got, tt.keep)
			}
		})
	}
	if !keepMemProfile(os.Getenv) && runtime.MemProfileRate != 0 {
		t.Errorf("runtime.MemProfileRate = %d after init without CHATD_PPROF, want 0", runtime.MemProfileRate)
	}
}
