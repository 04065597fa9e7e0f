package main

import (
	"syscall"
	"time"
	"unsafe"
)

// processCPU is the CPU time process pid has used so far (all its
// threads, the ended ones too), read from its CPU clock in nanoseconds;
// /proc/PID/stat counts in 10 ms ticks, too coarse for a short window.
func processCPU(pid int) (time.Duration, bool) {
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) in the kernel's terms.
	clock := uintptr(^pid<<3 | 2)
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clock, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
