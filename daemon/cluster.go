// Several nodes serving one community: the cluster implementation of Hub.
// docs/cluster.md describes the design; the SQL is in db/cluster.go.

package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"chatd"
)

const (
	// eventBatch bounds the events read, or published, at once.
	eventBatch = 500
	// eventPoll is how often a node reads the log even without a
	// notification, should one be lost.
	eventPoll = time.Second
	// eventRetention is how long events are kept: far longer than a node
	// that is still alive can fall behind.
	eventRetention = time.Hour
	// sayTimeout bounds how long a room line waits to come back from the
	// log before its sender is told it failed.
	sayTimeout = 30 * time.Second
)

// clusterHub is one node of several sharing a PostgreSQL database. This
// node's sessions are in the registry as on a single node; the sessions
// table of the cluster has every node's, and the event log carries each
// note to every node, which shows it to its own sessions (apply).
//
// Room lines are the one thing a node does not show its own sessions at
// once: they go into the log first and every node, this one included,
// delivers them in the log's order, so one room's lines arrive in the same
// order everywhere. Everything else this node shows its own sessions at
// once, as a single node does, and tells the others through the log.
//
// Locking: pendMu and welMu are leaves, never held with another lock or
// across a database call. The log is applied by one goroutine (run), which
// takes a room log's lock as a chat line does on a single node.
type clusterHub struct {
	*hub
	srv *Server
	c   chatd.Cluster

	// pending maps the reference of a room line this node published to
	// its sender, until the line comes back from the log.
	pendMu  sync.Mutex
	pending map[uint64]*pendingLine
	refs    atomic.Uint64

	// pub feeds the publisher: notes that change no session row are
	// appended in batches, one transaction for whatever is waiting.
	pub chan *publication

	// welcome holds, between claim and add, the names online elsewhere
	// for a login's welcome.
	welMu   sync.Mutex
	welcome map[*session][]string
}

type pendingLine struct {
	sender *session
	answer *Event // the sender's own copy, with their label
	done   chan struct{}
}

type publication struct {
	data    []byte
	durable bool // see chatd.Cluster.Publish
	done    chan error
}

func newClusterHub(srv *Server, c chatd.Cluster) *clusterHub {
	return &clusterHub{
		hub: newHub(), srv: srv, c: c,
		pending: map[uint64]*pendingLine{},
		pub:     make(chan *publication, 1024),
		welcome: map[*session][]string{},
	}
}

func (h *clusterHub) registry() *hub { return h.hub }

func (h *clusterHub) me() string { return h.c.Node() }

func encodeNote(n *note) []byte {
	b, err := json.Marshal(n)
	if err != nil {
		panic(err) // a note is plain data
	}
	return b
}

// claim takes the user's row in the sessions table (the duplicate-login
// policy across nodes); a replaced session on another node is told.
func (h *clusterHub) claim(ctx context.Context, s *session, replace bool) error {
	cs := chatd.ClusterSession{SID: s.sid, User: s.user, Node: h.me(), Room: chatd.Lobby, Addr: s.addr,
		Listener: s.info.Listener, Since: s.loginAt, LastActive: s.loginAt}
	others, err := h.c.Claim(ctx, cs, replace, func(prev *chatd.ClusterSession) [][]byte {
		if prev == nil || prev.Node == h.me() {
			return nil // the registry replaces a session of this node
		}
		return [][]byte{encodeNote(&note{Kind: noteReplace, User: prev.User, SID: prev.SID, To: prev.Node})}
	})
	if err != nil {
		return err
	}
	h.welMu.Lock()
	h.welcome[s] = others
	h.welMu.Unlock()
	return nil
}

func (h *clusterHub) unclaim(s *session) {
	h.welMu.Lock()
	delete(h.welcome, s)
	h.welMu.Unlock()
	if _, err := h.c.Release(context.Background(), s.sid, nil); err != nil {
		h.srv.log.Error("release a session", "user", s.user, "err", err)
	}
}

