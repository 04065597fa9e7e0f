package main

import (
	"context"
	"fmt"
	"time"

	"chatd"
)

// usersCommand lists every account.
type usersCommand struct{ stdio }

func (c *usersCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("users")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("users takes no arguments, got %q", fs.Args())
	}
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	users, err := store.Users(ctx)
	if err != nil {
		return err
	}
	bans, err := store.Bans(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	banned := make(map[string]*chatd.Ban)
	for _, b := range bans {
		if b.ActiveAt(now) {
			banned[chatd.Key(b.User)] = b
		}
	}

	tw := newTable(c.out)
	fmt.Fprintln(tw, "NAME\tADMIN\tCREATED\tLAST SEEN\tBANNED")
	for _, u := range users {
		ban := "no"
		if b := banned[chatd.Key(u.Name)]; b != nil {
			ban = banUntil(b)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n",
			cell(u.Name), yesNo(u.Admin), formatTime(u.Created), formatTime(u.LastSeen), ban)
	}
	return tw.Flush()
}

func (c *usersCommand) Usage() string {
	return `The users command lists every account, sorted by name: whether it is an
admin, when it was created, when it was last seen online and whether it is
banned now. Times are local.

Usage:

	chatd users [arguments]

Arguments:

` + configUsage
}
