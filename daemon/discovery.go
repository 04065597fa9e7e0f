package daemon

import (
	"context"
	"errors"
	"log/slog"

	"chatd"
	"chatd/internal/discovery"
)

// discoveryRunner is the server's part of discovery: between
// Server.StartDiscovery and its stop it runs a responder while
// discovery.enabled is set, and Server.Reload starts, stops or renames it.
// Guarded by Server.reloadMu.
type discoveryRunner struct {
	ctx  context.Context      // the responders' lifetime; nil: not started
	d    *discovery.Responder // the running responder; nil while off
	done chan error           // d's Serve result
}

// StartDiscovery answers LAN discovery probes while discovery.enabled is
// set: from now on if it is, and from any reload that sets it, until stop
// is called or ctx ends. stop ends the responder and waits for it. Call it
// after Listen; a discovery.listen that cannot be bound is an error.
func (s *Server) StartDiscovery(ctx context.Context) (stop func(), err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.disc.ctx != nil {
		return nil, errors.New("discovery: already started")
	}
	var d *discovery.Responder
	if c := s.cfg().Discovery; c.Enabled {
		if d, err = s.newDiscovery(c); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	s.disc.ctx = ctx
	if d != nil {
		s.disc.start(d, s.log)
	}
	return func() {
		s.reloadMu.Lock()
		defer s.reloadMu.Unlock()
		cancel()
		s.disc.stop()
		s.disc.ctx = nil
	}, nil
}

// newDiscovery binds a responder with c that names this server's
// listeners.
func (s *Server) newDiscovery(c chatd.DiscoveryConfig) (*discovery.Responder, error) {
	d := discovery.New(discovery.Options{
		Config: c, Addr: s.Addr(), TLSAddr: s.TLSAddr(),
		WebAddr: s.WebAddr(), WebTLS: s.webCert.Load() != nil, Log: s.log,
	})
	if err := d.Listen(); err != nil {
		return nil, err
	}
	return d, nil
}

// prepareDiscovery binds the responder that next turns on, before a
// reload changes anything; nil when none is to start.
func (s *Server) prepareDiscovery(next *chatd.Config) (*discovery.Responder, error) {
	r := &s.disc
	if r.ctx == nil || r.ctx.Err() != nil || r.d != nil || !next.Discovery.Enabled {
		return nil, nil
	}
	return s.newDiscovery(next.Discovery)
}

// applyDiscovery is the discovery section of a reload: it starts the
// responder prepareDiscovery bound, stops the running one when next turns
// discovery off, or else hands it the new name and rate.
func (s *Server) applyDiscovery(next *chatd.Config, bound *discovery.Responder) {
	r := &s.disc
	switch {
	case bound != nil:
		r.start(bound, s.log)
	case r.d != nil && !next.Discovery.Enabled:
		addr := r.d.Addr().String()
		r.stop()
		s.log.Info("no longer answering discovery probes", "addr", addr)
	case r.d != nil:
		r.d.Reload(next.Discovery)
	}
}

// start serves probes with d, a bound responder, until stop or r.ctx ends.
func (r *discoveryRunner) start(d *discovery.Responder, log *slog.Logger) {
	ctx, done := r.ctx, make(chan error, 1)
	r.d, r.done = d, done
	go func() { done <- d.Serve(ctx) }()
	log.Info("answering discovery probes", "addr", d.Addr().String())
}

// stop ends the running responder, if any, and waits for it.
func (r *discoveryRunner) stop() {
	if r.d == nil {
		return
	}
	r.d.Close()
	<-r.done
	r.d, r.done = nil, nil
}
