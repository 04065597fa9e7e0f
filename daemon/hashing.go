package daemon

import (
	"runtime/debug"
	"time"

	"chatd/internal/password"
)

// The server's side of password hashing (internal/password does the
// hashing and queues it): a session's hash through the gate, the gate's
// slots for the settings in force, and the process memory and Ps that go
// with them when the server manages its process.

// hashPassword hashes pw through the gate for s; it fails with server_busy
// when the gate cannot serve it in time.
func (s *session) hashPassword(pw string) (string, error) {
	var hash string
	var err error
	if busy := s.srv.hashes.Do(s.addr, s.hashDeadline(), s.done, func() { hash, err = s.srv.pw.Hash(s.srv.hasher(), pw) }); busy != nil {
		return "", busy
	}
	return hash, err
}

// verifyPassword checks pw against a PHC hash through the gate. A full gate
// is server_busy; any other error means the stored hash is unreadable.
func (s *session) verifyPassword(phc, pw string) (bool, error) {
	var match bool
	var err error
	if busy := s.srv.hashes.Do(s.addr, s.hashDeadline(), s.done, func() { match, err = s.srv.pw.Verify(phc, pw) }); busy != nil {
		return false, busy
	}
	return match, err
}

// hashDeadline is how long a hash for s may wait: until the login deadline
// before login, one login_timeout from now after it (passwd, rooms).
func (s *session) hashDeadline() time.Time {
	if s.user == "" {
		return s.srv.loginDeadline(s)
	}
	return time.Now().Add(s.srv.cfg().Server.LoginTimeout.Duration)
}

// hashSlots is the gate's slots for the settings in force (password.Slots):
// only a server that manages its process holds a P back from hashing.
func (s *Server) hashSlots() int {
	return password.Slots(s.cfg().Argon2, s.pw, s.manageMemory)
}

// applyProcs raises GOMAXPROCS to make room for a hash beside the chat
// (password.RaiseProcs).
func (s *Server) applyProcs() { password.RaiseProcs(s.cfg().Argon2, s.pw) }

// applyMemoryLimit sets the process's soft memory limit from cfg, unless
// the operator set GOMEMLIMIT, and has the gate hand finished hashes'
// memory back to the system when it falls idle (at most every few
// seconds), so a burst of logins does not leave the process large.
func (s *Server) applyMemoryLimit() {
	if s.envMemLimit {
		return
	}
	debug.SetMemoryLimit(password.MemoryLimit(s.cfg()))
}

// freeHashMemory returns the memory of finished hashes to the system; the
// gate calls it when it falls idle.
func (s *Server) freeHashMemory() {
	if _, ok := s.claimFree(); ok {
		go debug.FreeOSMemory()
	}
}

// restFreeRows is how many rows a periodic write over everyone online
// (flushSeen, syncOnline) must have written for freeRestMemory to act.
const restFreeRows = 1000

// restQuiet is how long the online table must have had nothing to write
// before syncOnline hands back what the writes before left behind.
const restQuiet = 3 * time.Second

// freeRestMemory hands back to the system what writes of rows rows over
// the users online left behind (flushSeen's pass; syncOnline's writes once
// the table has been quiet for restQuiet, after a wave of logins), when
// the server manages its memory and the writes were large: at rest
// nothing else does (no hash, no presence wave), and the runtime would
// keep that garbage (rows, statement arguments, the login's leftovers)
// until its next collection, and the freed pages up to its heap goal
// after that. Shares freeEvery's turns: it reports false when another
// caller's turn came too recently (ask again later), else true (handed
// back, or nothing to do).
func (s *Server) freeRestMemory(rows int) bool {
	if !s.manageMemory || rows < restFreeRows {
		return true
	}
	if _, ok := s.claimFree(); ok {
		debug.FreeOSMemory()
		return true
	}
	return false
}

// freeEvery is how often at most the server hands memory back to the
// system, whoever asks (freeHashMemory, freeQuietMemory, freeRestMemory).
const freeEvery = 5 * time.Second

// claimFree takes the turn to hand memory back: ok when the caller may do
// it now, else wait is how long until the next turn (zero when another
// caller has just taken this one).
func (s *Server) claimFree() (wait time.Duration, ok bool) {
	now := time.Now().UnixNano()
	last := s.lastFree.Load()
	if w := last + int64(freeEvery) - now; w > 0 {
		return time.Duration(w), false
	}
	return 0, s.lastFree.CompareAndSwap(last, now)
}
