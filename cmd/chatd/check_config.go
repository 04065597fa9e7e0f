package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
	cfg, src, err := loadConfig(*configPath)
	if err != nil {
		return reportProblems(c.err, src, err)
	}
	problems := environmentProblems(&cfg)
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
the TLS files can be read), without opening the database or listening. It
prints "config OK", the file it read and the database path it resolved, or
lists every problem it found and exits with status 1.

Usage:

	chatd check-config [arguments]

Arguments:

` + configUsage
}
