package daemon

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// got is one result of lineReader.ReadLine.
type lrResult struct {
	line string
	err  error
}

// readAll reads r to its end and returns every result, the final io.EOF
// excluded. It fails the test if the reader does not stop at EOF.
func lrReadAll(t *testing.T, r io.Reader, max int) []lrResult {
	t.Helper()
	lr := newLineReader(r, max)
	var out []lrResult
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatalf("ReadLine never reached EOF; so far %q", out)
		}
		line, err := lr.ReadLine()
		if errors.Is(err, io.EOF) {
			// EOF sticks.
			if line2, err2 := lr.ReadLine(); !errors.Is(err2, io.EOF) || line2 != "" {
				t.Fatalf("after EOF got %q, %v", line2, err2)
			}
			return out
		}
		if err != nil && line != "" {
			t.Fatalf("error %v came with a line %q", err, line)
		}
		out = append(out, lrResult{line, err})
	}
}

func (g lrResult) String() string {
	if g.err != nil {
		return "error(" + g.err.Error() + ")"
	}
	return strconv.Quote(g.line)
}

func lrLines(ls ...string) []lrResult {
	out := make([]lrResult, len(ls))
	for i, l := range ls {
		out[i] = lrResult{line: l}
	}
	return out
}

const (
	xIAC  = "\xff"
	xWILL = "\xfb"
	xWONT = "\xfc"
	xDO   = "\xfd"
	xDONT = "\xfe"
	xSB   = "\xfa"
	xSE   = "\xf0"
	xNOP  = "\xf1"
	xECHO = "\x01"
	xNAWS = "\x1f"
)

