// Several nodes serving one community: the cluster implementation of Hub.
// docs/cluster.md describes the design; the SQL is in db/cluster.go.

package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
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
// node's sessions are in the registry (Server.hub) as on a single node; the
// sessions table of the cluster has every node's, and the event log carries
// each note to every node, which applies it to its own sessions
// (Server.apply).
//
// Room lines are the one thing a node does not show its own sessions at
// once: they go into the log first and every node, this one included,
// delivers them in the log's order, so one room's lines arrive in the same
// order everywhere. Everything else this node applies to its own sessions
// at once, as a single node does, and tells the others through the log.
//
// The log is applied by one goroutine (run), which takes a room log's lock
// as a chat line does on a single node.
type clusterHub struct {
	// Static after construction.
	srv *Server
	c   chatd.Cluster
	pub chan *publication // feeds the publisher (notes that change no session row)

	// Guarded by pendMu (leaf, DEVELOPING.md "Locks"): the sender of each
	// room line this node published, by reference, until the line comes
	// back from the log.
	pendMu  sync.Mutex
	pending map[uint64]*pendingLine
	refs    atomic.Uint64 // the last reference handed out

	// census is the other nodes' share of who is online (count), taken
	// by the heartbeat; nil before the first.
	census atomic.Pointer[census]

	// The live upgrade of the node (upgrade.go). freezeReq asks run to
	// stop reading the log and beating the heart, and to answer with the
	// position it stopped at; handed records that the new process took
	// that position, and with it the node (its row, heartbeat and
	// sessions' rows), so this one does not Leave. resume carries the
	// position from Adopt to a new process's run: ok false when none came.
	freezeReq chan chan int64
	handed    atomic.Bool
	resume    chan resumeAt
}

type resumeAt struct {
	cursor int64
	ok     bool
}

type pendingLine struct {
	sender *session
	label  string // the sender's line's label, for their own copy
	done   chan struct{}
	// Set by applyLine before done is closed: the line with its id, and
	// whether it still has to go to the history writer (its queue was
	// full), which the sender then does.
	line chatd.HistoryLine
	late bool
}

type publication struct {
	data    []byte
	durable bool // see chatd.Cluster.Publish
	done    chan error
}

func newClusterHub(srv *Server, c chatd.Cluster) *clusterHub {
	return &clusterHub{
		srv: srv, c: c,
		pending:   map[uint64]*pendingLine{},
		pub:       make(chan *publication, 1024),
		freezeReq: make(chan chan int64),
		resume:    make(chan resumeAt, 1),
	}
}

func (h *clusterHub) me() string { return h.c.Node() }

func encodeNote(n *note) []byte {
	b, err := json.Marshal(n)
	if err != nil {
		panic(err) // a note is plain data
	}
	return b
}

// claim adds the user's row to the sessions table (the duplicate-login
// policy across nodes); a replaced session on another node is told.
func (h *clusterHub) claim(ctx context.Context, p presence, policy string, max int) ([]string, bool, error) {
	cs := chatd.ClusterSession{SID: p.SID, User: p.User, Node: h.me(), Room: p.Room, Rooms: p.Rooms, Addr: p.Addr,
		Listener: p.Listener, Since: p.Since, LastActive: p.Since}
	return h.c.Claim(ctx, cs, policy, max, func(prev []chatd.ClusterSession) [][]byte {
		var evs [][]byte
		for _, o := range prev {
			if o.Node != h.me() { // the registry replaces a session of this node
				evs = append(evs, encodeNote(&note{Kind: noteReplace, User: o.User, SID: o.SID, To: o.Node}))
			}
		}
		return evs
	})
}

func (h *clusterHub) unclaim(sid string) {
	if _, err := h.c.Release(context.Background(), sid, nil); err != nil {
		h.srv.log.Error("release a session", "sid", sid, "err", err)
	}
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
			data = nil // replaced, or other devices online here: nothing to announce
		}
		// Announced only when it was the user's last session anywhere.
		_, err := h.c.Release(ctx, n.SID, data)
		return err
	case noteCurrent:
		// Only the row changes: no node shows a change of current room.
		return h.c.SetRooms(ctx, n.SID, n.To, n.Rooms, nil)
	case noteJoin, noteLeave:
		return h.c.SetRooms(ctx, n.SID, n.To, n.Rooms, data)
	case noteAway:
		away := n.Text
		return h.c.SetAway(ctx, n.SID, &away, data)
	case noteBack:
		return h.c.SetAway(ctx, n.SID, nil, data)
	case notePrivate:
		if n.Node != "" {
			return h.sendPrivate(ctx, n)
		}
		// Only shown: the recipient's devices on other nodes, beside a
		// session of this node that took it.
	}
	return h.publish(ctx, data, true)
}

