package main

import (
	"context"
	"fmt"
	"time"

	"chatd"
)

// banCommand keeps a user from logging in, for a while or for good.
type banCommand struct{ stdio }

func (c *banCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("ban")
	lengthText := fs.String("for", "permanent", "how long the ban lasts: 30m, 2h, 7d or permanent")
	reason := fs.String("reason", "", "why the user is banned")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	name, err := nameArg(fs)
	if err != nil {
		return err
	}
	length, err := chatd.ParseBanDuration(*lengthText)
	if err != nil {
		return fmt.Errorf("-for: %w", err)
	}
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	u, err := store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	now := time.Now()
	b := chatd.Ban{User: u.Name, Reason: *reason, By: cliActor, Created: now}
	if length > 0 {
		b.Expires = now.Add(length)
	}
	if err := store.BanAction(ctx, b); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "banned %s %s\n", u.Name, banUntil(&b))
	return nil
}

// banUntil says how long a ban lasts: "permanently" or "until <time>".
func banUntil(b *chatd.Ban) string {
	if b.Permanent() {
		return "permanently"
	}
	return "until " + formatTime(b.Expires)
}

func (c *banCommand) Usage() string {
	return `The ban command keeps a user from logging in. A ban on a user who already
has one replaces it. When the server is running, a user who is online is
disconnected within a couple of seconds.

Usage:

	chatd ban [arguments] NAME

Arguments:

	-for DURATION
	    How long the ban lasts, like 30m, 12h or 7d (days), at most 36500d.
	    Without it, or with "permanent", the ban never ends.

	-reason TEXT
	    Why the user is banned; they see it when they try to log in.

` + configUsage
}
