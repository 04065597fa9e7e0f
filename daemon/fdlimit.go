package daemon

// The descriptor reserve. A process out of file descriptors cannot accept,
// open a database file, start the hash worker or write its log: every
// listener fails with "too many open files" at once. So the daemon never
// lets client sockets use its whole allowance. At start it reads the soft
// RLIMIT_NOFILE (the Go runtime has already raised it to the hard limit)
// and keeps fdReserve(limit) descriptors back for everything that is not a
// client socket: the database and its pool, the listeners, the hash
// worker's pipes, the poller, the log. Client sockets, those that linger
// on their way out included, are refused beyond the rest (admitLocked), as
// they are beyond server.max_connections; and sockets that are not chat
// sessions (idle HTTP) may take only half of it, so a flood of them leaves
// chat logins room. The budget is counted, not measured: nothing has to
// list /proc/self/fd on the way in.

// descriptorBudget is how many client sockets may be open at once; 0 when
// the limit is unknown or unlimited.
func descriptorBudget() int {
	limit := openFileLimit()
	if limit <= 0 || limit > 1<<30 {
		return 0
	}
	return limit - fdReserve(limit)
}

// fdReserve is the descriptors kept back from a limit of limit: a twentieth,
// at least 100 (a PostgreSQL pool, a SQLite file and its WAL per pooled
// connection, the listeners and the hash worker fit in that), and at most
// half of a small limit.
func fdReserve(limit int) int {
	r := max(100, limit/20)
	if limit < 2*r {
		r = limit / 2
	}
	return r
}
