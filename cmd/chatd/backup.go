package main

import (
	"context"
	"fmt"
)

// backupCommand writes a consistent copy of the database.
type backupCommand struct{ stdio }

func (c *backupCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("backup")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("backup takes exactly one FILE after its flags (see 'chatd help backup')")
	}
	file := fs.Arg(0)
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	if err := store.Backup(ctx, file); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "wrote backup to %s\n", file)
	return nil
}

func (c *backupCommand) Usage() string {
	return `The backup command writes a consistent copy of the database to FILE while
the server keeps running. FILE must not exist yet. To restore, stop the
server and put the copy at database.path.

Usage:

	chatd backup [arguments] FILE

Arguments:

` + configUsage
}
