package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// RunScript runs a session for a program: each line of in is a command (the
// first ones answer the login prompts: the user name unless f.User gives
// it, then the password) and every event is written to out as plain lines.
// At the end of in it logs out and waits for the server's goodbye.
func RunScript(ctx context.Context, conn *Conn, in io.Reader, out io.Writer, f Front) error {
	si := &scriptInput{out: out, got: make(chan inputLine), bell: f.Bell}
	go si.read(in)
	s := newSession(conn, &Renderer{Color: f.Color, IDs: f.IDs}, si, f.User)
	return s.run(ctx)
}

type scriptInput struct {
	out  io.Writer
	got  chan inputLine
	bell bool
}

func (si *scriptInput) read(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		si.got <- inputLine{text: strings.TrimSuffix(sc.Text(), "\r")}
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	for {
		si.got <- inputLine{err: err}
	}
}

func (si *scriptInput) ask(string, bool)        {}
func (si *scriptInput) lines() <-chan inputLine { return si.got }
func (si *scriptInput) interactive() bool       { return false }

func (si *scriptInput) print(text string, bell bool) {
	if bell && si.bell {
		text = "\a" + text
	}
	fmt.Fprintln(si.out, text)
}
