package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// secretConn is a Conn that can read the next line without showing it
// (the SSH shell's editor); askText asks it before a secret prompt, with
// the prompt as text mode shows it ("" in JSON mode).
type secretConn interface {
	readSecret(prompt string)
}

// shellPrompt is the editor's prompt while the session asks nothing.
var shellPrompt = "> "

// errInterrupted: the user pressed Ctrl-C, or Ctrl-D on an empty line, in
// the SSH shell's line editor; the session logs out.
var errInterrupted = errors.New("interrupted")

// sshConn is the SSH transport: the one session channel of an SSH
// connection. With a pty (an interactive shell) a server-side line editor
// (x/term's Terminal) reads the user's keys: it echoes, keeps the line
// being typed, recalls earlier lines with Up and Down and completes names
// with Tab; whatever the session writes goes through it, which writes it
// above the line being typed and redraws that line below. A prompt of the
// session (a line it leaves open, like passwd's "Old password: ") becomes
// the editor's prompt for the next line. A secret line is read without
// echo (x/term's ReadPassword), and its prompt comes with the request to
// hide it (readSecret), not from the write that shows it: the session's
// writes may go out on a writer goroutine after it has asked for the
// line, and ReadPassword sets the editor's prompt when it starts, so a
// prompt taken from the last write could be the shell's, drawn over the
// session's. The editor reads a line only when the session asks for one
// (want), so that it knows by then whether to echo. Without a pty
// (exec json, or ssh -T) lines are read as they come, split on LF.
//
// As for WebSocket, a pump goroutine reads and hands lines over one at a
// time, and ReadLine waits for the next under a read deadline that leaves
// the connection open (the session can still send its bye). A write
// deadline closes the connection if a write outlasts it.
type sshConn struct {
	// Static after newSSHConn: the connection, the channel, the editor
	// and the channels between the pump and ReadLine.
	sc       *ssh.ServerConn
	ch       ssh.Channel
	term     *term.Terminal // nil without a pty
	maxLine  func() int
	complete func(prefix string) []string // Tab's candidates; nil: none
	lines    chan sshLine                 // pump → ReadLine
	want     chan struct{}                // ReadLine → the editor's pump: read the next line (capacity 1)
	dead     chan struct{}                // closed when the pump has stopped; err says why
	stop     chan struct{}                // closed by closeWrite or Close: reads fail from then on

	// The pump only, until it closes dead.
	err error

	// The reader goroutine (ReadLine) only: a line is wanted and not yet
	// received.
	asked bool

	// Its own lock (readDeadline.mu).
	readDL readDeadline

	// Atomics. secret: the prompt of the next line, read without echo
	// (readSecret); nil for a line read as usual. writeDL: unix
	// nanoseconds, 0 for none. meter: the
	// session's byte budget (OnBytes). lingering: closeWrite began a
	// graceful close. readEOF: a read of the channel failed, the client's
	// input is over.
	secret    atomic.Pointer[string]
	writeDL   atomic.Int64
	meter     atomic.Pointer[func(n int) error]
	lingering atomic.Bool
	readEOF   atomic.Bool
	stopOnce  sync.Once
	closeOnce sync.Once
}

type sshLine struct {
	text string
	err  error // errLineTooLong, errBadEncoding
}

func newSSHConn(sc *ssh.ServerConn, ch ssh.Channel, reqs <-chan *ssh.Request, pty *ptyRequest, maxLine func() int, complete func(string) []string) *sshConn {
	c := &sshConn{
		sc:       sc,
		ch:       ch,
		maxLine:  maxLine,
		complete: complete,
		lines:    make(chan sshLine),
		want:     make(chan struct{}, 1),
		dead:     make(chan struct{}),
		stop:     make(chan struct{}),
		readDL:   readDeadline{changed: make(chan struct{}, 1)},
	}
	if pty != nil {
		c.term = term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{eofNoter{c, meteredReader{c}}, ch}, shellPrompt)
		if pty.Width > 0 && pty.Height > 0 {
			c.term.SetSize(int(pty.Width), int(pty.Height))
		}
		if complete != nil {
			c.term.AutoCompleteCallback = c.autoComplete
		}
	}
	go c.requests(reqs)
	go c.pump()
	return c
}

