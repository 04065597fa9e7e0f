//go:build unix

package daemon

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE, or 0 when it cannot be read.
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return int(min(r.Cur, 1<<31)) // RLIM_INFINITY too: descriptorBudget ignores it
}
