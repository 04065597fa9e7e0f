package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"chatd"
)

// hashGate is the queue in front of argon2id. At most argon2.max_concurrent
// hashes run at once (each holds argon2.memory_kib of memory); the others
// wait their turn, and the turn is fair per source address: when a slot
// frees, it goes to the waiting address that has the fewest hashes running,
// round-robin among equals, and each address's own requests run in arrival
// order. So a flood from a few addresses holds at most its share of slots
// and delays a login from elsewhere by about one round, however long its
// own queue is.
//
// A request is admitted to the queue only if it can be served before its
// deadline (the login deadline): the expected wait is the requests ahead
// of it in its address's queue, times the number of addresses taking
// turns, divided by the slots, times the recent hash duration. What cannot
// finish in time is refused with server_busy at once instead of holding a
// place; a genuine storm of logins from many addresses that can all finish
// in time all get through. A waiter whose deadline passes or whose session
// ends leaves the queue without hashing.
//
// Locking: g.mu is a leaf lock, held only for queue bookkeeping.
type hashGate struct {
	slots func() int // argon2.max_concurrent in force

	mu      sync.Mutex
	running int
	addrs   map[string]*gateAddr // addresses with hashes running or waiting
	served  uint64               // counts grants, to order addresses by their last
	avg     time.Duration        // moving average of one hash
	idle    func()               // runs (outside mu) when the gate empties
}

// gateAddr is one source address's place in the gate.
type gateAddr struct {
	running    int
	waiting    []*gateWaiter
	lastServed uint64 // g.served at this address's latest grant
}

type gateWaiter struct {
	granted chan struct{} // closed when the waiter holds a slot
	gone    <-chan struct{}
}

func newHashGate(slots func() int) *hashGate {
	return &hashGate{slots: slots, addrs: map[string]*gateAddr{}}
}

var errBusy = chatd.Errorf(chatd.EServerBusy, "the server is busy checking other passwords; try again in a moment")

// do runs fn (one argon2 hash) for a client at addr once a slot is free. It
// fails with server_busy, without running fn, when the wait could not end
// before deadline, or when gone is closed (the session is ending) first.
func (g *hashGate) do(addr string, deadline time.Time, gone <-chan struct{}, fn func()) error {
	w, err := g.enter(addr, deadline, gone)
	if err != nil {
		return err
	}
	if w != nil {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		select {
		case <-w.granted:
		case <-timer.C:
			if g.leave(addr, w) {
				return errBusy
			}
		case <-gone:
			if g.leave(addr, w) {
				return errBusy
			}
		}
	}
	start := time.Now()
	defer func() { g.release(addr, time.Since(start)) }()
	fn()
	return nil
}

// enter takes a slot at once (nil waiter) or queues a waiter, or refuses.
func (g *hashGate) enter(addr string, deadline time.Time, gone <-chan struct{}) (*gateWaiter, error) {
	select {
	case <-gone:
		return nil, errBusy
	default:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.addrs[addr]
	if a == nil {
		a = &gateAddr{}
		g.addrs[addr] = a
	}
	slots := max(1, g.slots())
	if g.running < slots && g.queuedLocked() == 0 {
		g.grantLocked(a)
		return nil, nil
	}
	// Turns taken before this one is served: one per address in the
	// rotation for every request of this address ahead of it, plus one.
	turns := (len(a.waiting) + 1) * g.contendersLocked(addr)
	wait := time.Duration(turns) * g.avg / time.Duration(slots)
	if time.Now().Add(wait).After(deadline) {
		g.forgetLocked(addr)
		return nil, errBusy
	}
	w := &gateWaiter{granted: make(chan struct{}), gone: gone}
	a.waiting = append(a.waiting, w)
	return w, nil
}

// leave takes w out of the queue. It reports false when w was granted a
// slot meanwhile: then the caller holds it and must run and release.
func (g *hashGate) leave(addr string, w *gateWaiter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.granted:
		return false
	default:
	}
	a := g.addrs[addr]
	for i, x := range a.waiting {
		if x == w {
			a.waiting = append(a.waiting[:i], a.waiting[i+1:]...)
			break
		}
	}
	g.forgetLocked(addr)
	return true
}

// release gives back a slot after a hash that took d and hands the free
// slots to waiters.
func (g *hashGate) release(addr string, d time.Duration) {
	g.mu.Lock()
	if g.avg == 0 {
		g.avg = d
	} else {
		g.avg = (7*g.avg + d) / 8
	}
	g.running--
	g.addrs[addr].running--
	g.forgetLocked(addr)
	g.dispatchLocked()
	empty := g.running == 0
	idle := g.idle
	g.mu.Unlock()
	if empty && idle != nil {
		idle()
	}
}

// grantLocked gives a slot to address a.
func (g *hashGate) grantLocked(a *gateAddr) {
	a.running++
	g.running++
	g.served++
	a.lastServed = g.served
}

// dispatchLocked grants free slots: each to the first live waiter of the
// address with the fewest running hashes and, among equals, the one served
// longest ago (round-robin).
func (g *hashGate) dispatchLocked() {
	for g.running < max(1, g.slots()) {
		best := ""
		var bestA *gateAddr
		for name, a := range g.addrs {
			if len(a.waiting) == 0 {
				continue
			}
			if bestA == nil || a.running < bestA.running ||
				a.running == bestA.running && a.lastServed < bestA.lastServed {
				best, bestA = name, a
			}
		}
		if bestA == nil {
			return
		}
		w := bestA.waiting[0]
		bestA.waiting = bestA.waiting[1:]
		select {
		case <-w.gone:
			// The session ended while it waited: no hash for it.
			g.forgetLocked(best)
			continue
		default:
		}
		g.grantLocked(bestA)
		close(w.granted)
	}
}

