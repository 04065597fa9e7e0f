package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/jmoiron/sqlx"

	"chatd"
)

// Cluster is the state the nodes of one community share in PostgreSQL
// (see docs/cluster.md): cluster_nodes (a heartbeat per node),
// cluster_sessions (who is online, one row per session: several per user
// under accounts.duplicate_login = "multi") and cluster_events (the
// log every node reads after its own cursor). It implements chatd.Cluster.
//
// Ordering: every transaction that appends events first takes one
// transaction-level advisory lock (eventLock), so events are numbered and
// committed one transaction after another, and a reader that sees event n
// has seen every event before it: reading "id > cursor" never skips a row
// that commits later. The lock is taken before any row lock, so those
// transactions cannot deadlock among themselves.
type Cluster struct {
	node string
	url  string
	db   *sqlx.DB
}

var _ chatd.Cluster = (*Cluster)(nil)

// eventLock is the advisory lock key that orders event appends. It is
// beyond 32 bits, so no lock keyed by hashtext (an int4) can take it.
const eventLock int64 = 0x636861745f657674 // "chat_evt"

// notifyChannel is the LISTEN/NOTIFY channel that wakes readers.
const notifyChannel = "chatd_events"

// clusterSchema creates the cluster's tables; it runs on every open, under
// the event lock so that nodes starting together do not race.
const clusterSchema = `
CREATE TABLE IF NOT EXISTS cluster_nodes (
	node      text PRIMARY KEY,
	heartbeat timestamptz NOT NULL,
	started   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_sessions (
	user_key    text PRIMARY KEY,
	sid         text NOT NULL UNIQUE,
	name        text NOT NULL,
	node        text NOT NULL,
	room        text NOT NULL,
	addr        text NOT NULL,
	listener    text NOT NULL,
	away        text,
	since       timestamptz NOT NULL,
	last_active timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS cluster_sessions_node ON cluster_sessions (node);
CREATE TABLE IF NOT EXISTS cluster_events (
	id      bigserial PRIMARY KEY,
	node    text NOT NULL,
	data    text NOT NULL,
	created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cluster_events_created ON cluster_events (created);
ALTER TABLE cluster_events ADD COLUMN IF NOT EXISTS clock bigint NOT NULL DEFAULT 0;
-- The cluster's id clock (see Publish): one row, the last value given.
CREATE TABLE IF NOT EXISTS cluster_clock (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	last bigint NOT NULL
);
INSERT INTO cluster_clock (one, last) VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS cluster_mail (
	id        bigserial PRIMARY KEY,
	node      text NOT NULL,
	sid       text NOT NULL,
	recipient text NOT NULL,
	sender    text NOT NULL,
	names     text NOT NULL,
	body      text NOT NULL,
	sent      timestamptz NOT NULL,
	created   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cluster_mail_node ON cluster_mail (node);
ALTER TABLE cluster_mail ADD COLUMN IF NOT EXISTS mid text NOT NULL DEFAULT '';
-- Every room of a session (PROTOCOL.md 9.3), separated by spaces (room
-- names have none); room is the current one.
ALTER TABLE cluster_sessions ADD COLUMN IF NOT EXISTS rooms text NOT NULL DEFAULT '';
-- One row per session, several per user (duplicate_login = "multi"): the
-- user's key is no longer unique (Claim counts under the event lock).
ALTER TABLE cluster_sessions DROP CONSTRAINT IF EXISTS cluster_sessions_pkey;
CREATE INDEX IF NOT EXISTS cluster_sessions_user ON cluster_sessions (user_key);
`

// OpenCluster connects node to the cluster state in the PostgreSQL
// database at url, creating its tables if needed.
func OpenCluster(ctx context.Context, url, node string) (*Cluster, error) {
	if node == "" {
		return nil, errors.New("open cluster: the node needs a name")
	}
	d, err := sqlx.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open cluster database: %w", err)
	}
	d.SetMaxOpenConns(16)
	d.SetMaxIdleConns(16)
	c := &Cluster{node: node, url: url, db: d}
	err = c.events(ctx, nil, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, clusterSchema)
		return err
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("create cluster tables: %w", err)
	}
	return c, nil
}

