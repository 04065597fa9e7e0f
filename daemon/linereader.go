package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"io"
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

// lineReader splits client input into lines. It consumes telnet IAC
// sequences, drops a CR before LF, refuses lines longer than max bytes
// (discarding the rest up to the next LF) and refuses invalid UTF-8. Both
// refusals are reported per line; the stream stays usable.
type lineReader struct {
	r       *bufio.Reader
	max     int
	buf     []byte
	pending error // an I/O error held back until a final partial line was returned
	// onCommand, if set, is told of every telnet command read, in order
	// with the data around it: cmd is the command byte, opt the option of
	// WILL, WONT, DO and DONT (else 0). It runs inside ReadLine.
	onCommand func(cmd, opt byte)
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 4096), max: max}
}

// ReadLine returns the next line without its terminator. On errLineTooLong
// and errBadEncoding the caller may keep reading.
func (lr *lineReader) ReadLine() (string, error) {
	if lr.pending != nil {
		return "", lr.pending
	}
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		b, err := lr.r.ReadByte()
		if err == nil && b == tnIAC {
			var lit bool
			if lit, err = lr.telnet(); err == nil && !lit {
				continue
			}
		}
		if err != nil {
			// A stream may also end inside a telnet sequence; the text
			// before it is still the last line.
			if len(lr.buf) > 0 && !tooLong && errors.Is(err, io.EOF) {
				// The last line had no LF: take it, report EOF next time.
				lr.pending = err
				return lr.finish()
			}
			return "", err
		}
		if b == '\n' {
			if tooLong {
				return "", errLineTooLong
			}
			return lr.finish()
		}
		if len(lr.buf) >= lr.max+1 { // +1 leaves room for a CR before LF
			tooLong = true
			continue
		}
		lr.buf = append(lr.buf, b)
	}
}

// lineWaiting reports whether a whole line is already buffered, so the
// next ReadLine returns without reading from the connection. A telnet
// command before the line end makes it say no: its option byte may be an
// LF, and a wrong yes would leave the caller waiting on the client.
func (lr *lineReader) lineWaiting() bool {
	n := lr.r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := lr.r.Peek(n)
	i := bytes.IndexByte(b, '\n')
	return i >= 0 && bytes.IndexByte(b[:i], tnIAC) < 0
}

func (lr *lineReader) finish() (string, error) {
	line := lr.buf
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > lr.max {
		return "", errLineTooLong
	}
	if !utf8.Valid(line) {
		return "", errBadEncoding
	}
	return string(line), nil
}

// telnet consumes the rest of an IAC sequence. It reports lit when the
// sequence was IAC IAC, an escaped data byte 255.
func (lr *lineReader) telnet() (lit bool, err error) {
	c, err := lr.r.ReadByte()
	if err != nil {
		return false, err
	}
	switch {
	case c == tnIAC:
		return true, nil
	case c >= tnWILL && c <= tnDONT:
		opt, err := lr.r.ReadByte() // the option
		if err == nil && lr.onCommand != nil {
			lr.onCommand(c, opt)
		}
		return false, err
	case c == tnSB:
		// Subnegotiation runs to IAC SE.
		prev := byte(0)
		for {
			c, err = lr.r.ReadByte()
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
