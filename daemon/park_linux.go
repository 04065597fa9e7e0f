package daemon

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// inputPoller watches the sockets of parked connections (see parkConn) with
// one epoll instance and one goroutine for all of them, so that an idle
// client costs no goroutine and no stack. Each socket is registered
// one-shot: its first readiness (input, end of stream or error) disarms it
// and wakes its connection once.
//
// The poller runs while at least one Server of the process serves
// (acquirePoller, releasePoller): the last Serve to return stops it, and so
// does an error of epoll other than an interrupted wait. A stopped poller
// wakes every connection still registered, closes its descriptors and
// arms nothing more.
//
// A parked connection's deadline (the idle timeout) is kept by the poller
// too, in a heap of the connections by deadline that the loop's wait is
// bounded by, rather than in a timer per connection: at rest every
// connection is parked, and a timer, with its function, cost it about
// 150 bytes.
type inputPoller struct {
	epfd int
	// wakeR and wakeW are a pipe in the epoll set: a 0 on it ends the
	// loop (stop), a 1 has it look at the deadlines again (wakeAt).
	wakeR, wakeW int
	mu           sync.Mutex            // leaf (DEVELOPING.md, "Locks")
	conns        map[int32]*streamConn // by socket, while registered
	// timed holds the parked connections with a deadline, a min-heap by
	// streamConn.due; each knows its place (streamConn.dueSlot). Guarded
	// by mu.
	timed   deadlines
	stopped bool          // guarded by mu; the descriptors are closed or closing
	done    chan struct{} // closed when loop has returned
}

var (
	// current is the running poller, nil when no server serves or epoll
	// is not available. pollerMu (tier 5, DEVELOPING.md "Locks") guards
	// users and the swaps of current.
	current  atomic.Pointer[inputPoller]
	pollerMu sync.Mutex
	users    int
)

// theInputPoller returns the running poller; nil if none runs.
func theInputPoller() *inputPoller { return current.Load() }

// acquirePoller starts the poller for the first serving Server; the
// others share it. Without epoll sessions simply never park.
func acquirePoller() {
	pollerMu.Lock()
	defer pollerMu.Unlock()
	users++
	if p := current.Load(); p != nil && !p.isStopped() {
		return
	}
	p, err := newInputPoller()
	if err != nil {
		current.Store(nil)
		return
	}
	current.Store(p)
	go p.loop()
}

// releasePoller stops the poller when the last serving Server is done,
// and waits for its goroutine.
func releasePoller() {
	pollerMu.Lock()
	defer pollerMu.Unlock()
	if users--; users > 0 {
		return
	}
	if p := current.Swap(nil); p != nil {
		p.stop()
		<-p.done
	}
}

func newInputPoller() (*inputPoller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(pipe[0])}
	if err := syscall.EpollCtl(fd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		syscall.Close(fd)
		syscall.Close(pipe[0])
		syscall.Close(pipe[1])
		return nil, err
	}
	return &inputPoller{epfd: fd, wakeR: pipe[0], wakeW: pipe[1], conns: map[int32]*streamConn{},
		done: make(chan struct{})}, nil
}

func (p *inputPoller) isStopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// stop asks the loop to end; it does not wait (see done).
func (p *inputPoller) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		syscall.Write(p.wakeW, []byte{0})
	}
}

// arm registers fd for c, or re-arms it; it reports whether that worked.
func (p *inputPoller) arm(fd int, c *streamConn) bool {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	op := syscall.EPOLL_CTL_MOD
	if p.conns[int32(fd)] != c {
		op = syscall.EPOLL_CTL_ADD
	}
	err := syscall.EpollCtl(p.epfd, op, fd, &ev)
	if err == syscall.EEXIST { // the socket number of a closed connection, reused
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
	}
	if err != nil {
		return false
	}
	p.conns[int32(fd)] = c
	return true
}

// forget unregisters fd of c before the socket is closed. p may be nil
// (no poller runs any more).
func (p *inputPoller) forget(fd int, c *streamConn) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[int32(fd)] == c {
		delete(p.conns, int32(fd))
		if !p.stopped {
			syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
		}
	}
}

// wakeAt has the loop wake c at the wall-clock time due (unix
// nanoseconds) unless something wakes it first (noWake). The caller holds
// c.pmu and has just armed c.
func (p *inputPoller) wakeAt(c *streamConn, due int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return // shut wakes every registered connection
	}
	p.dropTimed(c)
	c.due = due
	heap.Push(&p.timed, c)
	if p.timed[0] == c {
		// Sooner than the loop's wait may end: it looks again.
		syscall.Write(p.wakeW, []byte{1})
	}
}

