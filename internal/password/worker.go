package password

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"chatd"
)

// Worker computes argon2 in a child process at the lowest CPU priority
// the kernel has (SCHED_IDLE; see argon2.worker), so that during a login
// storm the kernel itself runs the chat first: a chat goroutine that wakes
// preempts the hashing at once instead of waiting for the end of a time
// slice, and the hashes' 64 MiB buffers are allocated and collected by the
// worker's runtime, not the daemon's.
//
// The worker is the chatd binary re-executed (`chatd hash-worker`, see
// ServeWorker), speaking JSON lines over its stdin and stdout: one
// request per hash, answered in any order by id. The gate in front of it
// is unchanged: it admits at most its slots, so the worker never has more
// than that many requests in hand (the queue stays the gate's, fair per
// source address). With a worker the gate has twice the slots of the
// hashes that fill the CPUs, and each request tells the worker to run no
// more than those at once (Run): the other half wait in the worker,
// without memory, one behind each running hash, so the worker goes from
// one hash to the next without waiting for the daemon. The hash
// parameters travel with each request: new hashes at the cost in force,
// checks at the cost in the stored hash.
//
// A worker starved of CPU (other work at normal priority keeps every CPU
// busy) would hold logins up until server_busy: a hash it has not answered
// within workerStall is computed in the daemon instead, as are all hashes
// until the worker has answered what it holds; then it takes over again.
//
// The worker dies with the daemon (Pdeathsig, and it exits when its stdin
// closes). If it exits or crashes, the requests it held are sent again to
// a new worker, started on the next request; when no worker can be
// started, the hash runs in the daemon (InProcess) and the failure
// is logged, and a new start is tried after workerRetry.
//
// Locking: Worker.mu guards the current process and its table of
// requests in flight; a leaf, never held while hashing or waiting.
type Worker struct {
	start func() *exec.Cmd // a fresh, unstarted `chatd hash-worker` command
	log   *slog.Logger

	mu       sync.Mutex
	proc     *workerProc // the running worker; nil when none
	nextID   uint64
	failedAt time.Time     // last failed start: hash in process until workerRetry after
	fastest  time.Duration // quickest answer so far, for the stall limit
	// inProcess is true while hashes run in the daemon (no worker can
	// start, or it is starved): the gate then admits no more than an
	// in-process hasher may run. Written under mu, read without it.
	inProcess atomic.Bool
	// run is how many hashes the worker may compute at once (Slots
	// sets it; sent with each request as Run).
	run    atomic.Int32
	closed bool
}

// workerStall is how long a hash may wait for the worker before the daemon
// computes it itself: this, or 20 times the worker's quickest answer if
// that is longer (a costly argon2 setting). An uncontended hash at chatd's
// default cost takes about 0.1 s; a worker that has not answered in 20
// times that is not being given the CPU (the machine is busy with other
// work at normal priority), and a login should not wait on it.
var workerStall = 2 * time.Second

// workerRetry is how long the daemon hashes in process after the worker
// could not be started.
const workerRetry = 10 * time.Second

// workerProc is one run of the worker process.
type workerProc struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	enc     *json.Encoder               // guarded by Worker.mu
	pending map[uint64]chan workerReply // guarded by Worker.mu
	// abandoned counts requests given up on as stalled (workerStall)
	// that the worker has not answered yet; while there are any, hashes
	// run in the daemon. Guarded by Worker.mu.
	abandoned int
	gaveUp    map[uint64]bool // which ids those are; guarded by Worker.mu
	dead      chan struct{}   // closed once the worker is gone
	started   time.Time
}

// workerRequest is one hash for the worker: "hash" a new password at the
// cost M, T, P, or "verify" Password against PHC.
type workerRequest struct {
	ID       uint64 `json:"id"`
	Op       string `json:"op"`
	Password string `json:"pw"`
	PHC      string `json:"phc,omitempty"`
	M        uint32 `json:"m,omitempty"`
	T        uint32 `json:"t,omitempty"`
	P        uint8  `json:"p,omitempty"`
	// Run is how many hashes the worker may compute at once (the
	// latest request's counts; 0: as many as it is sent).
	Run int `json:"run,omitempty"`
}

