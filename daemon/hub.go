package daemon

import (
	"slices"
	"strings"
	"sync"
	"time"

	"chatd"
)

// hub owns who is online and which rooms each online user is in (every
// member room; one of them current). It is the
// only place that knows; everything else asks it. Every field is guarded by
// mu (tier 3, DEVELOPING.md "Locks"), held only for map updates, snapshots
// and queueing.
type hub struct {
	mu    sync.RWMutex
	users map[string]*session   // chatd.Key(name) -> session
	rooms map[string][]*session // chatd.Key(room) -> every member session; see appendMember
	all   []*session            // every logged-in session; see appendMember
	// names are the users of all, sorted by key, for the welcome: kept in
	// order as users come and go, so a login does not sort everyone.
	names []keyedName
	gen   uint64 // bumped by every change of who is where
	// closes counts room closings, striped by room key: a join reads its
	// stripe before it looks the room up and moves in only if no close of
	// that stripe happened since, so it can never land in a room that was
	// closed meanwhile.
	closes [64]uint64
}

// closeStripe picks the closes counter of a room.
func closeStripe(room string) int {
	k := chatd.Key(room)
	h := uint32(2166136261)
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return int(h % 64)
}

// roomToken is what a later move into room must present: taken before the
// room is looked up in the database.
func (h *hub) roomToken(room string) uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closes[closeStripe(room)]
}

// closeRoom marks room closed (moves holding an older token fail) and
// returns its members at that moment; the caller tells them and moves them
// out. Call it after the room is deleted from the database.
func (h *hub) closeRoom(room string) []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closes[closeStripe(room)]++
	return snapshotOf(h.rooms[chatd.Key(room)])
}

func newHub() *hub {
	return &hub{users: map[string]*session{}, rooms: map[string][]*session{}}
}

// add makes s the online session of its user, a member of rooms (the
// user's rooms, joined first first; the last is current). With replace it
// takes over from an existing session and returns it (the caller ends it);
// without, an existing session makes it fail with already_online. onAdd
// runs under the hub's lock once s is in, with the names online and the
// other sessions: what it queues to s comes before anything anyone else can
// send s, and what it queues to the others reaches exactly those who were
// online before s (everyone after sees s in their welcome instead).
func (h *hub) add(s *session, rooms []string, replace bool, onAdd func(online []string, others []*session)) (old *session, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := chatd.Key(s.user)
	if prev, ok := h.users[k]; ok {
		if !replace {
			return nil, chatd.Errorf(chatd.EAlreadyOnline, "%s is already logged in elsewhere", prev.user)
		}
		old = prev
		h.removeLocked(prev)
	}
	h.users[k] = s
	h.gen++
	h.all = appendMember(h.all, s)
	i, _ := slices.BinarySearchFunc(h.names, k, compareKey)
	h.names = slices.Insert(h.names, i, keyedName{k, s.user})
	s.rooms = slices.Clone(rooms)
	s.room = ""
	for _, r := range rooms {
		rk := chatd.Key(r)
		h.rooms[rk] = appendMember(h.rooms[rk], s)
		s.room = r
	}
	if onAdd != nil {
		names := make([]string, len(h.names))
		for i, n := range h.names {
			names[i] = n.name
		}
		onAdd(names, snapshotOf(h.all))
	}
	return old, nil
}

// remove takes s offline if it is still the user's session. It returns the
// current room of s and whether it was online. onRemove, if s was online,
// runs under the hub's lock with the sessions still online, so a departure
// is announced to exactly those who could have seen s.
func (h *hub) remove(s *session, onRemove func(room string, others []*session)) (room string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users[chatd.Key(s.user)] != s {
		return "", false
	}
	room = s.room
	h.removeLocked(s)
	if onRemove != nil {
		onRemove(room, snapshotOf(h.all))
	}
	return room, true
}

func (h *hub) removeLocked(s *session) {
	h.gen++
	k := chatd.Key(s.user)
	delete(h.users, k)
	if i, ok := slices.BinarySearchFunc(h.names, k, compareKey); ok {
		h.names = slices.Delete(h.names, i, i+1)
	}
	h.all = removeCopy(h.all, s)
	for _, r := range s.rooms {
		h.dropMemberLocked(r, s)
	}
}

// dropMemberLocked takes s off room's member list.
func (h *hub) dropMemberLocked(room string, s *session) {
	rk := chatd.Key(room)
	if m := removeCopy(h.rooms[rk], s); len(m) > 0 {
		h.rooms[rk] = m
	} else {
		delete(h.rooms, rk)
	}
}

// memberIndex is where room is in s.rooms, or -1; hub.mu is held.
func memberIndex(s *session, room string) int {
	k := chatd.Key(room)
	return slices.IndexFunc(s.rooms, func(r string) bool { return chatd.Key(r) == k })
}

// join makes room the current room of s, adding it to the rooms of s unless
// s is a member already (already: then nothing else changes). It returns
// the room's members (a snapshot, taken after the join) and the rooms of s.
// ok is false when s is no longer online (it logged out or was replaced
// meanwhile) or, for a new membership, when token is stale (the room may
// have been closed): then nothing changes, so a departed session can never
// reappear in a room.
func (h *hub) join(s *session, room string, token *uint64) (members []*session, rooms []string, already, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users[chatd.Key(s.user)] != s {
		return nil, nil, false, false
	}
	rk := chatd.Key(room)
	if i := memberIndex(s, room); i >= 0 {
		h.gen++
		s.room = s.rooms[i]
		return snapshotOf(h.rooms[rk]), slices.Clone(s.rooms), true, true
	}
	if token != nil && h.closes[closeStripe(room)] != *token {
		return nil, nil, false, false // the room may have been closed since
	}
	h.gen++
	s.rooms = append(slices.Clip(s.rooms), room)
	s.room = room
	h.rooms[rk] = appendMember(h.rooms[rk], s)
	return snapshotOf(h.rooms[rk]), slices.Clone(s.rooms), false, true
}

