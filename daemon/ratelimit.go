package daemon

import "time"

// bucket is a token bucket: burst lines at once, then rate per second. Its
// clock is the server's, so tests can move time.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// setRate makes the bucket follow rate and burst from now on (a reload);
// tokens above the new burst are dropped.
func (b *bucket) setRate(rate float64, burst int) {
	b.rate, b.burst = rate, float64(burst)
	b.tokens = min(b.tokens, b.burst)
}

// take spends n tokens, going into debt if need be, and returns the
// tokens left (negative: the debt).
func (b *bucket) take(n float64, now time.Time) float64 {
	b.refill(now)
	b.tokens -= n
	return b.tokens
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens += dt * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
}

// allow takes one token if there is one.
func (b *bucket) allow(now time.Time) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens += dt * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
