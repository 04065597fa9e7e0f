package daemon

import (
	"math"
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
	mu sync.RWMutex
	// users are each user's sessions, in the order they logged in (one
	// but under duplicate_login = "multi"); a list as in rooms.
	users map[string][]*session // chatd.Key(name) -> sessions
	rooms map[string][]*session // chatd.Key(room) -> every member session; see appendMember
	all   []*session            // every logged-in session; see appendMember
	// names are the users of all, sorted by key, for the welcome: kept in
	// order as users come and go, so a login does not sort everyone.
	names []keyedName
	// roomUsers counts this node's users (not sessions) in each room of
	// rooms, by chatd.Key(room): a room is large (PROTOCOL.md 13) by it.
	roomUsers map[string]int
	// watchers are the sessions watching each user (session.watching),
	// by chatd.Key(watched user); a list as in rooms.
	watchers map[string][]*session
	gen      uint64 // bumped by every change of who is where
	// lastRow is the online-table row id (session.onlineRow) the latest
	// login got; it starts at the hub's creation time in microseconds, so
	// that the rows of a process that takes over from this one (an
	// upgrade) never reuse this one's ids.
	lastRow int64
	// moved lists, while syncOnline writes the online table (tracking),
	// the rows that changed since it last took them (onlineChanges):
	// logins, logouts and room changes. movedAll says there were too
	// many to list, or the table must be written whole.
	moved    []movedRow
	movedAll bool
	tracking bool
	// closes counts room closings, striped by room key: a join reads its
	// stripe before it looks the room up and moves in only if no close of
	// that stripe happened since, so it can never land in a room that was
	// closed meanwhile.
	closes [64]uint64
}

// movedRow is a change to the online table: the row of session s whose
// id was row then.
type movedRow struct {
	s   *session
	row int64
}

// changedLocked notes a change of who is where: of the sessions ss, for
// the online table when it is tracked. The caller holds mu.
func (h *hub) changedLocked(ss ...*session) {
	h.gen++
	if !h.tracking || h.movedAll {
		return
	}
	if len(h.moved)+len(ss) > max(1024, len(h.all)) {
		// Cheaper to write the table whole than to sort this out.
		h.moved, h.movedAll = nil, true
		return
	}
	for _, s := range ss {
		h.moved = append(h.moved, movedRow{s, s.onlineRow})
	}
}

// onlineChanges returns what the online table needs to match the hub
// since the last call: the ids of rows to delete (gone) and rows to
// write in place of those of their ids (put). With active at or above
// zero it also rewrites the rows of the sessions active since their login
// and at or after active (activeAfterLogin), for their idle times. all means put is
// everyone and replaces the whole table: on the first call, when full is
// set (the caller's last write failed) or when too much moved to list.
// The first call starts the tracking.
func (h *hub) onlineChanges(full bool, active int64) (gone []int64, put []chatd.OnlineSession, all bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if full || h.movedAll || !h.tracking {
		h.tracking, h.moved, h.movedAll = true, nil, false
		put = make([]chatd.OnlineSession, len(h.all))
		for i, s := range h.all {
			put[i] = onlineRowOf(s)
		}
		return nil, put, true
	}
	var seen map[*session]bool
	if len(h.moved) > 0 {
		seen = make(map[*session]bool, len(h.moved))
	}
	for _, m := range h.moved {
		gone = append(gone, m.row)
		if !seen[m.s] && h.onlineLocked(m.s) {
			seen[m.s] = true
			put = append(put, onlineRowOf(m.s))
		}
	}
	h.moved = h.moved[:0:0]
	if active >= 0 {
		for _, s := range h.all {
			if activeAfterLogin(s, active) && !seen[s] {
				put = append(put, onlineRowOf(s))
			}
		}
	}
	return gone, put, false
}

// activeAfterLogin reports whether s was active at or after active
// (server clock, nanoseconds) other than by logging in: the login wrote
// its own times (the online row, users.last_active).
func activeAfterLogin(s *session, active int64) bool {
	a := s.lastActive.Load()
	return a >= active && a != s.loginAt.UnixNano()
}

// onlineRowOf is the online-table row of s; hub.mu is held.
func onlineRowOf(s *session) chatd.OnlineSession {
	return chatd.OnlineSession{
		ID: s.onlineRow, User: s.user, Room: s.room, Addr: s.addr, Listener: s.info.Listener,
		Since: s.loginAt, LastActive: time.Unix(0, s.lastActive.Load()),
	}
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
	return &hub{users: map[string][]*session{}, rooms: map[string][]*session{},
		roomUsers: map[string]int{}, watchers: map[string][]*session{}, lastRow: time.Now().UnixMicro()}
}

// The duplicate-login policies of hub.add (accounts.duplicate_login).
const (
	loginReject  = "reject"  // a second login fails with already_online
	loginReplace = "replace" // a second login ends the first
	loginMulti   = "multi"   // every login is one more session, up to a limit
)

