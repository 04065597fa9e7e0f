package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("connect takes at most one address, got %q (see 'chatd help connect')", fs.Args())
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("connect needs the server's address (see 'chatd help connect')")
	}
	addr := fs.Arg(0)

	conn, err := client.Dial(ctx, addr, client.Options{TLS: *useTLS, Insecure: *insecure})
	if err != nil {
		return err
	}
	defer conn.Close()

	in, inTTY := terminal(c.in)
	out, outTTY := terminal(c.out)
	front := client.Front{
		User:  *user,
		Color: outTTY && os.Getenv("NO_COLOR") == "",
		Bell:  outTTY,
	}
	if inTTY && outTTY {
		return client.RunTerminal(ctx, conn, in, out, front)
	}
	return client.RunScript(ctx, conn, c.in, c.out, front)
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
rings on a private message. NO_COLOR in the environment turns colours off.

At a terminal, the line you type is kept while messages arrive above it;
up and down walk the history, Tab completes command names and the names of
online users, passwords are read without echo, and Ctrl-C or Ctrl-D logs
out. A lost connection is reported and the exit status is 1.

When standard input is not a terminal, each line of it is sent as a
command and what the server answers is printed as plain lines, so connect
works in scripts. The first lines answer the login: the user name (unless
-user gives it) and the password. At the end of the input connect logs out.

	printf 'alice\nsecret\nwho\n' | chatd connect chat.example.org

Usage:

	chatd connect [-tls] [-insecure] [-user NAME] ADDR

Arguments:

	-tls
	    Speak TLS (to the server's tls_listen port).
	-insecure
	    With -tls, accept any certificate (a self-signed test server).
	-user NAME
	    Log in as NAME instead of asking for the user name.
`
}
