package password_test

import (
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
	"chatd/internal/password"
)

// A hash worker that cannot be started (a missing binary) or that exits
// before it answers (here /bin/false: as a worker that may not lower its
// priority does) leaves the daemon hashing in its own process: hashes and
// checks still come out right, and it does not start a process for every
// password meanwhile.
func TestHashWorkerFallsBackInProcess(t *testing.T) {
	cost := chatd.Hasher{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	for _, prog := range []string{"/nonexistent/chatd", "/bin/false"} {
		t.Run(prog, func(t *testing.T) {
			var starts atomic.Int32
			w := password.NewWorker(func() *exec.Cmd {
				starts.Add(1)
				return exec.Command(prog)
			}, nil)
			defer w.Close()
			for i := range 5 {
				h, err := w.Hash(cost, "password1")
				if err != nil {
					t.Fatalf("hash %d: %v", i, err)
				}
				ok, err := w.Verify(h, "password1")
				if err != nil || !ok {
					t.Fatalf("verify %d of its own hash: %v, %v", i, ok, err)
				}
				if ok, err := w.Verify(h, "password2"); err != nil || ok {
					t.Fatalf("verify %d with the wrong password: %v, %v", i, ok, err)
				}
			}
			if _, err := w.Verify("$argon2id$garbage", "password1"); err == nil {
				t.Error("an unreadable stored hash verified without error")
			}
			// The first hash tries a start and, for a worker that exits at
			// once, the retry one more; then none until workerRetry.
			if !w.InProcess() {
				t.Error("hashing in the daemon, but the gate is not told so")
			}
			if n := starts.Load(); n > 2 {
				t.Errorf("%d worker starts for 16 hashes", n)
			}
		})
	}
}

// A worker that never answers (starved of CPU, here one that does not
// read at all) holds no login up for long: after workerStall the daemon
// hashes itself, and keeps doing so, without starting more workers, while
// the worker holds an unanswered request.
func TestHashWorkerStalledFallsBackInProcess(t *testing.T) {
	defer password.SetWorkerStall(50 * time.Millisecond)()
	cost := chatd.Hasher{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	var starts atomic.Int32
	w := password.NewWorker(func() *exec.Cmd {
		starts.Add(1)
		return exec.Command("sleep", "30")
	}, nil)
	defer w.Close()
	for i := range 3 {
		h, err := w.Hash(cost, "password1")
		if err != nil {
			t.Fatalf("hash %d: %v", i, err)
		}
		if ok, err := w.Verify(h, "password1"); err != nil || !ok {
			t.Fatalf("verify %d: %v, %v", i, ok, err)
		}
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("%d worker starts, want 1", n)
	}
	if !w.InProcess() {
		t.Error("hashing in the daemon, but the gate is not told so")
	}
	if w.Pid() == 0 {
		t.Error("the stalled worker was dropped; it should be kept until it answers")
	}
}

// TestRequestMemoryKiB: the worker collects after a hash by the memory it
// used, read from the request or from the PHC string it verifies.
func TestRequestMemoryKiB(t *testing.T) {
	for _, tc := range []struct {
		req  password.WorkerRequest
		want uint32
	}{
		{password.WorkerRequest{Op: "hash", M: 65536}, 65536},
		{password.WorkerRequest{Op: "hash", M: 1024}, 1024},
		{password.WorkerRequest{Op: "verify", PHC: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdA$a2V5"}, 65536},
		{password.WorkerRequest{Op: "verify", PHC: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$a2V5"}, 1024},
		{password.WorkerRequest{Op: "verify", PHC: "$argon2id$v=19$t=1$c2FsdA$a2V5"}, 0},
		{password.WorkerRequest{Op: "verify", PHC: "$argon2id$v=19$m=lots,t=1,p=1$c2FsdA$a2V5"}, 0},
		{password.WorkerRequest{Op: "verify", PHC: ""}, 0},
	} {
		if got := password.RequestMemoryKiB(tc.req); got != tc.want {
			t.Errorf("requestMemoryKiB(%+v) = %d, want %d", tc.req, got, tc.want)
		}
	}
}
