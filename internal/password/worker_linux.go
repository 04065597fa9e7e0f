package password

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// workerProcAttr makes the worker die with the daemon (SIGKILL when the
// daemon's thread that started it ends; the worker also exits when its
// stdin closes) and puts it in a process group of its own, so a Ctrl-C
// meant for a daemon in a terminal reaches the daemon alone and it stops
// the worker in order.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

const schedIdle = 5 // SCHED_IDLE in <linux/sched.h>

// lowerPriority moves every thread of this process to SCHED_IDLE
// ("idle": it runs only when a CPU has nothing else to run) or to nice 19
// ("nice": the smallest share beside others). On Linux both are per
// thread, and a new thread inherits them from the one that creates it; so
// every thread is set, and again any that appeared meanwhile, until a pass
// finds none new. Lowering needs no privilege.
//
// The threads already lowered are remembered between calls (the worker
// calls it once per request), so a later pass touches only new threads.
func lowerPriority(priority string) error {
	if priority != "idle" && priority != "nice" {
		return fmt.Errorf("unknown priority %q", priority)
	}
	loweredMu.Lock()
	defer loweredMu.Unlock()
	done := lowered
	for {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			fresh++
			if err := lowerThread(tid, priority); err != nil && err != syscall.ESRCH {
				return err
			}
			done[tid] = true
		}
		if fresh == 0 {
			return nil
		}
	}
}

// lowered is the set of thread ids lowerPriority has moved; guarded by
// loweredMu (a leaf: nothing else is locked under it).
var (
	loweredMu sync.Mutex
	lowered   = map[int]bool{}
)

func lowerThread(tid int, priority string) error {
	if priority == "nice" {
		return syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19)
	}
	param := struct{ priority int32 }{0}
	_, _, errno := syscall.Syscall(syscall.SYS_SCHED_SETSCHEDULER, uintptr(tid), schedIdle, uintptr(unsafe.Pointer(&param)))
	if errno != 0 {
		return errno
	}
	return nil
}
