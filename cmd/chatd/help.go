package main

import (
	"context"
	"fmt"
)

// helpCommand prints the list of commands, or one command's usage.
type helpCommand struct{ stdio }

func (c *helpCommand) Run(ctx context.Context, args []string) error {
	fs, _ := newFlagSet("help")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	args = fs.Args()
	switch len(args) {
	case 0:
		fmt.Fprint(c.out, usage)
		return nil
	case 1:
		cmd := lookup(args[0], c.stdio)
		if cmd == nil {
			return fmt.Errorf("unknown command %q (run 'chatd help' for the list)", args[0])
		}
		fmt.Fprint(c.out, cmd.Usage())
		return nil
	}
	return fmt.Errorf("help takes at most one command name")
}

func (c *helpCommand) Usage() string {
	return `The help command lists the commands, or explains the one named.

Usage:

	chatd help [command]
`
}
