package main

import (
	"context"
	"fmt"
	"time"
)

// bansCommand lists the bans.
type bansCommand struct{ stdio }

func (c *bansCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("bans")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("bans takes no arguments, got %q", fs.Args())
	}
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	bans, err := store.Bans(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := newTable(c.out)
	fmt.Fprintln(tw, "USER\tBY\tSINCE\tUNTIL\tREASON")
	for _, b := range bans {
		until := "permanent"
		if !b.Permanent() {
			until = formatTime(b.Expires)
			if !b.ActiveAt(now) {
				until += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(b.User), cell(b.By), formatTime(b.Created), until, cell(b.Reason))
	}
	return tw.Flush()
}

func (c *bansCommand) Usage() string {
	return `The bans command lists every ban: who is banned, who banned them (an
admin's name, or "cli" for this tool), since and until when, and why.
Bans that have run out are listed too, marked expired. Times are local.

Usage:

	chatd bans [arguments]

Arguments:

` + configUsage
}
