package daemon

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"unicode/utf8"
)

// Telnet bytes (RFC 854, 857, 860).
const (
	tnIAC  = 255
	tnDONT = 254
	tnDO   = 253
	tnWONT = 252
	tnWILL = 251
	tnSB   = 250
	tnAYT  = 246
	tnIP   = 244
	tnBRK  = 243
	tnSE   = 240
	tnEcho = 1
	tnTM   = 6 // TIMING-MARK
)

var (
	errLineTooLong = errors.New("line too long")
	errBadEncoding = errors.New("invalid UTF-8")
)

// encodingError is errBadEncoding for one line, with the line's first
// word as an IRC command (its tags and source skipped), which the IRC
// dialect's FAIL names (UTF8ONLY); "" when there is no such word.
type encodingError struct{ command string }

func (e *encodingError) Error() string { return errBadEncoding.Error() }
func (e *encodingError) Unwrap() error { return errBadEncoding }

// ircCommandOf is the command word of an IRC line: letters or digits, at
// most 32, upper-cased; "" when the line has none.
func ircCommandOf(line []byte) string {
	words := bytes.Fields(line)
	for len(words) > 0 && (words[0][0] == '@' || words[0][0] == ':') {
		words = words[1:]
	}
	if len(words) == 0 || len(words[0]) > 32 {
		return ""
	}
	for _, c := range words[0] {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return ""
		}
	}
	return string(bytes.ToUpper(words[0]))
}

// lineReader splits client input into lines. It consumes telnet IAC
// sequences, drops a CR before LF, refuses lines longer than max bytes
// (discarding the rest up to the next LF) and refuses invalid UTF-8. Both
// refusals are reported per line; the stream stays usable.
//
// Its buffers are shared: the read buffer is taken from a pool for a read
// and given back as soon as all it holds is consumed, and so is the buffer a
// line is gathered in once the line is returned. A connection waiting for
// its client's next line therefore holds no buffer at all, only one with
// input still unread (such as the rest of a paste) does.
type lineReader struct {
	src  io.Reader
	max  int
	rbuf *[]byte // from readBufs while it holds unread input, else nil
	r, w int     // the unread input is (*rbuf)[r:w]
	rerr error   // an error that came with the last read's data, returned next
	// pending is an I/O error held back until a final partial line was
	// returned.
	pending error
	// carry is a line begun when a read gave up at its deadline (the
	// session stopping to hand itself over, upgrade.go): the next ReadLine
	// goes on with it instead of losing what the client typed so far.
	carry []byte
	// onCommand, if set, is told of every telnet command read, in order
	// with the data around it: cmd is the command byte, opt the option of
	// WILL, WONT, DO and DONT (else 0). It runs inside ReadLine.
	onCommand func(cmd, opt byte)
}

const (
	// readBufSize is the size of one read from a client.
	readBufSize = 4096
	// lineBufKeep is the largest line buffer given back to the pool; a
	// longer one (a line near max) is left to the garbage collector.
	lineBufKeep = 4096
)

var (
	readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}
	lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}
)

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{src: r, max: max}
}

// buffered is the input read from the client and not consumed yet; valid
// until the next ReadLine.
func (lr *lineReader) buffered() []byte {
	if lr.rbuf == nil {
		return nil
	}
	return (*lr.rbuf)[lr.r:lr.w]
}

// idle reports whether the reader holds nothing: no unread input, no error
// waiting to be returned. The next ReadLine will read from the client.
func (lr *lineReader) idle() bool {
	return lr.rbuf == nil && lr.rerr == nil && lr.pending == nil
}

// readByte returns the next input byte, reading when none is buffered.
func (lr *lineReader) readByte() (byte, error) {
	if lr.rbuf == nil || lr.r == lr.w {
		if err := lr.fill(); err != nil {
			return 0, err
		}
	}
	b := (*lr.rbuf)[lr.r]
	lr.r++
	return b, nil
}

// fill reads into an empty buffer. Like bufio, an error that comes with
// data is kept for the next fill, and a reader that keeps returning
// nothing is an error.
func (lr *lineReader) fill() error {
	if err := lr.rerr; err != nil {
		lr.rerr = nil
		lr.release()
		return err
	}
	if lr.rbuf == nil {
		lr.rbuf = readBufs.Get().(*[]byte)
	}
	lr.r, lr.w = 0, 0
	for range 100 {
		n, err := lr.src.Read(*lr.rbuf)
		if n < 0 || n > len(*lr.rbuf) {
			lr.release()
			return errors.New("line reader: bad read count")
		}
		lr.w = n
		if n > 0 {
			lr.rerr = err
			return nil
		}
		if err != nil {
			lr.release()
			return err
		}
	}
	lr.release()
	return io.ErrNoProgress
}

