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
}

type roomLog struct {
	mu    sync.Mutex          // tier 2
	lines []chatd.HistoryLine // oldest first, at most keep; guarded by mu
	batch roomBatch           // a busy room's pass (roombatch.go); guarded by mu
}

func newRoomLogs(keep int) *roomLogs {
	return &roomLogs{keep: keep, logs: map[string]*roomLog{}}
}

// load fills the logs from the database at start.
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
		r.get(room.Name).lines = lines
	}
	return nil
}

// get returns the log of room, creating an empty one.
func (r *roomLogs) get(room string) *roomLog {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := chatd.Key(room)
	l, ok := r.logs[k]
	if !ok {
		l = &roomLog{}
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
		return
	}
	if len(l.lines) >= keep {
		copy(l.lines, l.lines[len(l.lines)-keep+1:])
		l.lines = l.lines[:keep-1]
	}
	l.lines = append(l.lines, line)
}

// replay queues the lines to sess as history, hiding senders it blocks
// when blocks apply to room chat. The caller holds l.mu.
func (l *roomLog) replay(sess *session, room string) {
	hide := sess.srv.cfg().Messages.BlocksApplyToBroadcast
	for _, line := range l.lines {
		if hide && sess.blocking(line.From) {
			continue
		}
		sess.send(roomMessage(kindHistory, line.MsgID, line.From, room, line.Text, line.Time, line.Action))
	}
}
