package discovery

import (
	"net"
	"testing"
)

// TestUnicastOn covers the address an answer names when a probe arrived as
// a broadcast, which no test may send: the networks are made up here.
func TestUnicastOn(t *testing.T) {
	mustNet := func(s string) *net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return n
	}
	nets := []*net.IPNet{mustNet("10.1.2.3/8"), mustNet("192.168.7.20/24")}
	for _, tt := range []struct {
		name, dst, from, want string
		nets                  []*net.IPNet
	}{
		{"Unicast", "192.168.7.20", "192.168.7.99", "192.168.7.20", nets},
		{"UnicastLoopback", "127.0.0.1", "127.0.0.1", "127.0.0.1", nil},
		{"LimitedBroadcast", "255.255.255.255", "192.168.7.99", "192.168.7.20", nets},
		{"DirectedBroadcast", "192.168.7.255", "192.168.7.99", "192.168.7.20", nets},
		{"OtherSubnet", "10.255.255.255", "10.9.9.9", "10.1.2.3", nets},
		{"ProberOnNoSubnet", "255.255.255.255", "172.16.0.1", "10.1.2.3", nets},
		{"BroadcastNoNetworks", "255.255.255.255", "172.16.0.1", "<nil>", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := unicastOn(tt.nets, net.ParseIP(tt.dst), net.ParseIP(tt.from))
			if got.String() != tt.want {
				t.Fatalf("unicastOn(%s from %s) = %v, want %s", tt.dst, tt.from, got, tt.want)
			}
		})
	}
}
