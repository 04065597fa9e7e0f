package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"chatd"
)

// modelLines is a second, deliberately naive reading of the framing rules
// of PROTOCOL.md section 1 (whole input in memory, no length cap while
// reading). FuzzLineReader checks lineReader against it.
func lrModel(in []byte, max int) []lrResult {
	var out []lrResult
	var cur []byte
	finish := func() lrResult {
		line := cur
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case len(line) > max:
			return lrResult{err: errLineTooLong}
		case !utf8.Valid(line):
			return lrResult{err: errBadEncoding}
		}
		return lrResult{line: string(line)}
	}
	i := 0
	next := func() (byte, bool) {
		if i >= len(in) {
			return 0, false
		}
		i++
		return in[i-1], true
	}
scan:
	for {
		b, ok := next()
		if !ok {
			break
		}
		switch b {
		case '\n':
			out = append(out, finish())
			cur = nil
		case tnIAC:
			c, ok := next()
			if !ok {
				break scan
			}
			switch {
			case c == tnIAC:
				cur = append(cur, tnIAC)
			case c >= tnWILL && c <= tnDONT:
				if _, ok := next(); !ok {
					break scan
				}
			case c == tnSB:
				for {
					x, ok := next()
					if !ok {
						break scan
					}
					if x != tnIAC {
						continue
					}
					y, ok := next()
					if !ok {
						break scan
					}
					if y == tnSE {
						break
					}
				}
			}
		default:
			cur = append(cur, b)
		}
	}
	// The last line without LF counts unless it was already too long to
	// hold (max plus a CR).
	if len(cur) > 0 && len(cur) <= max+1 {
		out = append(out, finish())
	}
	return out
}

func FuzzLineReader(f *testing.F) {
	for _, s := range []string{
		"hello\n",
		"hello\r\nworld\r\n",
		"no newline at the end",
		"mode json\nalice\nsecret\nwho\nlogout\n",
		"\xff\xfd\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0alice\r\n",
		"a\xff\xffb\n",
		"\xff\xfa\xff\xff\xf0\n\xff\xf0ok\n",
		"0123456789012345\n01234567890123456\nok\n",
		"\xc3(\n\xed\xa0\x80\nok\n",
		"ab\xff",
		"\r\r\n\r",
		"héllo\tö\x1b[31m\u0085\n",
		// A telnet command across the boundary of two reads.
		strings.Repeat("abcdefg\n", readBufSize/8-1) + "1234567\xff\xfb\x01ok\n",
	} {
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxSeed uint8) {
		// Small limits so that the fuzzer reaches them; the daemon's
		// smallest allowed is 64, the reader works for any positive.
		max := 1 + int(maxSeed%80)
		want := lrModel(data, max)
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
			lr := newLineReader(r, max)
			var out []lrResult
			for {
				line, err := lr.ReadLine()
				if errors.Is(err, io.EOF) {
					break
				}
				switch {
				case err == nil:
				case errors.Is(err, errLineTooLong), errors.Is(err, errBadEncoding):
					if line != "" {
						t.Fatalf("%v came with line %q", err, line)
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				if len(out) > len(data) {
					t.Fatalf("%d results from %d bytes", len(out), len(data))
				}
				out = append(out, lrResult{line, err})
				if err == nil {
					lrCheckLine(t, line, max)
				}
			}
			if _, err := lr.ReadLine(); !errors.Is(err, io.EOF) {
				t.Fatalf("after EOF: %v", err)
			}
			if !lrEqual(out, want) {
				t.Fatalf("input %q max %d:\n got %v\nwant %v", data, max, out, want)
			}
		}
	})
}

