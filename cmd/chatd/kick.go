package main

import (
	"context"
	"fmt"
	"strings"

	"chatd"
	"chatd/db"
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
	cfg, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	u, err := store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	online, err := isOnline(ctx, cfg, store, u.Name)
	if err != nil {
		return err
	}
	// Recorded either way: the list of who is online lags a login by up
	// to a second, and a kick for nobody does nothing.
	if err := store.Kick(ctx, u.Name, reason, cliActor); err != nil {
		return err
	}
	if online {
		fmt.Fprintf(c.out, "asked the server to disconnect %s\n", u.Name)
	} else {
		fmt.Fprintf(c.out, "%s is not online: nothing to disconnect (a login in the last second is still kicked). To keep them out, use chatd ban.\n", u.Name)
	}
	return nil
}

// isOnline reports whether the running server (any node of a cluster)
// lists name among its sessions, as chatd who shows them.
func isOnline(ctx context.Context, cfg chatd.Config, store *db.DB, name string) (bool, error) {
	sessions, err := onlineSessions(ctx, cfg, store, "chatd-kick")
	if err != nil {
		return false, err
	}
	for _, s := range sessions {
		if chatd.Key(s.User) == chatd.Key(name) {
			return true, nil
		}
	}
	return false, nil
}

func (c *kickCommand) Usage() string {
	return `The kick command disconnects a user who is online; they see REASON. It
does not keep them from logging in again (use ban for that). The running
server acts on it within a couple of seconds; when it is not running, or
the user is not online, nothing happens, and kick says so.

Usage:

	chatd kick [arguments] NAME [REASON]

Arguments:

` + configUsage
}
