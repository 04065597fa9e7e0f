package chatd

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Ids never go back: not within a millisecond, not when the wall clock
// does, not below a value observed; concurrent callers never share one.
func TestIDClock(t *testing.T) {
	var c IDClock
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := c.Next(now), c.Next(now)
	if a != uint64(now.UnixMilli())<<16 || b != a+1 {
		t.Fatalf("Next twice in one millisecond = %x, %x", a, b)
	}
	if back := c.Next(now.Add(-time.Hour)); back != b+1 {
		t.Fatalf("Next with the clock an hour back = %x; want %x", back, b+1)
	}
	c.Observe(b + 100)
	c.Observe(b) // lower: no effect
	if v := c.Next(now); v != b+101 {
		t.Fatalf("Next after Observe = %x; want %x", v, b+101)
	}
	if later := c.Next(now.Add(time.Second)); later != uint64(now.Add(time.Second).UnixMilli())<<16 {
		t.Fatalf("Next a second later = %x", later)
	}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				v := c.Next(now)
				mu.Lock()
				if seen[v] {
					t.Errorf("value %x given twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// FormatID is fixed width, so string order is numeric order; ParseID
// reads it back, with or without a node's tag.
func TestFormatID(t *testing.T) {
	vals := []uint64{0, 1, 0xf, 0x10, 0xffff, 1 << 40, 1<<64 - 1}
	for i, v := range vals {
		id := FormatID(v)
		if len(id) != 16 {
			t.Fatalf("FormatID(%x) = %q", v, id)
		}
		if i > 0 && id <= FormatID(vals[i-1]) {
			t.Fatalf("FormatID(%x) = %q sorts before %q", v, id, FormatID(vals[i-1]))
		}
		for _, s := range []string{id, id + "-n1"} {
			if got, ok := ParseID(s); !ok || got != v {
				t.Fatalf("ParseID(%q) = %x, %v", s, got, ok)
			}
		}
	}
	for _, bad := range []string{"", "123", "0123456789abcdefx", "0123456789abcdeg"} {
		if _, ok := ParseID(bad); ok {
			t.Fatalf("ParseID(%q) ok", bad)
		}
	}
}

// A node's tag is its name when that fits an id, else a hash that no name
// can be; either keeps an id within 32 characters of [A-Za-z0-9_-].
func TestNodeTag(t *testing.T) {
	for _, tt := range []struct{ node, want string }{
		{"n1", "n1"},
		{"node_2", "node_2"},
		{"fifteen_chars_x", "fifteen_chars_x"},
	} {
		if got := NodeTag(tt.node); got != tt.want {
			t.Errorf("NodeTag(%q) = %q; want %q", tt.node, got, tt.want)
		}
	}
	long, dotted := NodeTag("sixteen_chars_xx"), NodeTag("web-1.example.com")
	for _, tag := range []string{long, dotted, NodeTag("ünï")} {
		id := FormatID(1<<64-1) + "-" + tag
		if !strings.HasPrefix(tag, "-") || len(id) > 32 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("tag %q makes id %q", tag, id)
		}
	}
	if long == dotted {
		t.Errorf("two names, one tag %q", long)
	}
}
