package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"chatd/client"
)

// connectCommand is the terminal client: it logs in to a chatd server and
// lets a person chat with line editing, or runs a script of commands when
// standard input is not a terminal.
type connectCommand struct{ stdio }

func (c *connectCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	useTLS := fs.Bool("tls", false, "")
	insecure := fs.Bool("insecure", false, "")
	user := fs.String("user", "", "")
	ids := fs.Bool("ids", false, "")
	var probes probeList
	fs.Var(&probes, "probe", "")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("connect takes at most one address, got %q (see 'chatd help connect')", fs.Args())
	}
	in, inTTY := terminal(c.in)
	out, outTTY := terminal(c.out)

	addr := fs.Arg(0)
	if addr == "" {
		var err error
		if addr, err = c.findServer(ctx, probes, *useTLS, inTTY && outTTY); err != nil {
			return err
		}
	}
	opts := client.Options{TLS: *useTLS, Insecure: *insecure}
	conn, err := client.Dial(ctx, addr, opts)
	if err != nil {
		return err
	}
	defer conn.Close()

	front := client.Front{
		User:  *user,
		Color: outTTY && os.Getenv("NO_COLOR") == "",
		Bell:  outTTY,
		IDs:   *ids,
	}
	if inTTY && outTTY {
		front.Redial = func(ctx context.Context) (*client.Conn, error) { return client.Dial(ctx, addr, opts) }
		return client.RunTerminal(ctx, conn, in, out, front)
	}
	return client.RunScript(ctx, conn, c.in, c.out, front)
}

// findServer looks for servers on the LAN: one is taken, several are
// listed for the person to choose from (a script must name one).
func (c *connectCommand) findServer(ctx context.Context, probes probeList, useTLS, interactive bool) (string, error) {
	targets := probes.targets()
	fmt.Fprintln(c.err, "No address given; looking for chatd servers on the local network...")
	found, err := client.Discover(ctx, targets, client.DiscoveryWait)
	if err != nil {
		return "", err
	}
	if useTLS {
		var withTLS []client.Found
		for _, f := range found {
			if f.TLSAddr != nil {
				withTLS = append(withTLS, f)
			}
		}
		if len(withTLS) == 0 && len(found) > 0 {
			return "", fmt.Errorf("%d server(s) answered but none offers TLS; leave out -tls or give the address", len(found))
		}
		found = withTLS
	}
	pick := func(f client.Found) string {
		if useTLS {
			return *f.TLSAddr
		}
		return f.Addr
	}
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("no chatd server answered on the local network (probed %s); give the address: chatd connect HOST[:PORT]",
			strings.Join(targets, ", "))
	case len(found) == 1:
		fmt.Fprintf(c.err, "Found %q at %s.\n", found[0].Name, pick(found[0]))
		return pick(found[0]), nil
	}
	fmt.Fprintf(c.err, "%d servers answered:\n", len(found))
	for i, f := range found {
		fmt.Fprintf(c.err, "  %d) %s at %s (chatd %s)\n", i+1, f.Name, pick(f), f.Version)
	}
	if !interactive {
		return "", errors.New("several servers answered; give the address of one: chatd connect HOST[:PORT]")
	}
	r := bufio.NewReader(c.in)
	for {
		fmt.Fprintf(c.err, "Connect to which one (1-%d)? ", len(found))
		line, err := r.ReadString('\n')
		if n, perr := strconv.Atoi(strings.TrimSpace(line)); perr == nil && n >= 1 && n <= len(found) {
			return pick(found[n-1]), nil
		}
		if err != nil {
			return "", errors.New("no server chosen")
		}
	}
}

// probeList is the repeatable -probe flag.
type probeList []string

func (p *probeList) String() string { return strings.Join(*p, ",") }

func (p *probeList) Set(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return fmt.Errorf("%q is not HOST:PORT", v)
	}
	*p = append(*p, v)
	return nil
}

// targets are the probe destinations: -probe, or else every broadcast
// address of this host.
func (p probeList) targets() []string {
	if len(p) > 0 {
		return p
	}
	return client.BroadcastTargets()
}

// terminal returns s as a file when it is one connected to a terminal.
func terminal(s any) (*os.File, bool) {
	f, ok := s.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

func (c *connectCommand) Usage() string {
	return `The connect command is a chat client for the terminal. It logs in to the
chatd server at ADDR (HOST or HOST:PORT; the port defaults to 4119) and shows
each line with its local time, in a form (and colour) of its own for room
chat, private messages, broadcasts, presence and server notices. The bell
rings on a private message and on a room line that names you (@you), which
is also highlighted. NO_COLOR in the environment turns colours off.

At a terminal, the line you type is kept while messages arrive above it;
up and down walk the history, Tab completes command names and the names of
online users, passwords are read without echo, and Ctrl-C or Ctrl-D logs
out. The prompt names the current room and the conversations with unread
lines; /join ROOM switches rooms and /rooms lists yours. A lost connection
(or a server restart) is dialled again with backoff, logged in again with
the password typed at the start (kept in memory only) and caught up with
what was said meanwhile; a kick, a ban or a failed login ends connect
with exit status 1.

Lines can be acted on: /edit [ID] TEXT and /delete [ID] change or remove
your last line in the current room (or line ID), /reply [ID] TEXT answers
and /react [ID] REACTION (/unreact) reacts to the room's last line (or line
ID). Edits, deletions and reactions show as short lines ("* bob edited:
..."), a reply with a quote of what it answers; -ids shows each line's id.

Without ADDR, connect looks for servers on the local network (LAN
discovery, see 'chatd help discover'): it sends a probe to the broadcast
address of each network and waits 1.5 seconds. A single server that
answers is joined; when several answer they are listed to choose from;
when none does, connect says so.

When standard input is not a terminal, each line of it is sent as a
command and what the server answers is printed as plain lines, so connect
works in scripts; a script does not reconnect (exit status 1). The first lines answer the login: the user name (unless
-user gives it) and the password. At the end of the input connect logs out.

	printf 'alice\nsecret\nwho\n' | chatd connect chat.example.org

Usage:

	chatd connect [-tls] [-insecure] [-user NAME] [-ids] [-probe HOST:PORT ...] [ADDR]

Arguments:

	-tls
	    Speak TLS (to the server's tls_listen port).
	-insecure
	    With -tls, accept any certificate (a self-signed test server).
	-user NAME
	    Log in as NAME instead of asking for the user name.
	-ids
	    End each message line with the message's id, to give to /edit,
	    /delete, /reply and /react.
	-probe HOST:PORT
	    Without ADDR, send the discovery probe to HOST:PORT instead of the
	    broadcast addresses. Repeat it to probe several.
`
}