// workerReply answers the request with the same id.
type workerReply struct {
	ID    uint64 `json:"id"`
	Hash  string `json:"hash,omitempty"`
	Match bool   `json:"match,omitempty"`
	Err   string `json:"err,omitempty"`
}

// NewWorker returns a hasher that runs each hash in the process
// start makes (started on first use, again after it exits). start must
// return a new command each call, with Stdin, Stdout and SysProcAttr unset.
func NewWorker(start func() *exec.Cmd, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{start: start, log: log}
}

func (h *Worker) Hash(c chatd.Hasher, password string) (string, error) {
	r, err := h.call(workerRequest{Op: "hash", Password: password, M: c.MemoryKiB, T: c.Iterations, P: c.Parallelism})
	if errors.Is(err, errNoWorker) {
		return c.Hash(password)
	}
	if err != nil {
		return "", err
	}
	if r.Err != "" {
		return "", errors.New(r.Err)
	}
	return r.Hash, nil
}

func (h *Worker) Verify(phc, password string) (bool, error) {
	r, err := h.call(workerRequest{Op: "verify", Password: password, PHC: phc})
	if errors.Is(err, errNoWorker) {
		return chatd.Verify(phc, password)
	}
	if err != nil {
		return false, err
	}
	if r.Err != "" {
		return false, errors.New(r.Err)
	}
	return r.Match, nil
}

// errNoWorker says no worker process is available: the caller hashes in
// the daemon instead.
var errNoWorker = errors.New("no hash worker")

// call hands req to the worker and waits for its answer. A worker that
// exits before answering is replaced and the request sent again, once.
func (h *Worker) call(req workerRequest) (workerReply, error) {
	for range 2 {
		p, err := h.running()
		if err != nil {
			return workerReply{}, err
		}
		ch := make(chan workerReply, 1)
		h.mu.Lock()
		h.nextID++
		req.ID = h.nextID
		req.Run = int(h.run.Load())
		p.pending[req.ID] = ch
		err = p.enc.Encode(req)
		if err != nil {
			delete(p.pending, req.ID)
		}
		h.mu.Unlock()
		if err != nil {
			p.kill() // its reader sees the end and marks it gone
			<-p.dead
			continue
		}
		h.mu.Lock()
		limit := max(workerStall, 20*h.fastest)
		h.mu.Unlock()
		sent := time.Now()
		stall := time.NewTimer(limit)
		select {
		case r := <-ch:
			stall.Stop()
			h.mu.Lock()
			if d := time.Since(sent); h.fastest == 0 || d < h.fastest {
				h.fastest = d
			}
			h.mu.Unlock()
			return r, nil
		case <-stall.C:
			// Starved: the CPUs are busy with other work that outranks
			// the worker. Hash here instead (at the daemon's priority,
			// as with argon2.worker = "off"), and send the worker
			// nothing more until it has answered what it holds, so its
			// backlog stays within the gate's slots.
			h.mu.Lock()
			select {
			case r := <-ch: // answered just now
				h.mu.Unlock()
				return r, nil
			default:
			}
			if p.abandoned == 0 {
				h.log.Warn("the hash worker is starved of CPU; hashing in the daemon until it catches up", "waited", limit)
			}
			p.abandoned++
			p.gaveUp[req.ID] = true
			h.inProcess.Store(true)
			h.mu.Unlock()
			return workerReply{}, errNoWorker
		case <-p.dead:
			stall.Stop()
			select {
			case r := <-ch: // answered just before it went
				return r, nil
			default:
			}
		}
	}
	return workerReply{}, errNoWorker
}

