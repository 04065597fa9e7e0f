package daemon

import "testing"

// Every command of the table is listed by help in exactly one group, so a
// new command cannot be left out of the listing (clients learn what a
// server can do from it).
func TestHelpListsEveryCommand(t *testing.T) {
	seen := map[string]int{}
	for _, g := range helpGroups {
		for _, name := range g.commands {
			if byName[name] == nil {
				t.Errorf("help group %q lists %q, which is no command", g.title, name)
			}
			seen[name]++
		}
	}
	for _, c := range commands {
		if n := seen[c.name]; n != 1 {
			t.Errorf("command %q is in %d help groups, want 1", c.name, n)
		}
	}
}