// requests answers the channel's requests once the shell runs: a window
// change resizes the editor; anything else is refused.
func (c *sshConn) requests(reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok := false
		if req.Type == "window-change" && c.term != nil {
			var w struct{ Width, Height, PixW, PixH uint32 }
			if ssh.Unmarshal(req.Payload, &w) == nil && w.Width > 0 && w.Height > 0 {
				c.term.SetSize(int(w.Width), int(w.Height))
				ok = true
			}
		}
		if req.WantReply {
			req.Reply(ok, nil)
		}
	}
}

// meteredReader reads the channel and charges what it reads to the
// session's byte budget (OnBytes).
type meteredReader struct{ c *sshConn }

func (r meteredReader) Read(p []byte) (int, error) {
	n, err := r.c.ch.Read(p)
	if m := r.c.meter.Load(); m != nil && n > 0 {
		if merr := (*m)(n); merr != nil {
			return n, merr
		}
	}
	return n, err
}

// OnBytes makes meter see every byte read from the channel.
func (c *sshConn) OnBytes(meter func(n int) error) { c.meter.Store(&meter) }

// pump reads lines until the channel fails or is closed.
func (c *sshConn) pump() {
	defer close(c.dead)
	if c.term != nil {
		c.err = c.pumpTerminal()
	} else {
		c.err = c.pumpLines()
	}
}

// pumpTerminal reads lines through the editor. Ctrl-C, and Ctrl-D on an
// empty line, come back from it as io.EOF with the channel still open:
// the user asked to leave (errInterrupted).
func (c *sshConn) pumpTerminal() error {
	for {
		select {
		case <-c.want:
		case <-c.stop:
			return errSSHClosed
		}
		var line string
		var err error
		if prompt := c.secret.Swap(nil); prompt != nil {
			line, err = c.term.ReadPassword(*prompt)
		} else {
			line, err = c.term.ReadLine()
		}
		c.term.SetPrompt(shellPrompt)
		switch {
		case err == nil, errors.Is(err, term.ErrPasteIndicator):
		case errors.Is(err, io.EOF) && line == "" && c.channelOpen():
			return errInterrupted
		default:
			return err
		}
		l := sshLine{text: line}
		switch {
		case len(line) > c.maxLine():
			l = sshLine{err: errLineTooLong}
		case !utf8.ValidString(line):
			l = sshLine{err: errBadEncoding}
		}
		if !c.deliver(l) {
			return errSSHClosed
		}
	}
}

// channelOpen reports whether the client's input goes on: an io.EOF from
// the editor while it does is the editor's own (Ctrl-C, Ctrl-D), not the
// channel's end.
func (c *sshConn) channelOpen() bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	return !c.readEOF.Load()
}

