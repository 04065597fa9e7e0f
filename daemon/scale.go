// Presence at scale (PROTOCOL.md 13): above presence.everyone_limit users
// online, a login, logout, away or back goes only to the user's watchers
// and to the members of the user's small rooms; a room with more than
// rooms.presence_limit members online is large, and its members hear a
// count instead of each join and leave.
//
// The node where the change happens decides (scopePresence, scopeRoom)
// and writes the decision into the note, so every node of a cluster shows
// it to the same people; each node finds them in its registry through two
// indexes (hub.watchers, hub.rooms), never by a walk over everyone online.

package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"chatd"
)

// ---- the registry's indexes ----

// watchLocked lists s under each user it watches; hub.mu is held.
func (h *hub) watchLocked(s *session) {
	for _, k := range s.watching {
		h.watchers[k] = appendMember(h.watchers[k], s)
	}
}

// unwatchLocked takes s off the lists watchLocked put it on; hub.mu is
// held.
func (h *hub) unwatchLocked(s *session) {
	for _, k := range s.watching {
		if m := removeCopy(h.watchers[k], s); len(m) > 0 {
			h.watchers[k] = m
		} else {
			delete(h.watchers, k)
		}
	}
}

// setWatching makes names the users every session of user on this node
// watches (a watch or unwatch, on any node).
func (h *hub) setWatching(user string, names []string) {
	keys := watchKeys(names)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.users[chatd.Key(user)] {
		h.unwatchLocked(s)
		s.watching = keys
		h.watchLocked(s)
		s.setIRCWatched(names)
	}
}

// watchKeys are the keys of names, as session.watching holds them.
func watchKeys(names []string) []string {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = chatd.Key(n)
	}
	return keys
}

// audienceLocked is who hears of user above presence.everyone_limit: the
// sessions watching user and the members of rooms (the user's small
// rooms), each once. Its cost is theirs, whoever else is online. hub.mu
// is held.
func (h *hub) audienceLocked(user string, rooms []string) []*session {
	seen := map[*session]bool{}
	var out []*session
	add := func(list []*session) {
		for _, o := range list {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	add(h.watchers[chatd.Key(user)])
	for _, r := range rooms {
		add(h.rooms[chatd.Key(r)])
	}
	return out
}

// audience is audienceLocked for a caller that holds no lock.
func (h *hub) audience(user string, rooms []string) []*session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.audienceLocked(user, rooms)
}

// userCount is how many users (not sessions) are online on this node.
func (h *hub) userCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users)
}

// roomUserCount is how many users of this node are in room.
func (h *hub) roomUserCount(room string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.roomUsers[chatd.Key(room)]
}

// othersLocked counts the users of names (those online on other nodes,
// from a login's claim) who have no session here, each once; hub.mu is
// held.
func (h *hub) othersLocked(names []string) int {
	seen := map[string]bool{}
	for _, n := range names {
		if k := chatd.Key(n); len(h.users[k]) == 0 {
			seen[k] = true
		}
	}
	return len(seen)
}

// welcomePeers is the welcome's list of users online above
// presence.everyone_limit: peers (this node's, added.peers) and the users
// of watching (session.watching's keys) among elsewhere (online on other
// nodes), each once, sorted by key. Other nodes' members of the user's
// rooms are not known to a login; who and names list them.
func welcomePeers(peers, elsewhere, watching []string) []string {
	var more []string
	for _, n := range elsewhere {
		if slices.Contains(watching, chatd.Key(n)) {
			more = append(more, n)
		}
	}
	if len(more) == 0 {
		return peers
	}
	return sortedNames(union(peers, more))
}

// ---- the decisions ----

// census is the other nodes' share of who is online (community.elsewhere):
// their users who have no session on this node, and each room's users
// there, by chatd.Key(room).
type census struct {
	users int
	rooms map[string]int
}

// roomCount is how many users of the community are in room, this node's
// counted by local.
func (c census) roomCount(room string, local int) int {
	return local + c.rooms[chatd.Key(room)]
}

// scopePresence decides who hears the presence note n (a login, logout,
// away or back of n.User, whose rooms are n.Rooms): users is how many
// users are online in the community counting n.User, roomCount how many
// of a room's members are, counting n.User. Above
// presence.everyone_limit n is scoped: only the user's watchers and the
// members of the small rooms hear it. Every large room of the user gets
// its count in n.Counts, whose members hear that instead (roomSizes).
func (s *Server) scopePresence(n *note, users int, roomCount func(room string) int) {
	cfg := s.cfg()
	n.Scoped = users > cfg.Presence.EveryoneLimit
	n.Counts = nil
	for _, r := range n.Rooms {
		if c := roomCount(r); c > cfg.Rooms.PresenceLimit {
			if n.Counts == nil {
				n.Counts = map[string]int{}
			}
			n.Counts[r] = c
		}
	}
}

// smallRooms are the rooms of a presence note whose members hear it when
// it is scoped: those without a count.
func (n *note) smallRooms() []string {
	if len(n.Counts) == 0 {
		return n.Rooms
	}
	var out []string
	for _, r := range n.Rooms {
		if _, large := n.Counts[r]; !large {
			out = append(out, r)
		}
	}
	return out
}

// presenceAudience is who on this node hears the presence note n: every
// session, or, when n is scoped, the user's watchers and the members of
// the user's small rooms.
func (s *Server) presenceAudience(n *note) []*session {
	if !n.Scoped {
		return s.hub.sessions()
	}
	return s.hub.audience(n.User, n.smallRooms())
}

