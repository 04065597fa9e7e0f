// The seam between the commands and who is online: one node on its own
// (localHub) or several sharing a database (clusterHub, cluster.go).

package daemon

import (
	"context"
	"time"

	"chatd"
)

// Hub is who is online and where, for the commands. This node's own
// sessions live in the registry (*hub, hub.go) in both implementations: the
// registry methods below act on them only. The snapshot methods answer for
// the whole community, and tell carries a change that this node has
// already shown its own sessions to the sessions of every other node.
//
// localHub is one node on its own: tell does nothing and every snapshot
// comes from memory, so a single node makes no database round trip per chat
// line or query. clusterHub shares the state through PostgreSQL.
type Hub interface {
	// This node's sessions (see hub.go for what each guarantees).
	add(s *session, replace bool, onAdd func(online []string, others []*session)) (old *session, err error)
	remove(s *session, onRemove func(room string, others []*session)) (room string, ok bool)
	move(s *session, room string, token *uint64) (from string, fromMembers, toMembers []*session, ok bool)
	roomToken(room string) uint64
	closeRoom(room string) []*session
	roomOf(s *session) string
	lookup(name string) *session
	members(room string) []*session
	sessions() []*session
	snapshot() ([]chatd.OnlineSession, uint64)
	generation() uint64
	registry() *hub

	// claim makes s the user's session across the community before it
	// enters the registry (the duplicate-login policy), and unclaim gives
	// the claim up when entering failed. The caller holds no lock.
	claim(ctx context.Context, s *session, replace bool) error
	unclaim(s *session)

	// The whole community.
	online(ctx context.Context) ([]string, error)             // names, sorted
	everyone(ctx context.Context) ([]presence, error)         // every session
	find(ctx context.Context, name string) (*presence, error) // nil when offline
	roomNames(ctx context.Context, room string) ([]string, error)
	roomCounts(ctx context.Context) (map[string][]string, error) // by chatd.Key(room)

	// say delivers a room line to every member of room on every node, the
	// sender's own copy (ev) as the answer to their line.
	say(ctx context.Context, s *session, room string, line chatd.HistoryLine, ev *Event) error
	// tell shows n to the sessions of the other nodes; this node's have
	// seen it already. It returns once the change is recorded.
	tell(ctx context.Context, n *note) error
}

// presence is a snapshot of one online session, wherever it runs.
type presence struct {
	chatd.OnlineSession
	Away *string // nil when not away
	Node string  // the node it is connected to
	SID  string  // the login's session id
	// local is the session when it runs on this node, else nil. Only a
	// remote node's own code may act on a session; others tell it.
	local *session
}

// A note is a change that every node shows its own sessions: who did what
// to whom, in the words of the event constructors (events.go), so each node
// renders it for its own clients. Kind is one of the note* constants.
type note struct {
	Kind  string    `json:"k"`
	User  string    `json:"u,omitempty"` // whom it is about
	By    string    `json:"b,omitempty"` // who did it
	Room  string    `json:"r,omitempty"`
	To    string    `json:"o,omitempty"` // the room moved to
	Text  string    `json:"x,omitempty"`
	Names []string  `json:"n,omitempty"` // a private message's recipients
	Flag  bool      `json:"f,omitempty"` // a /me line; a move that announces the leaving
	Time  time.Time `json:"t,omitzero"`
	SID   string    `json:"s,omitempty"` // the session it is about
	Ref   uint64    `json:"e,omitempty"` // the sender's own reference (say)
	// Everywhere: the node that wrote it shows it too (it was not shown
	// anywhere yet: a lost node's logouts).
	Everywhere bool   `json:"w,omitempty"`
	Origin     string `json:"-"` // the node that wrote it
}

// The kinds of notes.
const (
	noteLine      = "line"      // By says Text (Flag: does) in Room
	noteBroadcast = "broadcast" // By broadcasts Text
	noteLogin     = "login"     // User logged in
	noteLogout    = "logout"    // User left; Text is the presence event ("" none)
	noteMove      = "move"      // User moved from Room to To; Flag: announce leaving
	noteAway      = "away"      // User is away with Text, in Room
	noteBack      = "back"      // User is back, in Room
	noteTopic     = "topic"     // By set Room's topic to Text
	noteOwner     = "owner"     // By gave Room to User
	noteRoomKick  = "roomkick"  // By put User out of Room, reason Text
	noteRoomBan   = "roomban"   // By banned User from Room until Time
	noteClose     = "close"     // By closed Room
	notePrivate   = "private"   // By sends Text to User (one of Names)
	noteInvite    = "invite"    // By invites User to Room
	noteEnd       = "end"       // end User's session: bye Room (reason), Text
	noteReplace   = "replace"   // session SID of User was replaced elsewhere
)

// localHub is a single node: the registry is the whole community.
type localHub struct {
	*hub
	srv *Server
}

func newLocalHub(srv *Server) *localHub { return &localHub{hub: newHub(), srv: srv} }

func (h *localHub) registry() *hub { return h.hub }

func (h *localHub) claim(context.Context, *session, bool) error { return nil }
func (h *localHub) unclaim(*session)                            {}
func (h *localHub) tell(context.Context, *note) error           { return nil }

func (h *localHub) online(context.Context) ([]string, error) { return h.hub.online(), nil }

func (h *localHub) everyone(context.Context) ([]presence, error) {
	all := h.sessions()
	out := make([]presence, len(all))
	for i, s := range all {
		out[i] = h.presenceOf(s)
	}
	return out, nil
}

func (h *localHub) find(_ context.Context, name string) (*presence, error) {
	o := h.lookup(name)
	if o == nil {
		return nil, nil
	}
	p := h.presenceOf(o)
	return &p, nil
}

// presenceOf snapshots a session of this node.
func (h *localHub) presenceOf(s *session) presence {
	return localPresence(h.hub, s, h.srv.node())
}

func localPresence(reg *hub, s *session, node string) presence {
	return presence{
		OnlineSession: chatd.OnlineSession{User: s.user, Room: reg.roomOf(s), Addr: s.addr, Listener: s.info.Listener,
			Since: s.loginAt, LastActive: time.Unix(0, s.lastActive.Load())},
		Away: s.away.Load(), Node: node, SID: s.sid, local: s,
	}
}

func (h *localHub) roomNames(_ context.Context, room string) ([]string, error) {
	return memberNames(h.members(room)), nil
}

func (h *localHub) roomCounts(context.Context) (map[string][]string, error) {
	return h.hub.roomCounts(), nil
}

func memberNames(list []*session) []string {
	names := make([]string, len(list))
	for i, m := range list {
		names[i] = m.user
	}
	return sortedNames(names)
}

// say: under the room's log lock, so that a join sees the line either
// live or in its replay, never both or neither.
func (h *localHub) say(_ context.Context, s *session, room string, line chatd.HistoryLine, ev *Event) error {
	cfg := h.srv.cfg()
	l := h.srv.logs.get(room)
	l.mu.Lock()
	l.append(line, cfg.Messages.HistoryOnJoin)
	// Only queued here: the sender's flusher writes the line out once
	// the lock is released (outbox.go).
	members := h.members(room)
	fanoutVia(&s.out, members, ev, s, s.notBlocking)
	s.sendVia(&s.out, s.answer(ev))
	l.batchSay(&s.out, len(members), cfg.Rooms.BusyWrites, h.srv.metrics)
	l.mu.Unlock()
	if !h.srv.history.tryAdd(room, line) {
		// The disk is behind: what this reader queued goes out before
		// it waits for room in the history queue.
		s.out.flush()
		h.srv.history.add(room, line)
	}
	return nil
}
