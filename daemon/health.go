package daemon

import (
	"context"
	"errors"
	"fmt"
)

// Check proves that the server still works: the hub's lock can be taken
// (no goroutine is stuck holding it) and the database answers a trivial
// query, both before ctx ends. systemd's watchdog and /healthz use it.
func (s *Server) Check(ctx context.Context) error {
	hub := make(chan struct{})
	go func() {
		s.hub.generation()
		close(hub)
	}()
	select {
	case <-hub:
	case <-ctx.Done():
		return errors.New("the hub does not answer")
	}
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("the database does not answer: %w", err)
	}
	return nil
}

// Counts reports how many users are logged in and how many connections
// are open (logged in or not).
func (s *Server) Counts() (online, conns int) {
	online = s.hub.count()
	s.mu.Lock()
	conns = len(s.conns)
	s.mu.Unlock()
	return online, conns
}
