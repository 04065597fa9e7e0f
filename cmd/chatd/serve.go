package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"chatd"
	"chatd/daemon"
	"chatd/db"
	"chatd/internal/fakeclock"
	"chatd/internal/logging"
	"chatd/internal/password"
)

// serveCommand runs the chat daemon until it is told to stop.
type serveCommand struct{ stdio }

func (c *serveCommand) Run(ctx context.Context, args []string) (err error) {
	// From the first moment: SIGHUP reloads the configuration instead of
	// ending the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// And SIGUSR2 upgrades (upgrade.go) instead of ending it.
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr2)
	// The binary to start on an upgrade: this one's path, resolved now,
	// before a new binary may be renamed over it.
	exe, exeErr := os.Executable()
	// Started by an older process to take its sessions over?
	hand, handFiles, err := upgradeChild()
	if err != nil {
		return err
	}
	readySent := false
	if hand != nil {
		defer hand.Close()
		defer func() {
			if err != nil && !readySent {
				daemon.SendFailed(hand, err.Error())
			}
		}()
	}

	fs, configPath := newFlagSet("serve")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	cfg, src, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	spareProcs()
	now, err := serveClock()
	if err != nil {
		return err
	}
	if path := os.Getenv("CHATD_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	live, err := logging.NewLive(c.err, cfg.Log)
	if err != nil {
		return err
	}
	log := live.Logger()
	stopPprof, err := startPprof(log)
	if err != nil {
		return err
	}
	defer stopPprof()
	var passed map[string]net.Listener
	if hand != nil {
		passed, err = childListeners(handFiles)
	} else {
		passed, err = passedListeners()
	}
	if err != nil {
		return err
	}
	store, err := db.OpenConfig(cfg.Database) // created on first start
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	if now != nil {
		store.Now = now.Now
	}
	cluster, err := openCluster(ctx, cfg)
	if err != nil {
		return err
	}
	if cluster != nil {
		defer cluster.Close()
	}
	log.Info("starting", "version", chatd.Version, "config", src.String(), "database", cfg.Database.Redacted())
	if now != nil {
		log.Warn("the clock is faked (CHATD_FAKETIME): a test knob, never for production", "faketime", os.Getenv("CHATD_FAKETIME"), "clock", now.String())
	}
	if cluster != nil {
		log.Info("cluster mode", "node", cluster.Node(), "node_timeout", cfg.Cluster.NodeTimeout.Duration)
	}
	for name := range passed {
		if hand != nil {
			log.Info("using a socket passed by the process upgraded", "name", name, "addr", passed[name].Addr().String())
			continue
		}
		log.Info("using a socket passed by systemd", "name", name, "addr", passed[name].Addr().String())
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notify := notifier{log: log, off: new(atomic.Bool)}
	hw, err := newHashWorker(cfg, c.err, log)
	if err != nil {
		return err
	}
	var hasher password.Hasher
	if hw != nil {
		hasher = hw
		defer hw.Close()
	}
	var srv *daemon.Server
	var up *liveUpgrade
	discovery := &laterStop{}
	defer discovery.run()
	var clock func() time.Time // nil: the wall clock
	if now != nil {
		clock = now.Now
	}
	srv = daemon.New(daemon.Options{
		Hasher: hasher, Now: clock,
		Config: cfg, Store: store, Log: log, LiveLog: live, ManageMemory: true, Cluster: cluster,
		Plain: passed["plain"], TLS: passed["tls"], Web: passed["web"], Metrics: passed["metrics"],
		SSH: passed["ssh"], IRC: passed["irc"], IRCTLS: passed["ircs"],
		Adopt: hand != nil,
		OnReady: func() {
			if hand == nil {
				notify.send(sd.SdNotifyReady)
				go notify.status(sctx, srv)
				go notify.watchdog(sctx, srv)
				return
			}
			readySent = true
			go adoptSessions(ctx, log, hand, srv, notify, up, discovery, func() {
				go notify.status(sctx, srv)
				go notify.watchdog(sctx, srv)
			})
		},
		OnStopping: func() {
			if srv.HandedOver() {
				notify.off.Store(true) // the new process is the service now
				return
			}
			notify.send(sd.SdNotifyStopping)
		},
	})
	if err := srv.Listen(); err != nil {
		return err
	}
	log.Info("listening", "addr", srv.Addr().String())
	if a := srv.TLSAddr(); a != nil {
		log.Info("listening", "addr", a.String(), "tls", true)
	}
	if a := srv.WebAddr(); a != nil {
		log.Info("web client", "addr", a.String(), "tls", cfg.Web.TLSCert != "")
	}
	if a := srv.MetricsAddr(); a != nil {
		log.Info("metrics and health", "addr", a.String())
	}
	if a := srv.SSHAddr(); a != nil {
		log.Info("ssh", "addr", a.String())
	}
	if a := srv.IRCAddr(); a != nil {
		log.Info("irc", "addr", a.String())
	}
	if a := srv.IRCTLSAddr(); a != nil {
		log.Info("irc", "addr", a.String(), "tls", true)
	}
	if hand == nil {
		// A new process answers discovery once the old one is gone
		// (adoptSessions): the port is the old one's until then.
		stopDiscovery, err := srv.StartDiscovery(ctx)
		if err != nil {
			return err
		}
		discovery.set(stopDiscovery)
	}
	up = &liveUpgrade{log: log, exe: exe, args: os.Args[1:], srv: srv,
		timeout: func() time.Duration { return srv.UpgradeTimeout() },
		onDone: func() {
			// The new process said MAINPID itself; this says it as
			// well, from the main process, which NotifyAccess=main
			// (chatd.service) accepts.
			notify.send(fmt.Sprintf("MAINPID=%d", up.newPid))
			notify.off.Store(true)
			srv.Shutdown("the server was upgraded")
		}}
	if hand != nil {
		up.busy.Store(true) // until the sessions are in
	}
	if exeErr != nil {
		log.Warn("upgrade: the binary's path is unknown; upgrades are off", "err", exeErr)
		up.refuse = "the server does not know the path of its binary: " + exeErr.Error()
	}
	if ctl, ok := passed["control"].(*net.UnixListener); ok {
		up.ctl = ctl
	} else if ln, err := net.Listen("unix", controlName(cfg)); err == nil {
		up.ctl = ln.(*net.UnixListener)
	} else {
		log.Warn("upgrade: control socket; chatd upgrade cannot reach this server (SIGUSR2 still works)", "err", err)
	}
	if up.ctl != nil {
		defer up.ctl.Close()
		go up.serveControl()
	}
	go func() {
		for {
			select {
			case <-sctx.Done():
				return
			case <-usr2:
			}
			go up.signalled()
		}
	}()
	go func() {
		for {
			select {
			case <-sctx.Done():
				return
			case <-hup:
			}
			notify.send(sd.SdNotifyReloading)
			reload(log, src, srv)
			notify.send(sd.SdNotifyReady)
		}
	}()
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// adoptSessions is a new process's side of an upgrade, once it serves:
// it says so, takes the old process's sessions over, tells systemd it is
// the service now, and confirms to the old process, whose exit it waits
// for to answer discovery on its port.
func adoptSessions(ctx context.Context, log *slog.Logger, hand *net.UnixConn, srv *daemon.Server,
	notify notifier, up *liveUpgrade, discovery *laterStop, started func()) {
	if err := daemon.SendReady(hand); err != nil {
		log.Error("upgrade: tell the old process", "err", err)
	}
	n, err := srv.Adopt(hand)
	if err != nil {
		log.Error("upgrade: taking the sessions over", "err", err, "sessions", n)
	}
	log.Info("upgrade: took the sessions over", "sessions", n)
	notify.send(fmt.Sprintf("MAINPID=%d\n%s", os.Getpid(), sd.SdNotifyReady))
	started()
	if err := daemon.SendAdopted(hand, n); err != nil {
		log.Warn("upgrade: confirm to the old process", "err", err)
	}
	// The old process exits now; its end of the pair closes then.
	hand.SetReadDeadline(time.Time{})
	io.Copy(io.Discard, hand)
	if up != nil {
		up.busy.Store(false)
	}
	stop, err := srv.StartDiscovery(ctx)
	if err != nil {
		log.Error("upgrade: discovery", "err", err)
		return
	}
	discovery.set(stop)
}

// openCluster joins the nodes sharing the PostgreSQL database, when the
// database is PostgreSQL (docs/cluster.md); on SQLite it returns nil.
func openCluster(ctx context.Context, cfg chatd.Config) (chatd.Cluster, error) {
	if cfg.Database.Driver != "postgres" {
		return nil, nil
	}
	node := cfg.Cluster.Node
	if node == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return nil, fmt.Errorf("cluster.node is empty and the host name is unknown (%v): set cluster.node", err)
		}
		node = host
	}
	c, err := db.OpenCluster(ctx, cfg.Database.URL, node)
	if err != nil {
		return nil, fmt.Errorf("%w (database.url %s)", err, cfg.Database.Redacted())
	}
	return c, nil
}

