package daemon

import "time"

// A busy room is written in passes. Written line by line, a room of m
// members that gets r lines a second costs m·r writes a second, one
// system call per delivery, and on a small server that is most of the CPU
// long before the lines are too many to read. Once m·r passes the
// rooms.busy_writes budget, the room's lines are still queued to its
// members at once, in order, but their sessions are then written by the
// room in passes, at most one every m/budget seconds (never longer apart
// than maxRoomHold): each member gets everything said since the last pass
// in one write. A quiet room, and the first line after a pause, still go
// out at once; only the lines that follow closely wait for the pass.
//
// The rate r is a moving average of the time between the room's lines, so
// one quick exchange does not start passes and one pause does not end
// them. The pass's list is a flusher like a reader's (outbox.go): its
// sessions are scheduled, so whatever else is queued to them meanwhile,
// from any goroutine, goes out in the same write.
//
// A room's batch lives in its roomLog and is guarded by roomLog.mu, which
// say holds while it fans a line out.
type roomBatch struct {
	out      flusher // the sessions the next pass writes
	due      bool    // a pass is scheduled
	last     int64   // unix ns of the room's last line
	gap      int64   // moving average of the time between lines, ns
	lastPass int64   // unix ns of the last pass, or of the last line written at once
}

// maxRoomHold bounds the time between two passes of a busy room: the most
// a line waits for its pass, however big the room.
const maxRoomHold = 100 * time.Millisecond

// hold notes a line said at now (unix ns) in a room of members with the
// budget rooms.busy_writes and says how long the line waits for the pass:
// 0 to write it at once, < 0 to join the pass already scheduled.
func (b *roomBatch) hold(now int64, members, budget int) time.Duration {
	if b.last == 0 {
		b.gap = int64(time.Second)
	} else {
		b.gap += (now - b.last - b.gap) / 8
	}
	b.last = now
	if b.due {
		return -1
	}
	// members/gap lines a second, written on their own, cost
	// members·(1s/gap) writes a second: over budget?
	if budget <= 0 || int64(members)*int64(time.Second) <= int64(budget)*max(b.gap, 1) {
		b.lastPass = now
		return 0
	}
	every := min(time.Duration(int64(members)*int64(time.Second)/int64(budget)), maxRoomHold)
	wait := time.Duration(b.lastPass-now) + every
	if wait <= 0 {
		b.lastPass = now
		return 0
	}
	return wait
}

// take moves what fl was to write into the next pass.
func (b *roomBatch) take(fl *flusher) {
	if fl.list == nil {
		return
	}
	if b.out.list == nil {
		b.out.list, fl.list = fl.list, nil
		return
	}
	*b.out.list = append(*b.out.list, *fl.list...)
	clear(*fl.list)
	fl.dropList()
}

// batchSay ends say in a room whose log is l, with l.mu held: what the
// reader's flusher fl queued goes out at once (the reader writes it as
// usual), or is handed to the room's next pass.
func (l *roomLog) batchSay(fl *flusher, members, budget int, m *metrics) {
	wait := l.batch.hold(time.Now().UnixNano(), members, budget)
	if wait == 0 {
		return
	}
	l.batch.take(fl)
	if wait > 0 {
		l.batch.due = true
		time.AfterFunc(wait, func() { l.pass(m) })
	}
}

// pass writes the room's batch: every session on its list, each with one
// write of all it has queued.
func (l *roomLog) pass(m *metrics) {
	l.mu.Lock()
	fl := flusher{list: l.batch.out.list}
	l.batch.out.list = nil
	l.batch.due = false
	l.batch.lastPass = time.Now().UnixNano()
	l.mu.Unlock()
	m.roomPass()
	fl.flush()
}
