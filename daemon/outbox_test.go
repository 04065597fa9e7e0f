package daemon_test

// The output path (outbox.go): write-through from the fan-out, writer
// goroutines only while something is queued, and every ordering rule kept.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"chatd"
)

// writers counts the goroutines running a session's writer loop.
func writers() int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), "daemon.(*session).writeLoop(")
}

// TestIdleSessionsHoldNoWriter: once their output is written, logged-in
// sessions that chatted, joined rooms and got private mail have no writer
// goroutine left; the next line still reaches them.
func TestIdleSessionsHoldNoWriter(t *testing.T) {
	ts := startServer(t)
	var cs []*client
	for i := range 6 {
		c := register(t, ts.addr, fmt.Sprintf("idler%d", i), "password1")
		cs = append(cs, c)
	}
	cs[0].send("create Den")
	cs[0].expect("ok", "cmd", "create")
	for _, c := range cs[1:3] {
		c.send("join Den")
		c.expect("ok", "cmd", "join")
	}
	cs[0].send("hello den")
	for _, c := range cs[:3] {
		c.expect("message", "text", "hello den")
	}
	cs[4].send("send idler5 psst")
	cs[5].expect("message", "text", "psst")
	cs[4].expect("delivery", "status", "delivered")
	cs[3].send("broadcast hi all")
	for _, c := range cs {
		c.expect("message", "text", "hi all")
	}

	hardWait(t, "every writer goroutine to exit", func() bool { return writers() == 0 })

	cs[1].send("still there?")
	cs[0].expect("message", "text", "still there?")
	cs[2].expect("message", "text", "still there?")
	hardWait(t, "the writers to exit again", func() bool { return writers() == 0 })
}

// TestChatOrderFromConcurrentSenders: many senders at once, each sending
// bursts of lines in single writes; every reader gets every line, each
// sender's lines in the order sent, and all readers the same order (the
// room's). One reader reads nothing until the others have most of it, so
// its socket fills and the rest of its output, a torn line included, is
// left to a writer goroutine.
func TestChatOrderFromConcurrentSenders(t *testing.T) {
	const senders, perSender, burst = 6, 300, 20
	ts := startServer(t, func(c *chatd.Config) {
		c.Rate.LinesPerSecond, c.Rate.Burst = 1e6, 1e6
		c.Messages.HistoryOnJoin = 0
		c.Server.MaxLineBytes = 8192
	})
	names := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%d", prefix, i))
		}
		return out
	}
	var talkers []*client
	for _, n := range names("talker", senders) {
		talkers = append(talkers, register(t, ts.addr, n, "password1"))
	}
	var readers []*client
	for _, n := range names("reader", 3) {
		readers = append(readers, register(t, ts.addr, n, "password1"))
	}
	pause := make(chan struct{})
	var progress atomic.Int64 // lines reader1 has had
	// A long text, so the paused reader's socket fills within the test.
	pad := strings.Repeat("p", 4000)
	// A small receive buffer (still above the loopback MSS) fills sooner.
	readers[0].conn.(*net.TCPConn).SetReadBuffer(128 << 10)
	total := senders * perSender

	type result struct {
		order []string
		err   error
	}
	results := make([]chan result, len(readers))
	read := func(i int, c *client, paused bool) {
		results[i] = make(chan result, 1)
		go func() {
			if paused {
				<-pause
			}
			var order []string
			next := map[string]int{}
			r := bufio.NewReaderSize(c.conn, 64<<10)
			c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for len(order) < total {
				line, err := r.ReadBytes('\n')
				if err != nil {
					results[i] <- result{order, fmt.Errorf("%s after %d lines: %v", c.name, len(order), err)}
					return
				}
				var ev struct{ Type, Kind, From, Text string }
				if err := json.Unmarshal(line, &ev); err != nil {
					results[i] <- result{order, fmt.Errorf("%s: torn line %.60q: %v", c.name, line, err)}
					return
				}
				if ev.Type != "message" || ev.Kind != "room" {
					continue
				}
				want := fmt.Sprintf("%s %d %s", ev.From, next[ev.From], pad)
				if ev.Text != want {
					results[i] <- result{order, fmt.Errorf("%s: from %s got %.30q, want line %d", c.name, ev.From, ev.Text, next[ev.From])}
					return
				}
				next[ev.From]++
				order = append(order, fmt.Sprintf("%s %d", ev.From, next[ev.From]-1))
				if i == 1 {
					progress.Add(1)
				}
			}
			results[i] <- result{order, nil}
		}()
	}
	for i, c := range readers {
		read(i, c, i == 0)
	}
	for _, c := range talkers {
		// Talkers are recipients too (their own lines included) but
		// need not check what the readers check.
		go io.Copy(io.Discard, c.conn)
	}

	var wg sync.WaitGroup
	for _, c := range talkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < perSender; b += burst {
				var lines []byte
				for j := b; j < b+burst && j < perSender; j++ {
					lines = fmt.Appendf(lines, "%s %d %s\n", c.name, j, pad)
				}
				c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.conn.Write(lines); err != nil {
					t.Errorf("%s: %v", c.name, err)
					return
				}
			}
		}()
	}
	// The paused reader starts reading once the others are most of the
	// way, or after 3 s: well within the write timeout that would
	// otherwise end its session as too slow.
	for start := time.Now(); progress.Load() < int64(total)*8/10 && time.Since(start) < 3*time.Second; {
		time.Sleep(10 * time.Millisecond)
	}
	close(pause)
	wg.Wait()
	got := make([]result, len(results))
	for i := range results {
		got[i] = <-results[i]
	}

	var first []string
	for i, res := range got {
		if res.err != nil {
			t.Fatal(res.err)
		}
		if first == nil {
			first = res.order
			continue
		}
		for j := range first {
			if res.order[j] != first[j] {
				t.Fatalf("client %d saw line %d as %s, client 0 as %s", i, j, res.order[j], first[j])
			}
		}
	}
}

