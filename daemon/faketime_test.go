package daemon_test

import (
	"regexp"
	"strconv"
	"strings"
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

// LIST's ELIST C and T filters: C<n a room made less than n minutes ago,
// C>n more than n minutes ago; T the same for the topic's time, which a
// room without a topic never passes. The minutes are the server's clock's.
func TestIRCListTimeFilters(t *testing.T) {
	ts := startIRC(t)
	ts.addUsers("alice", "carol")
	a := ircLogin(t, ts, "alice", "password1")
	a.expect("ELIST=CMNTU")
	c := ircLogin(t, ts, "carol", "password1")
	a.send("JOIN #chan1,#chan2", "TOPIC #chan1 :First channel")
	a.expect(" TOPIC #chan1 :First channel")
	ts.clock.advance(2 * time.Minute)
	a.send("JOIN #chan3", "TOPIC #chan2 :Second channel")
	a.expect(" TOPIC #chan2 :Second channel")
	ts.clock.advance(time.Minute)
	// Now: #chan1 made and topic set 3 minutes ago; #chan2 made 3 and
	// topic set 1 minute ago; #chan3 made 1 minute ago, no topic.
	list := func(arg string) string {
		t.Helper()
		c.send("LIST " + arg)
		var got []string
		for {
			line := c.expect()
			if strings.Contains(line, " 323 ") {
				return strings.Join(got, " ")
			}
			if f := strings.Fields(line); len(f) > 3 && f[1] == "322" && strings.HasPrefix(f[3], "#chan") {
				got = append(got, f[3])
			}
		}
	}
	for arg, want := range map[string]string{
		"C>2": "#chan1 #chan2", "C<2": "#chan3", "C<0": "", "C>0": "#chan1 #chan2 #chan3", "C<10": "#chan1 #chan2 #chan3",
		"T>2": "#chan1", "T<2": "#chan2", "T<0": "", "T>0": "#chan1 #chan2", "T<10": "#chan1 #chan2",
		"C>2,T<2": "#chan2", "*an1,C<2": "", "C<10,C>2": "#chan1 #chan2", "C<x": "#chan1 #chan2 #chan3",
	} {
		if got := list(arg); got != want {
			t.Errorf("LIST %s: %q, want %q", arg, got, want)
		}
	}
}

// IRC's 003 shows when the server started by the server's clock, and TIME
// reads that clock.
func TestIRCCreatedAndTimeByServerClock(t *testing.T) {
	cfg := testConfig(t)
	cfg.IRC.Listen = "127.0.0.1:0"
	clk := &clock{}
	clk.advance(400 * 24 * time.Hour)
	ts := startWith(t, cfg, clk)
	ts.addUsers("alice")
	year := strconv.Itoa(clk.now().UTC().Year())
	a := ircLogin(t, ts, "alice", "password1")
	if l := a.expect(" 003 alice "); !strings.Contains(l, " "+year+" ") {
		t.Errorf("003 %q, want the server's year %s", l, year)
	}
	a.send("TIME")
	if l := a.expect(" 391 alice "); !strings.Contains(l, " "+year+" ") {
		t.Errorf("391 %q, want the server's year %s", l, year)
	}
}
