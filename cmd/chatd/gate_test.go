package main

// Issue 10 item 1 against the built binary with realistic argon2 settings:
// a login flood from a few addresses does not starve a login from another,
// and a storm of logins stays within the configured memory bound.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatd"
	"chatd/internal/password"
)

// realisticArgon2 is the default cost: 64 MiB, 1 pass, 2 lanes, 4 at once.
const realisticArgon2 = `
[argon2]
memory_kib = 65536
iterations = 1
parallelism = 2
max_concurrent = 4
`

// gateUsers creates accounts with the password "password1" at the default
// argon2 cost, sharing one hash so that setting up costs one hash.
func gateUsers(t *testing.T, c *cli, names ...string) {
	t.Helper()
	store := openDB(t, c.dbPath)
	h, err := chatd.NewHasher(chatd.DefaultConfig().Argon2).Hash("password1")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := store.CreateUser(context.Background(), n, h, false); err != nil {
			t.Fatal(err)
		}
	}
}

// gateLogin logs name in from the local address ip with everything
// pipelined; it returns "welcome" or the error code that ended the try.
func gateLogin(addr, ip, name, pw string) (string, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := conn.Write([]byte("mode json\n" + name + "\n" + pw + "\n")); err != nil {
		return "", err
	}
	return gateAnswer(bufio.NewReader(conn))
}

func gateAnswer(r *bufio.Reader) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.Contains(line, `"type":"welcome"`) {
			return "welcome", nil
		}
		if strings.Contains(line, `"type":"error"`) {
			i := strings.Index(line, `"code":"`)
			if i < 0 {
				return line, nil
			}
			code := line[i+8:]
			return code[:strings.IndexByte(code, '"')], nil
		}
	}
}

// 60 connections from three addresses send made-up names and wrong
// passwords under the rate limit, keeping argon2 busy; a user from a
// fourth address still logs in, every time.
func TestLoginFloodDoesNotStarveOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs realistic argon2 hashes for several seconds")
	}
	c := newCLI(t)
	gateUsers(t, c, "legit", "legit0", "legit1", "legit2", "legit3", "legit4")
	// Closed registration: a made-up name is checked against the dummy
	// hash, as the red team's flood was.
	d := c.serveWith("", realisticArgon2+"[accounts]\nregistration = \"closed\"\n")
	if _, err := gateLogin(d.addr, "127.0.0.5", "legit", "password1"); err != nil {
		t.Skipf("cannot connect from 127.0.0.5: %v", err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var tries, busy atomic.Int64
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		for i := range 20 { // server.max_connections_per_ip
			wg.Add(1)
			go func() {
				defer wg.Done()
				dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
				conn, err := dl.Dial("tcp", d.addr)
				if err != nil {
					return
				}
				defer conn.Close()
				go func() { <-stop; conn.Close() }()
				r := bufio.NewReader(conn)
				conn.Write([]byte("mode json\n"))
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					// Two lines every 250 ms: under 10 lines a second.
					time.Sleep(250 * time.Millisecond)
					fmt.Fprintf(conn, "flood%s-%d-%d\nwrong-password\n", ip[8:], i, n)
					code, err := gateAnswer(r)
					if err != nil {
						return
					}
					tries.Add(1)
					if code == "server_busy" {
						busy.Add(1)
					}
				}
			}()
		}
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(2 * time.Second) // the flood is under way

	for i := range 5 {
		// A different user each time: the last one's connection may not
		// be noticed as closed yet (duplicate_login = "reject").
		res, err := gateLogin(d.addr, "127.0.0.5", fmt.Sprint("legit", i), "password1")
		if err != nil || res != "welcome" {
			t.Fatalf("legitimate login %d during the flood: %q, %v (flood: %d tries, %d busy)", i, res, err, tries.Load(), busy.Load())
		}
	}
	t.Logf("flood made %d tries (%d told server_busy) while 5 legitimate logins all got in", tries.Load(), busy.Load())
}

// vmHWM reads the peak resident set size of pid from /proc, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// gateMemoryMargin is what peak RSS may exceed the configured bound by:
// the runtime's soft limit is a target, not a wall, and the binary's code
// and stacks count too.
const gateMemoryMargin = 64 << 20

// 500 users log in at once with realistic argon2 settings: peak RSS of
// the daemon and its hash worker together stays within the bound the
// configuration implies (password.MemoryLimit) plus gateMemoryMargin. On a loaded machine some logins cannot finish within
// login_timeout and are told server_busy at once; nothing else may fail.
func TestLoginStormMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 500 realistic argon2 hashes")
	}
	const n = 500
	c := newCLI(t)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint("storm", i)
	}
	gateUsers(t, c, names...)
	d := c.serveWith("max_connections_per_ip = 600", realisticArgon2)
	cfg := chatd.DefaultConfig()
	bound := password.MemoryLimit(&cfg, 0)

	results := make(chan string, n)
	var start sync.WaitGroup
	start.Add(1)
	for _, name := range names {
		go func() {
			start.Wait()
			res, err := gateLogin(d.addr, "127.0.0.1", name, "password1")
			if err != nil {
				res = err.Error()
			}
			results <- res
		}()
	}
	started := time.Now()
	start.Done()
	counts := map[string]int{}
	for range n {
		counts[<-results]++
	}
	// The hash worker (argon2.worker) holds the hashes' memory: it counts.
	// (Each process's own peak, summed: at most what they held at once.)
	peak := vmHWM(t, d.cmd.Process.Pid)
	workers := children(t, d.cmd.Process.Pid)
	if len(workers) != 1 {
		t.Fatalf("want one hash worker, the daemon has children %v", workers)
	}
	for _, w := range workers {
		peak += vmHWM(t, w)
	}
	t.Logf("%d logins in %v; peak RSS %d MiB (daemon and hash worker); bound %d MiB + margin %d MiB",
		n, time.Since(started).Round(time.Millisecond), peak>>20, bound>>20, gateMemoryMargin>>20)
	if counts["welcome"] == 0 || counts["welcome"]+counts["server_busy"] != n {
		t.Errorf("of %d simultaneous logins: %v", n, counts)
	}
	if peak > bound+gateMemoryMargin {
		t.Fatalf("peak RSS %d MiB exceeds the bound %d MiB + %d MiB", peak>>20, bound>>20, gateMemoryMargin>>20)
	}
}
