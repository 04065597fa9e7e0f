package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// latencies collects delivery latencies from many reader goroutines.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

func (l *latencies) add(batch []time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, batch...)
	l.mu.Unlock()
}

// summary is the sorted samples' percentiles.
type summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	slices.Sort(s)
	if len(s) == 0 {
		return summary{}
	}
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return summary{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// sorted returns a sorted copy of the samples, for the chart.
func (l *latencies) sorted() []time.Duration {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	slices.Sort(s)
	return s
}

// proc reads the CPU time and memory of the server's processes (one per
// node of a cluster) from /proc, summed.
type proc struct{ pids []int }

// cpu is the processes' user+system CPU time so far.
func (p proc) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, pid := range p.pids {
		d, err := cpuOf(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// mem is the processes' resident set size and peak (VmRSS, VmHWM) in bytes.
func (p proc) mem() (rss, peak int64, err error) {
	for _, pid := range p.pids {
		r, k, err := memOf(pid)
		if err != nil {
			return 0, 0, err
		}
		rss, peak = rss+r, peak+k
	}
	return rss, peak, nil
}

// cpuOf is one process's user+system CPU time so far.
func cpuOf(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: count
	// fields from after its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// After the name: state(0) ... utime(11) stime(12), in clock ticks.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU fields", pid)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond, nil
}

// memOf returns one process's resident set size and its peak (VmRSS, VmHWM) in bytes.
func memOf(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak, nil
}

// procSample is a CPU and memory reading at one moment; zero without -pid.
type procSample struct {
	cpu       time.Duration
	rss, peak int64
}

func (p *proc) sample() procSample {
	if p == nil {
		return procSample{}
	}
	var s procSample
	s.cpu, _ = p.cpu()
	s.rss, s.peak, _ = p.mem()
	return s
}
