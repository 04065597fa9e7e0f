package daemon

import (
	"sync"
	"syscall"
	"unsafe"
)

// inputPoller watches the sockets of parked connections (see parkConn) with
// one epoll instance and one goroutine for all of them, so that an idle
// client costs no goroutine and no stack. Each socket is registered
// one-shot: its first readiness (input, end of stream or error) disarms it
// and wakes its connection once.
type inputPoller struct {
	epfd  int
	mu    sync.Mutex
	conns map[int32]*streamConn // by socket, while registered
}

var (
	pollerOnce sync.Once
	poller     *inputPoller // nil when epoll is not available
)

// theInputPoller starts the poller on first use; nil if it cannot.
func theInputPoller() *inputPoller {
	pollerOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		poller = &inputPoller{epfd: fd, conns: map[int32]*streamConn{}}
		go poller.loop()
	})
	return poller
}

// arm registers fd for c, or re-arms it; it reports whether that worked.
func (p *inputPoller) arm(fd int, c *streamConn) bool {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	p.mu.Lock()
	defer p.mu.Unlock()
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

// forget unregisters fd of c before the socket is closed.
func (p *inputPoller) forget(fd int, c *streamConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[int32(fd)] == c {
		delete(p.conns, int32(fd))
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	}
}

func (p *inputPoller) loop() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			continue // EINTR
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
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
