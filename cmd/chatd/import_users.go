package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"chatd"
)

// maxImportLine is the longest line import-users reads; a longer one is
// reported and skipped without reading the rest of it into memory.
const maxImportLine = 64 << 10

// importUsersCommand creates accounts from a file of "name password" lines.
type importUsersCommand struct{ stdio }

func (c *importUsersCommand) Run(ctx context.Context, args []string) (err error) {
	fs, configPath := newFlagSet("import-users")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("import-users takes exactly one FILE after its flags (see 'chatd help import-users')")
	}
	file := fs.Arg(0)
	var in io.Reader = c.in
	total := int64(-1) // lines to read; unknown on standard input
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if total, err = countLines(f); err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		in = f
	}
	cfg, store, err := openStore(*configPath)
	if err != nil {
		return err
	}
	defer closeStore(store, &err)

	hasher := chatd.NewHasher(cfg.Argon2)
	// importLine creates the account on one line, or says why it cannot.
	importLine := func(line string) error {
		sep := strings.IndexAny(line, " \t")
		if sep < 0 {
			return errors.New("want a name and a password separated by a space")
		}
		name, pw := line[:sep], strings.TrimSpace(line[sep+1:])
		if err := cfg.Accounts.CheckName(name); err != nil {
			return err
		}
		if err := cfg.Accounts.CheckPassword(pw); err != nil {
			return err
		}
		if _, err := store.UserByName(ctx, name); err == nil {
			return chatd.Errorf(chatd.EUserExists, "the name %s is already taken", name)
		}
		hash, err := hasher.Hash(pw)
		if err != nil {
			return err
		}
		_, err = store.CreateUser(ctx, name, hash, false)
		return err
	}

	bar := newProgress(c.err, total, "importing", false)
	report := func(n int, msg string) {
		bar.clear()
		fmt.Fprintf(c.err, "%s:%d: %s\n", file, n, chatd.CleanText(msg))
	}
	imported, skipped, failed := 0, 0, 0
	r := bufio.NewReaderSize(in, 64<<10)
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, tooLong, err := readImportLine(r)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", file, err)
		}
		if errors.Is(err, io.EOF) && len(raw) == 0 && !tooLong {
			break
		}
		bar.set(int64(n))
		switch line := strings.TrimSpace(string(raw)); {
		case tooLong:
			report(n, fmt.Sprintf("longer than %d KB; skipped", maxImportLine>>10))
			failed++
		case !utf8.ValidString(line) || chatd.CleanText(line) != line:
			report(n, "not UTF-8 text (invalid bytes or control characters); skipped")
			failed++
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if err := importLine(line); err != nil {
				report(n, err.Error())
				if chatd.ErrorCode(err) == chatd.EUserExists {
					skipped++
				} else {
					failed++
				}
				continue
			}
			imported++
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	bar.done()
	fmt.Fprintf(c.out, "imported %d %s, skipped %d (already there), failed %d\n",
		imported, plural(imported, "user", "users"), skipped, failed)
	if failed+skipped > 0 {
		return fmt.Errorf("%d %s of %s could not be imported", failed+skipped, plural(failed+skipped, "line", "lines"), file)
	}
	return nil
}

// readImportLine reads one line without its line end. A line longer than
// maxImportLine is read to its end and dropped: tooLong is set and line is
// empty. At the end of the input err is io.EOF, with the last line if it
// had no line end.
func readImportLine(r *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, isPrefix, err := r.ReadLine()
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > maxImportLine {
				tooLong, line = true, nil
			}
		}
		if err != nil || !isPrefix {
			return line, tooLong, err
		}
	}
}

// countLines counts the lines of f for the progress bar and rewinds it.
func countLines(f *os.File) (int64, error) {
	var n int64
	buf := make([]byte, 64<<10)
	last := byte('\n')
	for {
		k, err := f.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if last != '\n' {
		n++
	}
	_, err := f.Seek(0, io.SeekStart)
	return n, err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (c *importUsersCommand) Usage() string {
	return `The import-users command creates accounts in bulk. Each line of FILE holds
a user name, a space or tab, and the password: the rest of the line, without
the spaces around it. Blank lines and lines starting with # are ignored.
Names and passwords are checked as useradd checks them. A line that cannot
be imported (a bad name or password, a name already taken, text that is not
UTF-8, a line over 64 KB) is reported with its line number and the rest are
still imported; the command then exits with status 1. At the end it says how
many accounts were imported, skipped (the name was taken) and failed.
FILE "-" reads standard input.

When standard error is a terminal, a progress bar shows the lines done,
the rate and the time left: each account costs one argon2 hash.

	# name  password
	alice   correct-horse
	bob     battery-staple

Usage:

	chatd import-users [arguments] FILE

Arguments:

` + configUsage
}
