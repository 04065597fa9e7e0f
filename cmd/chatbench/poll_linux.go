package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// readAll reads every conn as read does, but on one goroutine per P, each
// waiting on its share of the sockets with a level-triggered epoll set:
// one read(2) per socket that has data, and no goroutine parked and woken
// per socket. A goroutine per socket under Go's netpoller costs two reads
// per wake-up (the second says EAGAIN) and a trip through the scheduler,
// and with a reader as fast as the server's writes that is most of the
// load tool's CPU in a burst. stop ends the reading, merges the
// latencies and closes the conns. Where epoll cannot be set up it falls
// back to readGoroutines.
func (b *bench) readAll(conns []*conn) (stop func()) {
	loops := min(runtime.GOMAXPROCS(0), len(conns))
	var stopping atomic.Bool
	var wg sync.WaitGroup
	var started []*pollLoop
	for w := range loops {
		l, err := b.newPollLoop(conns, w, loops)
		if err != nil {
			for _, l := range started {
				l.close()
			}
			fmt.Fprintln(os.Stderr, "chatbench: epoll:", err, "(a goroutine per client instead)")
			return b.readGoroutines(conns)
		}
		started = append(started, l)
	}
	for _, l := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.run(&stopping)
		}()
	}
	return func() {
		stopping.Store(true)
		wg.Wait()
		closeAll(conns)
	}
}

// pollLoop is one epoll set and the clients on it, by file descriptor.
type pollLoop struct {
	epfd    int
	readers []*clientReader // by fd; nil: not in this set (any more)
}

// newPollLoop puts conns w, w+n, w+2n, ... into a new epoll set. Their
// line readers read the socket directly from now on; what they buffered
// during the setup is kept.
func (b *bench) newPollLoop(conns []*conn, w, n int) (*pollLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &pollLoop{epfd: epfd}
	for i := w; i < len(conns); i += n {
		c := conns[i]
		fd, err := rawFD(c)
		if err == nil {
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
			err = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
		}
		if err != nil {
			l.close()
			return nil, err
		}
		for fd >= len(l.readers) {
			l.readers = append(l.readers, nil)
		}
		c.lr.rd = fdReader(fd)
		l.readers[fd] = b.newClientReader(c)
	}
	return l, nil
}

func (l *pollLoop) close() { syscall.Close(l.epfd) }

// run reads until stopping is set (checked at least every 20 ms).
func (l *pollLoop) run(stopping *atomic.Bool) {
	defer l.close()
	now := time.Now().UnixNano()
	for _, r := range l.readers {
		if r != nil {
			r.drain(now) // what came during the setup
		}
	}
	events := make([]syscall.EpollEvent, 256)
	for !stopping.Load() {
		// Look without blocking first: a busy loop finds work there and
		// does not hand its P over for a blocking wait.
		n, err := syscall.EpollWait(l.epfd, events, 0)
		if n == 0 && err == nil {
			n, err = syscall.EpollWait(l.epfd, events, 20)
		}
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			fmt.Fprintln(os.Stderr, "chatbench: epoll_wait:", err)
			break
		}
		for _, ev := range events[:n] {
			r := l.readers[ev.Fd]
			if r == nil {
				continue
			}
			switch err := r.c.lr.fill(); {
			case err == nil:
				r.drain(time.Now().UnixNano())
			case errors.Is(err, syscall.EAGAIN):
			default: // closed
				syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, int(ev.Fd), nil)
				l.readers[ev.Fd] = nil
				r.done()
			}
		}
	}
	for _, r := range l.readers {
		if r != nil {
			r.done()
		}
	}
}

// rawFD is the socket under c. It stays open (and in Go's own poller,
// unused meanwhile) until c is closed.
func rawFD(c *conn) (int, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("%T has no file descriptor", c.Conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return 0, err
	}
	return fd, nil
}

// fdReader reads a non-blocking socket directly: EAGAIN when it has
// nothing, io.EOF when the peer closed.
type fdReader int

func (f fdReader) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), p)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