// add is the registry's add with the users of the other nodes in the
// welcome.
func (h *clusterHub) add(s *session, replace bool, onAdd func(online []string, others []*session)) (*session, error) {
	h.welMu.Lock()
	elsewhere := h.welcome[s]
	delete(h.welcome, s)
	h.welMu.Unlock()
	return h.hub.add(s, replace, func(online []string, others []*session) {
		if onAdd != nil {
			onAdd(sortedNames(union(online, elsewhere)), others)
		}
	})
}

// tell records n for the other nodes. Notes that change the sessions
// table do it in the same transaction; the rest go through the publisher.
func (h *clusterHub) tell(ctx context.Context, n *note) error {
	data := encodeNote(n)
	switch n.Kind {
	case noteLogin:
		// The row went in with the claim; this announces it.
	case noteLogout:
		if n.Text == "" {
			data = nil // replaced: nothing to announce
		}
		_, err := h.c.Release(ctx, n.SID, data)
		return err
	case noteMove:
		return h.c.SetRoom(ctx, n.SID, n.To, data)
	case noteAway:
		away := n.Text
		return h.c.SetAway(ctx, n.SID, &away, data)
	case noteBack:
		return h.c.SetAway(ctx, n.SID, nil, data)
	}
	return h.publish(ctx, data, true)
}