// Node is this node's name.
func (c *Cluster) Node() string { return c.node }

// Close closes the connections.
func (c *Cluster) Close() error { return c.db.Close() }

// events runs change in a transaction that holds the event lock and
// appends the events change returns (plus those given), then wakes the
// readers if it appended any.
func (c *Cluster) events(ctx context.Context, evs [][]byte, change func(tx *sqlx.Tx) error) error {
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, eventLock); err != nil {
		return err
	}
	if change != nil {
		if err := change(tx); err != nil {
			return err
		}
	}
	if err := c.append(ctx, tx, evs); err != nil {
		return err
	}
	return tx.Commit()
}

// append adds evs (nil entries skipped) to the log in tx, which holds the
// event lock, and notifies the readers at commit.
func (c *Cluster) append(ctx context.Context, tx *sqlx.Tx, evs [][]byte) error {
	return c.appendClocked(ctx, tx, evs, false)
}

// appendClocked is append; with clocked, the events get the next values of
// the id clock, in order. The event lock makes the clock's row change one
// transaction after another, in the order of the events' ids.
func (c *Cluster) appendClocked(ctx context.Context, tx *sqlx.Tx, evs [][]byte, clocked bool) error {
	data := make([]string, 0, len(evs))
	for _, e := range evs {
		if e != nil {
			data = append(data, string(e))
		}
	}
	if len(data) == 0 {
		return nil
	}
	var first int64 // the first clock value; 0: none
	if clocked {
		err := tx.GetContext(ctx, &first, `UPDATE cluster_clock
			SET last = greatest(last + 1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint << 16) + $1 - 1
			RETURNING last - $1 + 1`, len(data))
		if err != nil {
			return fmt.Errorf("advance the id clock: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO cluster_events (node, data, clock)
			SELECT $1, d, CASE WHEN $3::bigint = 0 THEN 0 ELSE $3::bigint + n - 1 END
			FROM unnest($2::text[]) WITH ORDINALITY AS u(d, n) ORDER BY n`,
		c.node, data, first)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, '')`, notifyChannel); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Join registers this node; see chatd.Cluster.
func (c *Cluster) Join(ctx context.Context, timeout time.Duration, logout func(chatd.ClusterSession) []byte) (int64, error) {
	var cursor int64
	err := c.events(ctx, nil, func(tx *sqlx.Tx) error {
		var age float64
		err := tx.GetContext(ctx, &age,
			`SELECT extract(epoch FROM now() - heartbeat) FROM cluster_nodes WHERE node = $1 FOR UPDATE`, c.node)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case time.Duration(age*float64(time.Second)) < timeout:
			return fmt.Errorf("node %q is already running (its heartbeat is %.1fs old); give each node its own cluster.node", c.node, age)
		}
		stale, err := c.removeSessions(ctx, tx, `node = $1`, c.node)
		if err != nil {
			return err
		}
		evs, err := c.logouts(ctx, tx, stale, logout)
		if err != nil {
			return err
		}
		if err := c.append(ctx, tx, evs); err != nil {
			return err
		}
		// The previous run's sessions are gone: what it owed them is
		// mail now.
		if _, err := tx.ExecContext(ctx, `UPDATE cluster_mail SET sid = '' WHERE node = $1`, c.node); err != nil {
			return fmt.Errorf("take over the previous run's mail: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO cluster_nodes (node, heartbeat, started) VALUES ($1, now(), now())
			ON CONFLICT (node) DO UPDATE SET heartbeat = now(), started = now()`, c.node)
		if err != nil {
			return err
		}
		return tx.GetContext(ctx, &cursor, `SELECT coalesce(max(id), 0) FROM cluster_events`)
	})
	if err != nil {
		return 0, fmt.Errorf("join the cluster as %s: %w", c.node, err)
	}
	return cursor, nil
}

// removeSessions deletes the sessions matching where and returns them.
func (c *Cluster) removeSessions(ctx context.Context, tx *sqlx.Tx, where string, args ...any) ([]chatd.ClusterSession, error) {
	var rows []sessionRow
	err := tx.SelectContext(ctx, &rows, `DELETE FROM cluster_sessions WHERE `+where+` RETURNING `+sessionCols, args...)
	if err != nil {
		return nil, fmt.Errorf("remove sessions: %w", err)
	}
	return sessionsOf(rows), nil
}

// logouts are the events logout makes for the removed sessions gone, in
// tx (under the event lock, after their rows were deleted): one per user
// who has no session left on any node. A user with another session still
// online is not announced as gone.
func (c *Cluster) logouts(ctx context.Context, tx *sqlx.Tx, gone []chatd.ClusterSession, logout func(chatd.ClusterSession) []byte) ([][]byte, error) {
	if len(gone) == 0 {
		return nil, nil
	}
	keys := make([]string, len(gone))
	for i, s := range gone {
		keys[i] = chatd.Key(s.User)
	}
	var online []string
	err := tx.SelectContext(ctx, &online, `SELECT DISTINCT user_key FROM cluster_sessions WHERE user_key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("find users still online: %w", err)
	}
	told := map[string]bool{}
	for _, k := range online {
		told[k] = true
	}
	var evs [][]byte
	for i, s := range gone {
		if !told[keys[i]] {
			told[keys[i]] = true
			evs = append(evs, logout(s))
		}
	}
	return evs, nil
}

// Heartbeat; see chatd.Cluster.
func (c *Cluster) Heartbeat(ctx context.Context) (bool, error) {
	n, err := rowsChanged(ctx, c.db, `UPDATE cluster_nodes SET heartbeat = now() WHERE node = $1`, c.node)
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return n == 1, nil
}

// Reap; see chatd.Cluster. Only one node reaps a dead one: the row lock
// and the event lock make the others find it gone.
func (c *Cluster) Reap(ctx context.Context, timeout time.Duration, logout func(chatd.ClusterSession) []byte) ([]chatd.ClusterSession, error) {
	var dead []string
	err := c.db.SelectContext(ctx, &dead,
		`SELECT node FROM cluster_nodes WHERE heartbeat < now() - make_interval(secs => $1) AND node <> $2`,
		timeout.Seconds(), c.node)
	if err != nil {
		return nil, fmt.Errorf("find dead nodes: %w", err)
	}
	var out []chatd.ClusterSession
	for _, node := range dead {
		err := c.events(ctx, nil, func(tx *sqlx.Tx) error {
			n, err := rowsChanged(ctx, tx,
				`DELETE FROM cluster_nodes WHERE node = $1 AND heartbeat < now() - make_interval(secs => $2)`,
				node, timeout.Seconds())
			if err != nil || n == 0 {
				return err // n == 0: it came back, or another node reaped it
			}
			gone, err := c.removeSessions(ctx, tx, `node = $1`, node)
			if err != nil {
				return err
			}
			// What it owed its sessions goes to their mailboxes, by this
			// node: with the sessions, so that nothing can still be
			// delivered to them and no message is left without an owner.
			if _, err := tx.ExecContext(ctx, `UPDATE cluster_mail SET node = $1, sid = '' WHERE node = $2`, c.node, node); err != nil {
				return fmt.Errorf("take over its mail: %w", err)
			}
			evs, err := c.logouts(ctx, tx, gone, logout)
			if err != nil {
				return err
			}
			out = append(out, gone...)
			return c.append(ctx, tx, evs)
		})
		if err != nil {
			return out, fmt.Errorf("reap node %s: %w", node, err)
		}
	}
	return out, nil
}

// Leave; see chatd.Cluster.
func (c *Cluster) Leave(ctx context.Context) error {
	return c.events(ctx, nil, func(tx *sqlx.Tx) error {
		if _, err := c.removeSessions(ctx, tx, `node = $1`, c.node); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM cluster_nodes WHERE node = $1`, c.node)
		return err
	})
}

// Claim; see chatd.Cluster. Every insert into cluster_sessions is made
// here, under the event lock, so counting the user's rows and adding one
// cannot interleave with another node's: two nodes cannot both admit the
// session that goes beyond the limit, and exactly one of two first
// sessions is first.
func (c *Cluster) Claim(ctx context.Context, s chatd.ClusterSession, policy string, max int, events func(prev []chatd.ClusterSession) [][]byte) ([]string, bool, error) {
	var others []string
	first := false
	err := c.events(ctx, nil, func(tx *sqlx.Tx) error {
		var here int
		if err := tx.GetContext(ctx, &here, `SELECT count(*) FROM cluster_nodes WHERE node = $1`, c.node); err != nil {
			return err
		}
		if here == 0 {
			return fmt.Errorf("node %s is not in the cluster (declared dead)", c.node)
		}
		key := chatd.Key(s.User)
		var prev []chatd.ClusterSession
		if policy == "replace" {
			var err error
			if prev, err = c.removeSessions(ctx, tx, `user_key = $1`, key); err != nil {
				return err
			}
		}
		var mine int
		if err := tx.GetContext(ctx, &mine, `SELECT count(*) FROM cluster_sessions WHERE user_key = $1`, key); err != nil {
			return err
		}
		switch {
		case mine == 0:
		case policy != "multi":
			return chatd.Errorf(chatd.EAlreadyOnline, "%s is already logged in elsewhere", s.User)
		case mine >= max:
			return chatd.Errorf(chatd.ETooManySessions, "%s has %d sessions already (accounts.max_sessions)", s.User, mine)
		}
		first = mine == 0
		_, err := tx.ExecContext(ctx, `INSERT INTO cluster_sessions (user_key, sid, name, node, room, rooms, addr, listener, away, since, last_active)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			key, s.SID, s.User, c.node, s.Room, strings.Join(s.Rooms, " "), s.Addr, s.Listener, s.Away, s.Since, s.LastActive)
		if err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &others, `SELECT DISTINCT name FROM cluster_sessions WHERE sid <> $1`, s.SID); err != nil {
			return err
		}
		return c.append(ctx, tx, events(prev))
	})
	if err != nil && chatd.ErrorCode(err) == chatd.EInternal {
		err = fmt.Errorf("claim the session of %s: %w", s.User, err)
	}
	return others, first, err
}

// Release; see chatd.Cluster. The user's last row is decided here, under
// the event lock that every Claim holds too.
func (c *Cluster) Release(ctx context.Context, sid string, event []byte) (bool, error) {
	var gone bool
	err := c.events(ctx, nil, func(tx *sqlx.Tx) error {
		rows, err := c.removeSessions(ctx, tx, `sid = $1`, sid)
		if err != nil || len(rows) == 0 {
			return err
		}
		gone = true
		var left int
		if err := tx.GetContext(ctx, &left, `SELECT count(*) FROM cluster_sessions WHERE user_key = $1`, chatd.Key(rows[0].User)); err != nil {
			return err
		}
		if left > 0 {
			return nil // another session of the user is online: no logout
		}
		return c.append(ctx, tx, [][]byte{event})
	})
	if err != nil {
		return false, fmt.Errorf("release session %s: %w", sid, err)
	}
	return gone, nil
}

// SetRooms; see chatd.Cluster.
func (c *Cluster) SetRooms(ctx context.Context, sid, current string, rooms []string, event []byte) error {
	err := c.events(ctx, [][]byte{event}, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE cluster_sessions SET room = $2, rooms = $3 WHERE sid = $1`,
			sid, current, strings.Join(rooms, " "))
		return err
	})
	if err != nil {
		return fmt.Errorf("move session %s: %w", sid, err)
	}
	return nil
}

// SetAway; see chatd.Cluster.
func (c *Cluster) SetAway(ctx context.Context, sid string, away *string, event []byte) error {
	err := c.events(ctx, [][]byte{event}, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE cluster_sessions SET away = $2 WHERE sid = $1`, sid, away)
		return err
	})
	if err != nil {
		return fmt.Errorf("set away of session %s: %w", sid, err)
	}
	return nil
}

// SetActive; see chatd.Cluster.
func (c *Cluster) SetActive(ctx context.Context, active map[string]time.Time) error {
	if len(active) == 0 {
		return nil
	}
	sids := make([]string, 0, len(active))
	times := make([]time.Time, 0, len(active))
	for sid, t := range active {
		sids = append(sids, sid)
		times = append(times, t)
	}
	_, err := c.db.ExecContext(ctx, `UPDATE cluster_sessions SET last_active = v.t
		FROM unnest($1::text[], $2::timestamptz[]) AS v(sid, t) WHERE cluster_sessions.sid = v.sid`, sids, times)
	if err != nil {
		return fmt.Errorf("write last active: %w", err)
	}
	return nil
}

const sessionCols = `sid, name, node, room, rooms, addr, listener, away, since, last_active`

type sessionRow struct {
	SID        string         `db:"sid"`
	Name       string         `db:"name"`
	Node       string         `db:"node"`
	Room       string         `db:"room"`
	Rooms      string         `db:"rooms"`
	Addr       string         `db:"addr"`
	Listener   string         `db:"listener"`
	Away       sql.NullString `db:"away"`
	Since      time.Time      `db:"since"`
	LastActive time.Time      `db:"last_active"`
}

func sessionsOf(rows []sessionRow) []chatd.ClusterSession {
	out := make([]chatd.ClusterSession, len(rows))
	for i, r := range rows {
		out[i] = chatd.ClusterSession{SID: r.SID, User: r.Name, Node: r.Node, Room: r.Room, Rooms: strings.Fields(r.Rooms), Addr: r.Addr,
			Listener: r.Listener, Since: r.Since, LastActive: r.LastActive}
		if r.Away.Valid {
			away := r.Away.String
			out[i].Away = &away
		}
	}
	return out
}

// Sessions; see chatd.Cluster.
func (c *Cluster) Sessions(ctx context.Context) ([]chatd.ClusterSession, error) {
	var rows []sessionRow
	if err := c.db.SelectContext(ctx, &rows, `SELECT `+sessionCols+` FROM cluster_sessions ORDER BY user_key, since, sid`); err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return sessionsOf(rows), nil
}

// SessionsOf; see chatd.Cluster.
func (c *Cluster) SessionsOf(ctx context.Context, user string) ([]chatd.ClusterSession, error) {
	var rows []sessionRow
	err := c.db.SelectContext(ctx, &rows, `SELECT `+sessionCols+` FROM cluster_sessions WHERE user_key = $1 ORDER BY since, sid`, chatd.Key(user))
	if err != nil {
		return nil, fmt.Errorf("read sessions of %s: %w", user, err)
	}
	return sessionsOf(rows), nil
}

// Publish; see chatd.Cluster.
func (c *Cluster) Publish(ctx context.Context, evs [][]byte, durable bool) error {
	var change func(tx *sqlx.Tx) error
	if !durable {
		change = func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO off`)
			return err
		}
	}
	err := c.events(ctx, nil, func(tx *sqlx.Tx) error {
		if change != nil {
			if err := change(tx); err != nil {
				return err
			}
		}
		return c.appendClocked(ctx, tx, evs, true)
	})
	if err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}

// SendPrivate; see chatd.Cluster. The session's row is read under the
// event lock, which Reap, Release and Claim hold too: either the session is
// there and the message is recorded before its node can be reaped (and is
// then taken over with it), or it is gone and nothing is recorded.
func (c *Cluster) SendPrivate(ctx context.Context, m chatd.ClusterMail, event func(id int64) []byte) (bool, error) {
	sent := false
	err := c.events(ctx, nil, func(tx *sqlx.Tx) error {
		var here int
		err := tx.GetContext(ctx, &here, `SELECT count(*) FROM cluster_sessions WHERE sid = $1 AND node = $2`, m.SID, m.Node)
		if err != nil || here == 0 {
			return err
		}
		msg := m.Message
		err = tx.GetContext(ctx, &m.ID, `INSERT INTO cluster_mail (node, sid, recipient, sender, names, body, sent, mid)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			m.Node, m.SID, m.User, msg.From, strings.Join(msg.To, " "), msg.Text, msg.Time, msg.MsgID)
		if err != nil {
			return err
		}
		sent = true
		return c.append(ctx, tx, [][]byte{event(m.ID)})
	})
	if err != nil {
		return false, fmt.Errorf("send a private message to %s: %w", m.User, err)
	}
	return sent, nil
}

