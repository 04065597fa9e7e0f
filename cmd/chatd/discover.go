package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"chatd/client"
)

// discoverCommand lists the chatd servers on the local network, one line
// each, for scripts.
type discoverCommand struct{ stdio }

func (c *discoverCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var probes probeList
	fs.Var(&probes, "probe", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("discover takes no arguments, got %q (see 'chatd help discover')", fs.Args())
	}
	targets := probes.targets()
	found, err := client.Discover(ctx, targets, client.DiscoveryWait)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return errors.New("no chatd server answered (probed " + strings.Join(targets, ", ") + ")")
	}
	for _, f := range found {
		fmt.Fprintf(c.out, "%s\t%s\t%s\t%s\t%s\n", f.Addr, orDash(f.TLSAddr), orDash(f.Web), f.Version, f.Name)
	}
	return nil
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func (c *discoverCommand) Usage() string {
	return `The discover command finds the chatd servers on the local network that
answer LAN discovery (those with discovery.enabled set). It sends a probe
to the broadcast address of every network of this host, waits 1.5 seconds
and prints one line per server, fields separated by tabs:

	ADDR  TLS_ADDR  WEB  VERSION  NAME

ADDR is what 'chatd connect ADDR' takes; TLS_ADDR and WEB are "-" when the
server has no TLS listener or web client. The name is last because it may
contain spaces. When no server answers, discover says so on standard error
and exits with status 1.

Usage:

	chatd discover [-probe HOST:PORT ...]

Arguments:

	-probe HOST:PORT
	    Send the probe to HOST:PORT instead of the broadcast addresses.
	    Repeat it to probe several.
`
}