// running returns the worker process, starting one if none runs, or
// errNoWorker when none can be started.
func (h *Worker) running() (*workerProc, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc != nil {
		if h.proc.abandoned > 0 {
			return nil, errNoWorker
		}
		return h.proc, nil
	}
	if h.closed || time.Since(h.failedAt) < workerRetry {
		return nil, errNoWorker
	}
	p, err := h.startLocked()
	if err != nil {
		h.failedAt = time.Now()
		h.inProcess.Store(true)
		h.log.Warn("cannot start the hash worker; hashing passwords in the daemon meanwhile", "err", err)
		return nil, errNoWorker
	}
	h.proc = p
	h.inProcess.Store(false)
	return p, nil
}

// startLocked starts a worker process and its reader.
func (h *Worker) startLocked() (*workerProc, error) {
	cmd := h.start()
	cmd.SysProcAttr = workerProcAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &workerProc{cmd: cmd, in: in, enc: json.NewEncoder(in),
		pending: map[uint64]chan workerReply{}, gaveUp: map[uint64]bool{},
		dead: make(chan struct{}), started: time.Now()}
	h.log.Debug("hash worker started", "pid", cmd.Process.Pid)
	go h.read(p, out)
	return p, nil
}

// read delivers p's answers until it exits, then takes it out of service.
func (h *Worker) read(p *workerProc, out io.Reader) {
	dec := json.NewDecoder(bufio.NewReader(out))
	answered := false
	for {
		var r workerReply
		if err := dec.Decode(&r); err != nil {
			break
		}
		answered = true
		h.mu.Lock()
		ch := p.pending[r.ID]
		delete(p.pending, r.ID)
		if p.gaveUp[r.ID] {
			delete(p.gaveUp, r.ID)
			if p.abandoned--; p.abandoned == 0 {
				h.inProcess.Store(false)
				h.log.Info("the hash worker caught up; hashing there again")
			}
		}
		h.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}
	p.kill()
	err := p.cmd.Wait()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if !closed {
		h.log.Warn("the hash worker exited; a new one starts with the next password", "pid", p.cmd.Process.Pid, "err", err)
	}
	h.mu.Lock()
	if h.proc == p {
		h.proc = nil
	}
	if !answered && time.Since(p.started) < time.Second {
		// It could not even start work (say, it may not lower its
		// priority here): hash in the daemon for a while rather than
		// start a process per password.
		h.failedAt = time.Now()
		h.inProcess.Store(true)
	}
	h.mu.Unlock()
	close(p.dead)
}

func (p *workerProc) kill() { p.cmd.Process.Kill() }

// Pid is the worker process's id, 0 when none runs (for tests and
// benchmarks that count its memory).
func (h *Worker) Pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil {
		return 0
	}
	return h.proc.cmd.Process.Pid
}

// Close stops the worker: its stdin closes and it exits after the hashes
// it holds; after a few seconds it is killed. Hashes asked for later run
// in the daemon.
func (h *Worker) Close() {
	h.mu.Lock()
	h.closed = true
	p := h.proc
	h.mu.Unlock()
	if p == nil {
		return
	}
	p.in.Close()
	select {
	case <-p.dead:
	case <-time.After(5 * time.Second):
		p.kill()
		<-p.dead
	}
}

// ServeWorker is the worker's side (`chatd hash-worker`): it lowers
// its own CPU priority to priority (argon2.worker: "idle" or "nice"),
// then answers the requests read from in on out until in ends.
func ServeWorker(in io.Reader, out io.Writer, priority string) error {
	lower := func() error {
		if err := lowerPriority(priority); err != nil {
			return fmt.Errorf("lower the hash worker's priority (argon2.worker = %q): %w", priority, err)
		}
		return nil
	}
	if err := lower(); err != nil {
		return err
	}
	// Small hashes (a test-size cost) leave little garbage each, and a
	// collection per hash would cost several times the hash itself; a
	// heap allowed to grow to five times what is live holds only a few
	// of them between collections. Big ones are collected one by one
	// (serveHashes).
	debug.SetGCPercent(400)
	// Once more before each hash: a thread whose creation was under way
	// while the first pass ran can have copied the old priority. The
	// process is quiet then, so that pass finds any such one.
	return serveHashes(in, out, lower, hashRequest)
}

