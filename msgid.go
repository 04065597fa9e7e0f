package chatd

import (
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"
)

// Message ids (PROTOCOL.md section 9.1). Every message and notice gets one
// when the server accepts it: an opaque string to clients, made here of a
// hybrid logical clock value written as FormatID, fixed width, so that
// comparing two ids as strings compares their clock values. In a cluster a
// node adds its tag (NodeTag) after the value, so that nodes never give
// out the same id.

// IDClock hands out increasing 64-bit values: the wall clock in
// milliseconds shifted left by 16 bits, or one more than the last value
// when that is greater (many ids in one millisecond, or a clock that went
// back). The zero IDClock is ready; it is safe for concurrent use, without
// a lock.
type IDClock struct {
	last atomic.Uint64
}

// Next returns a value greater than every value Next returned or Observe
// saw before.
func (c *IDClock) Next(now time.Time) uint64 {
	wall := uint64(max(now.UnixMilli(), 0)) << 16
	for {
		last := c.last.Load()
		v := max(last+1, wall)
		if c.last.CompareAndSwap(last, v) {
			return v
		}
	}
}

// Observe makes every later Next greater than v.
func (c *IDClock) Observe(v uint64) {
	for {
		last := c.last.Load()
		if v <= last || c.last.CompareAndSwap(last, v) {
			return
		}
	}
}

// FormatID writes a clock value as 16 lowercase hex digits.
func FormatID(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// ParseID returns the clock value at the head of a message id made by
// FormatID (a node's tag, or anything else after a "-" or "_", is
// ignored); ok is false for anything else.
func ParseID(id string) (v uint64, ok bool) {
	if len(id) < 16 || (len(id) > 16 && id[16] != '-' && id[16] != '_') {
		return 0, false
	}
	v, err := strconv.ParseUint(id[:16], 16, 64)
	return v, err == nil
}

// NodeTag is what a node adds to its ids in a cluster, after a "-": the
// node's name when it is short and made of [A-Za-z0-9_], or else "-" and
// a hash of it (a name never holds "-", so the two forms never meet).
func NodeTag(node string) string {
	ok := len(node) > 0 && len(node) <= 15
	for _, r := range node {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			ok = false
			break
		}
	}
	if ok {
		return node
	}
	// FNV-1a, 32 bits: a tag, not a secret.
	h := fnv.New32a()
	h.Write([]byte(node))
	return "-" + strconv.FormatUint(uint64(h.Sum32()), 36)
}
