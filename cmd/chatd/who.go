package main

import (
	"context"
	"fmt"
	"time"

	"chatd"
	"chatd/db"
)

// whoCommand lists the sessions the running server reports online.
type whoCommand struct{ stdio }

func (c *whoCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("who")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("who takes no arguments, got %q", fs.Args())
	}
	cfg, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	rows, err := onlineSessions(ctx, cfg, store, "chatd-who")
	if err != nil {
		return err
	}
	return c.table(rows, cfg.Database.Driver == "postgres")
}

// onlineSessions lists the sessions the running server shows: on
// PostgreSQL, those of every node sharing the database (with the node each
// is on; app names the connection), else the online table the daemon
// keeps.
func onlineSessions(ctx context.Context, cfg chatd.Config, store *db.DB, app string) ([]chatd.ClusterSession, error) {
	if cfg.Database.Driver == "postgres" {
		cl, err := db.OpenCluster(ctx, cfg.Database.URL, app)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		return cl.Sessions(ctx)
	}
	online, err := store.Online(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]chatd.ClusterSession, len(online))
	for i, o := range online {
		rows[i] = chatd.ClusterSession{User: o.User, Room: o.Room, Addr: o.Addr,
			Since: o.Since, LastActive: o.LastActive}
	}
	return rows, nil
}

// table prints one line per session. With nodes, the node is one more
// column at the end, so scripts that read the first columns work on
// either backend.
func (c *whoCommand) table(online []chatd.ClusterSession, nodes bool) error {
	now := time.Now()
	tw := newTable(c.out)
	head, line := "USER\tROOM\tADDRESS\tSINCE\tIDLE", "%s\t%s\t%s\t%s\t%s"
	if nodes {
		head += "\tNODE"
	}
	fmt.Fprintln(tw, head)
	for _, o := range online {
		idle := now.Sub(o.LastActive).Truncate(time.Second)
		fmt.Fprintf(tw, line, cell(o.User), cell(o.Room), cell(o.Addr), formatTime(o.Since), max(idle, 0))
		if nodes {
			fmt.Fprintf(tw, "\t%s", cell(o.Node))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func (c *whoCommand) Usage() string {
	return `The who command lists who is online on the running server: user, room,
address, since when (local time) and how long since their last line. The
server writes the list to the database as it changes; it is empty when the
server is not running. On PostgreSQL it lists the users of every node, with
the node each is connected to (idle times are up to a few seconds old).

Usage:

	chatd who [arguments]

Arguments:

` + configUsage
}
