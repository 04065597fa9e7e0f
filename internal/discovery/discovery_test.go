package discovery_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"chatd"
	"chatd/internal/discovery"
)

// chatServer stands for the chat server's TCP listener, on a free
// loopback port.
func chatServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// startDiscovery runs a discovery responder for the chat listener chat on
// a free loopback port (listen is "0.0.0.0:0" or a loopback IP with port 0).
func startDiscovery(t *testing.T, chat net.Listener, listen string, perSecond int, now func() time.Time) *discovery.Responder {
	t.Helper()
	d := discovery.New(discovery.Options{
		Config: chatd.DiscoveryConfig{Enabled: true, Listen: listen, Name: "test server", AnswersPerSecond: perSecond},
		Addr:   chat.Addr(),
		Now:    now,
	})
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return d
}

// prober is a UDP socket on a loopback address that sends probes.
type prober struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newProber(t *testing.T, from string, d *discovery.Responder) *prober {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	port := d.Addr().(*net.UDPAddr).Port
	return &prober{t: t, conn: conn, to: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
}

func (p *prober) send(probe []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP(probe, p.to); err != nil {
		p.t.Fatal(err)
	}
}

// probeWith is a probe with the given nonce, padded to size.
func probeWith(nonce string, size int) []byte {
	b := []byte(chatd.DiscoveryPrefix + nonce)
	for len(b) < size {
		b = append(b, ' ')
	}
	return b
}

// answer reads one answer, or fails after timeout; ok is false on timeout
// when quiet is allowed.
func (p *prober) answer(timeout time.Duration) (a chatd.DiscoveryAnswer, size int, ok bool) {
	p.t.Helper()
	buf := make([]byte, 4096)
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := p.conn.ReadFromUDP(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return a, 0, false
	}
	if err != nil {
		p.t.Fatal(err)
	}
	if err := json.Unmarshal(buf[:n], &a); err != nil {
		p.t.Fatalf("answer %q: %v", buf[:n], err)
	}
	return a, n, true
}

func TestDiscoveryAnswersProbe(t *testing.T) {
	chat := chatServer(t)
	for _, listen := range []string{"0.0.0.0:0", "127.0.0.1:0"} {
		t.Run(listen, func(t *testing.T) {
			d := startDiscovery(t, chat, listen, 10, nil)
			p := newProber(t, "127.0.0.1", d)
			probe, nonce := chatd.NewProbe()
			p.send(probe)
			a, size, ok := p.answer(5 * time.Second)
			if !ok {
				t.Fatal("no answer to a probe")
			}
			_, port, _ := net.SplitHostPort(chat.Addr().String())
			want := chatd.DiscoveryAnswer{Type: "chatd", Nonce: nonce, Name: "test server", Version: chatd.Version,
				Addr: "127.0.0.1:" + port}
			if a != want {
				t.Fatalf("answer %+v, want %+v", a, want)
			}
			if size > len(probe) {
				t.Fatalf("answer of %d bytes to a probe of %d", size, len(probe))
			}
			// The address in the answer reaches the chat listener.
			c, err := net.Dial("tcp", a.Addr)
			if err != nil {
				t.Fatalf("dial the answer's address: %v", err)
			}
			c.Close()
			s, err := chat.Accept()
			if err != nil {
				t.Fatalf("accept on the chat listener: %v", err)
			}
			s.Close()
		})
	}
}

// TestDiscoveryIgnoresBadProbes sends malformed probes, then a good one:
// the first answer that comes is the good one's, so none of the others was
// answered.
func TestDiscoveryIgnoresBadProbes(t *testing.T) {
	chat := chatServer(t)
	d := startDiscovery(t, chat, "0.0.0.0:0", 1000, nil)
	p := newProber(t, "127.0.0.1", d)
	good := "GoodNonce12345"
	for _, bad := range []struct {
		name  string
		probe []byte
	}{
		{"Short", probeWith("ShortProbe1", 63)},
		{"SmallerThanAnswer", probeWith("SmallProbe1", 64)},
		{"Empty", nil},
		{"WrongPrefix", append([]byte("CHATD-DISCOVER 2 "), probeWith("WrongVersion", 512)[17:]...)},
		{"LowerCasePrefix", append([]byte("chatd-discover 1 "), probeWith("LowerCase1", 512)[17:]...)},
		{"NonceTooShort", probeWith("Short7x", 512)},
		{"NonceTooLong", probeWith(strings.Repeat("L", 65), 512)},
		{"NonceNotAlnum", probeWith("bad-nonce-1", 512)},
		{"NonceNotASCII", probeWith("nonceé12345", 512)},
		{"TrailingGarbage", append(probeWith("Trailing123", 500), "x"...)},
		{"PaddedWithNUL", append([]byte(chatd.DiscoveryPrefix+"PaddedNUL1"), make([]byte, 400)...)},
		{"JSON", []byte(`{"type":"chatd","nonce":"abcdefgh"}` + strings.Repeat(" ", 100))},
	} {
		p.send(bad.probe)
	}
	p.send(probeWith(good, 512))
	a, _, ok := p.answer(5 * time.Second)
	if !ok || a.Nonce != good {
		t.Fatalf("first answer %+v (ok=%v), want the one to %s", a, ok, good)
	}
	if a, _, ok := p.answer(200 * time.Millisecond); ok {
		t.Fatalf("a second answer: %+v", a)
	}
}

// TestDiscoveryRateLimit floods from one address with the clock stopped:
// exactly answers_per_second probes are answered; another address is still
// answered; a second later the first is answered again.
func TestDiscoveryRateLimit(t *testing.T) {
	chat := chatServer(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	const perSecond = 3
	d := startDiscovery(t, chat, "0.0.0.0:0", perSecond, clock)
	flood := newProber(t, "127.0.0.1", d)
	other := newProber(t, "127.0.0.2", d)

	for range 30 {
		probe, _ := chatd.NewProbe()
		flood.send(probe)
	}
	// Probes are handled in order: once the other address is answered,
	// every answer to the flood has been sent.
	probe, nonce := chatd.NewProbe()
	other.send(probe)
	if a, _, ok := other.answer(5 * time.Second); !ok || a.Nonce != nonce {
		t.Fatalf("the other address got %+v (ok=%v)", a, ok)
	}
	got := 0
	for {
		if _, _, ok := flood.answer(200 * time.Millisecond); !ok {
			break
		}
		got++
	}
	if got != perSecond {
		t.Fatalf("%d answers to a flood of 30 probes, want %d", got, perSecond)
	}

	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	probe, nonce = chatd.NewProbe()
	flood.send(probe)
	if a, _, ok := flood.answer(5 * time.Second); !ok || a.Nonce != nonce {
		t.Fatalf("after a second: %+v (ok=%v)", a, ok)
	}

	// Use up this second's answers, then a reload raises the rate and
	// renames the server at once.
	for range perSecond - 1 {
		probe, nonce = chatd.NewProbe()
		flood.send(probe)
		if a, _, ok := flood.answer(5 * time.Second); !ok || a.Nonce != nonce {
			t.Fatalf("within the new second: %+v (ok=%v)", a, ok)
		}
	}
	d.Reload(chatd.DiscoveryConfig{Enabled: true, Name: "renamed", AnswersPerSecond: perSecond + 1})
	probe, nonce = chatd.NewProbe()
	flood.send(probe)
	if a, _, ok := flood.answer(5 * time.Second); !ok || a.Nonce != nonce || a.Name != "renamed" {
		t.Fatalf("after Reload: %+v (ok=%v)", a, ok)
	}
}
