package chatd

import (
	"context"
	"time"
)

// ClusterSession is one logged-in session as the nodes of a cluster share
// it: one row per session, one per user but under
// accounts.duplicate_login = "multi".
type ClusterSession struct {
	SID        string // unique per login, across nodes and restarts
	User       string
	Node       string
	Room       string   // the current room, "" for none
	Rooms      []string // every room the session is a member of
	Addr       string
	Listener   string
	Away       *string // nil when not away
	Since      time.Time
	LastActive time.Time
}

// ClusterEvent is one note a node wrote for every node to read, in the
// order of ID. Data is the daemon's own encoding. Clock is the value of
// the cluster's id clock that Publish gave the event (0 for events written
// otherwise): it increases with ID, and no two events share one.
type ClusterEvent struct {
	ID    int64
	Node  string
	Data  []byte
	Clock uint64
}

// ClusterMail is a private message acknowledged as delivered to a session
// on another node, kept until that node has written it to the session's
// connection or it is in the recipient's mailbox.
type ClusterMail struct {
	ID      int64
	Node    string // the node that owes the delivery
	SID     string // the session it is for; "" once that session is gone
	User    string // the recipient
	Message OfflineMessage
}

// Cluster is what the nodes serving one community share beside the Store:
// the sessions online on any node, each node's heartbeat, and an ordered
// log of events. Every method that takes events appends them in the same
// transaction as its change, and events become visible to readers in the
// order of their IDs (a reader that has seen ID n has seen every event
// before n). The db package implements it over PostgreSQL.
type Cluster interface {
	// Node is this node's name.
	Node() string
	// Join registers this node. Sessions a previous run of it left behind
	// are removed, with the events logout makes for each user who has no
	// session left. It fails while
	// another process with this node's name keeps its heartbeat younger
	// than timeout. cursor is the newest event ID: this node reads after it.
	Join(ctx context.Context, timeout time.Duration, logout func(ClusterSession) []byte) (cursor int64, err error)
	// Heartbeat tells the others this node is alive. alive is false when
	// the others have already declared it dead (its sessions are gone).
	Heartbeat(ctx context.Context) (alive bool, err error)
	// Reap removes every node whose heartbeat is older than timeout, and
	// its sessions, with the events logout makes for each of their users
	// who has no session left on any node (once per user); the
	// private messages the dead node owed become this node's orphans
	// (OrphanMail). Join makes the previous run's its orphans too.
	Reap(ctx context.Context, timeout time.Duration, logout func(ClusterSession) []byte) (reaped []ClusterSession, err error)
	// Leave removes this node and any session it still has.
	Leave(ctx context.Context) error

	// Claim adds s to its user's sessions under the duplicate-login
	// policy (accounts.duplicate_login): with "reject" an existing session
	// of the user on any node makes it fail with EAlreadyOnline; with
	// "replace" the user's sessions are removed first and events(prev)
	// tells their nodes; with "multi" the user's sessions on every node
	// count against max (ETooManySessions). first reports whether s is the
	// user's only session (others see a login only then); others are the
	// other users online when s went in.
	Claim(ctx context.Context, s ClusterSession, policy string, max int, events func(prev []ClusterSession) [][]byte) (others []string, first bool, err error)
	// Release removes session sid, appending event (if not nil) when it
	// was there and was its user's last session on any node.
	Release(ctx context.Context, sid string, event []byte) (bool, error)
	// SetRooms (the current room and every room of the session) and
	// SetAway change session sid and append event.
	SetRooms(ctx context.Context, sid, current string, rooms []string, event []byte) error
	SetAway(ctx context.Context, sid string, away *string, event []byte) error
	// SetActive writes the last-active time of sessions, by SID.
	SetActive(ctx context.Context, active map[string]time.Time) error
	// Sessions lists every session; SessionsOf the user's, on every node,
	// the first login first (none when offline).
	Sessions(ctx context.Context) ([]ClusterSession, error)
	SessionsOf(ctx context.Context, user string) ([]ClusterSession, error)

	// Publish appends events, in order, in one transaction. Unless
	// durable, the commit does not wait for the disk: a database crash may
	// lose the last fraction of a second of such events (room chat), never
	// the others. Each event gets the next value of the cluster's id
	// clock (ClusterEvent.Clock): greater than the last one given, and at
	// least the database's time in milliseconds shifted left by 16 (the
	// form of chatd.IDClock).
	Publish(ctx context.Context, events [][]byte, durable bool) error
	// SendPrivate records m (ID, Node, SID, User and the message; ID is
	// set here) as owed by m.Node and appends event(m.ID), durably, in one
	// transaction, when session m.SID is still online on m.Node. sent is
	// false when it is not: the message is not recorded and belongs in the
	// mailbox.
	SendPrivate(ctx context.Context, m ClusterMail, event func(id int64) []byte) (sent bool, err error)
	// MailDone forgets private message id: it was written to its
	// recipient's connection or stored in their mailbox.
	MailDone(ctx context.Context, id int64) error
	// OrphanMail lists the private messages this node owes that no session
	// will take: those a dead node's reaping or this node's previous run
	// left it, and those older than age whose session is gone. Each
	// belongs in its recipient's mailbox, then MailDone.
	OrphanMail(ctx context.Context, age time.Duration) ([]ClusterMail, error)

	// EventsAfter returns up to limit events with IDs above after, oldest
	// first.
	EventsAfter(ctx context.Context, after int64, limit int) ([]ClusterEvent, error)
	// Listen calls wake whenever events may have been appended, until ctx
	// ends or the connection fails (it returns why).
	Listen(ctx context.Context, wake func()) error
	// PruneEvents deletes events older than age.
	PruneEvents(ctx context.Context, age time.Duration) (int64, error)

	Close() error
}