// pumpLines splits what the client sends into lines on LF; a CR before
// the LF is dropped. A line longer than max_line_bytes is refused whole
// and the rest of it discarded, never buffered.
func (c *sshConn) pumpLines() error {
	br := bufio.NewReaderSize(eofNoter{c, meteredReader{c}}, 4096)
	var line []byte
	tooLong := false
	for {
		part, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(part) > c.maxLine()+2 { // room for CR LF
				tooLong, line = true, line[:0]
			} else {
				line = append(line, part...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (len(line) == 0 && !tooLong || !errors.Is(err, io.EOF)) {
			return err
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		l := sshLine{text: text}
		switch {
		case tooLong || len(text) > c.maxLine():
			l = sshLine{err: errLineTooLong}
		case !utf8.ValidString(text):
			l = sshLine{err: errBadEncoding}
		}
		if !c.deliver(l) {
			return errSSHClosed
		}
		line, tooLong = line[:0], false
		if err != nil {
			return err
		}
	}
}

// eofNoter passes reads through and notes the channel's end.
type eofNoter struct {
	c *sshConn
	r io.Reader
}

func (e eofNoter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.c.readEOF.Store(true)
	}
	return n, err
}

// errSSHClosed is what the pump reports once the connection is closing.
var errSSHClosed = errors.New("SSH session closed")

func (c *sshConn) deliver(l sshLine) bool {
	select {
	case c.lines <- l:
		return true
	case <-c.stop:
		return false
	}
}

// autoComplete is the editor's Tab: the word before the cursor becomes the
// one name or room it starts, or the longest start they share.
func (c *sshConn) autoComplete(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' {
		return "", 0, false
	}
	start := strings.LastIndexAny(line[:pos], " \t") + 1
	word := line[start:pos]
	if word == "" {
		return "", 0, false
	}
	cands := c.complete(word)
	if len(cands) == 0 {
		return "", 0, false
	}
	done := cands[0]
	if len(cands) == 1 {
		done += " "
	} else {
		for _, w := range cands[1:] {
			done = commonPrefixFold(done, w)
		}
		if len(done) < len(word) {
			return "", 0, false
		}
	}
	newLine := line[:start] + done + line[pos:]
	return newLine, start + len(done), true
}

// commonPrefixFold is the start a and b share, ignoring case, in a's
// spelling.
func commonPrefixFold(a, b string) string {
	ra, rb := []rune(a), []rune(b)
	n := 0
	for n < len(ra) && n < len(rb) && strings.EqualFold(string(ra[n]), string(rb[n])) {
		n++
	}
	return string(ra[:n])
}

// readSecret makes the next line be read without echo behind prompt (a
// shell only).
func (c *sshConn) readSecret(prompt string) {
	if c.term != nil {
		c.secret.Store(&prompt)
	}
}

// ReadLine returns the next line, or os.ErrDeadlineExceeded once the read
// deadline has passed (the connection stays open).
func (c *sshConn) ReadLine() (string, error) {
	if c.term != nil && !c.asked {
		c.asked = true
		c.want <- struct{}{} // never waits: one want at a time
	}
	return c.readDL.wait(c.wait)
}

// wait is one round of ReadLine; again means the read deadline changed.
func (c *sshConn) wait(expired <-chan time.Time) (line string, err error, again bool) {
	select {
	case l := <-c.lines:
		c.asked = false
		return l.text, l.err, false
	case <-c.stop:
		return "", errSSHClosed, false
	case <-c.dead:
		// Lines the pump handed over before it stopped were taken.
		return "", c.err, false
	case <-expired:
		return "", os.ErrDeadlineExceeded, false
	case <-c.readDL.changed:
		return "", nil, true
	}
}

func (c *sshConn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

func (c *sshConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.writeDL.Store(0)
	} else {
		c.writeDL.Store(t.UnixNano())
	}
	return nil
}

// Write sends one batch of rendered lines: through the editor in a shell,
// as they are otherwise. A write that outlasts the write deadline closes
// the connection, which ends it.
func (c *sshConn) Write(p []byte) (int, error) {
	stop, err := c.writeTimer()
	if err != nil {
		return 0, err
	}
	defer stop()
	if c.term == nil {
		return c.ch.Write(p)
	}
	// The editor turns each LF into CR LF itself. What follows the last
	// line end is a prompt: the editor shows it in place of its own.
	text := bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n"))
	if i := bytes.LastIndexByte(text, '\n'); i < len(text)-1 {
		c.term.SetPrompt(string(text[i+1:]))
		text = text[:i+1]
	}
	if _, err := c.term.Write(text); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeTimer arms the write deadline for one write: past it, the
// connection is closed, which ends a write that waits for the client's
// window. stop disarms it.
func (c *sshConn) writeTimer() (stop func() bool, err error) {
	dl := c.writeDL.Load()
	if dl == 0 {
		return func() bool { return false }, nil
	}
	d := time.Until(time.Unix(0, dl))
	if d <= 0 {
		return nil, os.ErrDeadlineExceeded
	}
	return time.AfterFunc(d, func() { c.sc.Close() }).Stop, nil
}

// stopReading makes reads fail from now on, at once.
func (c *sshConn) stopReading() { c.stopOnce.Do(func() { close(c.stop) }) }

// Close ends the SSH connection at once.
func (c *sshConn) Close() error {
	c.stopReading()
	c.closeOnce.Do(func() { c.sc.Close() })
	return nil
}

// closeWrite ends the output after the bye: the client learns the exit
// status and that the channel closed, which makes it close the connection
// itself (finishClose waits for that a little).
func (c *sshConn) closeWrite() bool {
	c.stopReading()
	c.lingering.Store(true)
	if c.term != nil {
		// The editor redrew its prompt under the bye: take it away.
		if stop, err := c.writeTimer(); err == nil {
			c.ch.Write([]byte("\r\x1b[K"))
			stop()
		}
	}
	c.ch.CloseWrite()
	exitStatus(c.ch, 0)
	c.ch.Close()
	return true
}

// finishClose closes the connection once the client has, or after
// lingerTime.
func (c *sshConn) finishClose() {
	if c.lingering.Load() {
		waitClosed(c.sc)
	}
	c.Close()
}
