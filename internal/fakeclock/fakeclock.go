// Package fakeclock reads libfaketime's FAKETIME forms into a clock that
// chatd's server runs on instead of the wall clock. It is a test knob
// (CHATD_FAKETIME, docs/operations.md): libfaketime cannot move the clock
// of a static Go binary, whose time comes from the vDSO, so chatd moves
// its own.
//
// The forms, as libfaketime writes them:
//
//	+1y x15              one year ahead, and 15 seconds pass per real second
//	-30d                 thirty days behind
//	+90                  ninety seconds ahead (s, m, h, d, y; fractions allowed)
//	@2025-01-01 00:00:00 starts at that UTC time and runs from there
//	2025-01-01 00:00:00  stays at that UTC time
//	x30                  thirty seconds pass per real second, from now
//
// The rate counts from the moment the clock is made, as libfaketime counts
// from the process start.
package fakeclock

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Clock is a faked clock: at the real instant start it reads at, and from
// there it moves rate times as fast as the real one (0: it stands still).
type Clock struct {
	start time.Time // real, with its monotonic reading
	at    time.Time // what the clock read at start, wall only
	rate  float64
}

// Parse reads spec (a FAKETIME form) into a clock started now.
func Parse(spec string) (*Clock, error) {
	return parseAt(spec, time.Now())
}

func parseAt(spec string, now time.Time) (*Clock, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return nil, fmt.Errorf("faketime: empty")
	}
	c := &Clock{start: now, at: now.Round(0), rate: 1}
	// The rate is the last word, "x" and a number.
	if i := strings.LastIndexByte(s, ' '); i >= 0 || s[0] == 'x' {
		word := s[i+1:]
		if word != "" && word[0] == 'x' {
			r, err := strconv.ParseFloat(word[1:], 64)
			if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
				return nil, fmt.Errorf("faketime %q: the rate %q is not x and a number of 0 or more", spec, word)
			}
			c.rate = r
			s = strings.TrimSpace(s[:i+1])
		}
	}
	switch {
	case s == "":
		// a rate alone
	case s[0] == '+' || s[0] == '-':
		d, err := offset(s)
		if err != nil {
			return nil, fmt.Errorf("faketime %q: %w", spec, err)
		}
		c.at = c.at.Add(d)
	case s[0] == '@':
		t, err := absolute(s[1:])
		if err != nil {
			return nil, fmt.Errorf("faketime %q: %w", spec, err)
		}
		c.at = t
	default:
		t, err := absolute(s)
		if err != nil {
			return nil, fmt.Errorf("faketime %q: %w", spec, err)
		}
		c.at, c.rate = t, 0
	}
	return c, nil
}

// units are libfaketime's offset suffixes; a year is 365 days.
var units = map[byte]time.Duration{
	's': time.Second,
	'm': time.Minute,
	'h': time.Hour,
	'd': 24 * time.Hour,
	'y': 365 * 24 * time.Hour,
}

// offset reads a signed number of seconds, or of the unit its last letter
// names.
func offset(s string) (time.Duration, error) {
	unit := time.Second
	num := s
	if u, ok := units[s[len(s)-1]]; ok {
		unit, num = u, s[:len(s)-1]
	}
	n, err := strconv.ParseFloat(num, 64)
	// About 290 years either way fit in a Duration.
	if err != nil || math.IsNaN(n) || math.Abs(n*float64(unit)) >= math.MaxInt64 {
		return 0, fmt.Errorf("the offset %q is not a sign, a number and one of s, m, h, d, y", s)
	}
	return time.Duration(n * float64(unit)), nil
}

// absolute reads "YYYY-MM-DD hh:mm:ss" as UTC.
func absolute(s string) (time.Time, error) {
	t, err := time.Parse(time.DateTime, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("the time %q is not YYYY-MM-DD hh:mm:ss", s)
	}
	return t, nil
}

// Now reads the clock. Its result carries no monotonic reading, so that
// differences between its times are the faked ones.
func (c *Clock) Now() time.Time {
	return c.at.Add(time.Duration(float64(time.Since(c.start)) * c.rate))
}

// since is Now for a given real instant (tests).
func (c *Clock) since(real time.Time) time.Time {
	return c.at.Add(time.Duration(float64(real.Sub(c.start)) * c.rate))
}

// String describes the clock for the start-up log.
func (c *Clock) String() string {
	return fmt.Sprintf("started at %s, %g seconds per real second", c.at.UTC().Format(time.RFC3339), c.rate)
}
