package daemon

import (
	"context"
	"slices"
	"sync"

	"chatd"
)

// roomLogs holds each room's newest lines in memory, so that a join replays
// exactly the lines the joiner did not see live: a chat line is appended
// and fanned out under its room's lock, and a join moves the user and
// snapshots the log under the same lock. The database copy (historyWriter)
// is for restarts.
type roomLogs struct {
	keep int                 // static after newRoomLogs
	mu   sync.Mutex          // leaf (DEVELOPING.md, "Locks")
	logs map[string]*roomLog // chatd.Key(room); guarded by mu
	// loaded says that load filled the logs of the rooms that existed at
	// start, so a log made later belongs to a room made since, whose
	// every line it sees; guarded by mu.
	loaded bool
}

type roomLog struct {
	mu    sync.Mutex          // tier 2
	lines []chatd.HistoryLine // oldest first, at most keep; guarded by mu
	// whole says that lines hold every line the room has ever kept: none
	// older is stored, so a replay needs nothing from the database;
	// guarded by mu.
	whole bool
	batch roomBatch // a busy room's pass (roombatch.go); guarded by mu
}

func newRoomLogs(keep int) *roomLogs {
	return &roomLogs{keep: keep, logs: map[string]*roomLog{}}
}

// load fills the logs from the database at start, and again when a
// hand-over brings the sessions (the lines said meanwhile).
func (r *roomLogs) load(ctx context.Context, store interface {
	chatd.RoomStore
	chatd.HistoryStore
}) error {
	if r.keep <= 0 {
		return nil
	}
	rooms, err := store.Rooms(ctx)
	if err != nil {
		return err
	}
	for _, room := range rooms {
		lines, err := store.History(ctx, room.Name, r.keep)
		if err != nil {
			return err
		}
		l := r.get(room.Name)
		l.mu.Lock() // a hand-over loads again (upgrade.go)
		l.lines, l.whole = lines, len(lines) < r.keep
		l.mu.Unlock()
	}
	r.mu.Lock()
	r.loaded = true
	r.mu.Unlock()
	return nil
}

// get returns the log of room, creating an empty one.
func (r *roomLogs) get(room string) *roomLog {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := chatd.Key(room)
	l, ok := r.logs[k]
	if !ok {
		l = &roomLog{whole: r.loaded}
		r.logs[k] = l
	}
	return l
}

// has reports whether room has recent lines kept in memory.
func (r *roomLogs) has(room string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.logs[chatd.Key(room)]
	return ok
}

// holds reports whether id is among room's recent lines kept in memory.
func (r *roomLogs) holds(room, id string) bool {
	if !r.has(room) {
		return false
	}
	l := r.get(room)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		if l.lines[i].MsgID == id {
			return true
		}
	}
	return false
}

// drop forgets a closed room.
func (r *roomLogs) drop(room string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.logs, chatd.Key(room))
}

// lockAll locks the logs of rooms in the order of their keys (the one
// order in which a goroutine may hold several room logs' locks,
// DEVELOPING.md "Locks") and returns the function that unlocks them.
func (r *roomLogs) lockAll(rooms []string) (unlock func()) {
	keys := make([]string, 0, len(rooms))
	byKey := map[string]*roomLog{}
	for _, room := range rooms {
		k := chatd.Key(room)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
			byKey[k] = r.get(room)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		byKey[k].mu.Lock()
	}
	return func() {
		for _, k := range slices.Backward(keys) {
			byKey[k].mu.Unlock()
		}
	}
}

// append adds a line; the caller holds l.mu.
func (l *roomLog) append(line chatd.HistoryLine, keep int) {
	if keep <= 0 {
		l.whole = false
		return
	}
	if len(l.lines) >= keep {
		l.whole = false
		copy(l.lines, l.lines[len(l.lines)-keep+1:])
		l.lines = l.lines[:keep-1]
	}
	l.lines = append(l.lines, line)
}

// replay queues the lines to sess as history, hiding senders it blocks
// when blocks apply to room chat. The caller holds l.mu.
func (l *roomLog) replay(sess *session, room string) { sendHistory(sess, room, l.lines) }

// sendHistory queues lines of room to sess as kind history, leaving out
// senders it blocks when blocks apply to room chat.
func sendHistory(sess *session, room string, lines []chatd.HistoryLine) {
	hide := sess.srv.cfg().Messages.BlocksApplyToBroadcast
	for _, line := range lines {
		if !hide || !sess.blocking(line.From) {
			sess.send(storedRoomLine(room, line))
		}
	}
}

// needsStored reports whether the newest n lines of the room after marker
// ("" for none) may reach back past what the log holds: it holds fewer
// than n lines (history_on_join was raised since, or nothing was kept),
// older ones may be stored, and its oldest is after marker. Then the
// login reads them from the database before it takes the locks.
func (l *roomLog) needsStored(marker string, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n <= 0 || l.whole || len(l.lines) >= n {
		return false
	}
	return len(l.lines) == 0 || l.lines[0].MsgID > marker
}

// replayAfter is the login replay of one room (PROTOCOL.md 9.6): the
// newest n lines after marker ("" for none, as for a new member), as
// history, if at least one of them is unread (someone else said it and
// sess does not hide it); else nothing. stored is the room's newest
// lines read from the database before the lock was taken, or nil: the
// log holds every line said since that read, so of stored only the lines
// older than the log's oldest (by id) are taken, and none comes twice.
// The caller holds l.mu.
func (l *roomLog) replayAfter(sess *session, room, marker string, stored []chatd.HistoryLine, n int) {
	lines := l.lines
	if len(stored) > 0 {
		older := stored
		if len(lines) > 0 {
			first := lines[0].MsgID
			older = slices.DeleteFunc(slices.Clone(stored), func(h chatd.HistoryLine) bool { return h.MsgID >= first })
		}
		lines = slices.Concat(older, lines)
	}
	start := len(lines)
	for start > 0 && lines[start-1].MsgID > marker && len(lines)-start < n {
		start--
	}
	lines = lines[start:]
	hide := sess.srv.cfg().Messages.BlocksApplyToBroadcast
	if !slices.ContainsFunc(lines, func(line chatd.HistoryLine) bool {
		return (!hide || !sess.blocking(line.From)) && chatd.Key(line.From) != chatd.Key(sess.user)
	}) {
		return
	}
	sendHistory(sess, room, lines)
}
