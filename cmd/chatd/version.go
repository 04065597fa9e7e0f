package main

import (
	"context"
	"fmt"
	"runtime"

	"chatd"
)

// versionCommand prints the build's version.
type versionCommand struct{ stdio }

func (c *versionCommand) Run(ctx context.Context, args []string) error {
	fs, _ := newFlagSet("version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "chatd %s (%s)\n", chatd.Version, runtime.Version())
	return nil
}

func (c *versionCommand) Usage() string {
	return `The version command prints chatd's version and the Go release it was built
with.

Usage:

	chatd version
`
}
