package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// freeUDPAddr finds a loopback UDP port nobody is bound to.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// serveDiscoverable starts a daemon (with its web client on, and more
// [server] keys from server) that answers discovery probes on a loopback
// UDP port, and returns it with that port's address and the web client's. The responder listens on all addresses, as
// by default, but the tests only ever probe 127.0.0.1.
func (c *cli) serveDiscoverable(name, server string) (d *liveDaemon, probe, web string) {
	c.t.Helper()
	_, port, _ := net.SplitHostPort(freeUDPAddr(c.t))
	web = freeAddr(c.t)
	d = c.serveWith(server, fmt.Sprintf(`
[web]
listen = %q

[discovery]
enabled = true
listen = "0.0.0.0:%s"
name = %q
answers_per_second = 100
`, web, port, name))
	return d, "127.0.0.1:" + port, web
}

// discover runs `chatd discover` (which takes no -config) and requires
// success.
func (c *cli) discover(args ...string) string {
	c.t.Helper()
	r := c.exec(nil, "", append([]string{"discover"}, args...)...)
	if r.code != 0 {
		c.t.Fatalf("chatd discover %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// TestConnectDiscovers runs `chatd connect` without an address: it probes
// 127.0.0.1 (never a broadcast address), finds the daemon and joins it.
func TestConnectDiscovers(t *testing.T) {
	c := newCLI(t)
	d, probe, web := c.serveDiscoverable("den", "")
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	alice := d.login("alice", "password-a")

	r := c.exec(nil, "bob\npassword-b\nsay found you\n", "connect", "-probe", probe)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if m := alice.waitFor(5*time.Second, "message", "from", "bob"); m["text"] != "found you" {
		t.Fatalf("alice got %v", m)
	}
	if !strings.Contains(r.stderr, `Found "den" at `+d.addr) {
		t.Errorf("stderr does not say what was found:\n%s", r.stderr)
	}

	// discover prints the server for scripts, tab-separated.
	out := c.discover("-probe", probe)
	if want := d.addr + "\t-\thttp://" + web + "/\t"; !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "\tden\n") {
		t.Fatalf("discover printed %q, want a line starting %q and ending with the name", out, want)
	}
	// The responder stops with the daemon, which still exits 0.
	d.terminate()
}

// TestConnectDiscoversNoneOrSeveral: a probe nobody answers is reported
// clearly; two servers are both listed, and a script is asked to choose.
func TestConnectDiscoversNoneOrSeveral(t *testing.T) {
	c := newCLI(t)
	nobody := freeUDPAddr(t)
	r := c.exec(nil, "", "connect", "-probe", nobody)
	if r.code != 1 || !strings.Contains(r.stderr, "no chatd server answered") {
		t.Fatalf("no answer: exit %d\n%s", r.code, r.stderr)
	}
	r = c.exec(nil, "", "discover", "-probe", nobody)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no chatd server answered") {
		t.Fatalf("discover with no answer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	d1, p1, _ := c.serveDiscoverable("first", "")
	c2 := newCLI(t)
	d2, p2, _ := c2.serveDiscoverable("second", "")
	out := c.discover("-probe", p1, "-probe", p2)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 ||
		!strings.Contains(out, d1.addr+"\t") || !strings.Contains(out, d2.addr+"\t") {
		t.Fatalf("discover listed:\n%s", out)
	}
	r = c.exec(nil, "alice\npassword-a\n", "connect", "-probe", p1, "-probe", p2)
	if r.code != 1 || !strings.Contains(r.stderr, "first at "+d1.addr) || !strings.Contains(r.stderr, "second at "+d2.addr) ||
		!strings.Contains(r.stderr, "several servers answered") {
		t.Fatalf("two answers in a script: exit %d\n%s", r.code, r.stderr)
	}
}

// TestConnectChoosesAtTerminal: when two servers answer, a person at a
// terminal picks one from the list by its number and logs in there.
func TestConnectChoosesAtTerminal(t *testing.T) {
	c1 := newCLI(t)
	_, p1, _ := c1.serveDiscoverable("first", "")
	c2 := newCLI(t)
	d2, p2, _ := c2.serveDiscoverable("second", "")
	c2.ok("password-b\n", "useradd", "bob")
	watcher := d2.login("bob", "password-b")
	c2.ok("password-c\n", "useradd", "carol")

	p := startPTY(t, nil, "-user", "carol", "-probe", p1, "-probe", p2)
	p.waitOutput(0, "Connect to which one (1-2)? ")
	// The list is in the order the answers came; find the second server.
	var choice string
	for _, line := range strings.Split(p.output(), "\n") {
		if strings.Contains(line, "second at "+d2.addr) {
			choice = strings.TrimSpace(strings.SplitN(line, ")", 2)[0])
		}
	}
	if choice == "" {
		t.Fatalf("the second server is not listed:\n%s", p.output())
	}
	p.typeKeys(choice + "\r")
	at := p.waitOutput(0, "Password: ")
	p.typeKeys("password-c\r")
	p.waitOutput(at, "Welcome, carol!")
	watcher.waitFor(5*time.Second, "presence", "user", "carol")
	p.typeKeys("\x04")
	p.wait(0)
}

// TestConnectTLS connects over TLS, given the address or found by
// discovery (which then uses tls_addr), and refuses a certificate it
// cannot verify unless -insecure says so.
func TestConnectTLS(t *testing.T) {
	c := newCLI(t)
	cert, key := c.selfSignedCert()
	tlsAddr := freeAddr(t)
	d, probe, _ := c.serveDiscoverable("secure", fmt.Sprintf("tls_listen = %q\ntls_cert = %q\ntls_key = %q\n", tlsAddr, cert, key))
	c.ok("password-a\n", "useradd", "alice")
	c.ok("password-b\n", "useradd", "bob")
	bob := d.login("bob", "password-b")

	r := c.exec(nil, "alice\npassword-a\nsay over tls\n", "connect", "-tls", "-insecure", tlsAddr)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := bob.waitFor(5*time.Second, "message", "from", "alice"); m["text"] != "over tls" {
		t.Fatalf("bob got %v", m)
	}
	r = c.exec(nil, "alice\npassword-a\n", "connect", "-tls", tlsAddr)
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("an unverifiable certificate was accepted: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = c.exec(nil, "alice\npassword-a\nsay found over tls\n", "connect", "-tls", "-insecure", "-probe", probe)
	if r.code != 0 || !strings.Contains(r.stderr, "at "+tlsAddr) {
		t.Fatalf("discovery with -tls: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := bob.waitFor(5*time.Second, "message", "from", "alice"); m["text"] != "found over tls" {
		t.Fatalf("bob got %v", m)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key next to
// the test's config.
func (c *cli) selfSignedCert() (certFile, keyFile string) {
	c.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "chatd connect test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		c.t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		c.t.Fatal(err)
	}
	certFile = c.writeFile("cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = c.writeFile("key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}
