package daemon

import (
	"sync"

	"chatd"
)

// seenWriter writes the users' presence times of logins and logouts
// (last_login, last_seen, last_active: store.SetSeen) by group commit.
// The times that arrive while a batch is being written go together in
// the next, one transaction each, so a storm of logins, or everyone
// leaving at once, costs a commit per batch instead of one per session.
// A lone login or logout is written at once, as before, and each caller
// waits until its own times are stored (a logout's last seen is in the
// database before the user leaves the hub, for the who-was-online
// queries).
type seenWriter struct {
	mu      sync.Mutex // leaf: takes nothing; never held across the write
	pending []chatd.Seen
	next    *seenBatch // the batch pending goes out in; nil when none
	writing bool       // a goroutine is writing batches
}

// seenBatch is one write: done is closed once it is over, with err.
type seenBatch struct {
	done chan struct{}
	err  error
}

// write stores seen with whatever else is pending and returns once it is
// written, with the write's error.
func (w *seenWriter) write(srv *Server, seen chatd.Seen) error {
	w.mu.Lock()
	w.pending = append(w.pending, seen)
	b := w.next
	if b == nil {
		b = &seenBatch{done: make(chan struct{})}
		w.next = b
	}
	if !w.writing {
		w.writing = true
		go w.drain(srv)
	}
	w.mu.Unlock()
	<-b.done
	return b.err
}

// drain writes batches until none is pending.
func (w *seenWriter) drain(srv *Server) {
	w.mu.Lock()
	for w.next != nil {
		b, rows := w.next, w.pending
		w.next, w.pending = nil, nil
		w.mu.Unlock()
		ctx, cancel := srv.finishCtx() // at shutdown: ends with the grace
		b.err = srv.store.SetSeen(ctx, rows)
		cancel()
		close(b.done)
		w.mu.Lock()
	}
	w.writing = false
	w.mu.Unlock()
}
