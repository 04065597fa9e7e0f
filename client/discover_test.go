package client

import (
	"net"
	"testing"
)

// TestBroadcastTargets only computes the default destinations; nothing is
// sent.
func TestBroadcastTargets(t *testing.T) {
	targets := BroadcastTargets()
	if len(targets) == 0 || targets[0] != "255.255.255.255:4119" {
		t.Fatalf("targets %v do not start with the limited broadcast address", targets)
	}
	for _, tg := range targets {
		host, port, err := net.SplitHostPort(tg)
		if err != nil || port != "4119" || net.ParseIP(host).To4() == nil || host != "255.255.255.255" && !isBroadcastOfSomeNet(host) {
			t.Errorf("target %q is not an IPv4 broadcast address on port 4119", tg)
		}
	}
}

func isBroadcastOfSomeNet(host string) bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			ip, mask := n.IP.To4(), n.Mask[len(n.Mask)-4:]
			b := make(net.IP, 4)
			for i := range b {
				b[i] = ip[i] | ^mask[i]
			}
			if b.String() == host {
				return true
			}
		}
	}
	return false
}
