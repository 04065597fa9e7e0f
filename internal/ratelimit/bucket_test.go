package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b := New(1, 3, t0)
	for i := range 3 {
		if !b.Allow(t0) {
			t.Fatalf("burst line %d refused", i+1)
		}
	}
	if b.Allow(t0) {
		t.Fatal("4th line at once allowed")
	}
	if b.Allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("allowed after half a token")
	}
	if !b.Allow(t0.Add(1000 * time.Millisecond)) {
		t.Fatal("refused after a second's refill")
	}
	if b.Allow(t0.Add(1000 * time.Millisecond)) {
		t.Fatal("one token gave two lines")
	}
	// A long pause refills to the burst, not beyond.
	t1 := t0.Add(time.Hour)
	for i := range 3 {
		if !b.Allow(t1) {
			t.Fatalf("after a pause, burst line %d refused", i+1)
		}
	}
	if b.Allow(t1) {
		t.Fatal("refill went past the burst")
	}
	// A clock that steps back gives nothing.
	if b.Allow(t1.Add(-time.Minute)) {
		t.Fatal("a clock step back refilled")
	}
	// Steady rate: one line per second is always allowed.
	b = New(1, 1, t0)
	for i := range 100 {
		if !b.Allow(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("steady line %d refused", i)
		}
	}
	// Fractional rates.
	b = New(0.5, 1, t0)
	b.Allow(t0)
	if b.Allow(t0.Add(time.Second)) {
		t.Fatal("rate 0.5 allowed a line after 1s")
	}
	if !b.Allow(t0.Add(2 * time.Second)) {
		t.Fatal("rate 0.5 refused a line after 2s")
	}
}
