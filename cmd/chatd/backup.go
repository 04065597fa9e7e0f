package main

import (
	"context"
	"fmt"
	"time"
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

	start := time.Now()
	var bar *progress
	var size int64
	err = store.BackupProgress(ctx, file, func(done, total int64) {
		if bar == nil {
			bar = newProgress(c.err, total, "backup", true)
		}
		bar.set(done)
		size = done
	})
	if bar != nil {
		bar.done()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "wrote backup to %s (%.1f MB in %s)\n", file, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *backupCommand) Usage() string {
	return `The backup command writes a consistent copy of the database to FILE while
the server keeps running. FILE must not exist yet. The copy is readable by
its owner only from its first byte (mode 0600). To restore, stop the server
and put the copy at database.path. When standard error is a terminal, a
progress bar shows the bytes written. A PostgreSQL database
(database.driver = "postgres") is backed up with pg_dump instead; backup
refuses it and says so (see docs/operations.md).

Usage:

	chatd backup [arguments] FILE

Arguments:

` + configUsage
}