// release gives the read buffer back once everything in it is consumed.
func (lr *lineReader) release() {
	if lr.rbuf != nil && lr.r == lr.w {
		readBufs.Put(lr.rbuf)
		lr.rbuf, lr.r, lr.w = nil, 0, 0
	}
}

// ReadLine returns the next line without its terminator. On errLineTooLong
// and errBadEncoding the caller may keep reading.
func (lr *lineReader) ReadLine() (string, error) {
	if lr.pending != nil {
		return "", lr.pending
	}
	defer lr.release()
	lb := lineBufs.Get().(*[]byte)
	buf := (*lb)[:0]
	defer func() {
		// Given back once the line is returned (finish copies it).
		if cap(buf) <= lineBufKeep {
			*lb = buf[:0]
			lineBufs.Put(lb)
		}
	}()
	buf = append(buf, lr.carry...)
	lr.carry = nil
	tooLong := false
	for {
		b, err := lr.readByte()
		if err == nil && b == tnIAC {
			var lit bool
			if lit, err = lr.telnet(); err == nil && !lit {
				continue
			}
		}
		if err != nil {
			// A stream may also end inside a telnet sequence; the text
			// before it is still the last line.
			if len(buf) > 0 && !tooLong && errors.Is(err, io.EOF) {
				// The last line had no LF: take it, report EOF next time.
				lr.pending = err
				return lr.finish(buf)
			}
			if len(buf) > 0 && !tooLong && errors.Is(err, os.ErrDeadlineExceeded) {
				lr.carry = append([]byte(nil), buf...)
			}
			return "", err
		}
		if b == '\n' {
			if tooLong {
				return "", errLineTooLong
			}
			return lr.finish(buf)
		}
		if len(buf) >= lr.max+1 { // +1 leaves room for a CR before LF
			tooLong = true
			continue
		}
		buf = append(buf, b)
	}
}

// unread is the input the reader holds and has not returned as a line:
// a line begun and the bytes read after it, for a hand-over (upgrade.go).
func (lr *lineReader) unread() []byte {
	return append(append([]byte(nil), lr.carry...), lr.buffered()...)
}

// preload makes p the input read first, before the connection's: what
// the previous process had read from the client and not yet used.
func (lr *lineReader) preload(p []byte) {
	if len(p) == 0 {
		return
	}
	b := make([]byte, max(len(p), readBufSize)) // it may go to readBufs after
	copy(b, p)
	lr.rbuf, lr.r, lr.w = &b, 0, len(p)
}

// lineWaiting reports whether a whole line is already buffered, so the
// next ReadLine returns without reading from the connection. A telnet
// command before the line end makes it say no: its option byte may be an
// LF, and a wrong yes would leave the caller waiting on the client.
func (lr *lineReader) lineWaiting() bool {
	b := lr.buffered()
	i := bytes.IndexByte(b, '\n')
	return i >= 0 && bytes.IndexByte(b[:i], tnIAC) < 0
}

func (lr *lineReader) finish(line []byte) (string, error) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > lr.max {
		return "", errLineTooLong
	}
	if !utf8.Valid(line) {
		return "", &encodingError{command: ircCommandOf(line)}
	}
	return string(line), nil
}

// telnet consumes the rest of an IAC sequence. It reports lit when the
// sequence was IAC IAC, an escaped data byte 255.
func (lr *lineReader) telnet() (lit bool, err error) {
	c, err := lr.readByte()
	if err != nil {
		return false, err
	}
	switch {
	case c == tnIAC:
		return true, nil
	case c >= tnWILL && c <= tnDONT:
		opt, err := lr.readByte() // the option
		if err == nil && lr.onCommand != nil {
			lr.onCommand(c, opt)
		}
		return false, err
	case c == tnSB:
		// Subnegotiation runs to IAC SE.
		prev := byte(0)
		for {
			c, err = lr.readByte()
			if err != nil {
				return false, err
			}
			if prev == tnIAC && c == tnSE {
				return false, nil
			}
			if prev == tnIAC && c == tnIAC {
				c = 0 // escaped 255 inside SB; not a terminator start
			}
			prev = c
		}
	default:
		// NOP, GA, AYT, IP, BRK, ...: two bytes, nothing to keep.
		if lr.onCommand != nil {
			lr.onCommand(c, 0)
		}
		return false, nil
	}
}
