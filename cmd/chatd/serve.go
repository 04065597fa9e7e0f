package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"chatd"
	"chatd/daemon"
	"chatd/db"
)

// serveCommand runs the chat daemon until it is told to stop.
type serveCommand struct{ stdio }

func (c *serveCommand) Run(ctx context.Context, args []string) (err error) {
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
	store, err := db.Open(cfg.Database.Path) // created on first start
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	log, err := newLogger(cfg.Log, c.err)
	if err != nil {
		return err
	}
	log.Info("starting", "version", chatd.Version, "config", src.String(), "database", cfg.Database.Path)

	srv := daemon.New(daemon.Options{Config: cfg, Store: store, Log: log})
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
	if cfg.Discovery.Enabled {
		disc := daemon.NewDiscovery(daemon.DiscoveryOptions{
			Config: cfg.Discovery, Addr: srv.Addr(), TLSAddr: srv.TLSAddr(),
			WebAddr: srv.WebAddr(), WebTLS: cfg.Web.TLSCert != "", Log: log,
		})
		if err := disc.Listen(); err != nil {
			return err
		}
		log.Info("answering discovery probes", "addr", disc.Addr().String())
		discDone := make(chan error, 1)
		go func() { discDone <- disc.Serve(ctx) }()
		defer func() { disc.Close(); <-discDone }()
	}
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// newLogger builds the daemon's logger from the [log] settings, which
// Config.Validate has already checked.
func newLogger(c chatd.LogConfig, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func (c *serveCommand) Usage() string {
	return `The serve command runs the chat server. It listens on server.listen (and
server.tls_listen when set, and web.listen for the web client when set) and keeps running until it receives SIGINT or
SIGTERM or an admin sends the shutdown command; then every client is told
and the database is closed.

Logs go to standard error, formatted by the [log] settings.

Usage:

	chatd serve [arguments]

Arguments:

` + configUsage
}
