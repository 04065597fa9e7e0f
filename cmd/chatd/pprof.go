package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"time"
)

// pprofEnv names the environment variable that turns on Go's profiling
// endpoints for `chatd serve`: CHATD_PPROF=127.0.0.1:6060 serves
// /debug/pprof/ there (CPU, heap, goroutines, mutex and block profiles).
// It is for developers measuring the daemon (DEVELOPING.md, "Profile"), so
// it is not a config key, and it only listens on a loopback address.
const pprofEnv = "CHATD_PPROF"

// init turns the runtime's heap sampling off unless someone may read the
// samples: it costs resident memory that does not scale with the load (a
// bucket table of ~1.4 MB once the first sample is taken, and a record
// per sampled call stack), which an idle server counts against its
// connections (docs/performance.md, "Issue 23 target 2"). Only
// CHATD_PPROF serves heap profiles; GODEBUG=memprofilerate=N still sets
// the rate for a measurement.
func init() {
	if !keepMemProfile(os.Getenv) {
		runtime.MemProfileRate = 0
	}
}

// keepMemProfile reports whether heap sampling stays on: when the
// profiling endpoints are asked for, or GODEBUG sets the rate.
func keepMemProfile(getenv func(string) string) bool {
	return getenv(pprofEnv) != "" || strings.Contains(getenv("GODEBUG"), "memprofilerate=")
}

// startPprof serves the profiling endpoints when CHATD_PPROF is set. It
// returns a function that stops them.
func startPprof(log *slog.Logger) (stop func(), err error) {
	addr := os.Getenv(pprofEnv)
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: want host:port on loopback: %v", pprofEnv, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s=%q: profiles are only served on a loopback address such as 127.0.0.1", pprofEnv, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pprofEnv, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Warn("serving profiles", "addr", ln.Addr().String(), "env", pprofEnv)
	return func() { hs.Close() }, nil
}
