package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// noticeCommand sends a server notice to every online user.
type noticeCommand struct{ stdio }

func (c *noticeCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("notice")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	text := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if text == "" {
		return errors.New("notice takes the TEXT to send (see 'chatd help notice')")
	}
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	if err := store.Notice(ctx, text, cliActor); err != nil {
		return err
	}
	fmt.Fprintln(c.out, "asked the server to send the notice to everyone online")
	return nil
}

func (c *noticeCommand) Usage() string {
	return `The notice command sends TEXT as a server notice to every user who is
online, within a couple of seconds. Users who are offline do not get it.

Usage:

	chatd notice [arguments] TEXT

Arguments:

` + configUsage
}
