// The seam between this node and the others: what differs between one node
// serving the community alone (localHub) and one of several sharing a
// database (clusterHub, cluster.go).

package daemon

import (
	"context"
	"slices"
	"time"

	"chatd"
)

// community is the whole community as this node sees it. This node's own
// sessions are in the registry (Server.hub, hub.go) either way; the
// community carries what this node does to the other nodes and answers for
// everyone online anywhere. It never hands out a session: commands get
// presence snapshots, and an effect on a session of any node is a note that
// the node owning it applies (effects.go).
//
// localHub is one node on its own: tell does nothing and every snapshot
// comes from the registry, so a single node makes no database round trip
// per chat line or query. clusterHub shares the state through PostgreSQL.
type community interface {
	// claim makes the login p one of its user's sessions across the
	// community before it enters the registry (the duplicate-login policy,
	// accounts.duplicate_login, with max sessions under "multi"), and
	// returns the names online on other nodes for its welcome and whether
	// p is the user's first session anywhere (false: a login was
	// announced already). unclaim gives the claim up when entering failed.
	// The caller holds no lock.
	claim(ctx context.Context, p presence, policy string, max int) (elsewhere []string, first bool, err error)
	unclaim(sid string)

	// tell carries n to the other nodes, which apply it to their own
	// sessions; this node has applied it already. It returns once the
	// note is recorded.
	tell(ctx context.Context, n *note) error

	// say gives the room line n its id, in the room's order, and
	// delivers it to every member of its room on every node, and as the
	// answer to their line to its sender s, the caller's own session.
	say(ctx context.Context, s *session, n *note) error

	// everyone snapshots every session online, wherever it runs; find the
	// session of name (nil when offline).
	everyone(ctx context.Context) ([]presence, error)
	find(ctx context.Context, name string) (*presence, error)
	// elsewhere is the other nodes' share of who is online, for
	// presence at scale (scale.go): nothing on a single node. It makes
	// no database call.
	elsewhere() census
}

// presence is a snapshot of one online session, wherever it runs. Room is
// its current room ("" for none), Rooms all of its rooms.
type presence struct {
	chatd.OnlineSession
	Rooms []string
	Away  *string // nil when not away
	Node  string  // the node it is connected to ("" on a single node)
	SID   string  // the login's session id
	// With several sessions of one user (duplicate_login = "multi"), the
	// first login's session stands for the user (Room is its current
	// room), Rooms holds the rooms of them all and Sessions counts them
	// (0 means 1).
	Sessions int
	// Remote are the user's sessions on other nodes than this one (in a
	// cluster; several under duplicate_login = "multi"), the first login
	// first.
	Remote []sessionRef
}

// sessionRef names one session of the community: its node and its id.
type sessionRef struct{ Node, SID string }

// localHub is a single node: the registry is the whole community.
type localHub struct{ srv *Server }

func (h localHub) claim(context.Context, presence, string, int) ([]string, bool, error) {
	return nil, true, nil // the registry decides
}
func (h localHub) unclaim(string)                    {}
func (h localHub) tell(context.Context, *note) error { return nil }

func (h localHub) everyone(context.Context) ([]presence, error) {
	return h.srv.hub.presences(""), nil
}

func (h localHub) find(_ context.Context, name string) (*presence, error) {
	return h.srv.hub.find(name, ""), nil
}

func (h localHub) elsewhere() census { return census{} }

// say: under the room's log lock, so that a join sees the line either
// live or in its replay, never both or neither.
//
// The id is given under that lock too, so that the room's lines have
// increasing ids in the order they are delivered.
func (h localHub) say(_ context.Context, s *session, n *note) error {
	srv := h.srv
	cfg := srv.cfg()
	l := srv.logs.get(n.Room)
	l.mu.Lock()
	n.ID = srv.newID()
	ev, line := n.lineEvent(), n.historyLine()
	l.append(line, cfg.Messages.HistoryOnJoin)
	// Only queued here: the sender's flusher writes the line out once
	// the lock is released (outbox.go).
	members := srv.hub.members(n.Room)
	srv.showLine(&s.out, members, ev, n.By, s, s.answer(ev))
	l.batchSay(&s.out, len(members), cfg.Rooms.BusyWrites, srv.metrics)
	l.mu.Unlock()
	if !srv.history.tryAdd(n.Room, line) {
		// The disk is behind: what this reader queued goes out before
		// it waits for room in the history queue.
		s.out.flush()
		srv.history.add(n.Room, line)
	}
	return nil
}

// The questions commands ask of the whole community, answered from
// everyone (one node: the registry, without a database call).

// onlineNames lists the names of everyone online, sorted.
func (s *Server) onlineNames(ctx context.Context) ([]string, error) {
	all, err := s.community.everyone(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.User
	}
	return sortedNames(names), nil
}

// roomNames lists who is in room, sorted.
func (s *Server) roomNames(ctx context.Context, room string) ([]string, error) {
	all, err := s.community.everyone(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range all {
		if p.in(room) {
			names = append(names, p.User)
		}
	}
	return sortedNames(names), nil
}

// roomCounts lists who is in each occupied room, by chatd.Key(room).
func (s *Server) roomCounts(ctx context.Context) (map[string][]string, error) {
	all, err := s.community.everyone(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range all {
		for _, r := range p.Rooms {
			k := chatd.Key(r)
			out[k] = append(out[k], p.User)
		}
	}
	for k, names := range out {
		out[k] = sortedNames(names)
	}
	return out, nil
}

// in reports whether one of the user's sessions is in room.
func (p *presence) in(room string) bool {
	k := chatd.Key(room)
	return slices.ContainsFunc(p.Rooms, func(r string) bool { return chatd.Key(r) == k })
}

// presenceOf snapshots a session of this node; the caller holds hub.mu.
func presenceOf(s *session, node string) presence {
	return presence{
		OnlineSession: chatd.OnlineSession{User: s.user, Room: s.room, Addr: s.addr, Listener: s.info.Listener,
			Since: s.loginAt, LastActive: time.Unix(0, s.lastActive.Load())},
		Rooms: s.rooms, Away: s.away.Load(), Node: node, SID: s.sid,
	}
}
