package daemon_test

import (
	"regexp"
	"testing"
	"time"
)

// An away line's time is the server's clock's, as every other line's: a
// clock a year ahead shows today's time of day, not last year's date.
func TestAwayStampedByServerClock(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	a := login(t, ts.addr, "alice", "password1")
	b := login(t, ts.addr, "bob", "password1")
	settleAll(a, b)
	ts.clock.advance(400 * 24 * time.Hour)
	a.do("set timestamps on", "set")
	l := a.textWith(func() { b.do("away lunch", "away"); b.settle() })
	if len(l) != 1 || !regexp.MustCompile(`^\d\d:\d\d \* bob is away: lunch$`).MatchString(l[0]) {
		t.Fatalf("the away line: %q, want it stamped with the server's time of day", l)
	}
}