// checkLine asserts what every line handed to a command must satisfy, and
// that what clean makes of it is safe to show on someone else's terminal in
// both output modes.
func lrCheckLine(t *testing.T, line string, max int) {
	t.Helper()
	switch {
	case !utf8.ValidString(line):
		t.Fatalf("line %q is not valid UTF-8", line)
	case len(line) > max:
		t.Fatalf("line %q is longer than %d", line, max)
	case strings.IndexByte(line, '\n') >= 0:
		t.Fatalf("line %q holds a LF", line)
	case strings.IndexByte(line, tnIAC) >= 0:
		t.Fatalf("line %q holds an IAC byte", line)
	}
	c := chatd.CleanText(line)
	if len(c) > len(line) || chatd.CleanText(c) != c || !utf8.ValidString(c) {
		t.Fatalf("chatd.CleanText(%q) = %q", line, c)
	}
	for _, r := range c {
		if chatd.IsControl(r) {
			t.Fatalf("chatd.CleanText(%q) = %q keeps %U", line, c, r)
		}
	}
	ev := roomMessage(kindRoom, "0000000000000001", "alice", "lobby", c, time.Unix(0, 0), false)
	text := ev.render(modeText)
	body, ok := bytes.CutSuffix(text, []byte("\r\n"))
	if !ok {
		t.Fatalf("text line %q does not end with CRLF", text)
	}
	for _, r := range string(body) {
		if chatd.IsControl(r) {
			t.Fatalf("text line %q holds %U", text, r)
		}
	}
	js := ev.render(modeJSON)
	body, ok = bytes.CutSuffix(js, []byte("\r\n"))
	if !ok || bytes.ContainsAny(body, "\r\n\xff") {
		t.Fatalf("JSON line %q is not one clean line", js)
	}
	var m struct{ Text string }
	if err := json.Unmarshal(body, &m); err != nil || m.Text != c {
		t.Fatalf("JSON line %q: %v, text %q", js, err, m.Text)
	}
}

