package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"chatd"
	"chatd/internal/password"
)

// hashWorkerCommand is `chatd hash-worker`, started by chatd serve (not
// listed in the help): it computes the daemon's argon2 hashes at low CPU
// priority, reading requests on stdin and answering on stdout until stdin
// closes (argon2.worker, password.Worker).
type hashWorkerCommand struct{ stdio }

func (c *hashWorkerCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hash-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	priority := fs.String("priority", "idle", "idle (SCHED_IDLE) or nice (nice 19)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// `systemctl kill -s USR2 chatd` signals every process of the unit:
	// the upgrade is the daemon's business, not a reason to die.
	signal.Ignore(syscall.SIGUSR2)
	if fs.NArg() != 0 {
		return fmt.Errorf("hash-worker takes no arguments, got %q", fs.Args())
	}
	return password.ServeWorker(c.in, c.out, *priority)
}

func (c *hashWorkerCommand) Usage() string {
	return `usage: chatd hash-worker [-priority idle|nice]

Computes argon2 password hashes for chatd serve, which starts it when
argon2.worker is "idle" or "nice" (the default). Not meant to be run by
hand: it reads the daemon's requests on stdin and answers on stdout.
`
}

// newHashWorker returns the hasher argon2.worker asks for: nil for "off"
// (the daemon hashes in its own process), else this binary re-executed as
// hash-worker at that priority, its error output going to stderr.
func newHashWorker(cfg chatd.Config, stderr io.Writer, log *slog.Logger) (*password.Worker, error) {
	if cfg.Argon2.Worker == "off" {
		return nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start the hash worker (argon2.worker): %w", err)
	}
	priority := cfg.Argon2.Worker
	return password.NewWorker(func() *exec.Cmd {
		cmd := exec.Command(exe, "hash-worker", "-priority", priority)
		cmd.Stderr = stderr
		return cmd
	}, log), nil
}
