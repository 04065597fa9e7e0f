package daemon

import (
	"testing"

	"chatd"
)

// A session that has left the hub (logged out, or replaced by a new login)
// must not be put back into a room by a move that races with its exit.
func TestMoveOfDepartedSessionIsIgnored(t *testing.T) {
	h := newHub()
	old := &session{user: "alice"}
	if _, err := h.add(old, []string{chatd.Lobby}, false, nil); err != nil {
		t.Fatal(err)
	}
	fresh := &session{user: "alice"}
	if prev, err := h.add(fresh, []string{chatd.Lobby}, true, nil); err != nil || prev != old {
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
		if _, err := h.add(s, []string{chatd.Lobby}, false, nil); err != nil {
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

func names(list []*session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.user
	}
	return out
}
