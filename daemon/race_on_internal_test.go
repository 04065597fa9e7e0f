//go:build race

package daemon

// raceOn says the race detector is on: it makes sync.Pool drop a quarter
// of what is put in it, so a count of allocations means less.
const raceOn = true
