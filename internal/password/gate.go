package password

import (
	"sync"
	"time"

	"chatd"
)

// Gate is the queue in front of argon2id. At most argon2.max_concurrent
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
type Gate struct {
	// Static after NewGate.
	slots  func() int // how many hashes may run at once, asked at each turn
	idle   func()     // runs (outside mu) when the gate empties; may be nil
	waited func(time.Duration)

	mu      sync.Mutex // leaf (DEVELOPING.md): the queue's bookkeeping
	running int
	addrs   map[string]*gateAddr // addresses with hashes running or waiting
	served  uint64               // counts grants, to order addresses by their last
	avg     time.Duration        // moving average of one hash
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

// GateOptions are what a Gate needs. Slots is required.
type GateOptions struct {
	// Slots is how many hashes may run at once (see Slots), asked each
	// time a slot is taken, so a reload reaches the gate at once.
	Slots func() int
	// Idle, if set, runs when the last running hash ends (to hand its
	// memory back to the system, say); never under the gate's lock.
	Idle func()
	// Waited, if set, is told how long each hash waited for its slot.
	Waited func(time.Duration)
}

// NewGate returns an empty gate.
func NewGate(o GateOptions) *Gate {
	return &Gate{slots: o.Slots, idle: o.Idle, waited: o.Waited, addrs: map[string]*gateAddr{}}
}

// Estimate sets how long one hash takes until the gate has timed its own
// (the daemon times one at startup); it decides which waits fit a deadline.
func (g *Gate) Estimate(d time.Duration) {
	g.mu.Lock()
	g.avg = d
	g.mu.Unlock()
}

var errBusy = chatd.Errorf(chatd.EServerBusy, "the server is busy checking other passwords; try again in a moment")

// Do runs fn (one argon2 hash) for a client at addr once a slot is free. It
// fails with server_busy, without running fn, when the wait could not end
// before deadline, or when gone is closed (the session is ending) first.
func (g *Gate) Do(addr string, deadline time.Time, gone <-chan struct{}, fn func()) error {
	asked := time.Now()
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
	if g.waited != nil {
		g.waited(start.Sub(asked))
	}
	defer func() { g.release(addr, time.Since(start)) }()
	fn()
	return nil
}

// enter takes a slot at once (nil waiter) or queues a waiter, or refuses.
func (g *Gate) enter(addr string, deadline time.Time, gone <-chan struct{}) (*gateWaiter, error) {
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
func (g *Gate) leave(addr string, w *gateWaiter) bool {
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
func (g *Gate) release(addr string, d time.Duration) {
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
func (g *Gate) grantLocked(a *gateAddr) {
	a.running++
	g.running++
	g.served++
	a.lastServed = g.served
}

// dispatchLocked grants free slots: each to the first live waiter of the
// address with the fewest running hashes and, among equals, the one served
// longest ago (round-robin).
func (g *Gate) dispatchLocked() {
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
func (g *Gate) queuedLocked() int {
	n := 0
	for _, a := range g.addrs {
		n += len(a.waiting)
	}
	return n
}

// contendersLocked counts the addresses taking turns, addr included.
func (g *Gate) contendersLocked(addr string) int {
	n := 0
	for name, a := range g.addrs {
		if name == addr || len(a.waiting) > 0 || a.running > 0 {
			n++
		}
	}
	return max(n, 1)
}

// forgetLocked drops addr once it has nothing running or waiting.
func (g *Gate) forgetLocked(addr string) {
	a := g.addrs[addr]
	if a == nil || a.running > 0 || len(a.waiting) > 0 {
		return
	}
	delete(g.addrs, addr)
}
