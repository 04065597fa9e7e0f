package password

import (
	"os"
	"runtime"

	"chatd"
)

// memoryHeadroom is what the process may use besides argon2's working
// memory (sessions, queues, SQLite's caches) while its live heap is small.
const memoryHeadroom = 128 << 20

// MemoryLimit is the soft memory limit that fits cfg with live bytes of
// live heap: every argon2 slot's memory plus room for the rest of the
// process, a fixed headroom or, once the live heap outgrows it, twice the
// live heap (the collector's own goal at GOGC 100). The gate never runs
// more hashes than that accounts for, and the Go runtime collects harder
// as the limit nears, so the memory of finished hashes is reused instead
// of piling up. The room grows with the live heap because a fixed one
// would not: a server with enough sessions to fill it would collect
// without a break, its goal pinned at what is live (seen at 15,000
// sessions with 1 MiB hashes, whose limit is 130 MiB).
func MemoryLimit(cfg *chatd.Config, live int64) int64 {
	return int64(cfg.Argon2.MaxConcurrent)*int64(cfg.Argon2.MemoryKiB)<<10 + max(memoryHeadroom, 2*live)
}

// Slots is how many hashes the gate should let run at once with the
// argon2 settings a when h computes them. holdP says whether the process
// is the daemon's own to manage (Options.ManageMemory): only then is a P
// held back from hashing (see hashSlots); in a shared process (the tests)
// argon2.max_concurrent alone counts.
//
// With a hash worker (a process at idle priority) no P needs holding back
// (while it works: when the daemon hashes itself meanwhile, the rule above
// holds): the kernel runs the chat first whenever it wants a CPU. The
// worker then runs just enough hashes to keep every CPU busy
// (argon2.max_concurrent at most): more would not finish the storm sooner,
// only hold more memory. Slots tells the worker that number and gives the
// gate twice as many: one request waits in the worker behind each hash it
// runs (see Worker).
func Slots(a chatd.Argon2Config, h Hasher, holdP bool) int {
	if w, ok := h.(*Worker); ok && !w.inProcess.Load() {
		run := workerSlots(a.MaxConcurrent, int(a.Parallelism), runtime.NumCPU())
		w.run.Store(int32(run))
		return 2 * run
	}
	if !holdP {
		return a.MaxConcurrent
	}
	return hashSlots(a.MaxConcurrent, int(a.Parallelism), runtime.GOMAXPROCS(0))
}

// hashSlots is how many hashes may run at once with procs Ps (GOMAXPROCS):
// argon2.max_concurrent, but never so many that hashing fills every P. An
// argon2 hash keeps `parallelism` goroutines busy for its whole length, and
// the Go scheduler takes a P from one only at the end of its 10 ms time
// slice; with every P hashing, each hop of a chat line (reader, fan-out,
// writer) would wait that long during a login storm. So at least one P is
// left free of hashing (one hash always runs, whatever the numbers). Logins
// get through about as fast either way: hashing is bound by the CPUs, not
// by the slots.
func hashSlots(maxConcurrent, parallelism, procs int) int {
	return max(1, min(maxConcurrent, (procs-1)/max(1, parallelism)))
}

// workerSlots is how many hashes of parallelism lanes fill cpus CPUs, at
// least one and at most maxConcurrent.
func workerSlots(maxConcurrent, parallelism, cpus int) int {
	p := max(1, parallelism)
	return max(1, min(maxConcurrent, (cpus+p-1)/p))
}

// RaiseProcs makes room for one hash beside the rest of the server when h
// hashes in this process: with fewer Ps than argon2.parallelism + 1 (a
// small machine: GOMAXPROCS is the number of CPUs), a single hash would
// occupy every P, so the process gets one P more than that and the kernel
// shares the CPUs between the hash's threads and the chat's. It only
// raises GOMAXPROCS, and leaves it alone when the operator set the
// GOMAXPROCS variable.
func RaiseProcs(a chatd.Argon2Config, h Hasher) {
	if _, ok := h.(*Worker); ok || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if want := int(a.Parallelism) + 1; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}