// MailDone; see chatd.Cluster.
func (c *Cluster) MailDone(ctx context.Context, id int64) error {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM cluster_mail WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget delivered private message: %w", err)
	}
	return nil
}

// OrphanMail; see chatd.Cluster.
func (c *Cluster) OrphanMail(ctx context.Context, age time.Duration) ([]chatd.ClusterMail, error) {
	var rows []struct {
		ID        int64     `db:"id"`
		Recipient string    `db:"recipient"`
		Sender    string    `db:"sender"`
		Names     string    `db:"names"`
		Body      string    `db:"body"`
		Sent      time.Time `db:"sent"`
		MID       string    `db:"mid"`
	}
	err := c.db.SelectContext(ctx, &rows, `SELECT id, recipient, sender, names, body, sent, mid FROM cluster_mail m
		WHERE node = $1 AND (sid = '' OR (created < now() - make_interval(secs => $2)
			AND NOT EXISTS (SELECT 1 FROM cluster_sessions s WHERE s.sid = m.sid)))
		ORDER BY id LIMIT 1000`, c.node, age.Seconds())
	if err != nil {
		return nil, fmt.Errorf("read orphaned private messages: %w", err)
	}
	out := make([]chatd.ClusterMail, len(rows))
	for i, r := range rows {
		out[i] = chatd.ClusterMail{ID: r.ID, Node: c.node, User: r.Recipient,
			Message: chatd.OfflineMessage{MsgID: r.MID, From: r.Sender, To: strings.Fields(r.Names), Text: r.Body, Time: r.Sent}}
	}
	return out, nil
}

// EventsAfter; see chatd.Cluster.
func (c *Cluster) EventsAfter(ctx context.Context, after int64, limit int) ([]chatd.ClusterEvent, error) {
	var rows []struct {
		ID    int64  `db:"id"`
		Node  string `db:"node"`
		Data  string `db:"data"`
		Clock int64  `db:"clock"`
	}
	err := c.db.SelectContext(ctx, &rows, `SELECT id, node, data, clock FROM cluster_events WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out := make([]chatd.ClusterEvent, len(rows))
	for i, r := range rows {
		out[i] = chatd.ClusterEvent{ID: r.ID, Node: r.Node, Data: []byte(r.Data), Clock: uint64(r.Clock)}
	}
	return out, nil
}

// Listen; see chatd.Cluster. It holds a connection of its own.
func (c *Cluster) Listen(ctx context.Context, wake func()) error {
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	wake() // whatever was appended before LISTEN took effect
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait for events: %w", err)
		}
		wake()
	}
}

// PruneEvents; see chatd.Cluster.
func (c *Cluster) PruneEvents(ctx context.Context, age time.Duration) (int64, error) {
	n, err := rowsChanged(ctx, c.db, `DELETE FROM cluster_events WHERE created < now() - make_interval(secs => $1)`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}
