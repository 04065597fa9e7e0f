package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// SQLite in WAL mode appends each commit to the -wal file, and a
// checkpoint copies what the WAL holds back into the database file. By
// default the connection whose commit takes the WAL past 1,000 pages
// runs that checkpoint inside its commit: on chatd's one writer
// connection, so every write waits meanwhile, the mailer's senders
// among them. A history batch of a couple of thousand lines changes
// about as many pages, so nearly every one of its commits ran a
// checkpoint while the mailer waited for the writer.
//
// The checkpointer runs them on a connection of its own instead, every
// checkpointEvery while something was committed: a PASSIVE checkpoint
// copies what no reader still needs and waits for nobody, and the
// writer goes on appending meanwhile. The writer keeps its own
// checkpoint at writerCheckpointPages, far above what the checkpointer
// leaves, so the WAL stays bounded should the checkpointer fall behind
// or fail. Durability does not change: a commit is durable once its
// WAL frames are synced, whoever copies them later.
const (
	checkpointEvery       = 100 * time.Millisecond
	writerCheckpointPages = 10000
)

// startCheckpointer opens the checkpointer's connection on the SQLite file
// at path and starts it; it stops when db closes (ckptDone).
func (db *DB) startCheckpointer(ctx context.Context, path string) error {
	c, err := sqlx.Open("sqlite", dsn(path))
	if err != nil {
		return fmt.Errorf("open db %s: checkpointer: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	if err := c.PingContext(ctx); err != nil {
		c.Close()
		return fmt.Errorf("open db %s: checkpointer: %w", path, err)
	}
	db.ckptDone = make(chan struct{})
	go db.checkpointer(c)
	return nil
}

// checkpointer checkpoints the WAL every checkpointEvery in which another
// connection committed (data_version changed), until db closes.
func (db *DB) checkpointer(c *sqlx.DB) {
	defer close(db.ckptDone)
	defer c.Close()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var seen int64
	for {
		select {
		case <-db.closing:
			return
		case <-t.C:
		}
		var v int64
		if err := c.Get(&v, `PRAGMA data_version`); err != nil || v == seen {
			continue
		}
		seen = v
		// An error (the file gone, a disk error) is the writer's to
		// report at its next commit; its own checkpoint still bounds
		// the WAL.
		c.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	}
}