func FuzzCommandParse(f *testing.F) {
	for _, s := range []string{
		"send bob hi there",
		"/msg (bob carol Bob nobody) hello all",
		"msg (bob carol",
		"send ( ) text",
		"send () text",
		"block (a\tb)",
		"ban mallory 7d spamming",
		"ban mallory 106752d",
		"ban mallory 2h30m",
		"ban mallory -1h",
		"ban mallory forever rude",
		"/mode json",
		"MODE Text",
		"mode json extra",
		"/nosuch arg",
		"/",
		"",
		"   \t ",
		"say who is there",
		"last 60",
		"whoelsesince 99999999999999999999",
		"\u00a0send\u00a0bob hi",
		"send \u3000 x",
		"@l1 send bob,carol hi",
		"@ echo x",
		"@" + strings.Repeat("x", 33) + " echo",
		"@a.b echo",
		"@only",
		"send ,bob,,carol, hi",
		"join #ops",
		"edit last fixed typo",
		"edit 0123456789abcdef-n1 new\ttext",
		"edit last",
		"delete last",
		"delete 0123456789abcdef extra",
		"reply 0123456789abcdef \x1b[2Jhi",
		"reply last hi",
		"react 0123456789abcdef 👍",
		"react 0123456789abcdef two words",
		"unreact 0123456789abcdef " + strings.Repeat("x", 33),
		"react bad!id ok",
		"unreact 0123456789abcdef \u00a0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		w, rest := splitWord(line)
		if strings.ContainsAny(w, " \t") || strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "\t") {
			t.Fatalf("splitWord(%q) = %q, %q", line, w, rest)
		}
		if w == "" && rest != "" {
			t.Fatalf("splitWord(%q): no word but rest %q", line, rest)
		}
		if !strings.Contains(line, w) || !strings.Contains(line, rest) {
			t.Fatalf("splitWord(%q) = %q, %q: not from the line", line, w, rest)
		}
		if cw := commandWord(line); cw != strings.ToLower(strings.TrimPrefix(w, "/")) {
			t.Fatalf("commandWord(%q) = %q", line, cw)
		}

		c, args, isCmd := lookupCommand(line)
		switch {
		case c != nil && !isCmd:
			t.Fatalf("lookupCommand(%q): command %s but not a command", line, c.name)
		case c != nil && byName[strings.ToLower(strings.TrimPrefix(w, "/"))] != c:
			t.Fatalf("lookupCommand(%q) = %s, first word %q", line, c.name, w)
		case c == nil && isCmd && (!strings.HasPrefix(args, "/") || args != w):
			t.Fatalf("lookupCommand(%q): unknown command %q", line, args)
		case c != nil && args != rest:
			t.Fatalf("lookupCommand(%q): args %q, want %q", line, args, rest)
		}

		for _, in := range []string{line, rest} {
			names, text, ok := targets(in)
			if ok != (len(names) > 0) {
				t.Fatalf("targets(%q) = %q, ok %v", in, names, ok)
			}
			seen := map[string]bool{}
			for _, n := range names {
				if n == "" || strings.ContainsAny(n, " \t") {
					t.Fatalf("targets(%q): bad name %q in %q", in, n, names)
				}
				if seen[chatd.Key(n)] {
					t.Fatalf("targets(%q): %q twice in %q", in, n, names)
				}
				seen[chatd.Key(n)] = true
			}
			if !strings.Contains(in, text) {
				t.Fatalf("targets(%q): text %q not from the input", in, text)
			}
		}

		for _, word := range append(strings.Fields(line), line, w) {
			d, ok := parseBanDuration(word)
			if !ok && d != 0 {
				t.Fatalf("parseBanDuration(%q) = %v but not ok", word, d)
			}
			if ok && (d < 0 || d > chatd.MaxBan) {
				t.Fatalf("parseBanDuration(%q) = %v, outside 0..MaxBan", word, d)
			}
		}

		if rest, label, ok := splitLabel(line); ok {
			if label == "" || len(label) > 32 || !strings.HasPrefix(line, "@"+label) || !strings.HasSuffix(line, rest) {
				t.Fatalf("splitLabel(%q) = %q, %q", line, rest, label)
			}
			for _, c := range []byte(label) {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
					t.Fatalf("splitLabel(%q): label %q", line, label)
				}
			}
		} else if rest != line || label != "" {
			t.Fatalf("splitLabel(%q) = %q, %q without a label", line, rest, label)
		}

		if m, ok := modeSwitch(line); ok && m != modeJSON && m != modeText {
			t.Fatalf("modeSwitch(%q) = %d", line, m)
		}
		for _, cmd := range []string{"edit", "delete", "reply", "react", "unreact"} {
			msg, text, err := actionArgs(cmd, rest)
			if err != nil {
				continue
			}
			switch {
			case msg == "last" && cmd != "edit" && cmd != "delete",
				msg != "last" && !wellFormedID(msg):
				t.Fatalf("actionArgs(%s, %q): message %q", cmd, rest, msg)
			case cmd == "delete" && text != "",
				(cmd == "react" || cmd == "unreact") && !chatd.ValidReaction(text),
				(cmd == "edit" || cmd == "reply") && (strings.TrimSpace(text) == "" || chatd.CleanText(text) != text):
				t.Fatalf("actionArgs(%s, %q): text %q", cmd, rest, text)
			}
		}
		if n, err := intArg("last", rest, 1, 60); err == nil && (n < 1 || n > 60) {
			t.Fatalf("intArg(%q) = %d", rest, n)
		}
	})
}

// TestParseBanDurationOverflow: "ban USER 106752d" must be a long ban or
// a bad_args, never a ban that expired before it was made or a short one.
func TestParseBanDurationOverflow(t *testing.T) {
	for _, tc := range []struct {
		word string
		days int64
	}{{"7d", 7}, {"106751d", 106751}, {"106752d", 106752}, {"213504d", 213504}, {"9999999999d", 9999999999}} {
		d, ok := parseBanDuration(tc.word)
		if ok && int64(d/(24*time.Hour)) != tc.days {
			t.Fatalf("%q parses as %v: a ban that wrapped around", tc.word, d)
		}
	}
}
