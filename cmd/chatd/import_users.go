package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"chatd"
)

// importUsersCommand creates accounts from a file of "name password" lines.
type importUsersCommand struct{ stdio }

func (c *importUsersCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("import-users")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("import-users takes exactly one FILE after its flags (see 'chatd help import-users')")
	}
	file := fs.Arg(0)
	var in io.Reader = c.in
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cfg, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	hasher := chatd.NewHasher(cfg.Argon2)
	// importLine creates the account on one line, or says why it cannot.
	importLine := func(line string) error {
		sep := strings.IndexAny(line, " \t")
		if sep < 0 {
			return errors.New("want a name and a password separated by a space")
		}
		name, pw := line[:sep], strings.TrimSpace(line[sep+1:])
		if err := cfg.Accounts.CheckName(name); err != nil {
			return err
		}
		if err := cfg.Accounts.CheckPassword(pw); err != nil {
			return err
		}
		hash, err := hasher.Hash(pw)
		if err != nil {
			return err
		}
		_, err = store.CreateUser(ctx, name, hash, false)
		return err
	}

	imported, failed := 0, 0
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := importLine(line); err != nil {
			fmt.Fprintf(c.err, "%s:%d: %s\n", file, n, err)
			failed++
			continue
		}
		imported++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	fmt.Fprintf(c.out, "imported %d %s\n", imported, plural(imported, "user", "users"))
	if failed > 0 {
		return fmt.Errorf("%d %s of %s could not be imported", failed, plural(failed, "line", "lines"), file)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (c *importUsersCommand) Usage() string {
	return `The import-users command creates accounts in bulk. Each line of FILE holds
a user name, a space or tab, and the password: the rest of the line, without
the spaces around it. Blank lines and lines starting with # are skipped.
Names and passwords are checked as useradd checks them; a line that fails is
reported with its line number and the others are still imported, but the
command then exits with status 1. FILE "-" reads standard input.

	# name  password
	alice   correct-horse
	bob     battery-staple

Usage:

	chatd import-users [arguments] FILE

Arguments:

` + configUsage
}
