package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"chatd/db"
)

// migrateCommand copies the community between the configured SQLite file
// and a PostgreSQL database, in either direction.
type migrateCommand struct{ stdio }

func (c *migrateCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("migrate")
	to := fs.String("to", "", "PostgreSQL URL to copy the SQLite database to")
	from := fs.String("from", "", "PostgreSQL URL to copy into the SQLite database")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("migrate takes no arguments after its flags, got %q (see 'chatd help migrate')", fs.Args())
	}
	if (*to == "") == (*from == "") {
		return errors.New("migrate needs exactly one of -to URL (SQLite to PostgreSQL) and -from URL (PostgreSQL to SQLite); see 'chatd help migrate'")
	}
	cfg, src, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	path := cfg.Database.Path
	if path == "" {
		return fmt.Errorf("no database.path in %s: migrate copies to or from the SQLite file it names", src)
	}

	var source, target *db.DB
	var sourceName, targetName string
	if *to != "" {
		if !exists(path) {
			return fmt.Errorf("no database at %s (database.path from %s): there is nothing to copy", path, src)
		}
		if source, err = db.Open(path); err != nil {
			return err
		}
		defer closeStore(source, &err)
		if target, err = db.OpenPostgres(*to); err != nil {
			return err
		}
		defer closeStore(target, &err)
		sourceName, targetName = absPath(path), redacted(*to)
		if online, oerr := source.Online(ctx); oerr == nil && len(online) > 0 {
			fmt.Fprintf(c.err, "warning: %s lists %d sessions online: is the server still running? The copy is one consistent snapshot; what is said after it is not in the copy. Stop the server first.\n",
				sourceName, len(online))
		}
	} else {
		created := !exists(path)
		if target, err = db.Open(path); err != nil {
			return err
		}
		defer closeStore(target, &err)
		if created {
			// A new file that the copy did not fill is not left behind
			// for the next attempt (or the server) to take for the
			// community.
			defer func() {
				if err != nil {
					target.Close()
					for _, suffix := range []string{"", "-wal", "-shm"} {
						os.Remove(path + suffix)
					}
				}
			}()
		}
		if source, err = db.OpenPostgres(*from); err != nil {
			return err
		}
		defer closeStore(source, &err)
		sourceName, targetName = redacted(*from), absPath(path)
	}

	start := time.Now()
	fmt.Fprintf(c.err, "copying %s to %s\n", sourceName, targetName)
	// One bar per table on a terminal, and a line as each table ends.
	var bar *progress
	var table string
	var copied int64
	end := func() {
		if table != "" {
			bar.done()
			fmt.Fprintf(c.err, "  %-18s %d rows\n", table, copied)
		}
	}
	sums, err := db.Copy(ctx, source, target, func(t string, done, total int64) {
		if t != table {
			end()
			table, bar = t, newProgress(c.err, total, t, false)
		}
		bar.set(done)
		copied = done
	})
	if err != nil {
		if bar != nil {
			bar.clear()
		}
		return err
	}
	end()
	var rows int64
	for _, s := range sums {
		rows += s.Rows
	}
	fmt.Fprintf(c.err, "verifying the row counts and checksums of %d tables\n", len(sums))
	if err := target.VerifyCopy(ctx, sums); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "copied %d rows in %d tables from %s to %s in %s; every table's row count and checksum match\n",
		rows, len(sums), sourceName, targetName, time.Since(start).Round(time.Millisecond))
	if *to != "" {
		fmt.Fprintf(c.out, `
To serve the community from PostgreSQL, set in the configuration (%s):

	[database]
	driver = "postgres"
	url = "%s"

and, for several nodes, give each its own [cluster] node name (docs/cluster.md).
Keep %s until you are sure; once the configuration names PostgreSQL, chatd no longer writes to it.
`, src, redacted(*to), sourceName)
	} else {
		fmt.Fprintf(c.out, `
To serve the community from the SQLite file, set in the configuration (%s):

	[database]
	driver = "sqlite"
	path = "%s"

and remove database.url and the [cluster] section; run one server only.
`, src, path)
	}
	return nil
}

// redacted is a PostgreSQL URL without its password, for messages.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func (c *migrateCommand) Usage() string {
	return `The migrate command copies the whole community between the SQLite file named
by database.path and a PostgreSQL database: with -to, from the SQLite file
to PostgreSQL, to move to several nodes (docs/cluster.md, "Moving from
SQLite"); with -from, from PostgreSQL back to the SQLite file.

The target must be new: an empty PostgreSQL database (createdb) or a
SQLite file that does not exist yet. A target that holds anything is
refused and nothing is written to it. Every account (with its password
hash), block, ban, login attempt, room, membership, line of room and
private history (the search index is rebuilt), offline message, read
marker, setting and admin action is copied with its id, from one
consistent snapshot of the source, in one transaction on the target.
Who is online and a cluster's own tables are not copied. Then each
table's row count and checksum are compared on both sides.

The copy is a snapshot: stop the server first, or what is said after the
snapshot is not in the copy. Progress goes to standard error; at the end
migrate prints what to change in the configuration.

Usage:

	chatd migrate [arguments] -to URL
	chatd migrate [arguments] -from URL

Arguments:

	-to URL
	    Copy the SQLite database to the PostgreSQL database at URL
	    (postgres://user:password@host:port/dbname?sslmode=...).
	-from URL
	    Copy the PostgreSQL database at URL into the SQLite file.
` + configUsage
}