func TestLineReader(t *testing.T) {
	const max = 10
	cases := []struct {
		name string
		in   string
		want []lrResult
	}{
		{"LF", "hello\nworld\n", lrLines("hello", "world")},
		{"CRLF", "hello\r\nworld\r\n", lrLines("hello", "world")},
		{"MixedCRLFAndLF", "a\r\nb\nc\r\n", lrLines("a", "b", "c")},
		{"OnlyOneCRDropped", "a\r\r\n", lrLines("a\r")},
		{"InnerCRKept", "a\rb\n", lrLines("a\rb")},
		{"EmptyLines", "\n\r\n\n", lrLines("", "", "")},
		{"FinalLineWithoutLF", "one\ntwo", lrLines("one", "two")},
		{"FinalCRWithoutLF", "one\r", lrLines("one")},
		{"Empty", "", nil},
		{"Pipelined", "mode json\nalice\nsecret\nwho\nlogout\n",
			lrLines("mode json", "alice", "secret", "who", "logout")},
		{"IACWill", xIAC + xWILL + xECHO + "abc\n", lrLines("abc")},
		{"IACWont", "a" + xIAC + xWONT + xECHO + "bc\n", lrLines("abc")},
		{"IACDo", xIAC + xDO + xECHO + "abc\n", lrLines("abc")},
		{"IACDont", xIAC + xDONT + xECHO + "abc\n", lrLines("abc")},
		{"IACNop", "ab" + xIAC + xNOP + "c\n", lrLines("abc")},
		{"IACSubnegotiation", xIAC + xSB + xNAWS + "\x00\x50\x00\x18" + xIAC + xSE + "abc\n", lrLines("abc")},
		{"SubnegotiationSwallowsLF", xIAC + xSB + "x\ny\n" + xIAC + xSE + "abc\n", lrLines("abc")},
		{"SubnegotiationEscapedIAC", xIAC + xSB + xNAWS + xIAC + xIAC + xSE + "z" + xIAC + xSE + "abc\n", lrLines("abc")},
		{"IACOptionIsLF", xIAC + xDO + "\n" + "abc\n", lrLines("abc")},
		{"IACBeforeLFKeepsLine", "abc" + xIAC + xWILL + xECHO + "\n", lrLines("abc")},
		{"IACIACIsByte255", "a" + xIAC + xIAC + "b\nok\n", []lrResult{{err: errBadEncoding}, {line: "ok"}}},
		{"IACDoesNotCountToLength", strings.Repeat(xIAC+xNOP, 50) + "0123456789\n", lrLines("0123456789")},
		{"AtLimit", "0123456789\n", lrLines("0123456789")},
		{"AtLimitWithCR", "0123456789\r\n", lrLines("0123456789")},
		{"OneOver", "0123456789A\nnext\n", []lrResult{{err: errLineTooLong}, {line: "next"}}},
		{"OneOverWithCR", "0123456789A\r\nnext\n", []lrResult{{err: errLineTooLong}, {line: "next"}}},
		{"FarOver", strings.Repeat("x", 100000) + "\nnext\n", []lrResult{{err: errLineTooLong}, {line: "next"}}},
		{"TwoLongInARow", strings.Repeat("x", 20) + "\n" + strings.Repeat("y", 11) + "\nz\n",
			[]lrResult{{err: errLineTooLong}, {err: errLineTooLong}, {line: "z"}}},
		{"MultibyteAtLimit", "ééééé\n", lrLines("ééééé")}, // 10 bytes
		{"MultibyteOverLimit", "éééééx\nok\n", []lrResult{{err: errLineTooLong}, {line: "ok"}}},
		{"InvalidUTF8", "a\xc3(b\nnext\n", []lrResult{{err: errBadEncoding}, {line: "next"}}},
		{"TruncatedUTF8", "\xe2\x82\nnext\n", []lrResult{{err: errBadEncoding}, {line: "next"}}},
		{"Surrogate", "\xed\xa0\x80\nnext\n", []lrResult{{err: errBadEncoding}, {line: "next"}}},
		{"Overlong", "\xc0\xaf\nnext\n", []lrResult{{err: errBadEncoding}, {line: "next"}}},
		{"InvalidFinalLine", "ok\n\xff\xfe", []lrResult{{line: "ok"}}}, // IAC DONT <EOF>: a cut telnet command
		{"InvalidFinalLineNoIAC", "ok\n\xc3(", []lrResult{{line: "ok"}, {err: errBadEncoding}}},
		{"NonASCIIKept", "hé ✓日\n", lrLines("hé ✓日")}, // 10 bytes
		{"TabKept", "a\tb\n", lrLines("a\tb")},
		{"EOFInsideTelnet", "abc" + xIAC, lrLines("abc")},
		{"EOFInsideOption", "abc" + xIAC + xWILL, lrLines("abc")},
		{"EOFInsideSubnegotiation", "abc" + xIAC + xSB + "xyz", lrLines("abc")},
		{"EOFAfterLongLine", strings.Repeat("x", 20), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Byte by byte too: nothing may depend on how reads are split.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				out := lrReadAll(t, r, max)
				if !lrEqual(out, tc.want) {
					t.Fatalf("input %q:\n got %v\nwant %v", tc.in, out, tc.want)
				}
			}
		})
	}
}

func lrEqual(a, b []lrResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].line != b[i].line || !errors.Is(a[i].err, b[i].err) {
			return false
		}
	}
	return true
}

// TestLineReaderManyPipelined checks that a large paste loses no line, in
// order, whatever the buffer boundaries.
func TestLineReaderManyPipelined(t *testing.T) {
	var b strings.Builder
	const n = 5000
	for i := range n {
		b.WriteString(strings.Repeat("x", i%50))
		if i%3 == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	out := lrReadAll(t, iotest.HalfReader(strings.NewReader(b.String())), 64)
	if len(out) != n {
		t.Fatalf("got %d lines, want %d", len(out), n)
	}
	for i, g := range out {
		if g.err != nil || g.line != strings.Repeat("x", i%50) {
			t.Fatalf("line %d: %q %v", i, g.line, g.err)
		}
	}
}

// TestLineReaderIOError checks that an error other than EOF is passed on.
func TestLineReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	lr := newLineReader(io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(boom)), 64)
	if line, err := lr.ReadLine(); line != "" || !errors.Is(err, boom) {
		t.Fatalf("got %q %v, want boom", line, err)
	}
}

