package db

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// The SQLite driver compiles every statement it is given from its text, and
// for the short statements on the busy paths (a private message, a login)
// compiling costs several times what running does. So those paths run
// prepared statements, compiled once per connection and kept.
//
// A stmtCache holds one pool's prepared statements by their text. The
// reader pool prepares a statement the first time it is asked for. The
// writer pool has one connection, which a transaction holds for its whole
// length, so a statement cannot be prepared on the pool from inside one:
// the writer's statements are prepared when the database opens (hotWrites)
// and a statement not among them runs unprepared.
//
// PostgreSQL needs none of this: pgx prepares and caches each statement
// per connection by itself, so a PostgreSQL stmtCache holds nothing and
// every query runs as text through the rebinding pool or transaction.
type stmtCache struct {
	pool *dbPool
	lazy bool // prepare on a miss (the reader pool)

	mu sync.Mutex // leaf (DEVELOPING.md, "Locks"); guards m
	m  map[string]*sqlx.Stmt
}

func newStmtCache(pool *dbPool, lazy bool) *stmtCache {
	return &stmtCache{pool: pool, lazy: lazy, m: map[string]*sqlx.Stmt{}}
}

// prepare compiles queries on the pool now and keeps them.
func (c *stmtCache) prepare(ctx context.Context, queries ...string) error {
	if c.pool.pg {
		return nil
	}
	for _, q := range queries {
		if _, err := c.add(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// get returns the prepared statement for query, or nil when there is none
// and the cache does not prepare on a miss.
func (c *stmtCache) get(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if c.pool.pg {
		return nil, nil
	}
	c.mu.Lock()
	st := c.m[query]
	c.mu.Unlock()
	if st != nil || !c.lazy {
		return st, nil
	}
	return c.add(ctx, query)
}

func (c *stmtCache) add(ctx context.Context, query string) (*sqlx.Stmt, error) {
	st, err := c.pool.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		st.Close() // prepared twice at once: keep the first
		return old, nil
	}
	c.m[query] = st
	return st, nil
}

// close finalizes every statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// prepared runs queries through a stmtCache: on the pool itself, or inside
// tx when tx is set. It is a sqlx.QueryerContext and sqlx.ExecerContext,
// so the helpers that take one (userID, sqlx.GetContext) work unchanged.
type prepared struct {
	c  *stmtCache
	tx *dbTx
}

var (
	_ sqlx.QueryerContext = prepared{}
	_ sqlx.ExecerContext  = prepared{}
)

// stmt returns query's statement bound to tx if there is one, or nil:
// then the caller runs the text unprepared.
func (p prepared) stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	st, err := p.c.get(ctx, query)
	if err != nil || st == nil {
		return nil, err
	}
	if p.tx != nil {
		// The statement is already compiled on the writer's one
		// connection; this only binds it to the transaction.
		st = p.tx.StmtxContext(ctx, st)
	}
	return st, nil
}

// direct is what runs a query that has no prepared statement.
func (p prepared) direct() interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
} {
	if p.tx != nil {
		return p.tx
	}
	return p.c.pool
}

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.direct().QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (p prepared) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.direct().QueryxContext(ctx, query, args...)
	}
	return st.QueryxContext(ctx, args...)
}

func (p prepared) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		// A Row carrying the error: Scan reports it.
		return p.direct().QueryRowxContext(ctx, query, args...)
	}
	if st == nil {
		return p.direct().QueryRowxContext(ctx, query, args...)
	}
	return st.QueryRowxContext(ctx, args...)
}

func (p prepared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return p.direct().ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// pg reports whether the queries go to PostgreSQL.
func (p prepared) pg() bool { return p.c.pool.pg }

// read runs queries on the reader pool through prepared statements.
func (db *DB) read() prepared { return prepared{c: db.readStmts} }

// write runs queries inside tx through the writer's prepared statements.
func (db *DB) write(tx *dbTx) prepared { return prepared{c: db.writeStmts, tx: tx} }
