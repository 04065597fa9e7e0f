package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWebFloodLeavesDescriptorsForLogins runs chatd serve with 128 file
// descriptors and fills its web listener with idle keep-alive page
// connections from eight loopback addresses until the daemon refuses
// more. Every one of the daemon's descriptors would be gone long before
// the per-address caps (8 x 20) were reached; instead the page sockets
// stop at their share of the descriptor budget, a plain TCP login still
// gets in, and accept never fails with "too many open files".
func TestWebFloodLeavesDescriptorsForLogins(t *testing.T) {
	c := newCLIWithDB(t)
	c.ok("password-a\n", "useradd", "alice")
	addr, web := freeAddr(t), freeAddr(t)
	c.writeFile("chatd.toml", fmt.Sprintf(`
[server]
listen = %q
[web]
listen = %q
[database]
%s
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1
`, addr, web, c.database()))
	logs := &crashLog{}
	cmd := exec.Command("sh", "-c", `ulimit -n 128 && exec "$0" "$@"`, binary, "serve", "-config", c.config)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start: %v\n%s", err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Round-robin over 127.0.0.2-9, keeping every served connection open.
	served, refused := 0, 0
	for i := 0; i < 8*20 && refused < 8; i++ {
		src := fmt.Sprintf("127.0.0.%d", 2+i%8)
		dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		conn, err := dialer.Dial("tcp", web)
		if err != nil {
			t.Fatalf("dial the web listener: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET /icon.svg HTTP/1.1\r\nHost: %s\r\n\r\n", web)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		switch {
		case err != nil:
			// No answer at all is what running out of descriptors looks
			// like: the kernel completed the connection, nobody accepted.
			t.Fatalf("page request %d from %s: no answer: %v\n%s", i, src, err, logs)
		case resp.StatusCode == http.StatusOK:
			if refused > 0 {
				t.Fatalf("page request %d served after a refusal", i)
			}
			served++
		case resp.StatusCode == http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("page request %d: %s", i, resp.Status)
		}
		resp.Body.Close()
	}
	if served == 0 || refused == 0 {
		t.Fatalf("%d page connections served, %d refused: want some of each", served, refused)
	}
	t.Logf("128 descriptors: %d idle page connections served, then refused", served)

	login := make(chan error, 1)
	go func() {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			login <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "mode json\nalice\npassword-a\n")
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				login <- fmt.Errorf("no welcome: %v", err)
				return
			}
			if strings.Contains(line, `"type":"welcome"`) {
				login <- nil
				return
			}
		}
	}()
	if err := <-login; err != nil {
		t.Fatalf("plain TCP login during the web flood: %v\n%s", err, logs)
	}
	if strings.Contains(logs.String(), "too many open files") {
		t.Fatalf("the daemon ran out of descriptors:\n%s", logs)
	}
}
