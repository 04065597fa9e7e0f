package main

import (
	"context"
	"fmt"
)

// passwdCommand sets an account's password without knowing the old one.
type passwdCommand struct{ stdio }

func (c *passwdCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("passwd")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, store, u, err := openAccount(ctx, fs, *configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	hash, err := newPasswordHash(c.stdio, cfg)
	if err != nil {
		return err
	}
	if err := store.SetPasswordAction(ctx, u.Name, hash, cliActor); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "changed the password of %s\n", u.Name)
	return nil
}

func (c *passwdCommand) Usage() string {
	return `The passwd command sets a new password for an account, for example when its
owner has forgotten the old one. The password is read as useradd reads it:
twice without echo on a terminal, otherwise one line of standard input.

Usage:

	chatd passwd [arguments] NAME

Arguments:

` + configUsage
}
