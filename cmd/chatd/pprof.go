package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// pprofEnv names the environment variable that turns on Go's profiling
// endpoints for `chatd serve`: CHATD_PPROF=127.0.0.1:6060 serves
// /debug/pprof/ there (CPU, heap, goroutines, mutex and block profiles).
// It is for developers measuring the daemon (DEVELOPING.md, "Profile"), so
// it is not a config key, and it only listens on a loopback address.
const pprofEnv = "CHATD_PPROF"

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