// reload re-reads the configuration file the server started with and
// applies it (srv.Reload logs what changed and what needs a restart). A
// file that does not load or validate, or that srv refuses, is logged, one
// line per problem, and changes nothing.
func reload(log *slog.Logger, src chatd.ConfigSource, srv *daemon.Server) {
	cfg, err := chatd.LoadConfig(src.Path)
	if err != nil {
		srv.ReloadFailed()
	} else if _, err = srv.Reload(cfg); err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		log.Error("reload failed; the running configuration stays", "config", src.String(), "problem", line)
	}
}

func (c *serveCommand) Usage() string {
	return `The serve command runs the chat server. It listens on server.listen (and
server.tls_listen, web.listen, metrics.listen, irc.listen and
irc.tls_listen when set), or on the
sockets systemd passes (socket activation, see docs/operations.md), and
keeps running until it receives SIGINT or SIGTERM or an admin sends the
shutdown command; then every client is told and the database is closed.
On PostgreSQL (database.driver = "postgres") it is one node of a cluster:
several serve processes, each with its own cluster.node, share the database
and serve one community (docs/cluster.md); stopping one stops that node only.
SIGHUP re-reads the configuration file and applies it without dropping
anyone; the few settings that need a restart are logged as such.

Under systemd (Type=notify) it reports READY, STATUS, RELOADING, STOPPING
and, when WatchdogSec is set, WATCHDOG while a health check passes.

Logs go to standard error, formatted by the [log] settings.

Usage:

	chatd serve [arguments]

Arguments:

` + configUsage
}