// publish hands data to the publisher and waits until it is committed.
// Room lines need not be durable (a single node keeps them in memory and
// writes them to the history table a moment later too); everything else
// is, since someone was told it happened.
func (h *clusterHub) publish(ctx context.Context, data []byte, durable bool) error {
	p := &publication{data: data, durable: durable, done: make(chan error, 1)}
	select {
	case h.pub <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publisher appends what is waiting in one transaction, in the order it
// was handed in, until ctx ends.
func (h *clusterHub) publisher(ctx context.Context) {
	for {
		var batch []*publication
		select {
		case p := <-h.pub:
			batch = append(batch, p)
		case <-ctx.Done():
			return
		}
	more:
		for len(batch) < eventBatch {
			select {
			case p := <-h.pub:
				batch = append(batch, p)
			default:
				break more
			}
		}
		data := make([][]byte, len(batch))
		durable := false
		for i, p := range batch {
			data[i] = p.data
			durable = durable || p.durable
		}
		err := h.c.Publish(context.Background(), data, durable)
		for _, p := range batch {
			p.done <- err
		}
	}
}

// say appends the line to the log and waits until this node has delivered
// it, its sender's copy included.
func (h *clusterHub) say(ctx context.Context, s *session, room string, line chatd.HistoryLine, ev *Event) error {
	ref := h.refs.Add(1)
	p := &pendingLine{sender: s, answer: s.answer(ev), done: make(chan struct{})}
	h.pendMu.Lock()
	h.pending[ref] = p
	h.pendMu.Unlock()
	defer func() {
		h.pendMu.Lock()
		delete(h.pending, ref)
		h.pendMu.Unlock()
	}()
	n := &note{Kind: noteLine, By: s.user, Room: room, Text: line.Text, Flag: line.Action, Time: line.Time, Ref: ref}
	if err := h.publish(ctx, encodeNote(n), false); err != nil {
		return err
	}
	h.srv.history.add(room, line)
	wait := time.NewTimer(sayTimeout)
	defer wait.Stop()
	select {
	case <-p.done:
		return nil
	case <-wait.C:
		return errors.New("a room line did not come back from the cluster's log")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- snapshots ----

func (h *clusterHub) online(ctx context.Context) ([]string, error) {
	all, err := h.everyone(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.User
	}
	return sortedNames(names), nil
}

// everyone is the sessions table, with this node's rows taken from the
// registry (fresher, and without a session that has just left).
func (h *clusterHub) everyone(ctx context.Context) ([]presence, error) {
	rows, err := h.c.Sessions(ctx)
	if err != nil {
		return nil, err
	}
	var out []presence
	for _, r := range rows {
		if r.Node != h.me() {
			out = append(out, remotePresence(r))
		}
	}
	for _, s := range h.sessions() {
		out = append(out, localPresence(h.hub, s, h.me()))
	}
	return out, nil
}

func remotePresence(r chatd.ClusterSession) presence {
	return presence{
		OnlineSession: chatd.OnlineSession{User: r.User, Room: r.Room, Addr: r.Addr, Listener: r.Listener,
			Since: r.Since, LastActive: r.LastActive},
		Away: r.Away, Node: r.Node, SID: r.SID,
	}
}

func (h *clusterHub) find(ctx context.Context, name string) (*presence, error) {
	if o := h.lookup(name); o != nil {
		p := localPresence(h.hub, o, h.me())
		return &p, nil
	}
	r, err := h.c.SessionOf(ctx, name)
	if err != nil || r == nil || r.Node == h.me() {
		return nil, err // a row of this node without a session: leaving
	}
	p := remotePresence(*r)
	return &p, nil
}

func (h *clusterHub) roomNames(ctx context.Context, room string) ([]string, error) {
	all, err := h.everyone(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range all {
		if chatd.Key(p.Room) == chatd.Key(room) {
			names = append(names, p.User)
		}
	}
	return sortedNames(names), nil
}

func (h *clusterHub) roomCounts(ctx context.Context) (map[string][]string, error) {
	all, err := h.everyone(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range all {
		k := chatd.Key(p.Room)
		out[k] = append(out[k], p.User)
	}
	for k, names := range out {
		out[k] = sortedNames(names)
	}
	return out, nil
}

// ---- the node's own loops ----

// logoutNote is the note for a session that a node lost with its
// connection to the cluster: shown on every node, this one included.
func logoutNote(s chatd.ClusterSession) []byte {
	return encodeNote(&note{Kind: noteLogout, User: s.User, SID: s.SID, Room: s.Room, Text: presTimeout, Everywhere: true})
}

// join registers the node, waiting (up to twice the node timeout) for a
// previous run of it to be declared dead, and returns the log's cursor.
func (h *clusterHub) join(ctx context.Context) (int64, error) {
	timeout := h.srv.cfg().Cluster.NodeTimeout.Duration
	deadline := time.Now().Add(2 * timeout)
	for {
		cursor, err := h.c.Join(ctx, timeout, logoutNote)
		if err == nil || time.Now().After(deadline) {
			return cursor, err
		}
		h.srv.log.Warn("waiting to join the cluster", "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(timeout / 4):
		}
	}
}

// run keeps the node in the cluster until ctx ends: it reads the log
// after cursor and applies it, listens for wake-ups, publishes, beats its
// heart and reaps dead nodes.
func (h *clusterHub) run(ctx context.Context, cursor int64) {
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); h.publisher(ctx) }()
	go func() { defer wg.Done(); h.listen(ctx, signal) }()
	go func() { defer wg.Done(); h.heartbeat(ctx) }()
	poll := time.NewTicker(eventPoll)
	defer poll.Stop()
	for {
		for {
			evs, err := h.c.EventsAfter(ctx, cursor, eventBatch)
			if err != nil {
				if ctx.Err() == nil {
					h.srv.log.Error("read the cluster's events", "err", err)
				}
				break
			}
			for _, e := range evs {
				h.apply(e)
				cursor = e.ID
			}
			if len(evs) < eventBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// listen keeps a LISTEN connection, reconnecting after failures; each
// reconnection wakes the reader, which catches up from its cursor.
func (h *clusterHub) listen(ctx context.Context, wake func()) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := h.c.Listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		h.srv.log.Warn("cluster notifications", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
		wake()
	}
}

// heartbeat beats every third of node_timeout, writes this node's
// sessions' activity, reaps nodes whose heartbeat stopped and prunes old
// events. A node the others declared dead ends its sessions and joins
// again.
func (h *clusterHub) heartbeat(ctx context.Context) {
	lastPrune := time.Now()
	// steady is since when heartbeats have succeeded without a break. A
	// node reaps others only once it has been steady for a whole timeout:
	// after the database was unreachable for everyone, each node gets the
	// chance to beat before anyone is declared dead.
	steady := time.Now()
	for {
		timeout := h.srv.cfg().Cluster.NodeTimeout.Duration
		select {
		case <-ctx.Done():
			return
		case <-time.After(timeout / 3):
		}
		alive, err := h.c.Heartbeat(ctx)
		if err != nil {
			if ctx.Err() == nil {
				h.srv.log.Error("cluster heartbeat", "err", err)
			}
			steady = time.Time{}
			continue
		}
		if steady.IsZero() {
			steady = time.Now()
		}
		if !alive {
			h.srv.log.Error("the other nodes declared this node dead; ending its sessions and joining again")
			for _, s := range h.sessions() {
				s.end(byeError, "this server lost contact with the others; log in again")
			}
			if _, err := h.join(ctx); err != nil && ctx.Err() == nil {
				h.srv.log.Error("join the cluster again", "err", err)
			}
			continue
		}
		active := map[string]time.Time{}
		for _, s := range h.sessions() {
			active[s.sid] = time.Unix(0, s.lastActive.Load())
		}
		if err := h.c.SetActive(ctx, active); err != nil && ctx.Err() == nil {
			h.srv.log.Error("write last active", "err", err)
		}
		if time.Since(steady) >= timeout {
			gone, err := h.c.Reap(ctx, timeout, logoutNote)
			if err != nil && ctx.Err() == nil {
				h.srv.log.Error("reap dead nodes", "err", err)
			}
			for _, s := range gone {
				h.srv.log.Info("node gone: its session ends", "node", s.Node, "user", s.User)
			}
		}
		if time.Since(lastPrune) > eventRetention/4 {
			lastPrune = time.Now()
			if _, err := h.c.PruneEvents(ctx, eventRetention); err != nil && ctx.Err() == nil {
				h.srv.log.Error("prune cluster events", "err", err)
			}
		}
	}
}

// ---- applying the log ----

// apply shows one event of the log to this node's sessions.
func (h *clusterHub) apply(e chatd.ClusterEvent) {
	var n note
	if err := json.Unmarshal(e.Data, &n); err != nil {
		h.srv.log.Error("bad cluster event", "id", e.ID, "err", err)
		return
	}
	n.Origin = e.Node
	own := e.Node == h.me()
	if n.Kind == noteLine {
		h.applyLine(&n, own)
		return
	}
	// This node showed its own notes at once, except those written for
	// every node (a lost session's logout).
	if own && !n.Everywhere {
		return
	}
	h.srv.applyNote(&n)
}

// applyLine delivers a room line to this node's members of the room,
// under the room log's lock as on a single node.
func (h *clusterHub) applyLine(n *note, own bool) {
	var p *pendingLine
	if own {
		h.pendMu.Lock()
		p = h.pending[n.Ref]
		h.pendMu.Unlock()
	}
	line := chatd.HistoryLine{From: n.By, Text: n.Text, Time: n.Time, Action: n.Flag}
	ev := roomMessage(kindRoom, n.By, n.Room, n.Text, n.Time, n.Flag)
	var sender *session
	if p != nil {
		sender = p.sender
	}
	l := h.srv.logs.get(n.Room)
	l.mu.Lock()
	l.append(line, h.srv.cfg().Messages.HistoryOnJoin)
	fanout(h.members(n.Room), ev, sender, h.srv.notBlockingName(n.By))
	if p != nil {
		sender.send(p.answer)
	}
	l.mu.Unlock()
	if p != nil {
		close(p.done)
	}
}

// applyNote shows a note from another node to this node's sessions.
func (s *Server) applyNote(n *note) {
	switch n.Kind {
	case noteBroadcast:
		fanout(s.hub.sessions(), broadcastMessage(n.By, n.Text, n.Time), nil, s.notBlockingName(n.By))
	case noteLogin:
		fanoutPresence(s.hub.sessions(), presenceEvent(n.User, presLogin, chatd.Lobby), nil)
	case noteLogout:
		if n.Text != "" {
			fanoutPresence(s.hub.sessions(), presenceEvent(n.User, n.Text, n.Room), nil)
		}
	case noteMove:
		if n.Flag {
			fanoutPresence(s.hub.members(n.Room), roomEvent(roomLeft, n.Room, n.User), nil)
		}
		fanoutPresence(s.hub.members(n.To), roomEvent(roomJoined, n.To, n.User), nil)
	case noteAway:
		fanoutPresence(s.hub.sessions(), awayEvent(n.User, n.Room, n.Text), nil)
	case noteBack:
		fanoutPresence(s.hub.sessions(), presenceEvent(n.User, presBack, n.Room), nil)
	case noteTopic:
		fanout(s.hub.members(n.Room), topicEvent(n.Room, n.Text, n.By), nil, nil)
	case noteOwner:
		fanout(s.hub.members(n.Room), ownerEvent(n.Room, n.User, n.By), nil, nil)
	case noteRoomKick, noteRoomBan:
		// Those in the room are told, the user included; the user is out
		// before anyone reads it, so what they ask next sees them out.
		ev := roomKickEvent(n.Room, n.User, n.By, n.Text)
		if n.Kind == noteRoomBan {
			ev = roomBanEvent(n.Room, n.User, n.By, n.Time)
		}
		members := s.hub.members(n.Room)
		o := s.hub.lookup(n.User)
		if o != nil && chatd.Key(s.hub.roomOf(o)) == chatd.Key(n.Room) {
			s.moveTo(o, chatd.Lobby, false)
		} else if o != nil && n.Kind == noteRoomBan {
			o.send(ev)
		}
		fanout(members, ev, nil, nil)
	case noteClose:
		s.closeRoom(n.Room, n.By)
	case noteInvite:
		if o := s.hub.lookup(n.User); o != nil {
			o.send(invitedEvent(n.Room, n.User, n.By))
		}
	case noteEnd:
		if o := s.hub.lookup(n.User); o != nil && !o.ending() {
			o.end(n.Room, n.Text)
		}
	case noteReplace:
		if o := s.hub.lookup(n.User); o != nil && o.sid == n.SID {
			o.end(byeReplaced, "you logged in from somewhere else")
		}
	case notePrivate:
		s.applyPrivate(n)
	default:
		s.log.Warn("unknown cluster note", "kind", n.Kind)
	}
}

// applyPrivate delivers a private message that another node found its
// recipient online here. Should that session have left meanwhile, the
// message goes to the recipient's mailbox instead: it was acknowledged as
// delivered, so it must not be lost.
func (s *Server) applyPrivate(n *note) {
	if o := s.hub.lookup(n.User); o != nil && o.sid == n.SID &&
		o.send(privateMessage(kindPrivate, n.By, nonNil(n.Names), n.Text, n.Time)) {
		return
	}
	err := s.store.StoreOffline(context.Background(), n.User,
		chatd.OfflineMessage{From: n.By, To: n.Names, Text: n.Text, Time: n.Time}, 0)
	// EBlocked: they blocked the sender since the sender's node checked.
	if err != nil && chatd.ErrorCode(err) != chatd.EBlocked {
		s.log.Error("store a private message whose recipient left", "user", n.User, "err", err)
	}
}

// notBlockingName is the fanout filter of a line from name: recipients
// who block name do not get it when blocks apply to room chat.
func (s *Server) notBlockingName(name string) func(*session) bool {
	return func(rcpt *session) bool {
		return !s.cfg().Messages.BlocksApplyToBroadcast || !rcpt.blocking(name)
	}
}
