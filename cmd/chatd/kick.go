package main

import (
	"context"
	"fmt"
	"strings"
)

// kickCommand disconnects an online user through the running server.
type kickCommand struct{ stdio }

func (c *kickCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("kick")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return fmt.Errorf("kick takes a user name and optionally a reason (see 'chatd help kick')")
	}
	name, reason := fs.Arg(0), strings.Join(fs.Args()[1:], " ")
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	u, err := store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if err := store.Kick(ctx, u.Name, reason, cliActor); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "asked the server to disconnect %s\n", u.Name)
	return nil
}

func (c *kickCommand) Usage() string {
	return `The kick command disconnects a user who is online; they see REASON. It
does not keep them from logging in again (use ban for that). The running
server acts on it within a couple of seconds; when it is not running,
nothing happens.

Usage:

	chatd kick [arguments] NAME [REASON]

Arguments:

` + configUsage
}
