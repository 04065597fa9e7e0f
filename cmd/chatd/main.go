// Command chatd runs the chat daemon (chatd serve) and the admin commands
// that manage its accounts and bans on the same database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chatd: %s\n", err)
		os.Exit(1)
	}
}

// stdio is the streams a subcommand reads and writes; tests pass buffers.
type stdio struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// A command is one subcommand: a small type with its own flags and help.
type command interface {
	// Run parses args (what follows the subcommand's name) and does the work.
	Run(ctx context.Context, args []string) error
	// Usage is the help text printed for -h and by `chatd help NAME`.
	Usage() string
}

// Run executes the subcommand named by args[0].
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	s := stdio{in: stdin, out: stdout, err: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	}
	c := lookup(name, s)
	if c == nil {
		return fmt.Errorf("unknown command %q (run 'chatd help' for the list)", name)
	}
	err := c.Run(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, c.Usage())
		return nil
	}
	return err
}

// lookup returns the subcommand called name, or nil.
func lookup(name string, s stdio) command {
	switch name {
	case "serve":
		return &serveCommand{s}
	case "init":
		return &initCommand{s}
	case "who":
		return &whoCommand{s}
	case "upgrade":
		return &upgradeCommand{s}
	case "kick":
		return &kickCommand{s}
	case "notice":
		return &noticeCommand{s}
	case "useradd":
		return &useraddCommand{s}
	case "userdel":
		return &userdelCommand{s}
	case "passwd":
		return &passwdCommand{s}
	case "usermod":
		return &usermodCommand{s}
	case "users":
		return &usersCommand{s}
	case "keyadd":
		return &keyaddCommand{s}
	case "keydel":
		return &keydelCommand{s}
	case "keys":
		return &keysCommand{s}
	case "ban":
		return &banCommand{s}
	case "unban":
		return &unbanCommand{s}
	case "bans":
		return &bansCommand{s}
	case "import-users":
		return &importUsersCommand{s}
	case "backup":
		return &backupCommand{s}
	case "migrate":
		return &migrateCommand{s}
	case "check-config":
		return &checkConfigCommand{s}
	case "version":
		return &versionCommand{s}
	case "connect":
		return &connectCommand{s}
	case "discover":
		return &discoverCommand{s}
	case "help":
		return &helpCommand{s}
	case "hash-worker": // started by serve; not in the list above
		return &hashWorkerCommand{s}
	}
	return nil
}

const usage = `chatd is a multi-user chat server you reach with telnet or nc.

Usage:

	chatd <command> [arguments]

The commands are:

	serve         run the chat server
	connect       chat from the terminal (a client for people and scripts)
	discover      list the chatd servers on the local network
	init          create the database the configuration names
	useradd       create an account
	userdel       delete an account
	passwd        set an account's password
	usermod       grant or revoke admin rights
	users         list accounts
	keyadd        add SSH public keys to an account
	keydel        remove an SSH public key from an account
	keys          list SSH public keys
	ban           keep a user from logging in
	unban         lift a ban
	bans          list bans
	who           list who is online on the running server
	upgrade       replace the running server with the installed binary, keeping its sessions
	kick          disconnect an online user
	notice        send a notice to everyone online
	import-users  create accounts from a file of names and passwords
	backup        write a consistent copy of the database
	migrate       copy the community between SQLite and PostgreSQL
	check-config  load and validate the configuration
	version       print the version
	help          show help for a command

The server and admin commands take -config FILE; without it chatd reads
the file named by $CHATD_CONFIG, else /etc/chatd/chatd.toml when it exists,
else uses its built-in defaults. The admin commands work on the database directly and are
safe to run while the server is up; the server acts on their changes within
two seconds. They refuse to run when the database does not exist yet (see
init), so a wrong configuration cannot create a second, empty one.

Run 'chatd help <command>' for more about a command.
`
