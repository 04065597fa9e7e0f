package daemon

import (
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
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

// applyMemoryLimit sets the process's soft memory limit from cfg and the
// live heap (password.MemoryLimit), unless the operator set GOMEMLIMIT. It
// runs at start, on reload and once a second (syncOnline), so that the
// limit follows the sessions. The gate hands finished hashes' memory back
// to the system when it falls idle (at most every few seconds), so a
// burst of logins does not leave the process large.
func (s *Server) applyMemoryLimit() {
	if s.envMemLimit {
		return
	}
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(sample)
	var live int64
	if sample[0].Value.Kind() == rtmetrics.KindUint64 {
		live = int64(sample[0].Value.Uint64())
	}
	if limit := password.MemoryLimit(s.cfg(), live); s.memLimit.Swap(limit) != limit {
		debug.SetMemoryLimit(limit)
	}
}

// freeHashMemory returns the memory of finished hashes to the system; the
// gate calls it when it falls idle.
func (s *Server) freeHashMemory() {
	if _, ok := s.claimFree(); ok {
		go debug.FreeOSMemory()
	}
}

// A wave of logins leaves the heap fragmented: what the logins threw away
// since the collector's last cycle is freed in the spans that also hold
// the new sessions' objects, and Go's collector does not move objects to
// empty a span, so those holes stay in use while the sessions last. The
// garbage of a cycle is up to GOGC percent of the live heap; a collector
// twice as eager while the logins come halves what the last cycle leaves
// (5,000 logins: 7.1 MB of holes at 100, 4.4 MB at 50; docs/performance.md
// "A smaller connection at rest"). Outside a wave the pace is the
// process's own again.
const (
	// waveRows is how many rows one pass of syncOnline (a second) must
	// write to count as a wave of logins.
	waveRows = 100
	// waveGCPercent is the collector's pace during a wave.
	waveGCPercent = 50
)

// gcPacer sets the collector's pace for waves of logins; syncOnline's
// goroutine only. set is debug.SetGCPercent (a test's own otherwise).
type gcPacer struct {
	set   func(int) int
	prev  int  // the pace before the wave, while paced
	paced bool // a wave set the pace
}

// wave notes a pass of syncOnline that wrote rows rows.
func (g *gcPacer) wave(rows int) {
	if g.set != nil && !g.paced && rows >= waveRows {
		g.prev, g.paced = g.set(waveGCPercent), true
	}
}

// rest gives the process its own pace back once the writes stopped.
func (g *gcPacer) rest() {
	if g.paced {
		g.set(g.prev)
		g.paced = false
	}
}

// gcPacer is the server's pacer: it acts only when the server manages
// its process and GOGC does not decide.
func (s *Server) gcPacer() *gcPacer {
	if !s.manageMemory || os.Getenv("GOGC") != "" {
		return &gcPacer{}
	}
	return &gcPacer{set: debug.SetGCPercent}
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
