package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"chatd"
)

// DiscoveryWait is how long Discover listens for answers.
const DiscoveryWait = 1500 * time.Millisecond

// Found is a server that answered a discovery probe.
type Found struct {
	chatd.DiscoveryAnswer
	From string // where the answer came from
}

// BroadcastTargets are the default probe destinations: the limited
// broadcast address and the broadcast address of every IPv4 network of an
// interface that is up, all on the discovery port.
func BroadcastTargets() []string {
	port := strconv.Itoa(chatd.DiscoveryPort)
	out := []string{net.JoinHostPort(net.IPv4bcast.String(), port)}
	seen := map[string]bool{out[0]: true}
	ifcs, _ := net.Interfaces()
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagBroadcast == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil {
				continue
			}
			if ones, bits := n.Mask.Size(); bits-ones < 2 {
				continue
			}
			ip, mask := n.IP.To4(), n.Mask[len(n.Mask)-4:]
			b := make(net.IP, 4)
			for i := range b {
				b[i] = ip[i] | ^mask[i]
			}
			t := net.JoinHostPort(b.String(), port)
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// Discover sends a probe to each of targets (HOST:PORT) and collects the
// answers that arrive within wait, one per server.
func Discover(ctx context.Context, targets []string, wait time.Duration) ([]Found, error) {
	if len(targets) == 0 {
		return nil, errors.New("no address to probe")
	}
	var dests []*net.UDPAddr
	for _, t := range targets {
		a, err := net.ResolveUDPAddr("udp4", t)
		if err != nil {
			return nil, fmt.Errorf("probe address %q: %w", t, err)
		}
		dests = append(dests, a)
	}
	lc := net.ListenConfig{Control: allowBroadcast}
	pc, err := lc.ListenPacket(ctx, "udp4", ":0")
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer pc.Close()

	probe, nonce := chatd.NewProbe()
	sent := 0
	var sendErr error
	for _, d := range dests {
		if _, err := pc.WriteTo(probe, d); err != nil {
			sendErr = fmt.Errorf("probe %s: %w", d, err)
			continue
		}
		sent++
	}
	if sent == 0 {
		return nil, sendErr
	}

	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	pc.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { pc.SetReadDeadline(time.Now()) })
	defer stop()

	var found []Found
	seen := map[string]bool{}
	buf := make([]byte, chatd.ProbeBytes)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return found, nil
			}
			return found, fmt.Errorf("discovery: %w", err)
		}
		var a chatd.DiscoveryAnswer
		if json.Unmarshal(buf[:n], &a) != nil || a.Type != "chatd" || a.Nonce != nonce {
			continue
		}
		if _, _, err := net.SplitHostPort(a.Addr); err != nil {
			continue
		}
		a.Name, a.Version = clean(a.Name), clean(a.Version)
		key := a.Addr
		if a.TLSAddr != nil {
			key += " " + *a.TLSAddr
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		found = append(found, Found{DiscoveryAnswer: a, From: from.String()})
	}
}

// allowBroadcast lets the probe socket send to broadcast addresses.
func allowBroadcast(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
