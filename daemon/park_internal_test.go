//go:build linux

package daemon

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// The poller's loop ends on an error of epoll other than an interrupted
// wait (here EBADF: its epoll descriptor is gone) instead of retrying for
// ever.
func TestInputPollerStopsOnError(t *testing.T) {
	p, err := newInputPoller()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(p.epfd)
	p.epfd = -1 // what remains of a closed descriptor: EBADF
	go p.loop()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller's loop goes on after EBADF")
	}
	if p.arm(0, nil) {
		t.Fatal("a stopped poller armed a socket")
	}
}

// stop ends the loop of a running poller.
func TestInputPollerStops(t *testing.T) {
	p, err := newInputPoller()
	if err != nil {
		t.Fatal(err)
	}
	go p.loop()
	p.stop()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller's loop goes on after stop")
	}
}

// The poller wakes a parked connection at its deadline without a timer of
// its own: the connections due go first whatever order they parked in, one
// with a later deadline waits, a connection parked again keeps one place
// in the deadline heap, and nothing stays in it once every connection was
// woken (by its deadline, its input or its close).
func TestInputPollerDeadlines(t *testing.T) {
	acquirePoller()
	defer releasePoller()
	p := theInputPoller()
	if p == nil {
		t.Fatal("no poller")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make([]*streamConn, 4)
	clients := make([]net.Conn, 4)
	for i := range conns {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		sv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		clients[i], conns[i] = cl, newStreamConn(sv, 1024)
		defer conns[i].Close()
	}
	woken := make(chan int, 8)
	park := func(i int, d time.Duration) {
		t.Helper()
		if !conns[i].park(time.Now().Add(d), func() { woken <- i }) {
			t.Fatalf("connection %d did not park", i)
		}
	}
	timed := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.timed)
	}
	// 3 parks twice: its first deadline is replaced, not added to.
	park(3, time.Hour)
	park(0, time.Hour)
	park(1, 50*time.Millisecond)
	park(2, 10*time.Millisecond)
	conns[3].wake()
	<-woken
	park(3, time.Hour)
	if n := timed(); n != 4 {
		t.Fatalf("%d connections in the deadline heap, want 4", n)
	}
	got := map[int]bool{<-woken: true, <-woken: true}
	if !got[1] || !got[2] {
		t.Fatalf("woken by their deadlines: %v, want 1 and 2", got)
	}
	if n := timed(); n != 2 {
		t.Fatalf("%d connections in the deadline heap, want 2", n)
	}
	clients[0].Write([]byte("x")) // input wakes 0 before its hour
	if i := <-woken; i != 0 {
		t.Fatalf("input woke %d, want 0", i)
	}
	conns[3].Close()
	if i := <-woken; i != 3 {
		t.Fatalf("the close woke %d, want 3", i)
	}
	if n := timed(); n != 0 {
		t.Fatalf("%d connections left in the deadline heap", n)
	}
}