// TestChatNotHeldByUnfinishedInput: a sender's line goes out although more
// of its input has already arrived, when that input is not a whole line:
// a line without its end, or one behind a telnet command whose option byte
// is a line feed.
func TestChatNotHeldByUnfinishedInput(t *testing.T) {
	ts := startServer(t)
	bob := register(t, ts.addr, "bob", "password2")
	alice := register(t, ts.addr, "alice", "password1")
	bob.expect("presence", "user", "alice", "event", "login")

	alice.send("first line")
	bob.expect("message", "from", "alice", "text", "first line")

	// A line and the start of the next in one write.
	alice.conn.Write([]byte("second line\nthird li"))
	bob.expect("message", "from", "alice", "text", "second line")

	// A line, then IAC DONT LF and no line end after it.
	alice.conn.Write([]byte("ne\nfourth line\n\xff\xfe\x0a"))
	bob.expect("message", "from", "alice", "text", "third line")
	bob.expect("message", "from", "alice", "text", "fourth line")
}

// TestEndingSessionLingers: a session that ends while its client's input is
// still unread closes gracefully. The client, with a small receive buffer
// and slow to read, queues plenty of output, logs out and keeps typing;
// when it reads at last it gets every reply, the bye and then a clean end
// of stream. A plain close would reset the connection instead: the client
// reads ECONNRESET, and what the server had not sent yet (the bye) is lost.
func TestEndingSessionLingers(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("alice", "bob")
	bob := login(t, ts.addr, "bob", "password1")

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		return nil
	}}
	conn, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	alice := &client{t: t, name: "alice", conn: conn, r: bufio.NewReader(conn)}
	alice.send("mode json")
	alice.expect("prompt", "field", "username")
	alice.send("alice", "password1")
	alice.expect("welcome", "user", "alice")

	// More output than the client's socket takes, then the logout, then
	// input the server will never read as lines.
	const echoes = 40
	text := strings.Repeat("e", 900)
	var in strings.Builder
	for i := range echoes {
		fmt.Fprintf(&in, "echo %d %s\n", i, text)
	}
	in.WriteString("logout\n")
	for range 200 {
		in.WriteString(strings.Repeat("x", 99) + "\n")
	}
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(in.String())); err != nil {
		t.Fatal(err)
	}
	// Once bob sees alice leave, her bye is on its way and the server
	// closes her connection; give it a moment to, then read.
	bob.expect("presence", "user", "alice", "event", "logout")
	time.Sleep(200 * time.Millisecond)

	for i := range echoes {
		ev, err := alice.tryNext(5 * time.Second)
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i, echoes, err)
		}
		if ev.str("type") != "ok" || !strings.HasPrefix(ev.str("text"), fmt.Sprint(i, " ")) {
			t.Fatalf("reply %d: got %v", i, ev)
		}
	}
	ev, err := alice.tryNext(5 * time.Second)
	if err != nil || ev.str("type") != "bye" {
		t.Fatalf("want the bye, got %v, %v", ev, err)
	}
	if _, err := alice.readLine(5 * time.Second); err != io.EOF {
		t.Fatalf("after the bye: want the end of the stream, got %v", err)
	}
}

// TestLingerIsBounded: the lingering close cannot be held open by the
// client. One client logs out and then keeps trickling input (so no wait
// for a single read can run out), another logs out and floods. The server
// closes both sockets anyway: each client's writes fail at last.
func TestLingerIsBounded(t *testing.T) {
	ts := startServer(t)
	ts.addUsers("trickle", "flood")
	clients := map[string]*client{
		"trickle": login(t, ts.addr, "trickle", "password1"),
		"flood":   login(t, ts.addr, "flood", "password1"),
	}
	chunks := map[string][]byte{
		"trickle": []byte("."),
		"flood":   []byte(strings.Repeat(strings.Repeat("y", 199)+"\n", 100)),
	}
	var wg sync.WaitGroup
	for name, c := range clients {
		c.send("logout")
		c.expect("bye", "reason", "logout")
		wg.Go(func() {
			for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
				c.conn.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.conn.Write(chunks[name]); err != nil && !isTimeout(err) {
					return // the server closed the socket
				}
				if name == "trickle" {
					time.Sleep(20 * time.Millisecond)
				}
			}
			t.Errorf("%s: the server still reads after 20 s", name)
		})
	}
	wg.Wait()
}
func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
