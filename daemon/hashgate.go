package daemon

import (
	"sync/atomic"

	"chatd"
)

// hashGate bounds argon2id work: at most max hashes run at once and at most
// maxWait more wait for a slot. Beyond that callers get server_busy at once,
// so a login flood cannot make the server allocate unbounded hash memory.
type hashGate struct {
	slots   chan struct{}
	waiting atomic.Int32
	maxWait int32
}

func newHashGate(max int) *hashGate {
	return &hashGate{slots: make(chan struct{}, max), maxWait: int32(4 * max)}
}

var errBusy = chatd.Errorf(chatd.EServerBusy, "the server is busy checking other passwords; try again in a moment")

func (g *hashGate) do(fn func()) error {
	if g.waiting.Add(1) > g.maxWait+int32(cap(g.slots)) {
		g.waiting.Add(-1)
		return errBusy
	}
	g.slots <- struct{}{}
	defer func() {
		<-g.slots
		g.waiting.Add(-1)
	}()
	fn()
	return nil
}

// hashPassword hashes pw through the gate; it fails with server_busy when
// the gate is full.
func (s *Server) hashPassword(pw string) (string, error) {
	var hash string
	var err error
	if busy := s.hashes.do(func() { hash, err = s.hasher().Hash(pw) }); busy != nil {
		return "", busy
	}
	return hash, err
}

// verifyPassword checks pw against a PHC hash through the gate. A full gate
// is server_busy; any other error means the stored hash is unreadable.
func (s *Server) verifyPassword(phc, pw string) (bool, error) {
	var match bool
	var err error
	if busy := s.hashes.do(func() { match, err = chatd.Verify(phc, pw) }); busy != nil {
		return false, busy
	}
	return match, err
}
