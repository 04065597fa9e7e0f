package main

import (
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// histogram counts latencies in log-linear buckets: exact below 512 ns,
// then 256 buckets per power of two, so a bucket is less than 0.4% wide
// and reported at its middle (within 0.2% of every sample in it). A
// client counts into its own and the bench merges them at the end: a
// delivery costs an increment in a small array, not 8 more bytes of
// memory per sample and a sort of millions at the end.
type histogram struct {
	counts []uint32 // allocated at the first sample
	n      int64
	max    time.Duration
}

const (
	histSub     = 8  // 2^histSub buckets per power of two
	histTop     = 40 // latencies from 2^40 ns (18 min) on share the last bucket
	histBuckets = (histTop - histSub + 1) << histSub
)

func histBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 2<<histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSub - 1 // v >> e is in [256, 512)
	b := e<<histSub + int(v>>e)
	return min(b, histBuckets-1)
}

// histValue is the middle of bucket b.
func histValue(b int) time.Duration {
	if b < 2<<histSub {
		return time.Duration(b)
	}
	e := b>>histSub - 1
	m := uint64(b - e<<histSub)
	return time.Duration(m<<e + (1<<e)/2)
}

func (h *histogram) add(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint32, histBuckets)
	}
	h.counts[histBucket(d)]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint32, histBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// at is the latency of the sample of rank i (0-based) in sorted order;
// the largest is exact.
func (h *histogram) at(i int64) time.Duration {
	if i >= h.n-1 {
		return h.max
	}
	var seen int64
	for b, c := range h.counts {
		seen += int64(c)
		if seen > i {
			return min(histValue(b), h.max)
		}
	}
	return h.max
}

// latencies collects the delivery latencies of many clients: each
// merges its own histogram when it is done.
type latencies struct {
	mu sync.Mutex
	h  histogram
}

func (l *latencies) add(h *histogram) {
	l.mu.Lock()
	l.h.merge(h)
	l.mu.Unlock()
}

// summary is the latencies' percentiles.
type summary struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.h.n
	if n == 0 {
		return summary{}
	}
	at := func(p float64) time.Duration { return l.h.at(min(n-1, int64(p*float64(n)))) }
	return summary{N: int(n), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: l.h.max}
}

// spread returns k evenly spaced samples of the sorted latencies, in ms
// (for the chart).
func (l *latencies) spread(k int) []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.h.n
	if n == 0 {
		return nil
	}
	k = int(min(int64(k), n))
	out := make([]float64, k)
	for i := range out {
		out[i] = ms(l.h.at(int64(i) * (n - 1) / int64(max(k-1, 1))))
	}
	return out
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
	if d, ok := processCPU(pid); ok {
		return d, nil
	}
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
	m, err := procNumbers(pid, "status")
	if err != nil {
		return 0, 0, err
	}
	return m["VmRSS"] << 10, m["VmHWM"] << 10, nil
}

// procNumbers reads /proc/PID/FILE, a file of "key: number [unit]" lines
// (status, io), into key -> number; lines without a number are left out.
func procNumbers(pid int, file string) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m, nil
}

// procSample is a reading at one moment: the load tool's own CPU time
// (self), and with -pid the server's CPU time and memory (zero without).
type procSample struct {
	self      time.Duration
	cpu       time.Duration
	rss, peak int64
	writes    int64 // write-like system calls (syscw in /proc/PID/io); -1: unknown
}

func (p *proc) sample() procSample {
	s := procSample{self: selfCPU()}
	if p == nil {
		return s
	}
	s.cpu, _ = p.cpu()
	s.rss, s.peak, _ = p.mem()
	s.writes = p.writes()
	return s
}

// writes is the processes' count of write-like system calls so far (write,
// writev, send...: syscw in /proc/PID/io), or -1 where that is not readable.
func (p proc) writes() int64 {
	var sum int64
	for _, pid := range p.pids {
		m, err := procNumbers(pid, "io")
		n, ok := m["syscw"]
		if err != nil || !ok {
			return -1
		}
		sum += n
	}
	return sum
}

// selfCPU is the user+system CPU time this process (the load tool, all
// its threads) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
