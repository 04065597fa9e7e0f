package daemon_test

import (
	"fmt"
	"strings"
	"testing"

	"chatd"
)

// A room over its rooms.busy_writes budget is written in passes: every
// line still reaches every member, once and in order, and the passes are
// counted. With the budget at 0 there are none.
func TestBusyRoomWrittenInPasses(t *testing.T) {
	for _, tc := range []struct {
		budget int
		passes bool
	}{{1, true}, {0, false}} {
		t.Run(fmt.Sprintf("busy_writes=%d", tc.budget), func(t *testing.T) {
			ts := startServer(t, func(c *chatd.Config) {
				c.Metrics.Listen = "127.0.0.1:0"
				c.Rooms.BusyWrites = tc.budget
			})
			maddr := ts.srv.MetricsAddr().String()
			ts.addUsers("alice", "bob", "carol")
			a := login(t, ts.addr, "alice", "password1")
			b := login(t, ts.addr, "bob", "password1")
			c := login(t, ts.addr, "carol", "password1")
			a.do("create den", "create")
			b.do("join den", "join")
			c.do("join den", "join")
			settleAll(a, b, c)

			// One write of 40 lines: the reader fans them out back to
			// back, so with a budget of 1 write a second all but the
			// first wait for a pass.
			var lines []string
			for i := range 40 {
				lines = append(lines, fmt.Sprintf("line %02d", i))
			}
			a.send(strings.Join(lines, "\n"))
			for _, cl := range []*client{a, b, c} {
				for _, want := range lines {
					m := cl.expect("message", "kind", "room", "room", "den", "from", "alice")
					if got := m.str("text"); got != want {
						t.Fatalf("%s got %q, want %q", cl.name, got, want)
					}
				}
			}
			settleAll(a, b, c)
			passes := scrape(t, maddr)["chatd_busy_room_passes_total"]
			if tc.passes && passes < 1 {
				t.Errorf("no pass counted with busy_writes = %d", tc.budget)
			}
			if !tc.passes && passes != 0 {
				t.Errorf("%v passes with busy_writes = 0", passes)
			}
		})
	}
}
