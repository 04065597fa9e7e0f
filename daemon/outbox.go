// The output path of a session: its outbox, and who writes it when.

package daemon

import (
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Every event sent to a session goes into its outbox (session.queue), in
// order, under session.mu. At most one goroutine at a time holds the
// session's output (session.writing) and writes the outbox in that order;
// the output state (outMode, midLine, pending) belongs to that goroutine.
// It is one of:
//
//   - a flusher (flushScheduled): the reader goroutine that fanned a chat
//     line out writes each idle recipient with one non-blocking write
//     (write-through, plain TCP only). What the socket does not take at
//     once is handed to a writer goroutine, the rest of the queue with it.
//   - a writer goroutine (writeLoop), started on demand: blocking writes
//     under writeTimeout, afterWrite hooks, the final bye and the close. It
//     exits as soon as the outbox is empty, so an idle session has none.
//
// No goroutine ever waits on a socket while holding a lock: write-through
// never waits, and it runs after the fan-out, outside the room and hub locks.

// tryWriter is a Conn that can write without waiting (plain TCP).
type tryWriter interface {
	// canTryWrite reports whether tryWrite works on this connection.
	canTryWrite() bool
	// tryWrite writes what the socket takes at once. n < len(p) with a nil
	// error means the rest would have to wait.
	tryWrite(p []byte) (n int, err error)
}

// flushEvery is how many lines a reader goroutine handles at most before
// it writes what they queued, when more lines are already waiting.
const flushEvery = 64

// flusher is a reader goroutine's list of sessions it queued chat to and
// has yet to write (session.scheduled is set on each). It is written when
// the reader has no whole line of input left or has handled flushEvery
// lines, and before any command other than chat: a lone line goes out at
// once, and a client's burst of lines reaches each recipient in one write.
type flusher struct {
	list    *[]*session // from flushLists while not empty
	lines   int         // lines handled since the last flush
	scratch *[]byte     // a buffer for batches, during one flush only
	// lazy marks the server's presence flusher (presence.go): its list
	// holds sessions with session.lazy set, not session.scheduled.
	lazy bool
}

var flushLists = sync.Pool{New: func() any { return new([]*session) }}

func (fl *flusher) add(s *session) {
	if fl.list == nil {
		fl.list = flushLists.Get().(*[]*session)
	}
	*fl.list = append(*fl.list, s)
}

// pending reports whether any session waits for this flusher.
func (fl *flusher) pending() bool { return fl.list != nil }

// flush writes every session on the list.
func (fl *flusher) flush() {
	fl.lines = 0
	if fl.list == nil {
		return
	}
	list := *fl.list
	var helper sync.WaitGroup
	if n := len(list); n >= splitFlush && !fl.lazy && runtime.GOMAXPROCS(0) > 1 {
		// A big room: a second goroutine writes half of the recipients,
		// so one line reaches them on two cores at once. A presence wave
		// (lazy) stays on one: it is background work, and on both cores
		// at once it would hold back the chat that arrives meanwhile (on
		// two cores, no goroutine would be left to take a chat line from
		// the network until one half of the wave was written).
		half := list[n/2:]
		list = list[:n/2]
		helper.Go(func() {
			var other flusher
			other.writeAll(half)
			putBuf(other.scratch)
		})
	}
	fl.writeAll(list)
	helper.Wait()
	putBuf(fl.scratch)
	fl.scratch = nil
	fl.dropList()
}

// dropList gives fl's list, emptied, back to flushLists (a big one is let
// go) and leaves fl with none.
func (fl *flusher) dropList() {
	if list := *fl.list; cap(list) <= 16<<10 {
		*fl.list = list[:0]
		flushLists.Put(fl.list)
	}
	fl.list = nil
}

// splitFlush is how many recipients a flush shares with a second
// goroutine.
const splitFlush = 32

// writeAll writes each session of list and clears its entry.
func (fl *flusher) writeAll(list []*session) {
	for i, s := range list {
		list[i] = nil
		s.flushScheduled(fl)
	}
}

// send queues ev. It never blocks; it reports false when the session is
// closing. A full outbox means the client stopped reading: the queue is
// replaced by a final line and the session ends.
func (s *session) send(ev *event) bool { return s.enqueue(ev, nil) }

// sendVia is send for a reader goroutine fanning out: when s is idle, fl
// writes it later instead of a writer goroutine at once.
func (s *session) sendVia(fl *flusher, ev *event) bool { return s.enqueue(ev, fl) }

// sendLazy is send for presence (presence.go): when s is idle, ev waits
// up to presenceDelay for the server's presence flusher, so that a wave
// of logins or joins reaches each recipient in a few writes. Anything
// else queued meanwhile goes out at once as usual and takes ev with it,
// in order.
func (s *session) sendLazy(ev *event) bool { return s.enqueue(ev, lazyMark) }

// lazyMark stands for the server's presence flusher in enqueue.
var lazyMark = &flusher{lazy: true}

func (s *session) enqueue(ev *event, fl *flusher) bool {
	if s.irc != nil && s.irc.divert(s, ev) {
		return true
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if len(s.queue) >= outboxLimit {
		s.srv.metrics.slowClient()
		clear(s.queue)
		s.queue = append(s.queue[:0], byeEvent(byeError, "you are not reading your messages fast enough"))
		s.closed = true
		start := s.claimLocked()
		s.mu.Unlock()
		s.setReason(byeError)
		// A write blocked on this client's full socket gives up soon.
		s.conn.SetWriteDeadline(time.Now().Add(finalWriteTimeout))
		if start {
			go s.writeLoop()
		}
		return false
	}
	if len(s.queue) == cap(s.queue) {
		s.growQueueLocked()
	}
	s.queue = append(s.queue, ev)
	if s.writing || s.scheduled {
		s.mu.Unlock()
		return true
	}
	if fl == lazyMark {
		add := !s.lazy
		s.lazy = true
		s.mu.Unlock()
		if add {
			s.srv.presence.add(s)
		}
		return true
	}
	if fl != nil {
		s.scheduled = true
		s.mu.Unlock()
		fl.add(s)
		return true
	}
	s.writing = true
	s.mu.Unlock()
	go s.writeLoop()
	return true
}

// claimLocked takes the output for a writer goroutine the caller starts,
// unless someone holds it or will write the queue anyway. s.mu is held.
func (s *session) claimLocked() bool {
	if s.writing || s.scheduled {
		return false
	}
	s.writing = true
	return true
}

// end queues a bye line as the last thing this client will get and closes
// the outbox; the writer flushes it and closes the connection, which ends the
// reader. The first reason given wins. Safe from any goroutine.
func (s *session) end(reason, text string) {
	s.endWith(reason, byeEvent(reason, text))
}

// endWith is end with the bye event given.
func (s *session) endWith(reason string, bye *event) {
	s.setReason(reason)
	s.mu.Lock()
	start := false
	if !s.closed {
		s.queue = append(s.queue, bye)
		s.closed = true
		start = s.claimLocked()
	}
	s.mu.Unlock()
	if start {
		go s.writeLoop()
	}
}

// flushScheduled writes what flusher fl was to write for s.
func (s *session) flushScheduled(fl *flusher) {
	s.mu.Lock()
	if fl.lazy {
		s.lazy = false
	} else {
		s.scheduled = false
	}
	// A session another flusher has scheduled is left to that flusher.
	if s.writing || s.scheduled || len(s.queue) == 0 {
		s.mu.Unlock()
		return
	}
	s.writing = true
	tw, direct := s.conn.(tryWriter)
	direct = direct && !s.closed && tw.canTryWrite()
	for _, ev := range s.queue {
		if ev.afterWrite != nil {
			direct = false // hooks run on a writer goroutine
			break
		}
	}
	if !direct {
		s.mu.Unlock()
		go s.writeLoop()
		return
	}
	batch := s.takeLocked()
	s.mu.Unlock()
	s.writeThrough(tw, batch, fl)
}

// takeLocked takes the queue as a batch; the emptied previous batch
// becomes the next queue. s.mu is held.
func (s *session) takeLocked() []*event {
	batch := s.queue
	s.queue, s.spare = s.spare[:0], nil
	return batch
}

// spareCap is the largest emptied batch a session keeps for its next
// queue; a bigger one goes to bigQueues.
const spareCap = 256

// bigQueues holds emptied outbox arrays bigger than a session keeps,
// shared by all sessions (*[]*event, empty): in a burst each batch of a
// recipient is hundreds of lines, and without them every batch had its
// queue grown again from a small array, an allocation and a copy per
// doubling, for every recipient. A session holds a big array only while
// its outbox is busy (a big batch, once written, goes back here, never to
// the session's spare); the collector empties the pool once the burst is
// over, so a burst does not pin its memory.
var bigQueues sync.Pool

// growQueueLocked makes room for one more event in the full queue: a big
// array from bigQueues if there is one, else append's. s.mu is held.
func (s *session) growQueueLocked() {
	if p, _ := bigQueues.Get().(*[]*event); p != nil {
		if cap(*p) > len(s.queue) {
			s.queue = append((*p)[:0], s.queue...)
			return
		}
		bigQueues.Put(p)
	}
	s.queue = slices.Grow(s.queue, 1)
}

// doneWithLocked hands an emptied batch back for reuse as the next queue,
// or, if it is big, to bigQueues. s.mu is held.
func (s *session) doneWithLocked(batch []*event) {
	clear(batch)
	switch {
	case cap(batch) > spareCap:
		putBigQueue(batch)
	case s.spare == nil:
		s.spare = batch[:0]
	}
}

func putBigQueue(q []*event) {
	q = q[:0]
	bigQueues.Put(&q)
}

// writeThrough writes batch with one non-blocking write; the caller holds
// the output. What the socket does not take, and whatever was queued
// meanwhile, is left to a writer goroutine. Several events are rendered
// into the flusher's scratch buffer, one for the whole flush.
func (s *session) writeThrough(tw tryWriter, batch []*event, fl *flusher) {
	defer func() {
		// On the flusher's goroutine: a panic here ends this session's
		// output, not the flusher's session.
		if p := recover(); p != nil {
			s.srv.log.Error("session write panic", "addr", s.addr, "user", s.user, "panic", p, "stack", string(debug.Stack()))
			s.mu.Lock()
			s.failLocked()
			s.mu.Unlock()
			s.closeOutput()
		}
	}()
	var p []byte
	if len(batch) == 1 && s.plain(batch[0]) {
		// The common case: one line, the same bytes for every recipient.
		p = batch[0].render(s.outMode)
		if len(p) > 0 {
			s.midLine = p[len(p)-1] != '\n'
		}
	} else {
		if fl.scratch == nil {
			fl.scratch = getBuf()
		}
		buf := (*fl.scratch)[:0]
		for _, ev := range batch {
			buf = s.appendEvent(buf, ev)
		}
		*fl.scratch = buf
		p = buf
	}
	n, err := 0, error(nil)
	if len(p) > 0 {
		n, err = tw.tryWrite(p)
	}
	if err == nil && n < len(p) {
		// The writer starts with the rest, in a buffer it then keeps.
		s.pending = getBuf()
		*s.pending = append(*s.pending, p[n:]...)
	}
	s.mu.Lock()
	s.doneWithLocked(batch)
	if err != nil {
		s.failLocked()
		s.mu.Unlock()
		s.closeOutput()
		return
	}
	if s.pending == nil && len(s.queue) == 0 {
		s.writing = false
		if fl.lazy {
			s.shedLocked()
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	go s.writeLoop()
}

// plain reports whether ev is written as its shared rendering alone: no
// mode switch, no line end owed to a prompt, no per-reader time stamp.
func (s *session) plain(ev *event) bool {
	if ev.switchTo != 0 || s.midLine || s.irc != nil {
		return false
	}
	return s.outMode == modeJSON || (ev.stamp == stampNever && ev.id == "")
}

// appendEvent appends ev as this session writes it now (a mode switch
// changes the mode for what follows) and updates the output state.
func (s *session) appendEvent(buf []byte, ev *event) []byte {
	if s.irc != nil {
		return s.appendIRCEvent(buf, ev)
	}
	if ev.switchTo != 0 {
		s.outMode = ev.switchTo - 1
		return buf
	}
	out := ev.render(s.outMode)
	if len(out) == 0 {
		return buf
	}
	// A text prompt has no line end; whatever follows it that is not the
	// client's own typing starts on a new line, so the first JSON line
	// after "Username: " is still pure JSON.
	if s.midLine && !(ev.rawText && s.outMode == modeText) {
		buf = append(buf, '\r', '\n')
	}
	if s.outMode == modeText {
		if ev.conv != "" && ev.id != "" {
			s.shownLine(ev.conv, ev.id)
		}
		buf = s.markMention(buf, ev)
		buf = s.appendStamp(buf, ev)
		if ev.id != "" && s.prefs().IDs && len(out) >= 2 {
			// set ids on: the line ends with its message id.
			buf = append(buf, out[:len(out)-2]...)
			buf = append(buf, " ["...)
			buf = append(buf, ev.id...)
			out = []byte("]\r\n")
		}
	}
	buf = append(buf, out...)
	s.midLine = out[len(out)-1] != '\n'
	return buf
}

// failLocked records a failed write: the session ends with reason error
// and nothing more is queued. The caller keeps the output for good and
// calls closeOutput. s.mu is held.
func (s *session) failLocked() {
	s.setReason(byeError)
	s.closed = true
	clear(s.queue)
	s.queue = nil
	putBuf(s.pending)
	s.pending = nil
}

// closeOutput closes the connection (which ends the reader) and says the
// output is over. Only the holder of the output calls it, once.
func (s *session) closeOutput() {
	s.conn.Close()
	close(s.done)
}

// endOutput is closeOutput after the bye was written: where the transport
// can, the close lingers (see lingerCloser), so that what the client has
// not read yet still reaches it. The reader ends as with a close and
// finishes the close itself (serve).
func (s *session) endOutput() {
	if lc, ok := s.conn.(lingerCloser); ok {
		lc.closeWrite()
	} else {
		s.conn.Close()
	}
	close(s.done)
}

// writeLoop is a writer goroutine; the caller has set s.writing for it. It
// writes what write-through left over, then drains the outbox, each batch
// in writes of at most writeChunk bytes under a deadline, until the outbox
// is empty (then it gives the output back and exits) or closed (then it
// writes the bye, closes the connection and exits).
func (s *session) writeLoop() {
	bp := s.pending // what write-through left, if anything
	s.pending = nil
	if bp == nil {
		bp = getBuf()
	}
	defer func() { putBuf(bp) }()
	defer func() {
		if p := recover(); p != nil {
			s.srv.log.Error("session writer panic", "addr", s.addr, "user", s.user, "panic", p, "stack", string(debug.Stack()))
			s.mu.Lock()
			s.failLocked()
			s.mu.Unlock()
			s.closeOutput()
		}
	}()
	timeout := writeTimeout
	deadline := false // a write deadline is set
	// handed is set when a write was cut short for a hand-over
	// (upgrade.go): what it did not write is kept in s.pending.
	handed := false
	flush := func() bool {
		if len(*bp) == 0 {
			return true
		}
		deadline = true
		s.conn.SetWriteDeadline(time.Now().Add(timeout))
		n, err := s.conn.Write(*bp)
		if err != nil && s.handing.Load() == handStopped {
			handed = true
			*bp = (*bp)[:copy(*bp, (*bp)[n:])]
			return false
		}
		*bp = (*bp)[:0]
		return err == nil
	}
	// handOver gives the output up to the hand-over, with what is left
	// unwritten of batch (from i on) and of bp as s.pending.
	handOver := func(batch []*event, i int) {
		for _, ev := range batch[i:] {
			*bp = s.appendEvent(*bp, ev)
		}
		s.mu.Lock()
		if len(*bp) > 0 {
			s.pending, bp = bp, getBuf()
		}
		s.writing = false
		s.mu.Unlock()
	}
	fail := func() {
		s.mu.Lock()
		s.failLocked()
		s.mu.Unlock()
		s.closeOutput()
	}
	if !flush() { // the bytes write-through left
		if handed {
			handOver(nil, 0)
			return
		}
		fail()
		return
	}
	for {
		s.mu.Lock()
		closed := s.closed
		if len(s.queue) == 0 && !closed {
			if deadline {
				// A deadline that passed later would refuse write-through.
				// Cleared before the output is given back, so it can
				// never undo the deadline of the next writer.
				s.conn.SetWriteDeadline(time.Time{})
			}
			s.writing = false
			s.mu.Unlock()
			return
		}
		batch := s.takeLocked()
		s.mu.Unlock()

		if closed {
			timeout = finalWriteTimeout
		}
		ok, next := true, len(batch)
		for i, ev := range batch {
			*bp = s.appendEvent(*bp, ev)
			if len(*bp) >= writeChunk {
				if ok = flush(); !ok {
					next = i + 1
					break
				}
			}
		}
		if ok {
			ok = flush()
		}
		if !ok && handed {
			handOver(batch, next)
			return
		}
		if !ok {
			fail()
			return
		}
		for _, ev := range batch {
			if ev.afterWrite != nil {
				ev.afterWrite()
			}
		}
		s.mu.Lock()
		s.doneWithLocked(batch)
		s.mu.Unlock()
		if closed {
			s.endOutput()
			return
		}
		if cap(*bp) > 2*writeChunk {
			*bp = make([]byte, 0, 4096) // do not keep a huge event's buffer
		}
	}
}

// writeBufs are the buffers a batch is rendered into, shared by all
// sessions: an idle session holds none.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte {
	bp := writeBufs.Get().(*[]byte)
	*bp = (*bp)[:0]
	return bp
}

func putBuf(bp *[]byte) {
	if bp != nil && cap(*bp) <= 2*writeChunk {
		writeBufs.Put(bp)
	}
}
