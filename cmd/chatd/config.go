package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"chatd"
	"chatd/db"
)

// configUsage describes the -config flag in every subcommand's usage text.
const configUsage = `	-config FILE
	    Read the configuration from FILE. Without it, the file named by
	    $CHATD_CONFIG is read, else /etc/chatd/chatd.toml when it exists,
	    else the built-in defaults are used.
`

// newFlagSet returns the flags of a subcommand, holding the -config flag
// that every subcommand takes. The flag package prints nothing itself: Run
// prints the usage for -h, and parseFlags returns any other mistake.
func newFlagSet(name string) (fs *flag.FlagSet, configPath *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	configPath = fs.String("config", "", "configuration file")
	return fs, configPath
}

// parseFlags parses args into fs and points a mistake at the help text.
// For -h it returns flag.ErrHelp unchanged.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%s: %w (see 'chatd help %[1]s')", fs.Name(), err)
}

// nameArg returns the single NAME argument left after the flags.
func nameArg(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("%s takes exactly one user name after its flags (see 'chatd help %[1]s')", fs.Name())
	}
	return fs.Arg(0), nil
}

// cliActor is who the admin commands say made a change, in bans and in the
// server's log.
const cliActor = "cli"

// loadConfig loads the configuration that the -config flag, $CHATD_CONFIG
// or the system file points at, and says which one it was.
func loadConfig(configFlag string) (chatd.Config, chatd.ConfigSource, error) {
	src := chatd.FindConfig(configFlag)
	cfg, err := chatd.LoadConfig(src.Path)
	return cfg, src, err
}

// openStore loads the configuration and opens the database it names. The
// database must exist: an admin command run with the wrong configuration
// would otherwise create an empty database of its own and report success
// on it, while the server goes on with the real one. `chatd init` and
// `chatd serve` create it. The caller closes the store.
func openStore(configFlag string) (chatd.Config, *db.DB, error) {
	cfg, src, err := loadConfig(configFlag)
	if err != nil {
		return chatd.Config{}, nil, err
	}
	if cfg.Database.Driver == "postgres" {
		// The database itself exists (OpenPostgres fails otherwise); a
		// database without chatd's tables gets them, as with chatd init.
		store, err := db.OpenConfig(cfg.Database)
		if err != nil {
			return chatd.Config{}, nil, err // names the URL, without its password
		}
		return cfg, store, nil
	}
	if _, err := os.Stat(cfg.Database.Path); errors.Is(err, fs.ErrNotExist) {
		return chatd.Config{}, nil, fmt.Errorf(
			"no database at %s (database.path from %s); point -config or $%s at the server's configuration file, or create the database with 'chatd init'",
			cfg.Database.Path, src, chatd.ConfigEnv)
	}
	store, err := db.Open(cfg.Database.Path)
	if err != nil {
		return chatd.Config{}, nil, err // names the path
	}
	return cfg, store, nil
}

// openAccount takes the NAME argument left after the flags, opens the
// store and looks the account up, so a command acting on one account works
// with its registered spelling. The caller closes the store, as with
// openStore.
func openAccount(ctx context.Context, fs *flag.FlagSet, configFlag string) (chatd.Config, *db.DB, *chatd.User, error) {
	name, err := nameArg(fs)
	if err != nil {
		return chatd.Config{}, nil, nil, err
	}
	cfg, store, err := openStore(configFlag)
	if err != nil {
		return chatd.Config{}, nil, nil, err
	}
	u, err := store.UserByName(ctx, name)
	if err != nil {
		store.Close()
		return chatd.Config{}, nil, nil, err
	}
	return cfg, store, u, nil
}

// closeStore closes the store when a command returns, reporting a failure to
// close unless the command had already failed. Use it as
// defer closeStore(store, &err) with a named error result.
func closeStore(store io.Closer, err *error) {
	if cerr := store.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close database: %w", cerr)
	}
}
