package client

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"
)

// Front holds what a front end needs besides the connection.
type Front struct {
	User  string // answer to the first username prompt (-user)
	Color bool   // ANSI colours (stdout is a terminal and NO_COLOR is unset)
	Bell  bool   // ring the bell on a private message or a mention
	IDs   bool   // show each message's id (-ids)
	// Redial connects again after the connection was lost; the terminal
	// front end then logs in again and catches up. nil: a lost connection
	// ends the session.
	Redial func(context.Context) (*Conn, error)
}

// RunTerminal runs a session for a person at the terminal in and out: raw
// mode with line editing (history on up/down, Tab completion of commands
// and online names), incoming lines printed above the line being typed,
// passwords read without echo. Ctrl-C or Ctrl-D logs out.
func RunTerminal(ctx context.Context, conn *Conn, in, out *os.File, f Front) error {
	fd := int(in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return err
	}
	defer term.Restore(fd, old)

	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{in, out}, "")
	if w, h, err := term.GetSize(int(out.Fd())); err == nil {
		t.SetSize(w, h)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	go func() {
		for range winch {
			if w, h, err := term.GetSize(int(out.Fd())); err == nil {
				t.SetSize(w, h)
			}
		}
	}()

	ti := &termInput{t: t, out: out, req: make(chan askReq, 1), got: make(chan inputLine), bell: f.Bell}
	go ti.loop()
	s := newSession(conn, &Renderer{Color: f.Color, IDs: f.IDs}, ti, f.User)
	s.redial = f.Redial
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			return "", 0, false
		}
		return complete(line, pos, s.commandList(), s.onlineNames(), func(list []string) {
			// The terminal's lock is not held during the callback.
			t.Write([]byte(strings.Join(list, "  ") + "\n"))
		})
	}
	err = s.run(ctx)
	ti.finish()
	return err
}

type askReq struct {
	prompt string
	secret bool
}

// termInput reads lines from a term.Terminal on a goroutine of its own, one
// per ask, so that the session can print while a line is being typed.
type termInput struct {
	t    *term.Terminal
	out  io.Writer
	req  chan askReq
	got  chan inputLine
	bell bool

	mu     sync.Mutex
	done   bool   // the session ended: print straight to out
	prompt string // the prompt of the line asked for last ("" for a password)
}

func (ti *termInput) loop() {
	for r := range ti.req {
		var line string
		var err error
		if r.secret {
			line, err = ti.t.ReadPassword(r.prompt)
		} else {
			ti.mu.Lock()
			ti.t.SetPrompt(ti.prompt) // r.prompt, or what retitle made of it
			ti.mu.Unlock()
			line, err = ti.t.ReadLine()
			if err == term.ErrPasteIndicator {
				err = nil
			}
		}
		if err != nil {
			// Ctrl-C, Ctrl-D or the terminal went away. What follows (the
			// goodbye) goes below the abandoned line, not over it.
			ti.mu.Lock()
			ti.done = true
			ti.out.Write([]byte("\r\n"))
			ti.mu.Unlock()
			err = io.EOF
		}
		ti.got <- inputLine{text: line, err: err}
	}
}

func (ti *termInput) ask(prompt string, secret bool) {
	ti.mu.Lock()
	ti.prompt = prompt
	if secret {
		ti.prompt = ""
	}
	ti.mu.Unlock()
	ti.req <- askReq{prompt, secret}
}

// retitle changes the prompt of the line being read from old to prompt;
// the terminal draws it with the next line printed above, which follows
// at once (the answer that moved the room). ask and retitle are called by
// the session's goroutine, so a line asked for but not yet read gets the
// new prompt too.
func (ti *termInput) retitle(old, prompt string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if !ti.done && ti.prompt == old {
		ti.prompt = prompt
		ti.t.SetPrompt(prompt)
	}
}
func (ti *termInput) lines() <-chan inputLine { return ti.got }
func (ti *termInput) interactive() bool       { return true }

func (ti *termInput) print(text string, bell bool) {
	if bell && ti.bell {
		text = "\a" + text
	}
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.done {
		ti.out.Write([]byte(strings.ReplaceAll(text, "\n", "\r\n") + "\r\n"))
		return
	}
	ti.t.Write([]byte(text + "\n"))
}

// finish is called when the session is over; a line being read is abandoned.
func (ti *termInput) finish() {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if !ti.done {
		ti.done = true
		// Leave the prompt line for the shell's own prompt.
		ti.out.Write([]byte("\r\n"))
	}
}

// complete is the Tab completion: the first word from the command names,
// any later word from the names of online users. A single match is filled
// in with a space after it; several are filled in as far as they agree and
// listed when that adds nothing.
func complete(line string, pos int, commands, users []string, list func([]string)) (string, int, bool) {
	start := strings.LastIndexByte(line[:pos], ' ') + 1
	word := line[start:pos]
	var cands []string
	lead := ""
	if strings.TrimSpace(line[:start]) == "" {
		if strings.HasPrefix(word, "/") {
			lead, word = "/", word[1:]
		}
		cands = matching(commands, word)
	} else {
		if strings.HasPrefix(word, "(") {
			lead, word = "(", word[1:]
		}
		cands = matching(users, word)
	}
	if len(cands) == 0 {
		return "", 0, false
	}
	fill := cands[0] + " "
	if len(cands) > 1 {
		fill = commonPrefix(cands)
		if len(fill) <= len(word) {
			list(cands)
			return "", 0, false
		}
	}
	newLine := line[:start] + lead + fill + line[pos:]
	return newLine, start + len(lead) + len(fill), true
}

func matching(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if len(n) >= len(prefix) && strings.EqualFold(n[:len(prefix)], prefix) {
			out = append(out, n)
		}
	}
	return out
}

// commonPrefix is the longest prefix (compared without case, spelled as in
// the first name) that all names share.
func commonPrefix(names []string) string {
	p := names[0]
	for _, n := range names[1:] {
		i := 0
		for i < len(p) && i < len(n) && strings.EqualFold(p[i:i+1], n[i:i+1]) {
			i++
		}
		p = p[:i]
	}
	return p
}