// queuedLocked counts waiters.
func (g *hashGate) queuedLocked() int {
	n := 0
	for _, a := range g.addrs {
		n += len(a.waiting)
	}
	return n
}

// contendersLocked counts the addresses taking turns, addr included.
func (g *hashGate) contendersLocked(addr string) int {
	n := 0
	for name, a := range g.addrs {
		if name == addr || len(a.waiting) > 0 || a.running > 0 {
			n++
		}
	}
	return max(n, 1)
}

// forgetLocked drops addr once it has nothing running or waiting.
func (g *hashGate) forgetLocked(addr string) {
	a := g.addrs[addr]
	if a == nil || a.running > 0 || len(a.waiting) > 0 {
		return
	}
	delete(g.addrs, addr)
}

// hashPassword hashes pw through the gate for s; it fails with server_busy
// when the gate cannot serve it in time.
func (s *session) hashPassword(pw string) (string, error) {
	var hash string
	var err error
	start := time.Now()
	if busy := s.srv.hashes.do(s.addr, s.hashDeadline(), s.done, func() { s.srv.metrics.waited(time.Since(start)); hash, err = s.srv.pw.Hash(s.srv.hasher(), pw) }); busy != nil {
		return "", busy
	}
	return hash, err
}

// verifyPassword checks pw against a PHC hash through the gate. A full gate
// is server_busy; any other error means the stored hash is unreadable.
func (s *session) verifyPassword(phc, pw string) (bool, error) {
	var match bool
	var err error
	start := time.Now()
	if busy := s.srv.hashes.do(s.addr, s.hashDeadline(), s.done, func() { s.srv.metrics.waited(time.Since(start)); match, err = s.srv.pw.Verify(phc, pw) }); busy != nil {
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

// memoryHeadroom is what the process may use besides argon2's working
// memory: sessions, queues, SQLite's caches.
const memoryHeadroom = 128 << 20

// MemoryLimit is the soft memory limit that fits cfg: every argon2 slot's
// memory plus a fixed headroom. The gate never runs more hashes than that
// accounts for, and the Go runtime collects harder as the limit nears, so
// the memory of finished hashes is reused instead of piling up.
func MemoryLimit(cfg *chatd.Config) int64 {
	return int64(cfg.Argon2.MaxConcurrent)*int64(cfg.Argon2.MemoryKiB)<<10 + memoryHeadroom
}

// applyMemoryLimit sets the process's soft memory limit from cfg, unless
// the operator set GOMEMLIMIT, and has the gate hand finished hashes'
// memory back to the system when it falls idle (at most every few
// seconds), so a burst of logins does not leave the process large.
func (s *Server) applyMemoryLimit() {
	if s.envMemLimit {
		return
	}
	debug.SetMemoryLimit(MemoryLimit(s.cfg()))
}

// freeHashMemory returns the memory of finished hashes to the system; the
// gate calls it when it falls idle.
func (s *Server) freeHashMemory() {
	if _, ok := s.claimFree(); ok {
		go debug.FreeOSMemory()
	}
}

// freeEvery is how often at most the server hands memory back to the
// system, whoever asks (freeHashMemory, freeQuietMemory).
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

// hashSlots is how many hashes may run at once with procs Ps (GOMAXPROCS):
// argon2.max_concurrent, but never so many that hashing fills every P. An
// argon2 hash keeps `parallelism` goroutines busy for its whole length, and
// the Go scheduler takes a P from one only at the end of its 10 ms time
// slice; with every P hashing, each hop of a chat line (reader, fan-out,
// writer) would wait that long during a login storm. So at least one P is
// left free of hashing (one hash always runs, whatever the numbers). Logins
// get through about as fast either way: hashing is bound by the CPUs, not
// by the slots.
func hashSlots(maxConcurrent, parallelism, procs int) int {
	return max(1, min(maxConcurrent, (procs-1)/max(1, parallelism)))
}

// hashSlots is the gate's slots for the settings in force. Only a server
// that manages its process (Options.ManageMemory) holds the CPU back; in a
// shared process (the tests) argon2.max_concurrent alone counts.
//
// With a hash worker (a process at idle priority) no P needs holding back
// (while it works: when the daemon hashes itself meanwhile, the rule above
// holds):
// the kernel runs the chat first whenever it wants a CPU. The gate then
// runs just enough hashes to keep every CPU busy (argon2.max_concurrent at
// most): more would not finish the storm sooner, only hold more memory.
func (s *Server) hashSlots() int {
	a := s.cfg().Argon2
	if w, ok := s.pw.(*HashWorker); ok && !w.inProcess.Load() {
		return workerSlots(a.MaxConcurrent, int(a.Parallelism), runtime.NumCPU())
	}
	if !s.manageMemory {
		return a.MaxConcurrent
	}
	return hashSlots(a.MaxConcurrent, int(a.Parallelism), runtime.GOMAXPROCS(0))
}

// workerSlots is how many hashes of parallelism lanes fill cpus CPUs, at
// least one and at most maxConcurrent.
func workerSlots(maxConcurrent, parallelism, cpus int) int {
	p := max(1, parallelism)
	return max(1, min(maxConcurrent, (cpus+p-1)/p))
}

// applyProcs makes room for one hash beside the rest of the server: with
// fewer Ps than argon2.parallelism + 1 (a small machine: GOMAXPROCS is the
// number of CPUs), a single hash would occupy every P, so the process gets
// one P more than that and the kernel shares the CPUs between the hash's
// threads and the chat's. It only raises GOMAXPROCS, and leaves it alone
// when the operator set the GOMAXPROCS variable.
func (s *Server) applyProcs() {
	if _, ok := s.pw.(*HashWorker); ok || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if want := int(s.cfg().Argon2.Parallelism) + 1; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}
