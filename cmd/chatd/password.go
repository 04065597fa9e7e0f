package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"chatd"
)

// readNewPassword gets a new password from s.in. On a terminal it asks
// twice without echo and fails with EPasswordMismatch if the answers differ;
// otherwise (a pipe or file) it reads exactly one line.
func readNewPassword(s stdio) (string, error) {
	if f, ok := s.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pw, err := askPassword(f, s.err, "New password: ")
		if err != nil {
			return "", err
		}
		again, err := askPassword(f, s.err, "Repeat password: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", chatd.Errorf(chatd.EPasswordMismatch, "the two passwords do not match")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(s.in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no password on standard input")
		}
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

// askPassword prompts on w and reads one line from the terminal f with echo
// turned off.
func askPassword(f *os.File, w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w) // the user's Enter was not echoed
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(pw), nil
}
