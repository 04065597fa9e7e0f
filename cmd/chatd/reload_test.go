package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"chatd"
)

// probeAnswered sends one discovery probe to addr (a loopback UDP address)
// and reports whether an answer to it comes within wait.
func probeAnswered(t *testing.T, addr string, wait time.Duration) bool {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	probe, nonce := chatd.NewProbe()
	if _, err := conn.WriteToUDP(probe, to); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
		if err != nil {
			t.Fatalf("reading a discovery answer: %v", err)
		}
		if strings.Contains(string(buf[:n]), nonce) {
			return true
		}
	}
}

// udpFree reports whether addr can be bound, that is whether no responder
// holds it.
func udpFree(t *testing.T, addr string) bool {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// firstRefused opens up to max plain connections from 127.0.0.1, holding
// each open until it returns, and returns the number of the first one
// answered server_busy, or 0 when none was.
func firstRefused(t *testing.T, addr string, max int) int {
	t.Helper()
	for i := 1; i <= max; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if strings.Contains(line, "server_busy") {
			return i
		}
	}
	return 0
}

// TestReloadAppliesWhatItCan runs the built binary through SIGHUPs that
// (1) remove TLS, lower max_connections_per_ip from 20 to 3 and turn
// discovery on; (2) name TLS files that do not exist, with other changes;
// (3) turn discovery off again. The first applies every change but the
// removal of TLS: the TLS listener goes on serving its pair (whose files
// are gone) and the log says removing TLS needs a restart. The second is
// refused whole. The third stops the responder.
func TestReloadAppliesWhatItCan(t *testing.T) {
	c := newCLIWithDB(t)
	cert, key := c.selfSignedCert()
	addr, tlsAddr, probe := freeAddr(t), freeAddr(t), freeUDPAddr(t)
	config := func(tlsListen, tlsCert, tlsKey string, perIP int, discovery bool) {
		c.writeFile("chatd.toml", fmt.Sprintf(`
[server]
listen = %q
tls_listen = %q
tls_cert = %q
tls_key = %q
max_connections_per_ip = %d
[database]
path = %q
[argon2]
memory_kib = 1024
iterations = 1
parallelism = 1
[discovery]
enabled = %v
listen = %q
name = "reloaded"
answers_per_second = 100
`, addr, tlsListen, tlsCert, tlsKey, perIP, c.dbPath, discovery, probe))
	}
	config(tlsAddr, cert, key, 20, false)
	sock := newNotifySocket(t)
	cmd := exec.Command(binary, "serve", "-config", c.config)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path)
	d := startDaemon(t, cmd, addr)
	watchdogs := 0
	if m := sock.next(t, &watchdogs, false); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1", m)
	}
	hup := func() {
		t.Helper()
		d.cmd.Process.Signal(syscall.SIGHUP)
		if m := sock.next(t, &watchdogs, false); m != "RELOADING=1" {
			t.Fatalf("got %q, want RELOADING=1", m)
		}
		if m := sock.next(t, &watchdogs, false); m != "READY=1" {
			t.Fatalf("got %q, want READY=1 after the reload", m)
		}
	}
	served := certDER(t, cert)
	if !equalBytes(servedCert(t, tlsAddr), served) {
		t.Fatal("TLS serves another certificate than the file's")
	}
	if probeAnswered(t, probe, 300*time.Millisecond) {
		t.Fatal("a probe was answered with discovery off")
	}

	// 1: TLS removed (its files too), per-IP 3, discovery on.
	os.Rename(cert, cert+".old")
	os.Rename(key, key+".old")
	config("", "", "", 3, true)
	hup()
	if !probeAnswered(t, probe, 5*time.Second) {
		t.Fatal("discovery turned on by reload does not answer")
	}
	if !equalBytes(servedCert(t, tlsAddr), served) {
		t.Fatal("the TLS listener changed its certificate when TLS was removed")
	}
	if n := firstRefused(t, addr, 6); n == 0 || n > 4 {
		t.Fatalf("max_connections_per_ip 3 after the reload: first refusal at connection %d of 6", n)
	}

	// 2: files that do not exist refuse the whole reload, discovery off
	// and the per-IP cap included.
	config(tlsAddr, cert, key, 20, false)
	hup()
	if !probeAnswered(t, probe, 5*time.Second) {
		t.Fatal("a refused reload turned discovery off")
	}
	if !equalBytes(servedCert(t, tlsAddr), served) {
		t.Fatal("a refused reload changed the certificate")
	}

	// 3: discovery off.
	config("", "", "", 3, false)
	hup()
	if probeAnswered(t, probe, 300*time.Millisecond) {
		t.Fatal("discovery turned off by reload still answers")
	}
	if !udpFree(t, probe) {
		t.Fatal("discovery turned off by reload still holds discovery.listen")
	}

	d.terminate()
	logs := d.logs.String()
	if linesWith(logs, "applies after restart", "key=server.tls_cert", "removing TLS") != 2 {
		t.Errorf("removing TLS is not logged as needing a restart at reloads 1 and 3:\n%s", logs)
	}
	if linesWith(logs, "reload failed", "server.tls_cert") != 1 {
		t.Errorf("the refused reload is not logged with its keys:\n%s", logs)
	}
	if linesWith(logs, `msg="answering discovery probes"`) != 1 || linesWith(logs, "no longer answering discovery probes") != 1 {
		t.Errorf("discovery's start and stop are not logged:\n%s", logs)
	}
	if linesWith(logs, "configuration reloaded") != 2 {
		t.Errorf("want two reloads logged as applied:\n%s", logs)
	}
}
