package password

import "time"

// SetWorkerStall changes how long a hash waits for the hash worker before
// the daemon computes it itself, and returns a func that restores it.
func SetWorkerStall(d time.Duration) (restore func()) {
	old := workerStall
	workerStall = d
	return func() { workerStall = old }
}

// InProcess reports whether the hash worker has handed hashing back to
// the daemon (the gate then uses the in-process slot count).
func (h *Worker) InProcess() bool { return h.inProcess.Load() }

// WorkerRequest and RequestMemoryKiB let the tests read the memory the
// worker attributes to a request.
type WorkerRequest = workerRequest

var RequestMemoryKiB = requestMemoryKiB
