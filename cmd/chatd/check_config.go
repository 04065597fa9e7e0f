package main

import (
	"context"
	"fmt"

	"chatd"
)

// checkConfigCommand loads and validates the configuration.
type checkConfigCommand struct{ stdio }

func (c *checkConfigCommand) Run(ctx context.Context, args []string) error {
	fs, configPath := newFlagSet("check-config")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("check-config takes no arguments, got %q", fs.Args())
	}
	path := chatd.ConfigPath(*configPath)
	if _, err := chatd.LoadConfig(path); err != nil {
		return err
	}
	if path == "" {
		path = "(embedded defaults)"
	}
	fmt.Fprintf(c.out, "config OK: %s\n", path)
	return nil
}

func (c *checkConfigCommand) Usage() string {
	return `The check-config command loads the configuration and checks every value,
without opening the database or listening. It prints "config OK" and the
file it read, or reports the first problem and exits with status 1.

Usage:

	chatd check-config [arguments]

Arguments:

` + configUsage
}
