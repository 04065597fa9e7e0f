// Package ratelimit is the token bucket that every rate limit of chatd
// uses: a session's lines and bytes, room password guesses, and the log of
// connection events.
package ratelimit

import "time"

// Bucket is a token bucket: burst tokens at once, then rate per second. It
// takes its clock as an argument, so tests can move time. It is not safe
// for concurrent use: each has one owner (or the owner's lock).
type Bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// New returns a full bucket.
func New(rate, burst float64, now time.Time) *Bucket {
	return &Bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// SetRate makes the bucket follow rate and burst from now on (a reload);
// tokens above the new burst are dropped.
func (b *Bucket) SetRate(rate, burst float64) {
	b.rate, b.burst = rate, burst
	b.tokens = min(b.tokens, b.burst)
}

// Take spends n tokens, going into debt if need be, and returns the
// tokens left (negative: the debt).
func (b *Bucket) Take(n float64, now time.Time) float64 {
	b.refill(now)
	b.tokens -= n
	return b.tokens
}

// Allow takes one token if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// refill adds what the time since the last use earned, up to the burst. A
// clock that steps back earns nothing.
func (b *Bucket) refill(now time.Time) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.tokens+dt*b.rate, b.burst)
	}
	b.last = now
}
