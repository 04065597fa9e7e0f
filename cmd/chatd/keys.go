package main

import (
	"context"
	"fmt"

	"chatd"
)

// keysCommand lists SSH public keys.
type keysCommand struct{ stdio }

func (c *keysCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("keys")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("keys takes at most one user name (see 'chatd help keys')")
	}
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	var keys []chatd.SSHKey
	if fs.NArg() == 1 {
		u, err := store.UserByName(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		keys, err = store.Keys(ctx, u.Name)
		if err != nil {
			return err
		}
	} else if keys, err = store.Keys(ctx, ""); err != nil {
		return err
	}
	tw := newTable(c.out)
	fmt.Fprintln(tw, "NAME\tTYPE\tFINGERPRINT\tCOMMENT\tADDED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(k.User), cell(k.Type), cell(k.Fingerprint), cell(k.Comment), formatTime(k.Added))
	}
	return tw.Flush()
}

func (c *keysCommand) Usage() string {
	return `The keys command lists the SSH public keys of one account, or of every
account: type, SHA256 fingerprint (what keydel takes), comment and when it
was added. Times are local.

Usage:

	chatd keys [arguments] [NAME]

Arguments:

` + configUsage
}