// errLeft is tell's answer for a private message whose recipient's
// session is no longer online (or whose node was declared dead): nothing
// was sent, and the message belongs in the mailbox.
var errLeft = errors.New("the recipient's session is gone")

// sendPrivate records the private message n as owed by its recipient's
// node, together with its note, in one durable transaction; that node
// forgets it once written to the session (mailDone) or stored in the
// mailbox. Should the node die first, whoever reaps it mails it.
func (h *clusterHub) sendPrivate(ctx context.Context, n *note) error {
	m := chatd.ClusterMail{Node: n.Node, SID: n.SID, User: n.User,
		Message: chatd.OfflineMessage{MsgID: n.ID, From: n.By, To: n.Names, Text: n.Text, Time: n.Time}}
	sent, err := h.c.SendPrivate(ctx, m, func(id int64) []byte {
		c := *n
		c.Mail = id
		return encodeNote(&c)
	})
	if err == nil && !sent {
		err = errLeft
	}
	return err
}

// mailDone forgets the private message id, written to its session or
// stored in the mailbox. A failure leaves it owed: the session gone, it
// is mailed again (docs/cluster.md says when that doubles it).
func (h *clusterHub) mailDone(id int64) {
	ctx, cancel := h.srv.finishCtx()
	defer cancel()
	if err := h.c.MailDone(ctx, id); err != nil {
		h.srv.log.Error("forget a delivered private message", "id", id, "err", err)
	}
}

// mailOrphans stores in the mailboxes the private messages this node owes
// sessions that are gone: a dead node's it reaped, its own previous run's,
// and those whose session ended before they were written. They were
// acknowledged as delivered, so messages.offline_limit does not apply.
func (h *clusterHub) mailOrphans(ctx context.Context, age time.Duration) {
	mail, err := h.c.OrphanMail(ctx, age)
	if err != nil {
		if ctx.Err() == nil {
			h.srv.log.Error("read private messages owed to sessions that are gone", "err", err)
		}
		return
	}
	for _, m := range mail {
		err := h.srv.store.StoreOffline(ctx, m.User, m.Message, 0)
		if code := chatd.ErrorCode(err); err != nil && code != chatd.EBlocked && code != chatd.ENoSuchUser {
			if ctx.Err() == nil {
				h.srv.log.Error("store a private message owed to a session that is gone", "user", m.User, "err", err)
			}
			return // the next heartbeat tries again
		}
		if err := h.c.MailDone(ctx, m.ID); err != nil {
			if ctx.Err() == nil {
				h.srv.log.Error("forget a mailed private message", "id", m.ID, "err", err)
			}
			return
		}
	}
	if len(mail) > 0 {
		h.srv.log.Info("private messages owed to sessions that are gone are in their mailboxes", "messages", len(mail))
	}
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
// it, its sender's copy included. The line's id is the cluster clock's
// value that the log gave it (applyLine): every node delivers one room's
// lines in the log's order, so their ids increase in that order.
func (h *clusterHub) say(ctx context.Context, s *session, n *note) error {
	ref := h.refs.Add(1)
	p := &pendingLine{sender: s, label: s.label, done: make(chan struct{})}
	h.pendMu.Lock()
	h.pending[ref] = p
	h.pendMu.Unlock()
	defer func() {
		h.pendMu.Lock()
		delete(h.pending, ref)
		h.pendMu.Unlock()
	}()
	n.Ref = ref
	if err := h.publish(ctx, encodeNote(n), false); err != nil {
		return err
	}
	wait := time.NewTimer(sayTimeout)
	defer wait.Stop()
	select {
	case <-p.done:
		if p.late {
			h.srv.history.add(n.Room, p.line)
		}
		return nil
	case <-wait.C:
		return errors.New("a room line did not come back from the cluster's log")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- snapshots ----

// everyone is the sessions table, with this node's rows taken from the
// registry (fresher, and without a session that has just left), each user
// once however many sessions they have on however many nodes.
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
	return mergeUsers(append(out, h.srv.hub.presences(h.me())...)), nil
}

// elsewhere is the census of the other nodes as the last heartbeat
// counted it.
func (h *clusterHub) elsewhere() census {
	if c := h.census.Load(); c != nil {
		return *c
	}
	return census{}
}

// count takes the census of the other nodes from the sessions table: their
// users who have no session here, and each room's. It runs with the
// heartbeat, so that deciding who hears of a login (scale.go) makes no
// database call; a login counts the community's users from its claim.
func (h *clusterHub) count(ctx context.Context) {
	rows, err := h.c.Sessions(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.srv.log.Error("count the users of the other nodes", "err", err)
		}
		return
	}
	users := map[string]bool{}
	rooms := map[string]map[string]bool{}
	for _, r := range rows {
		if r.Node == h.me() {
			continue
		}
		k := chatd.Key(r.User)
		users[k] = true
		for _, room := range r.Rooms {
			rk := chatd.Key(room)
			if rooms[rk] == nil {
				rooms[rk] = map[string]bool{}
			}
			rooms[rk][k] = true
		}
	}
	c := census{rooms: make(map[string]int, len(rooms))}
	for k := range users {
		if len(h.srv.hub.sessionsOf(k, "")) == 0 {
			c.users++
		}
	}
	for rk, in := range rooms {
		c.rooms[rk] = len(in)
	}
	h.census.Store(&c)
}

func remotePresence(r chatd.ClusterSession) presence {
	return presence{
		OnlineSession: chatd.OnlineSession{User: r.User, Room: r.Room, Addr: r.Addr, Listener: r.Listener,
			Since: r.Since, LastActive: r.LastActive},
		Rooms: r.Rooms, Away: r.Away, Node: r.Node, SID: r.SID,
		Remote: []sessionRef{{r.Node, r.SID}},
	}
}

// mergeUsers makes one presence of each user's (duplicate_login = "multi"
// across nodes), in the order of their first appearance: the session that
// logged in first stands for the user, as on one node (userPresence),
// with every session's rooms, the latest activity, an away message if any
// is away, the count of sessions and the remote ones.
func mergeUsers(list []presence) []presence {
	at := map[string]int{}
	out := list[:0:0]
	for _, p := range list {
		k := chatd.Key(p.User)
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, p)
			continue
		}
		m := &out[i]
		first, later := *m, p
		if p.Since.Before(m.Since) {
			first, later = p, *m
		}
		merged := first
		merged.Sessions = max(1, first.Sessions) + max(1, later.Sessions)
		if later.LastActive.After(merged.LastActive) {
			merged.LastActive = later.LastActive
		}
		if merged.Away == nil {
			merged.Away = later.Away
		}
		merged.Rooms = slices.Clone(first.Rooms)
		for _, r := range later.Rooms {
			if !merged.in(r) {
				merged.Rooms = append(merged.Rooms, r)
			}
		}
		merged.Remote = append(slices.Clone(first.Remote), later.Remote...)
		*m = merged
	}
	return out
}

