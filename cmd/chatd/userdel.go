package main

import (
	"context"
	"fmt"
)

// userdelCommand deletes an account.
type userdelCommand struct{ stdio }

func (c *userdelCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("userdel")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, store, u, err := openAccount(ctx, fs, *configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	if err := store.DeleteUserAction(ctx, u.Name, cliActor); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "deleted user %s\n", u.Name)
	return nil
}

func (c *userdelCommand) Usage() string {
	return `The userdel command deletes an account together with its ban, blocks and
stored messages.

Usage:

	chatd userdel [arguments] NAME

Arguments:

` + configUsage
}
