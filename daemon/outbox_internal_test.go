package daemon

import (
	"testing"
	"time"
)

// burstConn is a Conn whose first write in each round finds more lines
// queued meanwhile, as in a burst: it queues more lines to s before it
// returns (s.mu is not held during a write). It writes through, as a
// plain TCP connection does.
type burstConn struct {
	s     *session
	ev    *event
	more  int  // lines queued by the first write of a round
	fresh bool // the next write is a round's first
	lines int  // lines written
}

func (c *burstConn) Write(p []byte) (int, error) {
	if c.fresh {
		c.fresh = false
		for range c.more {
			c.s.enqueue(c.ev, nil)
		}
	}
	for _, b := range p {
		if b == '\n' {
			c.lines++
		}
	}
	return len(p), nil
}

func (c *burstConn) ReadLine() (string, error)        { select {} }
func (c *burstConn) SetReadDeadline(time.Time) error  { return nil }
func (c *burstConn) SetWriteDeadline(time.Time) error { return nil }
func (c *burstConn) Close() error                     { return nil }
func (c *burstConn) canTryWrite() bool                { return true }
func (c *burstConn) tryWrite(p []byte) (int, error)   { return c.Write(p) }

// TestBurstQueuesReuseArrays: in a burst a recipient's batches are bigger
// than a session keeps for its next queue; their arrays are reused
// (bigQueues) instead of each queue growing again from a small one, on
// the writer goroutine's path and on write-through's; and once the
// outbox is empty the session holds no array bigger than an idle one
// keeps.
func TestBurstQueuesReuseArrays(t *testing.T) {
	const n = 4 * spareCap
	ev := newEvent("message", "hi", f("kind", "room"), f("text", "hi"))
	s := &session{outMode: modeJSON}
	c := &burstConn{s: s, ev: ev, more: n}
	s.conn = c
	// One round: n lines queued, written by a writer goroutine (here
	// run in place) or through, while n more are queued.
	round := func(through bool) {
		c.fresh = true
		if !through {
			s.mu.Lock()
			s.writing = true
			s.mu.Unlock()
			for range n {
				s.enqueue(ev, nil) // queued only: the output is held
			}
			s.writeLoop()
			return
		}
		var fl flusher
		for range n {
			s.sendVia(&fl, ev)
		}
		fl.flush()
		// Write-through leaves what was queued during its write to a
		// writer goroutine.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			writing := s.writing
			s.mu.Unlock()
			if !writing {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the writer never finished")
			}
		}
	}
	for _, through := range []bool{false, true} {
		round(through) // fills bigQueues
		c.lines = 0
		// A queue grown from nothing to n lines takes about log2(n)
		// allocations, two such queues a round (24-26 in all, here);
		// with the arrays reused a round allocates a few small things
		// (2-4). Under the race detector sync.Pool drops arrays at
		// random, so the count is not held to the bound there.
		allocs := testing.AllocsPerRun(20, func() { round(through) })
		if c.lines != 21*2*n {
			t.Fatalf("through %v: %d lines written, want %d", through, c.lines, 21*2*n)
		}
		if allocs > 8 && !raceOn {
			t.Errorf("through %v: %.1f allocations per burst of %d lines; want the big queues' arrays reused", through, allocs, 2*n)
		}
		s.mu.Lock()
		if s.writing || len(s.queue) != 0 {
			t.Fatalf("through %v: the output left writing %v with %d lines queued", through, s.writing, len(s.queue))
		}
		if cap(s.queue) > spareCap || cap(s.spare) > spareCap {
			t.Errorf("through %v: with the outbox empty the session holds a queue of capacity %d and a spare of %d; want at most %d",
				through, cap(s.queue), cap(s.spare), spareCap)
		}
		s.mu.Unlock()
	}
}
