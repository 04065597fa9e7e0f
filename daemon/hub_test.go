package daemon

import (
	"fmt"
	"testing"

	"chatd"
)

// A session that has left the hub (logged out, or replaced by a new login)
// must not be put back into a room by a move that races with its exit.
func TestMoveOfDepartedSessionIsIgnored(t *testing.T) {
	h := newHub()
	old := &session{user: "alice"}
	if _, err := h.add(old, []string{chatd.Lobby}, loginReject, 1, nil); err != nil {
		t.Fatal(err)
	}
	fresh := &session{user: "alice"}
	if prev, err := h.add(fresh, []string{chatd.Lobby}, loginReplace, 1, nil); err != nil || len(prev) != 1 || prev[0] != old {
		t.Fatalf("replace: %v %v", prev, err)
	}
	if _, _, _, ok := h.join(old, "den", nil); ok {
		t.Fatal("moved a replaced session")
	}
	if m := h.members("den"); len(m) != 0 {
		t.Fatalf("den has %d members", len(m))
	}
	if m := h.members(chatd.Lobby); len(m) != 1 || m[0] != fresh {
		t.Fatalf("lobby members %v", m)
	}
	h.remove(fresh, nil)
	if _, _, _, ok := h.join(fresh, "den", nil); ok || len(h.members("den")) != 0 {
		t.Fatal("moved a session that logged out")
	}
}

// Member lists grow in place (a join is not a copy of the room), yet every
// snapshot handed out stays as it was: later joins and leaves do not show
// in it, and a holder that appends to its snapshot writes into a copy, not
// into the room.
func TestMemberSnapshotsStayPut(t *testing.T) {
	h := newHub()
	var all []*session
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		s := &session{user: name}
		all = append(all, s)
		if _, err := h.add(s, []string{chatd.Lobby}, loginReject, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	in := func(s *session) { h.join(s, "den", nil) }
	in(all[0])
	in(all[1])
	in(all[2]) // three members: the list has room for a fourth
	snap := h.members("den")
	mine := append(snap, all[5]) // a holder's own list built on the snapshot
	in(all[3])
	after, _, _, _ := h.join(all[4], "den", nil)
	if len(snap) != 3 || snap[0] != all[0] || snap[2] != all[2] {
		t.Errorf("snapshot changed: %v", names(snap))
	}
	if len(mine) != 4 || mine[3] != all[5] {
		t.Errorf("the holder's appended list changed: %v", names(mine))
	}
	if got := names(h.members("den")); len(got) != 5 || got[2] != "c" || got[4] != "e" {
		t.Errorf("den = %v, want a..e", got)
	}
	if got := names(after); len(got) != 5 {
		t.Errorf("members after the last join = %v", got)
	}
	// A leave copies: the snapshot taken before it keeps the leaver.
	before := h.members("den")
	h.part(all[2], "den")
	in(all[5])
	if got := names(before); len(got) != 5 || got[2] != "c" || got[4] != "e" {
		t.Errorf("snapshot before the leave changed: %v", got)
	}
	if got := names(h.members("den")); len(got) != 5 || got[2] != "d" || got[4] != "f" {
		t.Errorf("den = %v, want a b d e f", got)
	}
}

// Several sessions of one user (duplicate_login = "multi"): each is in the
// registry on its own, up to the limit; the user is listed once, and only
// the last one's removal takes the user offline.
func TestHubSeveralSessions(t *testing.T) {
	h := newHub()
	a1, a2, a3 := &session{user: "alice", sid: "1"}, &session{user: "Alice", sid: "2"}, &session{user: "alice", sid: "3"}
	var got []added
	add := func(s *session) error {
		_, err := h.add(s, []string{chatd.Lobby}, loginMulti, 2, func(a added) { got = append(got, a) })
		return err
	}
	if err := add(a1); err != nil {
		t.Fatal(err)
	}
	if err := add(a2); err != nil {
		t.Fatal(err)
	}
	if err := add(a3); chatd.ErrorCode(err) != chatd.ETooManySessions {
		t.Fatalf("third session: %v, want too_many_sessions", err)
	}
	if len(got) != 2 || !got[0].first || got[1].first || len(got[1].mine) != 1 || got[1].mine[0] != a1 {
		t.Fatalf("onAdd saw %+v", got)
	}
	if got[1].users != 1 || len(got[1].others) != 2 {
		t.Errorf("second login: users %d, others %d", got[1].users, len(got[1].others))
	}
	h.join(a2, "den", nil)
	if p := h.presences(""); len(p) != 1 || p[0].SID != "1" || p[0].Sessions != 2 || fmt.Sprint(p[0].Rooms) != "[lobby den]" {
		t.Fatalf("presences = %+v", p)
	}
	if s := h.sessionsOf("ALICE", ""); len(s) != 2 {
		t.Errorf("sessionsOf all = %d", len(s))
	}
	if s := h.sessionsOf("alice", "2"); len(s) != 1 || s[0] != a2 {
		t.Errorf("sessionsOf sid 2 = %v", s)
	}
	var lasts []bool
	h.remove(a1, func(_ string, _ []*session, last bool) { lasts = append(lasts, last) })
	if p := h.find("alice", ""); p == nil || p.SID != "2" || p.Room != "den" {
		t.Fatalf("after the first left: %+v", p)
	}
	h.remove(a2, func(_ string, _ []*session, last bool) { lasts = append(lasts, last) })
	if len(lasts) != 2 || lasts[0] || !lasts[1] {
		t.Errorf("last = %v, want false then true", lasts)
	}
	if h.find("alice", "") != nil || len(h.names) != 0 || h.count() != 0 {
		t.Error("alice still online")
	}
}

func names(list []*session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.user
	}
	return out
}
