package main

import (
	"context"
	"fmt"
)

// unbanCommand lifts a user's ban.
type unbanCommand struct{ stdio }

func (c *unbanCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("unban")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, store, u, err := openAccount(ctx, fs, *configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	if err := store.UnbanAction(ctx, u.Name, cliActor); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "unbanned %s\n", u.Name)
	return nil
}

func (c *unbanCommand) Usage() string {
	return `The unban command lifts a user's ban, so they can log in again at once.

Usage:

	chatd unban [arguments] NAME

Arguments:

` + configUsage
}