// noWake takes c's deadline back (c was woken). p may be nil.
func (p *inputPoller) noWake(c *streamConn) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.dropTimed(c)
	p.mu.Unlock()
}

// dropTimed takes c out of the deadline heap if it is there. Callers
// hold p.mu.
func (p *inputPoller) dropTimed(c *streamConn) {
	if i := int(c.dueSlot) - 1; i >= 0 && i < len(p.timed) && p.timed[i] == c {
		heap.Remove(&p.timed, i)
	}
}

// expired takes out of the deadline heap the connections due by now, and
// says how long the loop may wait for the next (-1: no deadline), in
// milliseconds for epoll_wait, rounded up.
func (p *inputPoller) expired(now int64, into []*streamConn) ([]*streamConn, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.timed) > 0 && p.timed[0].due <= now {
		into = append(into, heap.Pop(&p.timed).(*streamConn))
	}
	if len(p.timed) == 0 {
		return into, -1
	}
	wait := (p.timed[0].due - now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	return into, int(min(wait, 1<<30))
}

// deadlines is the poller's heap of parked connections by deadline
// (container/heap, earliest first); each connection knows its place in it
// (streamConn.dueSlot: its index plus one, 0 when not in it).
type deadlines []*streamConn

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].due < d[j].due }
func (d deadlines) Swap(i, j int) {
	d[i], d[j] = d[j], d[i]
	d[i].dueSlot, d[j].dueSlot = int32(i+1), int32(j+1)
}

func (d *deadlines) Push(x any) {
	c := x.(*streamConn)
	*d = append(*d, c)
	c.dueSlot = int32(len(*d))
}

func (d *deadlines) Pop() any {
	old := *d
	last := len(old) - 1
	c := old[last]
	old[last] = nil
	*d = old[:last]
	c.dueSlot = 0
	return c
}

// loop wakes the connections whose sockets are ready, and those whose
// deadline came, until stop or an error of epoll_wait other than EINTR
// (and EAGAIN, which it does not return, retried all the same), then
// shuts the poller down.
func (p *inputPoller) loop() {
	defer p.shut()
	events := make([]syscall.EpollEvent, 128)
	var due []*streamConn
	var wait int
	for {
		due, wait = p.expired(time.Now().UnixNano(), due[:0])
		for i, c := range due {
			c.wake()
			due[i] = nil
		}
		n, err := syscall.EpollWait(p.epfd, events, wait)
		switch err {
		case nil:
		case syscall.EINTR, syscall.EAGAIN:
			continue
		default:
			return // EBADF, EINVAL, EFAULT: this poller cannot go on
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wakeR) {
				if p.stopAsked() {
					return
				}
				continue
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
	}
}

// stopAsked empties the wake pipe and says whether stop wrote to it (a 0;
// wakeAt writes 1s).
func (p *inputPoller) stopAsked() bool {
	var buf [64]byte
	stop := false
	for {
		n, err := syscall.Read(p.wakeR, buf[:])
		if n <= 0 || err != nil {
			return stop
		}
		for _, b := range buf[:n] {
			stop = stop || b == 0
		}
	}
}

// shut marks p stopped, closes its descriptors and wakes every connection
// still registered: each resumes its session, which finds its socket
// ready, closed or in error as a read tells.
func (p *inputPoller) shut() {
	p.mu.Lock()
	p.stopped = true
	left := make([]*streamConn, 0, len(p.conns))
	for _, c := range p.conns {
		left = append(left, c)
	}
	clear(p.conns)
	for _, c := range p.timed {
		c.dueSlot = 0
	}
	clear(p.timed)
	p.timed = nil
	syscall.Close(p.epfd)
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
	p.mu.Unlock()
	close(p.done)
	for _, c := range left {
		c.wake()
	}
}

// waitInput peeks at the socket without taking anything from it, through
// the runtime's poller, so the read deadline applies.
func (c *streamConn) waitInput() error {
	if c.raw == nil {
		return errNoPark
	}
	if c.lingering.Load() {
		return errLingering // after the caller set its deadline: see closeWrite
	}
	return c.raw.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			// A raw call, as in tryWrite: it never sleeps.
			_, _, err := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
				syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
			switch err {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // nothing yet: wait for the socket
			}
			return true // input, the end of the stream, or an error: a read tells
		}
	})
}
