package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"chatd"
)

// keyaddCommand adds SSH public keys to an account.
type keyaddCommand struct{ stdio }

func (c *keyaddCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("keyadd")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("keyadd takes a user name and a file of public keys (or - for standard input) (see 'chatd help keyadd')")
	}
	name, file := fs.Arg(0), fs.Arg(1)
	lines, err := c.keyLines(file)
	if err != nil {
		return err
	}
	// Every line is checked before anything is stored.
	keys := make([]chatd.SSHKey, len(lines))
	for i, l := range lines {
		if keys[i], err = chatd.ParseSSHKey(l.text); err != nil {
			return fmt.Errorf("%s: line %d: %w", file, l.n, err)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s holds no public key", file)
	}
	_, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)
	u, err := store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	for _, k := range keys {
		k.User = u.Name
		if err := store.AddKey(ctx, k); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "added %s key %s for %s\n", k.Type, k.Fingerprint, u.Name)
	}
	return nil
}

type keyLine struct {
	n    int
	text string
}

// keyLines reads the non-blank, non-comment lines of file ("-": standard
// input), at most chatd.MaxSSHKeys of them.
func (c *keyaddCommand) keyLines(file string) ([]keyLine, error) {
	var r io.Reader = c.in
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var out []keyLine
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
	for n := 1; sc.Scan(); n++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(out) == chatd.MaxSSHKeys {
			return nil, fmt.Errorf("%s holds more than %d keys, the most an account may hold", file, chatd.MaxSSHKeys)
		}
		out = append(out, keyLine{n, t})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return out, nil
}

func (c *keyaddCommand) Usage() string {
	return `The keyadd command adds SSH public keys to an account, for logging in over
SSH ([ssh] listen) without a password. FILE holds one key per line in
authorized_keys form, as in ~/.ssh/id_ed25519.pub; "-" reads standard
input. Blank lines and lines starting with # are skipped; key options
(from=, command=) and certificates are refused. An account holds at most
20 keys.

	chatd keyadd alice ~alice/.ssh/id_ed25519.pub
	ssh-add -L | chatd keyadd alice -

Usage:

	chatd keyadd [arguments] NAME FILE|-

Arguments:

` + configUsage
}
