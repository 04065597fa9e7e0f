package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// children lists the process ids of pid's children.
func children(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			kids = append(kids, n)
		}
	}
	return kids
}

// hashWorkerOf waits for the daemon's one child, the hash worker, and
// returns its pid.
func hashWorkerOf(t *testing.T, d *liveDaemon) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		kids := children(t, d.cmd.Process.Pid)
		if len(kids) == 1 {
			return kids[0]
		}
		if len(kids) > 1 {
			t.Fatalf("the daemon has %d children, want one hash worker: %v", len(kids), kids)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no hash worker started\n%s", d.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// threadSched returns the scheduling policy and nice value of every
// thread of pid, from /proc/PID/task/TID/stat (fields 41 and 19).
func threadSched(t *testing.T, pid int) (policies, nices []int) {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		// After the name: field 3 (state) is f[0], so field n is f[n-3].
		policy, _ := strconv.Atoi(f[41-3])
		nice, _ := strconv.Atoi(f[19-3])
		policies, nices = append(policies, policy), append(nices, nice)
	}
	return policies, nices
}

// relogin logs name in with pw (it must succeed) as soon as the daemon
// has noticed that name's previous connection closed: until then the
// answer is already_online (duplicate_login = "reject").
func (d *liveDaemon) relogin(name, pw string) {
	d.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := gateLogin(d.addr, "127.0.0.1", name, pw)
		if err != nil {
			d.t.Fatal(err)
		}
		if res == "welcome" {
			return
		}
		if res != "already_online" || time.Now().After(deadline) {
			d.t.Fatalf("login %s: %s", name, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// register makes an account through the daemon (the first login of a
// new name), so that its hash is computed wherever the daemon hashes.
func (d *liveDaemon) register(name, pw string) {
	d.t.Helper()
	c := d.dial()
	c.send(name, pw, pw)
	c.waitFor(10*time.Second, "welcome", "user", name)
	c.conn.Close()
}

// The default argon2.worker: chatd serve computes hashes in a child
// process whose every thread runs at SCHED_IDLE; registering and logging
// in go through it; when it is killed, the next login starts another and
// gets in; and when the daemon is killed, the worker goes with it.
func TestHashWorkerIdle(t *testing.T) {
	const schedIdle = 5
	c := newCLIWithDB(t)
	d := c.serve()
	w := hashWorkerOf(t, d)
	// Once a hash has come back from it, the worker has set its
	// priority (it does so before it reads a request).
	d.register("alice", "password1")
	policies, _ := threadSched(t, w)
	for _, p := range policies {
		if p != schedIdle {
			t.Fatalf("hash worker %d threads' policies %v, want all %d (SCHED_IDLE)", w, policies, schedIdle)
		}
	}
	if p, _ := threadSched(t, d.cmd.Process.Pid); p[0] == schedIdle {
		t.Fatal("the daemon itself runs at SCHED_IDLE")
	}

	d.relogin("alice", "password1")
	if res, err := gateLogin(d.addr, "127.0.0.1", "alice", "wrong-password"); err != nil || res != "bad_credentials" {
		t.Fatalf("login with a wrong password: %s, %v", res, err)
	}

	// A crashed worker is replaced; the login that finds it gone gets in.
	if err := syscall.Kill(w, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, w)
	d.relogin("alice", "password1")
	w2 := hashWorkerOf(t, d)
	if w2 == w {
		t.Fatalf("the worker %d was not replaced", w)
	}

	// It dies with the daemon, even one killed without a chance to stop it.
	d.cmd.Process.Kill()
	<-d.exit
	waitGone(t, w2)
	if !strings.Contains(d.logs.String(), "hash worker exited") {
		t.Errorf("the worker's exit was not logged:\n%s", d.logs)
	}
}

// waitGone waits until process pid no longer exists (nor is a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if s := string(b); strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0] == "Z" {
			return // dead, waiting to be reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// argon2.worker = "nice": the worker's threads run at nice 19;
// "off": no worker, the daemon hashes itself.
func TestHashWorkerNiceAndOff(t *testing.T) {
	cheap := "\n[argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n"
	c := newCLIWithDB(t)
	d := c.serveWith("", cheap+"worker = \"nice\"\n")
	w := hashWorkerOf(t, d)
	d.register("bob", "password1") // through the worker, so it has set its priority
	_, nices := threadSched(t, w)
	for _, n := range nices {
		if n != 19 {
			t.Fatalf("hash worker %d threads' nice values %v, want all 19", w, nices)
		}
	}
	d.relogin("bob", "password1")
	d.terminate()
	waitGone(t, w)

	d = c.serveWith("", cheap+"worker = \"off\"\n")
	d.relogin("bob", "password1")
	if kids := children(t, d.cmd.Process.Pid); len(kids) != 0 {
		t.Fatalf("argon2.worker = \"off\" but the daemon has children %v", kids)
	}
}
