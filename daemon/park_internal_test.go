//go:build linux

package daemon

import (
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
