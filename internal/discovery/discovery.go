// Package discovery answers LAN discovery probes (PROTOCOL.md section 7)
// on UDP, so that a client can find a chat server on its network without
// being told the address. The daemon runs a Responder while
// discovery.enabled is set; it touches no session.
package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"chatd"
)

// Responder answers discovery probes with the addresses of one chat
// server's listeners. The daemon runs one while discovery.enabled is set
// (Server.StartDiscovery; its Reload turns it on and off); it can also be
// used on its own.
//
// One goroutine (Serve) reads probes and writes answers; the rate-limit
// table belongs to it and needs no lock.
type Responder struct {
	o    Options
	live atomic.Pointer[settings] // name and rate, swapped by Reload

	pc    *ipv4.PacketConn
	conn  net.PacketConn
	fixed net.IP // the listen address when it is one IP, nil for 0.0.0.0

	closeOnce sync.Once

	// Owned by Serve: for each source address, when it was last answered
	// (at most answers_per_second times within the last second).
	answered map[netip.Addr][]time.Time
}

// Options are what a Responder needs. Addr is required; the
// others may be left zero.
type Options struct {
	Config chatd.DiscoveryConfig
	// Addr is the chat server's TCP listener, TLSAddr its TLS listener (nil
	// when TLS is off), WebAddr the web client's listener (nil when off;
	// WebTLS says whether it speaks HTTPS). A wildcard host is replaced by
	// the address each probe arrived on.
	Addr, TLSAddr, WebAddr net.Addr
	WebTLS                 bool
	Log                    *slog.Logger
	Now                    func() time.Time // the rate limit's clock; time.Now if nil
}

// settings are what Reload may change while serving.
type settings struct {
	name      string
	perSecond int
}

// maxSources bounds the rate-limit table; past it, probes from new sources
// are ignored until old entries expire.
const maxSources = 4096

// New returns a responder; Listen binds it.
func New(o Options) *Responder {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Responder{o: o, answered: map[netip.Addr][]time.Time{}}
	d.Reload(o.Config)
	return d
}

// Reload takes discovery.name and discovery.answers_per_second from c at
// once. Whether a responder runs, and where, is the server's to change
// (Server.Reload starts and stops one).
func (d *Responder) Reload(c chatd.DiscoveryConfig) {
	name := c.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	d.live.Store(&settings{name: name, perSecond: c.AnswersPerSecond})
}

// Listen binds discovery.listen.
func (d *Responder) Listen() error {
	conn, err := net.ListenPacket("udp4", d.o.Config.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (discovery.listen): %w", d.o.Config.Listen, err)
	}
	d.conn = conn
	d.pc = ipv4.NewPacketConn(conn)
	if ip := conn.LocalAddr().(*net.UDPAddr).IP; !ip.IsUnspecified() {
		d.fixed = ip
	} else if err := d.pc.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		// Without the destination of each probe, answers name the address
		// the route back to the prober leaves from (see localIP).
		d.o.Log.Warn("discovery: cannot learn the address probes arrive on", "err", err)
	}
	return nil
}

// Addr is the bound UDP address.
func (d *Responder) Addr() net.Addr { return d.conn.LocalAddr() }

// Close stops Serve.
func (d *Responder) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.conn.Close() })
	return err
}

// Serve answers probes until ctx ends or Close is called.
func (d *Responder) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.Close() })
	defer stop()
	buf := make([]byte, 2048)
	for {
		n, cm, src, err := d.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// A UDP read error concerns one datagram (an ICMP error from an
			// earlier answer, say); keep serving.
			d.o.Log.Debug("discovery: read", "err", err)
			continue
		}
		from, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		d.probe(buf[:n], cm, from)
	}
}

// probe answers one datagram if it is a probe that may be answered.
func (d *Responder) probe(p []byte, cm *ipv4.ControlMessage, from *net.UDPAddr) {
	nonce, ok := chatd.ParseProbe(p)
	if !ok {
		return // anything else is ignored silently
	}
	local := d.localIP(cm, from.IP)
	if local == nil {
		return
	}
	answer, err := d.answer(nonce, local)
	if err != nil || len(answer) > len(p) {
		// Never more bytes out than in: a spoofed source gains nothing.
		return
	}
	if !d.allow(from.IP) {
		return
	}
	if _, err := d.pc.WriteTo(answer, nil, from); err != nil {
		d.o.Log.Debug("discovery: answer", "to", from.String(), "err", err)
	}
}

