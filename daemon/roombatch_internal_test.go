package daemon

import (
	"testing"
	"time"
)

// hold decides from the room's line rate, its size and the budget whether
// a line goes out at once, waits for a pass, or joins the one scheduled.
func TestRoomBatchHold(t *testing.T) {
	ms := int64(time.Millisecond)
	t.Run("a quiet room writes at once", func(t *testing.T) {
		var b roomBatch
		for i := range int64(200) {
			// 20 members, a line every 5 ms: 4,000 writes a second.
			if w := b.hold(i*5*ms, 20, 40000); w != 0 {
				t.Fatalf("line %d held %v", i, w)
			}
		}
	})
	t.Run("no budget writes at once", func(t *testing.T) {
		var b roomBatch
		for i := range int64(200) {
			if w := b.hold(i*ms, 1000, 0); w != 0 {
				t.Fatalf("line %d held %v with busy_writes 0", i, w)
			}
		}
	})
	t.Run("a busy room waits for its pass", func(t *testing.T) {
		var b roomBatch
		now := int64(1)
		// 1,000 members and a line every 5 ms: 200,000 writes a second
		// against 40,000. The first lines go out at once while the
		// average gap still remembers the quiet before.
		var first time.Duration
		n := 0
		for ; first == 0 && n < 100; n++ {
			now += 5 * ms
			first = b.hold(now, 1000, 40000)
		}
		if first <= 0 || n < 2 {
			t.Fatalf("after %d lines: hold %v, want a wait", n, first)
		}
		// A pass is 1000/40000 s = 25 ms after the last line written.
		if first > 25*time.Millisecond {
			t.Fatalf("wait %v, more than 25 ms", first)
		}
		b.due = true
		for range 3 {
			now += 5 * ms
			if w := b.hold(now, 1000, 40000); w >= 0 {
				t.Fatalf("a line with a pass scheduled: %v, want to join it", w)
			}
		}
		// The pass runs; the next line waits a whole interval.
		b.due, b.lastPass = false, now
		now += 5 * ms
		if w := b.hold(now, 1000, 40000); w != 20*time.Millisecond {
			t.Fatalf("after a pass: wait %v, want 20 ms", w)
		}
		// However big the room, a pass is at most maxRoomHold away.
		var big roomBatch
		big.gap, big.last, big.lastPass = ms, now, now
		if w := big.hold(now+ms, 1_000_000, 1); w != maxRoomHold-time.Millisecond {
			t.Fatalf("huge room: wait %v, want %v", w, maxRoomHold-time.Millisecond)
		}
	})
	t.Run("a pause ends the passes", func(t *testing.T) {
		var b roomBatch
		now := int64(1)
		for range 100 {
			now += ms
			b.hold(now, 1000, 40000)
		}
		now += int64(10 * time.Second)
		if w := b.hold(now, 1000, 40000); w != 0 {
			t.Fatalf("the first line after 10 s of quiet waited %v", w)
		}
	})
}

// take hands a reader's list to the pass, joining the one already there:
// a session left out would stay scheduled and never be written.
func TestRoomBatchTake(t *testing.T) {
	s1, s2, s3 := &session{}, &session{}, &session{}
	var b roomBatch
	var r1, r2, r3 flusher
	r1.add(s1)
	b.take(&r1)
	b.take(&r2) // nothing queued
	r3.add(s2)
	r3.add(s3)
	b.take(&r3)
	if r1.pending() || r3.pending() {
		t.Fatal("a reader kept the list it handed over")
	}
	if got := *b.out.list; len(got) != 3 || got[0] != s1 || got[1] != s2 || got[2] != s3 {
		t.Fatalf("the pass would write %v, want s1 s2 s3", got)
	}
}
