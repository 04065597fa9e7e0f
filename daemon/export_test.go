package daemon

import "context"

// AddPanicCommand registers a command named "__panic" that panics, so the
// end-to-end tests can check that a panic ends only its own session. It
// exists only in test builds.
func AddPanicCommand() {
	if _, ok := byName["__panic"]; ok {
		return
	}
	c := &command{name: "__panic", summary: "test only", run: func(context.Context, *session, string) error {
		panic("deliberate test panic")
	}}
	byName[c.name] = c
}

// HoldHub takes the hub's lock as a stuck goroutine would, until release.
func (s *Server) HoldHub() (release func()) {
	reg := s.hub.registry()
	reg.mu.Lock()
	return reg.mu.Unlock
}
