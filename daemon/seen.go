package daemon

import (
	"sync"
	"time"

	"chatd"
)

// seenWriter writes the users' presence times of logins and logouts
// (last_login, last_seen, last_active: store.SetSeen) by group commit.
// The times that arrive while a batch is being written go together in
// the next, one transaction each, so a storm of logins, or everyone
// leaving at once, costs a commit per batch instead of one per session.
//
// A logout waits until its times are stored (its last seen is in the
// database before the user leaves the hub, for the who-was-online
// queries), and a lone one is written at once. A login does not wait
// (note): its times are a record for later (the admin CLI's user list,
// last seen once the user has left), which may reach the database up to
// seenGather after the welcome, so they wait that long for company. A
// storm of logins so costs a commit every seenGather instead of one per
// commit's length, and the readers' page caches, which SQLite empties
// after each commit, are emptied as rarely. A crash loses at most seenGather of login times,
// well within the 30 s of last-seen times it may lose anyway
// (docs/operations.md).
type seenWriter struct {
	mu      sync.Mutex // leaf: takes nothing; never held across the write
	pending []chatd.Seen
	next    *seenBatch // the batch pending goes out in; nil when none
	writing bool       // a goroutine is writing batches
	// hurry cuts short the wait for company: a caller waits, or the
	// server stops (buffered: one kick is enough).
	hurry chan struct{}
}

// seenGather is how long a login's times wait for others before they are
// written.
const seenGather = 250 * time.Millisecond

// seenBatch is one write: done is closed once it is over.
type seenBatch struct {
	done chan struct{}
}

// write stores seen with whatever else is pending and returns once it is
// written (or failed: the writer logs it).
func (w *seenWriter) write(srv *Server, seen chatd.Seen) {
	<-w.add(srv, &seen, true).done
}

// note queues a login's times to be written within seenGather, without
// waiting.
func (w *seenWriter) note(srv *Server, seen chatd.Seen) {
	w.add(srv, &seen, false)
}

// flush returns once everything queued so far is written (or failed): the
// server calls it as it stops, after the last session ended.
func (w *seenWriter) flush(srv *Server) {
	<-w.add(srv, nil, true).done
}

// add queues seen (nil: nothing) in the next batch and starts the writer
// if none runs; urgent says the caller will wait for it.
func (w *seenWriter) add(srv *Server, seen *chatd.Seen, urgent bool) *seenBatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hurry == nil {
		w.hurry = make(chan struct{}, 1)
	}
	if seen != nil {
		w.pending = append(w.pending, *seen)
	}
	b := w.next
	if b == nil {
		b = &seenBatch{done: make(chan struct{})}
		w.next = b
	}
	if urgent {
		select {
		case w.hurry <- struct{}{}:
		default:
		}
	}
	if !w.writing {
		w.writing = true
		go w.drain(srv, !urgent)
	}
	return b
}

// drain writes batches until none is pending; gather says the first one
// may wait seenGather for company (or until a caller hurries it).
func (w *seenWriter) drain(srv *Server, gather bool) {
	if gather {
		t := time.NewTimer(seenGather)
		select {
		case <-t.C:
		case <-w.hurry:
			t.Stop()
		}
	}
	w.mu.Lock()
	for w.next != nil {
		b, rows := w.next, w.pending
		w.next, w.pending = nil, nil
		select {
		case <-w.hurry: // this batch answers whoever hurried
		default:
		}
		w.mu.Unlock()
		if len(rows) > 0 {
			ctx, cancel := srv.finishCtx() // at shutdown: ends with the grace
			err := srv.store.SetSeen(ctx, rows)
			cancel()
			if err != nil {
				srv.log.Error("write last seen times", "user", rows[0].Name, "users", len(rows), "err", err)
			}
		}
		close(b.done)
		w.mu.Lock()
	}
	w.writing = false
	w.mu.Unlock()
}
