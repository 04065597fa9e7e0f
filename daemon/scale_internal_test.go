package daemon

import (
	"strings"
	"testing"

	"chatd"
)

// The hub's indexes for presence at scale: a room's users (not sessions)
// and the sessions watching each user, kept through logins, joins, leaves,
// replaced watch lists and logouts.
func TestHubScaleIndexes(t *testing.T) {
	h := newHub()
	a1, a2 := &session{user: "alice", sid: "1"}, &session{user: "Alice", sid: "2"}
	bob := &session{user: "bob", sid: "3", watching: watchKeys([]string{"Alice"})}
	carol := &session{user: "carol", sid: "4"}
	for _, s := range []*session{a1, a2, bob, carol} {
		if _, err := h.add(s, []string{chatd.Lobby}, loginMulti, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func(room string, want int) {
		t.Helper()
		if got := h.roomUserCount(room); got != want {
			t.Errorf("%s has %d users, want %d", room, got, want)
		}
	}
	count(chatd.Lobby, 3)
	h.join(a1, "den", nil)
	h.join(a2, "den", nil)
	h.join(carol, "den", nil)
	count("den", 2)
	h.part(a1, "den")
	count("den", 2) // a2 is still there
	h.remove(a2, nil)
	count("den", 1)
	count(chatd.Lobby, 3) // a1 still is

	heard := func(want ...*session) {
		t.Helper()
		got := h.audience("alice", []string{"den"})
		if len(got) != len(want) {
			t.Fatalf("audience of alice = %v, want %v", names(got), names(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("audience of alice = %v, want %v", names(got), names(want))
			}
		}
	}
	heard(bob, carol)
	h.setWatching("carol", []string{"alice", "bob"})
	heard(bob, carol) // once each, watcher and member
	h.setWatching("bob", nil)
	heard(carol)
	h.remove(carol, nil)
	heard()
	if len(h.watchers) != 0 {
		t.Errorf("watchers left after everyone watching logged out: %v", h.watchers)
	}
	h.remove(a1, nil)
	h.remove(bob, nil)
	if len(h.roomUsers) != 0 {
		t.Errorf("room counts left after everyone logged out: %v", h.roomUsers)
	}
}

// The welcome's text line about who is online: everyone at or below
// presence.everyone_limit, the count and the user's peers above it.
func TestWelcomeOnlineText(t *testing.T) {
	for _, tc := range []struct {
		name   string
		online []string
		users  int
		want   string
	}{
		{"Everyone", []string{"alice", "bob"}, 0, "\nOnline now: alice, bob.\n"},
		{"AboveTheLimit", []string{"alice", "eve"}, 15000, "\nOnline now: 15000 users; in your rooms or watched: alice, eve.\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := welcomeEvent("eve", false, "", nil, tc.online, tc.users, 0, nil, 0)
			if !strings.Contains(ev.text, tc.want) {
				t.Errorf("text %q lacks %q", ev.text, tc.want)
			}
			if _, has := ev.get("online_count").(int); has != (tc.users > 0) {
				t.Errorf("online_count present: %v, want %v", has, tc.users > 0)
			}
		})
	}
}