// added is what onAdd learns of the login it runs for: how many users
// are online (s's own counted), every other session online, and whether
// s is its user's first session (others see a login only then) and the
// user's sessions that were online before it (told of the new one). The
// names online cost O(online) to copy, so onAdd asks for them (names)
// only when its welcome lists everyone.
type added struct {
	h      *hub
	users  int
	others []*session
	first  bool
	mine   []*session
}

// names are the users online (s's own included), sorted by key; only
// while onAdd runs, under the hub's lock.
func (a added) names() []string {
	names := make([]string, len(a.h.names))
	for i, n := range a.h.names {
		names[i] = n.name
	}
	return names
}

// peers are the users online that s hears of above
// presence.everyone_limit (PROTOCOL.md 13), s's own user included: those
// s watches and the members of rooms (s's small rooms), each once, sorted
// by key. Their cost is O(watched + those rooms' members), whoever else is
// online; only while onAdd runs.
func (a added) peers(s *session, rooms []string) []string {
	h := a.h
	seen := map[string]bool{}
	var out []keyedName
	add := func(k, name string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, keyedName{k, name})
		}
	}
	add(chatd.Key(s.user), s.user)
	for _, k := range s.watching {
		if m := h.users[k]; len(m) > 0 {
			add(k, m[0].user)
		}
	}
	for _, r := range rooms {
		for _, o := range h.rooms[chatd.Key(r)] {
			add(chatd.Key(o.user), o.user)
		}
	}
	slices.SortFunc(out, func(a, b keyedName) int { return strings.Compare(a.key, b.key) })
	names := make([]string, len(out))
	for i, n := range out {
		names[i] = n.name
	}
	return names
}

// add makes s a session of its user, a member of rooms (the user's rooms,
// joined first first; the last is current). policy is the duplicate-login
// policy: with loginReplace it takes over from the user's existing sessions
// and returns them (the caller ends them); with loginReject an existing
// session makes it fail with already_online; with loginMulti s joins the
// user's sessions unless there are max of them already
// (too_many_sessions). onAdd runs under the hub's lock once s is in: what
// it queues to s comes before anything anyone else can send s, and what it
// queues to the others reaches exactly those who were online before s
// (everyone after sees s in their welcome instead).
func (h *hub) add(s *session, rooms []string, policy string, max int, onAdd func(a added)) (old []*session, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := chatd.Key(s.user)
	mine := h.users[k]
	if len(mine) > 0 {
		switch policy {
		case loginReplace:
			old = mine
			for _, prev := range old {
				h.removeLocked(prev)
			}
			mine = nil
		case loginMulti:
			if len(mine) >= max {
				return nil, chatd.Errorf(chatd.ETooManySessions, "%s has %d sessions already (accounts.max_sessions)", s.user, len(mine))
			}
		default:
			return nil, chatd.Errorf(chatd.EAlreadyOnline, "%s is already logged in elsewhere", mine[0].user)
		}
	}
	first := len(mine) == 0
	h.users[k] = appendMember(mine, s)
	h.lastRow++
	s.onlineRow = h.lastRow
	h.changedLocked(s)
	h.all = appendMember(h.all, s)
	if first {
		i, _ := slices.BinarySearchFunc(h.names, k, compareKey)
		h.names = slices.Insert(h.names, i, keyedName{k, s.user})
	}
	s.rooms = slices.Clone(rooms)
	s.room = ""
	for _, r := range rooms {
		rk := chatd.Key(r)
		if !h.userInRoomLocked(k, r, s) {
			h.roomUsers[rk]++
		}
		h.rooms[rk] = appendMember(h.rooms[rk], s)
		s.room = r
	}
	h.watchLocked(s)
	if onAdd != nil {
		onAdd(added{h: h, users: len(h.names), others: snapshotOf(h.all), first: first, mine: snapshotOf(mine)})
	}
	return old, nil
}

// remove takes s offline if it is still one of its user's sessions. It
// returns the current room of s and whether it was online. onRemove, if s
// was online, runs under the hub's lock with the sessions still online and
// whether s was its user's last session (others see a logout only then),
// so a departure is announced to exactly those who could have seen s.
func (h *hub) remove(s *session, onRemove func(room string, others []*session, last bool)) (room string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.onlineLocked(s) {
		return "", false
	}
	room = s.room
	h.removeLocked(s)
	if onRemove != nil {
		onRemove(room, snapshotOf(h.all), len(h.users[chatd.Key(s.user)]) == 0)
	}
	return room, true
}

// onlineLocked reports whether s is one of its user's sessions; the caller
// holds mu.
func (h *hub) onlineLocked(s *session) bool {
	return slices.Contains(h.users[chatd.Key(s.user)], s)
}

