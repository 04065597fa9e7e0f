//go:build !linux

package password

import (
	"errors"
	"syscall"
)

func workerProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// lowerPriority is Linux only: elsewhere the worker would compete with the
// chat at the same priority, which gains nothing, so it refuses to run and
// the daemon hashes in process.
func lowerPriority(string) error {
	return errors.New("a low-priority hash worker needs Linux")
}
