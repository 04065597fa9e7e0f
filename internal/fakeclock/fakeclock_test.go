package fakeclock

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	real := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name, spec string
		at         time.Time // what the clock reads when made
		later      time.Time // what it reads ten real seconds later
	}{
		{"OffsetAndRate", "+1y x15", real.Add(365 * day), real.Add(365*day + 150*time.Second)},
		{"Days", "+30d", real.Add(30 * day), real.Add(30*day + 10*time.Second)},
		{"Behind", "-2h", real.Add(-2 * time.Hour), real.Add(-2*time.Hour + 10*time.Second)},
		{"Seconds", "+90", real.Add(90 * time.Second), real.Add(100 * time.Second)},
		{"Fraction", "+1.5m", real.Add(90 * time.Second), real.Add(100 * time.Second)},
		{"RateAlone", "x30", real, real.Add(300 * time.Second)},
		{"SlowRate", "+0 x0.5", real, real.Add(5 * time.Second)},
		{"Start", "@2025-01-01 00:00:00", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC)},
		{"StartAndRate", "@2025-01-01 00:00:00 x2", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 20, 0, time.UTC)},
		{"Frozen", "2025-01-01 00:00:00", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"Spaces", "  +1d  ", real.Add(day), real.Add(day + 10*time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseAt(tc.spec, real)
			if err != nil {
				t.Fatalf("parse %q: %v", tc.spec, err)
			}
			if got := c.since(real); !got.Equal(tc.at) {
				t.Errorf("%q reads %v when made, want %v", tc.spec, got, tc.at)
			}
			if got := c.since(real.Add(10 * time.Second)); !got.Equal(tc.later) {
				t.Errorf("%q reads %v ten seconds later, want %v", tc.spec, got, tc.later)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{
		"", "   ", "+", "+y", "+1w", "1y", "x", "xfast", "x-2", "+1y x", "+1y xNaN",
		"@", "@2025-13-01 00:00:00", "@yesterday", "+1e300y", "tomorrow",
	} {
		if c, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", spec, c)
		}
	}
}

// TestNowRuns checks the real clock drives Now: a clock twice as fast
// moves forward, and its times carry no monotonic reading.
func TestNowRuns(t *testing.T) {
	c, err := Parse("+1y x2")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Now()
	if a.Before(time.Now().Add(364 * 24 * time.Hour)) {
		t.Fatalf("Now %v is not a year ahead", a)
	}
	time.Sleep(2 * time.Millisecond)
	b := c.Now()
	if !b.After(a) {
		t.Fatalf("the clock did not move: %v then %v", a, b)
	}
	if b != b.Round(0) {
		t.Fatalf("Now %v carries a monotonic reading", b)
	}
}
