package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"chatd"
)

// checkConfigCommand loads and validates the configuration and checks what
// serve would need from the machine.
type checkConfigCommand struct{ stdio }

func (c *checkConfigCommand) Run(ctx context.Context, args []string) error {
	fs, configPath := newFlagSet("check-config")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("check-config takes no arguments, got %q", fs.Args())
	}
	src := chatd.FindConfig(*configPath)
	cfg, problems, err := chatd.ReadConfig(src.Path)
	if err != nil {
		return reportProblems(c.err, src, err)
	}
	problems = append(problems, environmentProblems(&cfg)...)
	problems = append(problems, bindProblems(ctx, &cfg, problems)...)
	if len(problems) > 0 {
		return reportProblems(c.err, src, errors.Join(problems...))
	}
	fmt.Fprintf(c.out, "config OK: %s\n", src)
	if cfg.Database.Driver == "postgres" {
		fmt.Fprintf(c.out, "database: postgres %s\n", cfg.Database.Redacted())
	} else {
		fmt.Fprintf(c.out, "database: %s\n", absPath(cfg.Database.Path))
	}
	return nil
}

// reportProblems prints each problem on a line of its own and returns an
// error that counts them.
func reportProblems(w io.Writer, src chatd.ConfigSource, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for _, l := range lines {
		fmt.Fprintf(w, "problem: %s\n", l)
	}
	return fmt.Errorf("%s: %d %s", src, len(lines), plural(len(lines), "problem", "problems"))
}

// environmentProblems finds what serve would trip on although every value
// is valid: a database directory that does not exist, TLS files it cannot
// read.
func environmentProblems(cfg *chatd.Config) []error {
	var errs []error
	if cfg.Database.Driver != "postgres" {
		dir := filepath.Dir(cfg.Database.Path)
		if st, err := os.Stat(dir); err != nil {
			errs = append(errs, fmt.Errorf("database.path: the directory %s of %s: %w", dir, cfg.Database.Path, err))
		} else if !st.IsDir() {
			errs = append(errs, fmt.Errorf("database.path: %s is not a directory", dir))
		}
	}
	if cfg.Server.TLSListen != "" {
		for _, f := range []struct{ key, path string }{
			{"server.tls_cert", cfg.Server.TLSCert},
			{"server.tls_key", cfg.Server.TLSKey},
		} {
			if data, err := os.ReadFile(f.path); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.key, err))
			} else if len(data) == 0 {
				errs = append(errs, fmt.Errorf("%s: %s is empty", f.key, f.path))
			}
		}
	}
	return errs
}

// bindProblems tries to bind each listen address of cfg, releasing it at
// once, and reports those that cannot be bound: a port in use (saying so
// when the one using it answers like chatd), an address the machine does
// not have, a port below 1024 without the right. Keys that already have a
// problem (a malformed address) are not tried.
func bindProblems(ctx context.Context, cfg *chatd.Config, known []error) []error {
	type listen struct{ key, network, addr string }
	var all []listen
	for _, l := range []listen{
		{"server.listen", "tcp", cfg.Server.Listen},
		{"server.tls_listen", "tcp", cfg.Server.TLSListen},
		{"web.listen", "tcp", cfg.Web.Listen},
		{"metrics.listen", "tcp", cfg.Metrics.Listen},
	} {
		if l.addr != "" {
			all = append(all, l)
		}
	}
	if cfg.Discovery.Enabled && cfg.Discovery.Listen != "" {
		all = append(all, listen{"discovery.listen", "udp4", cfg.Discovery.Listen})
	}
	var errs []error
	for _, l := range all {
		if hasProblem(known, l.key) {
			continue
		}
		var err error
		if l.network == "tcp" {
			var ln net.Listener
			if ln, err = net.Listen(l.network, l.addr); err == nil {
				ln.Close()
			}
		} else {
			var pc net.PacketConn
			if pc, err = net.ListenPacket(l.network, l.addr); err == nil {
				pc.Close()
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, syscall.EADDRINUSE) && l.network == "tcp" && answersLikeChatd(ctx, l.addr):
			errs = append(errs, fmt.Errorf("%s: %s is in use by a chatd that is running: stop it first, or choose another address", l.key, l.addr))
		case errors.Is(err, syscall.EADDRINUSE):
			errs = append(errs, fmt.Errorf("%s: %s is already in use by another program (or another chatd)", l.key, l.addr))
		default:
			errs = append(errs, fmt.Errorf("%s: cannot bind %s: %w", l.key, l.addr, err))
		}
	}
	return errs
}

// hasProblem reports whether one of problems is about key.
func hasProblem(problems []error, key string) bool {
	for _, p := range problems {
		if strings.Contains(p.Error(), key+":") {
			return true
		}
	}
	return false
}

// answersLikeChatd connects to the TCP address addr (an unspecified host
// on this machine's loopback) and reports whether what it sends within a
// second ends in chatd's username prompt.
func answersLikeChatd(ctx context.Context, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return false
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetReadDeadline(deadline)
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < 64<<10 {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if bytes.Contains(got, []byte("Username: ")) || bytes.Contains(got, []byte(`"field":"username"`)) {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// absPath is path made absolute for display, or path itself if that fails.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

func (c *checkConfigCommand) Usage() string {
	return `The check-config command loads the configuration and checks every value
and what the server needs from the machine (the database's directory exists,
the TLS files can be read, each listen address can be bound: it is bound and
released at once), without opening the database. It
prints "config OK", the file it read and the database path it resolved, or
lists every problem it found and exits with status 1.

Usage:

	chatd check-config [arguments]

Arguments:

` + configUsage
}