// TestLineReaderHoldsNoBufferWhenIdle: between lines, a reader whose input
// is all consumed holds no buffer (the read buffer goes back to its pool),
// while one with the rest of a paste still unread keeps it.
func TestLineReaderHoldsNoBufferWhenIdle(t *testing.T) {
	r, w := io.Pipe()
	lr := newLineReader(r, 64)
	go w.Write([]byte("one\ntwo\n"))
	if line, err := lr.ReadLine(); line != "one" || err != nil {
		t.Fatalf("got %q %v", line, err)
	}
	if lr.idle() || string(lr.buffered()) != "two\n" {
		t.Fatalf("after the first of two lines: idle %v, buffered %q", lr.idle(), lr.buffered())
	}
	if line, err := lr.ReadLine(); line != "two" || err != nil {
		t.Fatalf("got %q %v", line, err)
	}
	if !lr.idle() || lr.rbuf != nil || lr.buffered() != nil {
		t.Fatalf("all input consumed, yet the reader holds a buffer (%q)", lr.buffered())
	}
	go func() { w.Write([]byte("thr")); w.Write([]byte("ee\n")) }()
	if line, err := lr.ReadLine(); line != "three" || err != nil {
		t.Fatalf("got %q %v", line, err)
	}
	if !lr.idle() {
		t.Fatal("idle again, yet holding input")
	}
}

// errReader returns its data and its error from one Read, as the byte
// meter does when a read takes the client over its budget; later reads
// find the end of the stream.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	if len(e.data) == 0 {
		return n, e.err
	}
	return n, nil
}

// TestLineReaderDataWithError: the lines of a read that also returned an
// error come out first, then the error.
func TestLineReaderDataWithError(t *testing.T) {
	lr := newLineReader(&errReader{data: []byte("a\nb\n"), err: errFlood}, 64)
	for _, want := range []string{"a", "b"} {
		if line, err := lr.ReadLine(); line != want || err != nil {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	if _, err := lr.ReadLine(); !errors.Is(err, errFlood) {
		t.Fatalf("got %v, want the read's error", err)
	}
}

// TestLineReaderTelnetAcrossReads: a telnet command split over two reads
// of a full buffer is still consumed and reported, in order with the
// lines, and a long line spanning several reads is still refused whole.
func TestLineReaderTelnetAcrossReads(t *testing.T) {
	for _, split := range []int{1, 2, 3} { // bytes of the command in the first read
		filler := "1234567"[:8-split]
		head := strings.Repeat("abcdefg\n", readBufSize/8-1) + filler
		in := head + xIAC + xDO + xECHO + "ok\n" + strings.Repeat("z", 3*readBufSize) + "\nlast\n"
		lr := newLineReader(strings.NewReader(in), 64)
		var cmds [][2]byte
		lines := 0
		lr.onCommand = func(c, o byte) {
			if lines != readBufSize/8-1 {
				t.Errorf("command reported after %d lines, want %d", lines, readBufSize/8-1)
			}
			cmds = append(cmds, [2]byte{c, o})
		}
		for range readBufSize/8 - 1 {
			if line, err := lr.ReadLine(); line != "abcdefg" || err != nil {
				t.Fatalf("got %q %v", line, err)
			}
			lines++
		}
		if line, err := lr.ReadLine(); line != filler+"ok" || err != nil {
			t.Fatalf("line around the command: %q %v", line, err)
		}
		if len(cmds) != 1 || cmds[0] != [2]byte{tnDO, tnEcho} {
			t.Fatalf("commands %v, want one DO ECHO", cmds)
		}
		if _, err := lr.ReadLine(); !errors.Is(err, errLineTooLong) {
			t.Fatalf("long line: %v", err)
		}
		if line, err := lr.ReadLine(); line != "last" || err != nil {
			t.Fatalf("after the long line: %q %v", line, err)
		}
	}
}