// serveHashes answers the requests read from in on out, each computed by
// compute on a goroutine of its own, until in ends; before runs ahead of
// each. At most the latest request's Run hashes are computed at once; the
// others wait here, in the order they came, holding no hash memory yet.
// The daemon sends more requests than that (Slots), so that a hash
// finishing here finds the next one already in hand instead of waiting
// for the daemon to answer its login and send another: the round trip
// through a busy daemon no longer leaves the worker idle.
func serveHashes(in io.Reader, out io.Writer, before func() error, compute func(workerRequest) workerReply) error {
	var mu sync.Mutex // one reply at a time on out; running, limit
	freed := sync.NewCond(&mu)
	enc := json.NewEncoder(out)
	var wg sync.WaitGroup
	var idle *time.Timer
	running, limit := 0, 0
	dec := json.NewDecoder(bufio.NewReader(in))
	for {
		var req workerRequest
		if err := dec.Decode(&req); err != nil {
			wg.Wait()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read a request: %w", err)
		}
		if err := before(); err != nil {
			return err
		}
		mu.Lock()
		if req.Run > 0 {
			limit = req.Run
		}
		// Only this loop waits here, so requests start in arrival order.
		for limit > 0 && running >= limit {
			freed.Wait()
		}
		running++
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := compute(req)
			// A big hash's buffer (argon2.memory_kib) is garbage now:
			// collect it at once, so the next hash reuses its pages
			// instead of the process growing by another buffer
			// first. The heap here is otherwise tiny, so this costs
			// little beside such a hash, and it costs the chat
			// nothing: it runs in this process. Below bigHashKiB the
			// collector's own pace is cheaper (measured in
			// docs/performance.md: a collection per 1 MiB hash made
			// it cost 4.6 ms of CPU instead of 0.9).
			if requestMemoryKiB(req) >= bigHashKiB {
				runtime.GC()
			}
			mu.Lock()
			defer mu.Unlock()
			enc.Encode(r) // a broken pipe means the daemon is gone: in ends next
			running--
			freed.Signal()
			if running == 0 {
				// Hand the finished hashes' memory back once requests
				// stop coming for a moment, as the daemon's gate does.
				if idle == nil {
					idle = time.AfterFunc(2*time.Second, func() {
						mu.Lock()
						quiet := running == 0
						mu.Unlock()
						if quiet {
							debug.FreeOSMemory()
						}
					})
				} else {
					idle.Reset(2 * time.Second)
				}
			}
		}()
	}
}

// bigHashKiB is the argon2 memory from which the worker collects its
// garbage after each hash.
const bigHashKiB = 8 << 10

// requestMemoryKiB is the argon2 memory req's hash uses: its M, or that
// of the PHC string it verifies against (0 when unreadable: the hash
// then fails at once and leaves nothing to collect).
func requestMemoryKiB(req workerRequest) uint32 {
	if req.Op != "verify" {
		return req.M
	}
	cost, err := chatd.CostOf(req.PHC)
	if err != nil {
		return 0
	}
	return cost.MemoryKiB
}

// hashRequest computes one request in this process.
func hashRequest(req workerRequest) workerReply {
	r := workerReply{ID: req.ID}
	var err error
	switch req.Op {
	case "hash":
		h := chatd.Hasher{MemoryKiB: req.M, Iterations: req.T, Parallelism: req.P}
		if req.M < 8*uint32(req.P) || req.T < 1 || req.P < 1 {
			err = fmt.Errorf("bad argon2 cost m=%d,t=%d,p=%d", req.M, req.T, req.P)
		} else {
			r.Hash, err = h.Hash(req.Password)
		}
	case "verify":
		r.Match, err = chatd.Verify(req.PHC, req.Password)
	default:
		err = fmt.Errorf("unknown request %q", req.Op)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}