// scopeRoom decides how the join or leave n of n.Room is shown: count is
// how many of the room's members are online counting n.User. Above
// rooms.presence_limit the room is large: n.Counts carries the count and
// n.Owner the room's owner, who still sees the join or leave.
func (s *Server) scopeRoom(n *note, count int, owner string) {
	if count > s.cfg().Rooms.PresenceLimit {
		n.Counts = map[string]int{n.Room: count}
		n.Owner = owner
	}
}

// largeRoom reports whether a room with count members online (a join or
// leave among them) is large, and if so looks its owner up.
func (s *Server) largeRoom(room string, count int) (owner string, large bool) {
	if count <= s.cfg().Rooms.PresenceLimit {
		return "", false
	}
	r, err := s.store.RoomByName(context.Background(), room)
	if err != nil {
		s.log.Error("look up the owner of a large room", "room", room, "err", err)
		return "", true
	}
	return r.Owner, true
}

// seesEveryJoin reports whether o hears each join and leave of a large
// room owned by owner: the owner and server admins do. Both names are
// registered spellings (the store keeps the owner's so), so a plain
// comparison does: it runs for every member at every join.
func seesEveryJoin(o *session, owner string) bool {
	return o.admin.Load() || (owner != "" && o.user == owner)
}

// showCounts queues the count of each large room in n.Counts to its
// members here, no more often than roomSizes allows. The counts count
// n.User; after a logout or leave the room has one fewer.
func (s *Server) showCounts(n *note) {
	for r, c := range n.Counts {
		if n.Kind == noteLogout || n.Kind == noteLeave {
			c--
		}
		s.sizes.changed(s, r, c)
	}
}

// ---- the count of a large room ----

// roomCountEvery is how often at most the members of a large room hear
// its count.
const roomCountEvery = 10 * time.Second

// roomSizes sends the members of each large room its online count, at
// most every roomCountEvery: a change within that time of the last count
// sent is sent when it runs out, with the newest count then (one event
// for any number of changes).
type roomSizes struct {
	mu      sync.Mutex           // leaf (DEVELOPING.md "Locks"); guards the fields below
	rooms   map[string]*roomSize // by chatd.Key(room)
	stopped bool                 // Serve has ended: no timer is armed any more
}

type roomSize struct {
	name  string
	count int         // the newest count
	sent  time.Time   // when the last count went out
	timer *time.Timer // the pending count, nil for none
}

// changed records room's count and sends it now or when its turn comes.
func (z *roomSizes) changed(srv *Server, room string, count int) {
	z.mu.Lock()
	if z.stopped {
		z.mu.Unlock()
		return
	}
	if z.rooms == nil {
		z.rooms = map[string]*roomSize{}
	}
	k := chatd.Key(room)
	r := z.rooms[k]
	if r == nil {
		r = &roomSize{}
		z.rooms[k] = r
	}
	r.name, r.count = room, count
	if r.timer != nil {
		z.mu.Unlock()
		return // the pending count will carry this one
	}
	now := time.Now()
	if wait := roomCountEvery - now.Sub(r.sent); !r.sent.IsZero() && wait > 0 {
		r.timer = time.AfterFunc(wait, func() { z.due(srv, k) })
		z.mu.Unlock()
		return
	}
	r.sent = now
	z.mu.Unlock()
	srv.sendCount(room, count)
}

// due sends the pending count of the room whose key is k.
func (z *roomSizes) due(srv *Server, k string) {
	z.mu.Lock()
	r := z.rooms[k]
	if z.stopped || r == nil {
		z.mu.Unlock()
		return
	}
	r.timer, r.sent = nil, time.Now()
	room, count := r.name, r.count
	z.mu.Unlock()
	srv.sendCount(room, count)
}

// forget drops a closed room's state.
func (z *roomSizes) forget(room string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	k := chatd.Key(room)
	if r := z.rooms[k]; r != nil && r.timer != nil {
		r.timer.Stop()
	}
	delete(z.rooms, k)
}

// stop ends the timers for good (Serve's end).
func (z *roomSizes) stop() {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.stopped = true
	for _, r := range z.rooms {
		if r.timer != nil {
			r.timer.Stop()
		}
	}
	z.rooms = nil
}

// sendCount tells the members of room here how many of its members are
// online.
func (s *Server) sendCount(room string, count int) {
	fanoutPresence(s.hub.members(room), roomMembersEvent(room, count), nil)
}

// roomMembersEvent is the count of a large room's members online
// (PROTOCOL.md 13).
func roomMembersEvent(room string, count int) *event {
	return newEvent("room", fmt.Sprintf("* %s: %d member%s online", room, count, plural(count)),
		f("event", roomMembers), f("room", room), f("count", count)).stamped(time.Time{}, stampLive)
}

// roomMembers is the event of a room event that carries a large room's
// count instead of a user.
const roomMembers = "members"

// awayNote decides who hears the away or back n of the user of s
// (scopePresence), with the user's rooms on this node.
func (s *session) awayNote(n *note) *note {
	if p := s.srv.hub.find(s.user, ""); p != nil {
		n.Rooms = p.Rooms
	}
	c := s.srv.community.elsewhere()
	s.srv.scopePresence(n, s.srv.hub.userCount()+c.users, func(r string) int {
		return c.roomCount(r, s.srv.hub.roomUserCount(r))
	})
	return n
}