// part ends the membership of s in room. The current room, if it was room,
// becomes the remaining room joined last ("" for none). It returns the
// room's remaining members (a snapshot), the current room and the rooms of
// s after the change; ok is false when s was not a member of room (or is
// no longer online).
func (h *hub) part(s *session, room string) (members []*session, current string, rooms []string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users[chatd.Key(s.user)] != s {
		return nil, "", nil, false
	}
	i := memberIndex(s, room)
	if i < 0 {
		return nil, "", nil, false
	}
	h.gen++
	s.rooms = slices.Delete(slices.Clone(s.rooms), i, i+1)
	h.dropMemberLocked(room, s)
	if chatd.Key(s.room) == chatd.Key(room) {
		s.room = ""
		if n := len(s.rooms); n > 0 {
			s.room = s.rooms[n-1]
		}
	}
	return snapshotOf(h.rooms[chatd.Key(room)]), s.room, slices.Clone(s.rooms), true
}

// roomOf returns the current room of s, "" for none.
func (h *hub) roomOf(s *session) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return s.room
}

// roomsOf returns the rooms s is a member of, joined first first.
func (h *hub) roomsOf(s *session) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(s.rooms)
}

// memberRoom returns the registered spelling of room when s is a member of
// it.
func (h *hub) memberRoom(s *session, room string) (string, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if i := memberIndex(s, room); i >= 0 {
		return s.rooms[i], true
	}
	return "", false
}

// members is a snapshot of the sessions in room; callers must not modify it.
func (h *hub) members(room string) []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return snapshotOf(h.rooms[chatd.Key(room)])
}

// sessions is a snapshot of every logged-in session.
func (h *hub) sessions() []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return snapshotOf(h.all)
}

// snapshot describes every online session, for `chatd who`, and returns
// the generation it belongs to: a snapshot with the same generation has the
// same users in the same rooms.
func (h *hub) snapshot() ([]chatd.OnlineSession, uint64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]chatd.OnlineSession, len(h.all))
	for i, s := range h.all {
		out[i] = chatd.OnlineSession{
			User: s.user, Room: s.room, Addr: s.addr, Listener: s.info.Listener,
			Since: s.loginAt, LastActive: time.Unix(0, s.lastActive.Load()),
		}
	}
	return out, h.gen
}

// generation is the count of changes to who is where.
func (h *hub) generation() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.gen
}

// presences snapshots every session of this node (node is its name).
func (h *hub) presences(node string) []presence {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]presence, len(h.all))
	for i, s := range h.all {
		out[i] = presenceOf(s, node)
	}
	return out
}

// find snapshots the session of name on this node; nil when it has none.
func (h *hub) find(name, node string) *presence {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.users[chatd.Key(name)]
	if s == nil {
		return nil
	}
	p := presenceOf(s, node)
	return &p
}

// count is how many sessions are online on this node.
func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.all)
}

// occupied reports whether anyone on this node is in room.
func (h *hub) occupied(room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.rooms[chatd.Key(room)]) > 0
}

// sessionOf returns the online session of name when its id is sid (any
// session of name when sid is ""), or nil. Only the code that applies
// notes (effects.go) and the session itself act on what it returns.
func (h *hub) sessionOf(name, sid string) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.users[chatd.Key(name)]
	if s == nil || sid != "" && s.sid != sid {
		return nil
	}
	return s
}

// fanout queues ev to every session in to except skip, and to none that
// filter rejects. It never blocks: a full queue ends that session only.
func fanout(to []*session, ev *event, skip *session, filter func(*session) bool) {
	fanoutVia(nil, to, ev, skip, filter)
}

// fanoutVia is fanout from a reader goroutine: the recipients that were
// idle are written by its flusher fl later, outside the caller's locks
// (session.sendVia). A nil fl starts writer goroutines at once.
func fanoutVia(fl *flusher, to []*session, ev *event, skip *session, filter func(*session) bool) {
	for _, s := range to {
		if s == skip || (filter != nil && !filter(s)) {
			continue
		}
		s.enqueue(ev, fl)
	}
}

// Member lists (hub.rooms, hub.all) are handed out as snapshots that their
// holders read without the hub's lock, so no element a snapshot can see is
// ever written again:
//   - a list only grows in place (appendMember): the new member goes into a
//     slot past the end of every snapshot taken of it, and append's
//     amortized growth makes a join O(1) instead of a copy of the room;
//   - it only shrinks by copying (removeCopy), into a new array, so a slot
//     once handed out is never reused;
//   - snapshots are clipped to their length (snapshotOf), so a holder that
//     appends to one gets a copy and cannot write into the list's spare
//     slots.

func compareKey(n keyedName, key string) int { return strings.Compare(n.key, key) }

// appendMember adds s to a member list; see above.
func appendMember(list []*session, s *session) []*session { return append(list, s) }

// snapshotOf is a member list as handed out: its capacity ends at its
// length.
func snapshotOf(list []*session) []*session { return list[:len(list):len(list)] }

func removeCopy(list []*session, s *session) []*session {
	out := make([]*session, 0, len(list))
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
