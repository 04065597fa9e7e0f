package main

import (
	"context"
	"fmt"

	"chatd"
)

// useraddCommand creates an account.
type useraddCommand struct{ stdio }

func (c *useraddCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("useradd")
	admin := fs.Bool("admin", false, "make the user an admin")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	name, err := nameArg(fs)
	if err != nil {
		return err
	}
	cfg, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	if err := cfg.Accounts.CheckName(name); err != nil {
		return err
	}
	// Refuse a taken name before asking for a password that would be wasted.
	// CreateUser checks again, in case someone else takes it meanwhile.
	if u, err := store.UserByName(ctx, name); err == nil {
		return chatd.Errorf(chatd.EUserExists, "the name %s is already taken", u.Name)
	} else if chatd.ErrorCode(err) != chatd.ENoSuchUser {
		return err
	}

	hash, err := newPasswordHash(c.stdio, cfg)
	if err != nil {
		return err
	}
	u, err := store.CreateUser(ctx, name, hash, *admin)
	if err != nil {
		return err
	}
	if u.Admin {
		fmt.Fprintf(c.out, "created admin %s\n", u.Name)
	} else {
		fmt.Fprintf(c.out, "created user %s\n", u.Name)
	}
	return nil
}

// newPasswordHash reads a new password (see readNewPassword), checks it
// against accounts.min_password_length and hashes it with the [argon2] cost.
func newPasswordHash(s stdio, cfg chatd.Config) (string, error) {
	pw, err := readNewPassword(s)
	if err != nil {
		return "", err
	}
	if err := cfg.Accounts.CheckPassword(pw); err != nil {
		return "", err
	}
	return chatd.NewHasher(cfg.Argon2).Hash(pw)
}

func (c *useraddCommand) Usage() string {
	return `The useradd command creates an account. The name must match
accounts.username_pattern and the password must have at least
accounts.min_password_length characters.

On a terminal the password is asked for twice without echo. Otherwise the
first line of standard input is the password, so scripts can run:

	echo 'secret-password' | chatd useradd alice

Usage:

	chatd useradd [arguments] NAME

Arguments:

	-admin
	    Make the new user an admin.

` + configUsage
}