// find is the user's presence on every node, merged (mergeUsers). A user
// with a session here is answered from the registry alone unless several
// sessions per user are allowed (they may have more elsewhere).
func (h *clusterHub) find(ctx context.Context, name string) (*presence, error) {
	local := h.srv.hub.find(name, h.me())
	if local != nil && h.srv.cfg().Accounts.DuplicateLogin != loginMulti {
		return local, nil
	}
	rows, err := h.c.SessionsOf(ctx, name)
	if err != nil {
		return nil, err
	}
	var all []presence
	if local != nil {
		all = append(all, *local)
	}
	for _, r := range rows {
		if r.Node != h.me() { // a row of this node without a session: leaving
			all = append(all, remotePresence(r))
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return &mergeUsers(all)[0], nil
}

// ---- the node's own loops ----

// logoutNote is the note for a session that a node lost with its
// connection to the cluster: shown on every node, this one included.
func logoutNote(s chatd.ClusterSession) []byte {
	return encodeNote(&note{Kind: noteLogout, User: s.User, SID: s.SID, Room: s.Room, Text: presTimeout, Everywhere: true})
}

// join registers the node, waiting (up to twice the node timeout) for a
// previous run of it to be declared dead, and returns the log's cursor.
// The wait is logged once when it starts; the outcome once at its end.
func (h *clusterHub) join(ctx context.Context) (int64, error) {
	timeout := h.srv.cfg().Cluster.NodeTimeout.Duration
	start := time.Now()
	deadline := start.Add(2 * timeout)
	waited := false
	for {
		cursor, err := h.c.Join(ctx, timeout, logoutNote)
		if err == nil {
			level := slog.LevelInfo
			if waited {
				level = slog.LevelWarn // the end of the warning above
			}
			h.srv.log.Log(ctx, level, "joined the cluster", "node", h.me(), "waited", time.Since(start).Round(time.Millisecond))
			return cursor, nil
		}
		if time.Now().After(deadline) {
			return cursor, err
		}
		if !waited {
			waited = true
			h.srv.log.Warn("waiting to join the cluster", "err", err, "up_to", deadline.Sub(start))
		} else {
			h.srv.log.Debug("still waiting to join the cluster", "err", err)
		}
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
	var wg, beat sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.publisher(ctx) }()
	// The reading and the heartbeat stop on a freeze; the publisher goes
	// on until ctx ends (the sessions that stay publish their logouts).
	bctx, stopBeat := context.WithCancel(ctx)
	defer stopBeat()
	beat.Add(2)
	go func() { defer beat.Done(); h.listen(bctx, signal) }()
	go func() { defer beat.Done(); h.heartbeat(bctx) }()
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
			beat.Wait()
			wg.Wait()
			return
		case reply := <-h.freezeReq:
			stopBeat()
			beat.Wait()
			reply <- cursor
			<-ctx.Done()
			wg.Wait()
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// freeze stops this node's reading of the log and its heartbeat for a
// live upgrade, and returns the position of the last event it applied:
// the new process reads from there (resumeFrom), so no event is applied
// twice or missed. The caller has stopped the sessions that move, so no
// room line of theirs waits to come back from the log. It fails when run
// does not answer within the bound (it is not running).
func (h *clusterHub) freeze(within time.Duration) (int64, error) {
	reply := make(chan int64, 1)
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case h.freezeReq <- reply:
	case <-t.C:
		return 0, errors.New("the cluster's log reader does not answer")
	}
	select {
	case c := <-reply:
		return c, nil
	case <-t.C:
		return 0, errors.New("the cluster's log reader does not answer")
	}
}

// resumeFrom is a new process's start in the cluster after a live
// upgrade: the old process's position in the log (Adopt). Until it comes
// this process beats the node's heartbeat beside the old one, which stops
// beating when it freezes, so the heartbeat does not lapse while the
// sessions move, however long that takes. Without a position (the
// hand-over failed before it), the node joins as after a restart.
func (h *clusterHub) resumeFrom(ctx context.Context) (int64, error) {
	var r resumeAt
	for wait := false; ; wait = true {
		if wait {
			if _, err := h.c.Heartbeat(ctx); err != nil && ctx.Err() == nil {
				h.srv.log.Error("cluster heartbeat", "err", err)
			}
		}
		select {
		case r = <-h.resume:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(h.srv.cfg().Cluster.NodeTimeout.Duration / 3):
			continue
		}
		break
	}
	if !r.ok {
		h.srv.log.Warn("upgrade: no position in the cluster's log came from the old process; joining as after a restart")
		return h.join(ctx)
	}
	if _, err := h.c.Heartbeat(ctx); err != nil {
		h.srv.log.Error("cluster heartbeat", "err", err)
	}
	h.srv.log.Info("upgrade: took the node over in the cluster", "node", h.me(), "cursor", r.cursor)
	return r.cursor, nil
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
			for _, p := range h.srv.hub.presences(h.me()) {
				// No SID: every session of the user here (several devices).
				h.srv.apply(&note{Kind: noteEnd, User: p.User, Room: byeError,
					Text: "this server lost contact with the others; log in again"})
			}
			if _, err := h.join(ctx); err != nil && ctx.Err() == nil {
				h.srv.log.Error("join the cluster again", "err", err)
			}
			continue
		}
		active := map[string]time.Time{}
		for _, p := range h.srv.hub.presences(h.me()) {
			active[p.SID] = p.LastActive
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
		h.mailOrphans(ctx, timeout)
		h.count(ctx)
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
		// Room lines from the log's clock, without a node's tag: that
		// clock is one for the whole cluster.
		n.ID = chatd.FormatID(e.Clock)
		h.srv.ids.Observe(e.Clock)
		h.applyLine(&n, own)
		return
	}
	if v, ok := chatd.ParseID(n.ID); ok {
		h.srv.ids.Observe(v)
	}
	// This node showed its own notes at once, except those written for
	// every node (a lost session's logout).
	if own && !n.Everywhere {
		return
	}
	h.srv.apply(&n)
}

// applyLine delivers a room line to this node's members of the room,
// under the room log's lock as on a single node. The node that said it
// stores it in the history, in the log's order.
func (h *clusterHub) applyLine(n *note, own bool) {
	var p *pendingLine
	if own {
		h.pendMu.Lock()
		p = h.pending[n.Ref]
		h.pendMu.Unlock()
	}
	ev, line := n.lineEvent(), n.historyLine()
	var sender *session
	var answer *event
	if p != nil {
		sender, answer = p.sender, ev.labeled(p.label)
	}
	l := h.srv.logs.get(n.Room)
	l.mu.Lock()
	l.append(line, h.srv.cfg().Messages.HistoryOnJoin)
	h.srv.showLine(nil, h.srv.hub.members(n.Room), ev, n.By, sender, answer)
	l.mu.Unlock()
	if !own {
		return
	}
	late := !h.srv.history.tryAdd(n.Room, line)
	if p == nil {
		if late { // the sender gave up waiting: nobody else will
			h.srv.history.add(n.Room, line)
		}
		return
	}
	p.line, p.late = line, late
	close(p.done)
}
