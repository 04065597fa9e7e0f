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
	if _, err := h.add(old, false, nil); err != nil {
		t.Fatal(err)
	}
	fresh := &session{user: "alice"}
	if prev, err := h.add(fresh, true, nil); err != nil || prev != old {
		t.Fatalf("replace: %v %v", prev, err)
	}
	if _, _, _, ok := h.move(old, "den", nil); ok {
		t.Fatal("moved a replaced session")
	}
	if m := h.members("den"); len(m) != 0 {
		t.Fatalf("den has %d members", len(m))
	}
	if m := h.members(chatd.Lobby); len(m) != 1 || m[0] != fresh {
		t.Fatalf("lobby members %v", m)
	}
	h.remove(fresh, nil)
	if _, _, _, ok := h.move(fresh, "den", nil); ok || len(h.members("den")) != 0 {
		t.Fatal("moved a session that logged out")
	}
}