// startCPUProfile writes a CPU profile of the whole run to path (the
// environment variable CHATD_CPUPROFILE, see DEVELOPING.md), finished when
// serve returns after SIGINT or SIGTERM.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("CHATD_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("CHATD_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// spareProcs lets Go run twice as many goroutines at once as there are
// CPUs (unless GOMAXPROCS is set). With one P per CPU, a P can be held by
// work that is not using its CPU: a goroutine inside a slow system call
// (SQLite's pwrite and fsync; the runtime takes the P back only when its
// monitor next looks, which can be 10 ms), or one writing a presence wave.
// Two of those at once on a 2-core machine left no P to take a chat line
// from the network, and a login storm's chat p99 was twice its calm one.
// The spare Ps let the kernel's scheduler share the CPUs instead.
func spareProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
	}
}

// serveClock is the faked clock CHATD_FAKETIME asks for (libfaketime's
// FAKETIME forms, internal/fakeclock), or nil for the wall clock. It is a
// conformance-test knob: irctest runs some cases a year ahead and fifteen
// times as fast, which libfaketime cannot do to a static Go binary.
func serveClock() (*fakeclock.Clock, error) {
	spec, ok := os.LookupEnv("CHATD_FAKETIME")
	if !ok || spec == "" {
		return nil, nil
	}
	c, err := fakeclock.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("CHATD_FAKETIME: %w", err)
	}
	return c, nil
}