// allow applies answers_per_second to one source address.
func (d *Responder) allow(ip net.IP) bool {
	src, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	src = src.Unmap()
	now := d.o.Now()
	limit := d.live.Load().perSecond
	recent := d.answered[src]
	keep := recent[:0]
	for _, t := range recent {
		if now.Sub(t) < time.Second {
			keep = append(keep, t)
		}
	}
	if len(keep) >= limit {
		d.answered[src] = keep
		return false
	}
	if len(keep) == 0 && len(d.answered) >= maxSources {
		d.expire(now)
		if len(d.answered) >= maxSources {
			return false
		}
	}
	d.answered[src] = append(keep, now)
	return true
}

// expire forgets sources not answered within the last second.
func (d *Responder) expire(now time.Time) {
	for src, times := range d.answered {
		if len(times) == 0 || now.Sub(times[len(times)-1]) >= time.Second {
			delete(d.answered, src)
		}
	}
}

// localIP is the address of this host that the prober can reach: the
// listen address when it is one IP; else the address the probe was sent
// to, unless that was a broadcast, in which case the address of the
// receiving interface on the prober's subnet.
func (d *Responder) localIP(cm *ipv4.ControlMessage, from net.IP) net.IP {
	if d.fixed != nil {
		return d.fixed
	}
	if cm != nil && cm.Dst != nil {
		ifc, _ := net.InterfaceByIndex(cm.IfIndex)
		if ip := unicastOn(ipv4Nets(ifc), cm.Dst, from); ip != nil {
			return ip
		}
	}
	// No control message: the address the route back leaves from.
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: from, Port: 9})
	if err != nil {
		return nil
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP
}

// ipv4Nets are the IPv4 networks of ifc (none when ifc is nil).
func ipv4Nets(ifc *net.Interface) []*net.IPNet {
	var nets []*net.IPNet
	if ifc != nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				nets = append(nets, n)
			}
		}
	}
	return nets
}

// unicastOn returns dst if it is a unicast address, or for a broadcast the
// address on the receiving interface's networks (nets) in the subnet of
// from, or the first of them.
func unicastOn(nets []*net.IPNet, dst, from net.IP) net.IP {
	broadcast := dst.Equal(net.IPv4bcast) || dst.IsMulticast() || dst.IsUnspecified()
	for _, n := range nets {
		if ones, bits := n.Mask.Size(); bits-ones >= 2 && dst.Equal(broadcastOf(n)) {
			broadcast = true
		}
	}
	if !broadcast {
		return dst
	}
	for _, n := range nets {
		if n.Contains(from) {
			return n.IP.To4()
		}
	}
	if len(nets) > 0 {
		return nets[0].IP.To4()
	}
	return nil
}

// broadcastOf is the directed broadcast address of an IPv4 network.
func broadcastOf(n *net.IPNet) net.IP {
	ip := n.IP.To4()
	mask := n.Mask
	if len(mask) == net.IPv6len {
		mask = mask[12:]
	}
	b := make(net.IP, net.IPv4len)
	for i := range b {
		b[i] = ip[i] | ^mask[i]
	}
	return b
}

// answer is the JSON answer to nonce for a probe that arrived on local.
func (d *Responder) answer(nonce string, local net.IP) ([]byte, error) {
	a := chatd.DiscoveryAnswer{
		Type:    "chatd",
		Nonce:   nonce,
		Name:    d.live.Load().name,
		Version: chatd.Version,
		Addr:    reachable(d.o.Addr, local),
	}
	if d.o.TLSAddr != nil {
		s := reachable(d.o.TLSAddr, local)
		a.TLSAddr = &s
	}
	if d.o.WebAddr != nil {
		scheme := "http"
		if d.o.WebTLS {
			scheme = "https"
		}
		s := scheme + "://" + reachable(d.o.WebAddr, local) + "/"
		a.Web = &s
	}
	return json.Marshal(a)
}

// reachable is listener's host:port with a wildcard host replaced by local.
func reachable(listener net.Addr, local net.IP) string {
	host, port, err := net.SplitHostPort(listener.String())
	if err != nil {
		return listener.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = local.String()
	}
	return net.JoinHostPort(host, port)
}
