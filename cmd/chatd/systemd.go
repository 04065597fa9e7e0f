package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sd "github.com/coreos/go-systemd/v22/daemon"

	"chatd/daemon"
)

// socketNames are the FileDescriptorName= values chatd.socket may give its
// sockets; each replaces the listener the config would bind.
var socketNames = []string{"plain", "tls", "web", "metrics", "ssh"}

// passedListeners returns the sockets systemd passed (LISTEN_FDS), by
// name. A single socket with a name chatd does not know (systemd names
// sockets after their unit by default) is the plain listener. Without
// LISTEN_FDS it returns nil and the config's addresses are bound as usual.
func passedListeners() (map[string]net.Listener, error) {
	byName, err := activation.ListenersWithNames()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	if len(byName) == 0 {
		return nil, nil
	}
	known := func(name string) bool {
		for _, n := range socketNames {
			if n == name {
				return true
			}
		}
		return false
	}
	out := map[string]net.Listener{}
	var bad []string
	for name, lns := range byName {
		switch {
		case len(byName) == 1 && len(lns) == 1 && !known(name):
			out["plain"] = lns[0]
		case !known(name) || len(lns) != 1:
			bad = append(bad, fmt.Sprintf("%q (%d)", name, len(lns)))
		default:
			out[name] = lns[0]
		}
	}
	if len(bad) > 0 {
		for _, lns := range byName {
			for _, ln := range lns {
				ln.Close()
			}
		}
		sort.Strings(bad)
		return nil, fmt.Errorf("socket activation: passed sockets %s; give each one of the names %s with FileDescriptorName=",
			strings.Join(bad, ", "), strings.Join(socketNames, ", "))
	}
	return out, nil
}

// notifier tells systemd how the service is doing (sd_notify). Without
// NOTIFY_SOCKET every call does nothing.
type notifier struct {
	log *slog.Logger
	// off is set once the process handed its sessions to a new one,
	// which speaks for the service from then on.
	off *atomic.Bool
}

func (n notifier) send(state string) {
	if n.off != nil && n.off.Load() {
		return
	}
	if _, err := sd.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "state", state, "err", err)
	}
}

// status keeps STATUS= current with the users online and the connections
// open, sending at most once a second and only on change.
func (n notifier) status(ctx context.Context, srv *daemon.Server) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := ""
	for {
		online, conns := srv.Counts()
		if s := fmt.Sprintf("STATUS=%d users online, %d connections", online, conns); s != last {
			n.send(s)
			last = s
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchdog sends WATCHDOG=1 at half of WatchdogSec while srv.Check proves
// the hub and the database answer; a daemon that fails the check stops
// pinging, so systemd restarts it.
func (n notifier) watchdog(ctx context.Context, srv *daemon.Server) {
	every, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("watchdog", "err", err)
		return
	}
	if every <= 0 {
		return
	}
	every /= 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, every)
		err := srv.Check(cctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				n.log.Error("health check failed; not pinging the watchdog", "err", err)
			}
			continue
		}
		n.send(sd.SdNotifyWatchdog)
	}
}
