package daemon

import (
	"sync"
	"time"

	"chatd"
)

// loginTimes writes each login's time (last_login, last_seen,
// last_active) by group commit: the login that finds no write under way
// writes its own and every one that arrives meanwhile, a transaction a
// batch, until none is left. One login alone is written at once, as
// before; a storm of them costs a commit per batch instead of one each.
// A crash loses at most the batch being written, which no one was told
// of (these times are never acknowledged to anyone).
type loginTimes struct {
	mu      sync.Mutex // leaf: takes nothing; never held across the write
	pending []chatd.Login
	writing bool
}

// record adds name's login at at, and writes the pending logins unless
// another login is already writing them.
func (l *loginTimes) record(srv *Server, name string, at time.Time) {
	l.mu.Lock()
	l.pending = append(l.pending, chatd.Login{Name: name, At: at})
	if l.writing {
		l.mu.Unlock()
		return
	}
	l.writing = true
	for len(l.pending) > 0 {
		batch := l.pending
		l.pending = nil
		l.mu.Unlock()
		ctx, cancel := srv.finishCtx()
		if err := srv.store.RecordLogins(ctx, batch); err != nil {
			srv.log.Error("record logins", "count", len(batch), "first", batch[0].Name, "err", err)
		}
		cancel()
		l.mu.Lock()
	}
	l.writing = false
	l.mu.Unlock()
}
