package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// usermodCommand changes an account's admin flag.
type usermodCommand struct{ stdio }

func (c *usermodCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("usermod")
	admin := fs.Bool("admin", false, "grant (true) or revoke (false) admin rights")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	adminSet := false
	fs.Visit(func(f *flag.Flag) { adminSet = adminSet || f.Name == "admin" })
	if !adminSet {
		return errors.New("nothing to change: give -admin=true or -admin=false")
	}
	_, store, u, err := openAccount(ctx, fs, *configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	if err := store.SetAdminAction(ctx, u.Name, *admin, cliActor); err != nil {
		return err
	}
	if *admin {
		fmt.Fprintf(c.out, "%s is an admin\n", u.Name)
	} else {
		fmt.Fprintf(c.out, "%s is not an admin\n", u.Name)
	}
	return nil
}

func (c *usermodCommand) Usage() string {
	return `The usermod command grants or revokes admin rights.

Usage:

	chatd usermod -admin=true|false [arguments] NAME

Arguments:

	-admin=true|false
	    Grant (true) or revoke (false) admin rights. Required.

` + configUsage
}
