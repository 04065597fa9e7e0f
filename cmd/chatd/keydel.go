package main

import (
	"context"
	"fmt"
)

// keydelCommand removes an SSH public key from an account.
type keydelCommand struct{ stdio }

func (c *keydelCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("keydel")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("keydel takes a user name and a key's fingerprint (see 'chatd help keydel')")
	}
	name, fp := fs.Arg(0), fs.Arg(1)
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	u, err := store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := store.DeleteKey(ctx, u.Name, fp); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "deleted key %s of %s\n", fp, u.Name)
	return nil
}

func (c *keydelCommand) Usage() string {
	return `The keydel command removes an SSH public key from an account. The key is
named by its SHA256 fingerprint, as 'chatd keys' and 'ssh-keygen -l' show
it. Sessions that logged in with the key stay logged in.

Usage:

	chatd keydel [arguments] NAME SHA256:FINGERPRINT

Arguments:

` + configUsage
}