func (h *hub) removeLocked(s *session) {
	h.changedLocked(s)
	k := chatd.Key(s.user)
	if mine := removeCopy(h.users[k], s); len(mine) > 0 {
		h.users[k] = mine
	} else {
		delete(h.users, k)
		if i, ok := slices.BinarySearchFunc(h.names, k, compareKey); ok {
			h.names = slices.Delete(h.names, i, i+1)
		}
	}
	h.all = removeCopy(h.all, s)
	for _, r := range s.rooms {
		h.dropMemberLocked(r, s)
	}
	h.unwatchLocked(s)
}

// dropMemberLocked takes s off room's member list.
func (h *hub) dropMemberLocked(room string, s *session) {
	rk := chatd.Key(room)
	if m := removeCopy(h.rooms[rk], s); len(m) > 0 {
		h.rooms[rk] = m
	} else {
		delete(h.rooms, rk)
	}
	if !h.userInRoomLocked(chatd.Key(s.user), room, s) {
		if h.roomUsers[rk]--; h.roomUsers[rk] <= 0 {
			delete(h.roomUsers, rk)
		}
	}
}

// userInRoomLocked reports whether a session of the user whose key is k,
// other than except, is a member of room.
func (h *hub) userInRoomLocked(k, room string, except *session) bool {
	for _, o := range h.users[k] {
		if o != except && memberIndex(o, room) >= 0 {
			return true
		}
	}
	return false
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
	if !h.onlineLocked(s) {
		return nil, nil, false, false
	}
	rk := chatd.Key(room)
	if i := memberIndex(s, room); i >= 0 {
		h.changedLocked(s)
		s.room = s.rooms[i]
		return snapshotOf(h.rooms[rk]), slices.Clone(s.rooms), true, true
	}
	if token != nil && h.closes[closeStripe(room)] != *token {
		return nil, nil, false, false // the room may have been closed since
	}
	h.changedLocked(s)
	if !h.userInRoomLocked(chatd.Key(s.user), room, s) {
		h.roomUsers[rk]++
	}
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
	if !h.onlineLocked(s) {
		return nil, "", nil, false
	}
	i := memberIndex(s, room)
	if i < 0 {
		return nil, "", nil, false
	}
	h.changedLocked(s)
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

// generation is the count of changes to who is where.
func (h *hub) generation() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.gen
}

// presences snapshots every user online on this node (node is its name),
// once each however many sessions they have (userPresence).
func (h *hub) presences(node string) []presence {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]presence, 0, len(h.names))
	for _, n := range h.names {
		out = append(out, userPresence(h.users[n.key], node))
	}
	return out
}

// find snapshots the user name on this node (userPresence); nil when they
// have no session here.
func (h *hub) find(name, node string) *presence {
	h.mu.RLock()
	defer h.mu.RUnlock()
	mine := h.users[chatd.Key(name)]
	if len(mine) == 0 {
		return nil
	}
	p := userPresence(mine, node)
	return &p
}

// userPresence is the one presence of a user with the sessions mine (in
// the order they logged in, at least one): the first login's session
// stands for the user (its address, room, since and SID), with the latest
// activity of any, the away message of the first that is away, the rooms
// of them all in Rooms and the count of sessions. The caller holds
// hub.mu.
func userPresence(mine []*session, node string) presence {
	p := presenceOf(mine[0], node)
	p.Sessions = len(mine)
	for _, o := range mine[1:] {
		if t := time.Unix(0, o.lastActive.Load()); t.After(p.LastActive) {
			p.LastActive = t
		}
		if p.Away == nil {
			p.Away = o.away.Load()
		}
		for _, r := range o.rooms {
			if !p.in(r) {
				p.Rooms = append(slices.Clip(p.Rooms), r)
			}
		}
	}
	return p
}

// activeSince lists the users online with a session active since its
// login at or after active (activeAfterLogin), with their latest activity.
func (h *hub) activeSince(active int64) []chatd.Seen {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []chatd.Seen
	for _, mine := range h.users {
		latest, ok := int64(math.MinInt64), false
		for _, s := range mine {
			latest = max(latest, s.lastActive.Load())
			ok = ok || activeAfterLogin(s, active)
		}
		if ok {
			out = append(out, chatd.Seen{Name: mine[0].user, LastActive: time.Unix(0, latest)})
		}
	}
	return out
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

// sessionsOf returns the online sessions of name: every one when sid is
// "", else the one whose id is sid (none when it is gone). Only the code
// that applies notes (effects.go) and the session itself act on what it
// returns; it is a snapshot.
func (h *hub) sessionsOf(name, sid string) []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	mine := h.users[chatd.Key(name)]
	if sid == "" {
		return snapshotOf(mine)
	}
	for _, s := range mine {
		if s.sid == sid {
			return []*session{s}
		}
	}
	return nil
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

// Member lists (hub.rooms, hub.all, each user's list in hub.users) are handed out as snapshots that their
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
