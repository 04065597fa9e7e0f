package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"chatd/db"
)

// initCommand creates and migrates the database the configuration names.
type initCommand struct{ stdio }

func (c *initCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("init")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("init takes no arguments, got %q", fs.Args())
	}
	cfg, src, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if cfg.Database.Driver == "postgres" {
		store, err := db.OpenConfig(cfg.Database)
		if err != nil {
			return err
		}
		defer closeStore(store, &err)
		fmt.Fprintf(c.out, "database %s ready (schema version %d); database.url from %s\n",
			cfg.Database.Redacted(), db.PostgresSchemaVersion, src)
		return nil
	}
	existed := exists(cfg.Database.Path)
	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	verb := "created"
	if existed {
		verb = "checked (it already existed)"
	}
	fmt.Fprintf(c.out, "database %s %s; database.path from %s\n", absPath(cfg.Database.Path), verb, src)
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func (c *initCommand) Usage() string {
	return `The init command creates the database named by database.path, with the
newest schema, and says where it is. A database that exists already is
upgraded to the newest schema if needed and otherwise left as it is. The
other admin commands refuse to run until the database exists; serve creates
it on its first start too. With database.driver = "postgres", the database
at database.url must exist (createdb); init creates chatd's tables in it,
or upgrades them.

Usage:

	chatd init [arguments]

Arguments:

` + configUsage
}
