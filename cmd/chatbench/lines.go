package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
)

// How a client reads: one read(2) fills a buffer with as many lines as
// the socket holds, the lines are cut out of it with bytes.IndexByte and
// classified in place, without a copy or an allocation per line. This is
// the load tool's inner loop in every workload (a burst is millions of
// lines a second on two cores shared with the server), so it is kept
// cheap and the same for both dialects.

// Read buffer sizes: a client starts small (an idle client is most of a
// 15,000-client run's memory) and doubles its buffer whenever one read
// fills it, up to maxReadBuf. A line longer than the buffer (chatd's
// welcome lists everyone online) grows it as far as the line needs.
const (
	minReadBuf = 4 << 10
	maxReadBuf = 64 << 10
)

// lineReader cuts lines out of what it reads from rd. Lines end in LF,
// optionally preceded by CR; a line it returns is valid until the next
// fill.
type lineReader struct {
	rd   io.Reader
	buf  []byte
	r, w int // unread bytes: buf[r:w]
}

// line returns the next whole line in the buffer without its end, or
// false if the buffer holds no whole line (then fill).
func (l *lineReader) line() ([]byte, bool) {
	i := bytes.IndexByte(l.buf[l.r:l.w], '\n')
	if i < 0 {
		return nil, false
	}
	line := l.buf[l.r : l.r+i]
	l.r += i + 1
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, true
}

// fill makes room (moving the start of a partial line to the front,
// growing the buffer if that is not enough) and reads once. Data read
// comes before an error: the error is returned by the fill after.
func (l *lineReader) fill() error {
	if l.r > 0 {
		l.w = copy(l.buf, l.buf[l.r:l.w])
		l.r = 0
	}
	switch {
	case l.buf == nil:
		l.buf = make([]byte, minReadBuf)
	case l.w == len(l.buf): // one partial line fills it
		nb := make([]byte, 2*len(l.buf))
		copy(nb, l.buf[:l.w])
		l.buf = nb
	}
	for {
		n, err := l.rd.Read(l.buf[l.w:])
		if n == len(l.buf)-l.w && len(l.buf) < maxReadBuf {
			// The socket held at least this much: read more at once
			// next time.
			nb := make([]byte, 2*len(l.buf))
			copy(nb, l.buf[:l.w+n])
			l.buf = nb
		}
		l.w += n
		if n > 0 || err != nil {
			if n > 0 {
				return nil
			}
			return err
		}
	}
}

// next returns the next line without its end, reading as needed.
func (l *lineReader) next() ([]byte, error) {
	for {
		if line, ok := l.line(); ok {
			return line, nil
		}
		if err := l.fill(); err != nil {
			return nil, err
		}
	}
}

// lineKind is what a client makes of one line from the server.
type lineKind uint8

const (
	// lineOther is a well-formed line the workload does not count
	// (presence, answers to the setup, replayed history, ...).
	lineOther lineKind = iota
	// lineRoom is a stamped room message in the bench room: a delivery.
	lineRoom
	// lineStored acknowledges a private message as stored (offline).
	lineStored
	// linePrivate is a stamped private message to this client (the
	// private workload's delivery).
	linePrivate
	// lineDelivered acknowledges a private message as delivered to a
	// recipient online (the sender's side of the private workload).
	lineDelivered
	// lineJoined answers this client's own join.
	lineJoined
	// linePing is an IRC PING, to be answered.
	linePing
	// lineBad is a line that is not what it should be: malformed, or a
	// room message that is not one the bench sent to its room. It is
	// counted as an error, never as a delivery.
	lineBad
)

// stamped is what a stamped text says (see stamp): who sent it, its
// number among that sender's lines, and when it was sent (unix ns).
type stamped struct {
	sender, seq int
	ns          int64
}

// parseStamp reads a stamped text, "bench SENDER SEQ UNIXNANO" (see
// stamp); false if text is anything else.
func parseStamp(text []byte) (stamped, bool) {
	if !bytes.HasPrefix(text, []byte(stampPrefix)) {
		return stamped{}, false
	}
	rest := text[len(stampPrefix):]
	var nums [2]int // sender and sequence number
	for k := range nums {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 || i == len(rest) || rest[i] != ' ' {
			return stamped{}, false
		}
		for _, c := range rest[:i] {
			nums[k] = nums[k]*10 + int(c-'0')
		}
		rest = rest[i+1:]
	}
	if len(rest) == 0 || len(rest) > 19 {
		return stamped{}, false
	}
	ns, ok := decimal(rest)
	if !ok || ns > math.MaxInt64 {
		return stamped{}, false
	}
	return stamped{sender: nums[0], seq: nums[1], ns: int64(ns)}, true
}

// decimal reads b, at most 19 decimal digits and nothing else, as a
// number; false if b holds anything but digits. The digits of a stamp's
// time (19 of them) are most of the tool's work on a delivery after the
// scan, so they are taken eight at a time.
func decimal(b []byte) (uint64, bool) {
	var n uint64
	for ; len(b) >= 8; b = b[8:] {
		v, ok := eightDigits(b)
		if !ok {
			return 0, false
		}
		n = n*100_000_000 + v
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// eightDigits reads b[:8], which must be decimal digits, as a number,
// with the bytes side by side in one word: each byte must be 0x30-0x39
// (high half 3, and still 3 after adding 6), then pairs, fours and the
// eight are combined by three multiplications.
func eightDigits(b []byte) (uint64, bool) {
	const threes, highs = 0x3030303030303030, 0xF0F0F0F0F0F0F0F0
	x := binary.LittleEndian.Uint64(b)
	if x&highs != threes || (x+0x0606060606060606)&highs != threes {
		return 0, false
	}
	x -= threes
	x = x*10 + x>>8 // each even byte: two digits
	const pairs = 0x000000FF000000FF
	x = ((x&pairs)*(100+1_000_000<<32) + (x>>16&pairs)*(1+10_000<<32)) >> 32
	return x, true
}

// stampTime reads the send time (unix ns) out of a stamped text; false
// if text is no stamp.
func stampTime(text []byte) (int64, bool) {
	s, ok := parseStamp(text)
	return s.ns, ok
}

// jsonFields are the members of one of chatd's JSON lines the load tool
// looks at, as slices of the line (or of a decoded copy).
type jsonFields struct {
	typ, kind, room, text, cmd, status, code, field []byte
}

// slot is where the value of the member named key goes, or nil.
func (ev *jsonFields) slot(key []byte) *[]byte {
	switch string(key) {
	case "type":
		return &ev.typ
	case "kind":
		return &ev.kind
	case "room":
		return &ev.room
	case "text":
		return &ev.text
	case "cmd":
		return &ev.cmd
	case "status":
		return &ev.status
	case "code":
		return &ev.code
	case "field":
		return &ev.field
	}
	return nil
}

var (
	errNotJSON = errors.New("not a JSON object")
	// errNotFlat is a line that scanJSON cannot read alone (a nested
	// value, or an escape in a member it reads): decode it fully.
	errNotFlat = errors.New("nested value or escaped member")
)

// scanJSON reads line, which must be one flat JSON object, in one pass
// without allocating: it checks the syntax of every member and keeps the
// values of those in jsonFields. errNotFlat means the line needs a full
// decode (parseEvent does that); any other error, that it is not a JSON
// object. (Raw control bytes inside strings are not looked for.)
func scanJSON(line []byte, ev *jsonFields) error {
	*ev = jsonFields{}
	// Without a backslash anywhere (chatd's room lines as the bench
	// sends them), every string ends at the next quote.
	plain := bytes.IndexByte(line, '\\') < 0
	str := func(i int) ([]byte, bool, int) {
		if plain {
			if i >= len(line) || line[i] != '"' {
				return nil, false, -1
			}
			k := bytes.IndexByte(line[i+1:], '"')
			if k < 0 {
				return nil, false, -1
			}
			return line[i+1 : i+1+k], false, i + k + 2
		}
		return scanString(line, i)
	}
	i := skipSpace(line, 0)
	if i == len(line) || line[i] != '{' {
		return errNotJSON
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		return endOfJSON(line, i+1)
	}
	for {
		key, esc, j := str(i)
		if j < 0 {
			return errNotJSON
		}
		if esc {
			return errNotFlat // "typ\u0065" is "type"
		}
		i = skipSpace(line, j)
		if i == len(line) || line[i] != ':' {
			return errNotJSON
		}
		i = skipSpace(line, i+1)
		if i == len(line) {
			return errNotJSON
		}
		switch line[i] {
		case '"':
			val, vesc, j := str(i)
			if j < 0 {
				return errNotJSON
			}
			if dst := ev.slot(key); dst != nil {
				if vesc {
					return errNotFlat
				}
				*dst = val
			}
			i = j
		case '{', '[':
			return errNotFlat
		default:
			j := i
			for j < len(line) && line[j] != ',' && line[j] != '}' && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			if !scalar(line[i:j]) {
				return errNotJSON
			}
			i = j
		}
		i = skipSpace(line, i)
		if i == len(line) {
			return errNotJSON
		}
		switch line[i] {
		case ',':
			i = skipSpace(line, i+1)
		case '}':
			return endOfJSON(line, i+1)
		default:
			return errNotJSON
		}
	}
}

// endOfJSON checks that nothing but white space follows the object.
func endOfJSON(line []byte, i int) error {
	if skipSpace(line, i) != len(line) {
		return errNotJSON
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString reads the JSON string starting at b[i] (a quote): its raw
// contents, whether it holds escapes, and the index after its closing
// quote (-1 if it is not a valid string).
func scanString(b []byte, i int) (s []byte, esc bool, next int) {
	if i >= len(b) || b[i] != '"' {
		return nil, false, -1
	}
	start := i + 1
	j := start
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return nil, false, -1
		}
		seg := b[j : j+k]
		if bytes.IndexByte(seg, '\\') < 0 {
			return b[start : j+k], esc, j + k + 1
		}
		// Walk the escapes of this stretch: the quote found may be
		// escaped itself.
		esc = true
		for ; j < len(b) && b[j] != '"'; j++ {
			if b[j] != '\\' {
				continue
			}
			j++
			if j == len(b) {
				return nil, false, -1
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					return nil, false, -1
				}
				j += 4
			default:
				return nil, false, -1
			}
		}
		if j == len(b) {
			return nil, false, -1
		}
		return b[start:j], esc, j + 1
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scalar reports whether b is a JSON number, true, false or null.
func scalar(b []byte) bool {
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i, n = i+1, n+1
		}
		return n
	}
	if first := i; digits() == 0 || b[first] == '0' && i > first+1 {
		return false // no digits, or a leading zero
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// chatd writes a live room message as one flat object whose members come
// in one order (daemon/events.go, roomMessage):
//
//	{"type":"message","kind":"room","id":"…","from":"…","room":"…","text":"…","ts":"…"}
//
// In a burst that is nearly every line the tool reads, so scanRoomLine
// matches that shape directly: the fixed parts compared as they stand and
// one search for the quote that ends each value, where scanJSON searches
// for both quotes of every key and value and looks each key up.
const roomLinePrefix = `{"type":"message","kind":"room"`

// roomLineKeys are the members after the type and kind, in chatd's order,
// each with the comma before it and the quote that opens its value. The
// first, the message id, may be absent (chatd before ids).
var roomLineKeys = [...]string{`,"id":"`, `,"from":"`, `,"room":"`, `,"text":"`, `,"ts":"`}

// scanRoomLine reports whether line is a room message in exactly the
// shape above, with no backslash anywhere (so no value holds an escape),
// and returns its room and text. A line it accepts is one scanJSON
// accepts with the same type, kind, room and text; any other line (more
// or fewer members, another order, spaces, escapes) gets false and goes
// the general way (parseEvent), which judges it as before.
func scanRoomLine(line []byte) (room, text []byte, ok bool) {
	n := len(line)
	if n < len(roomLinePrefix)+2 || string(line[:len(roomLinePrefix)]) != roomLinePrefix ||
		line[n-2] != '"' || line[n-1] != '}' || bytes.IndexByte(line, '\\') >= 0 {
		return nil, nil, false
	}
	// Up to the closing brace: the last value's closing quote is then
	// the last byte.
	rest := line[len(roomLinePrefix) : n-1]
	for k, key := range roomLineKeys {
		if len(rest) < len(key) || string(rest[:len(key)]) != key {
			if k == 0 {
				continue // no id
			}
			return nil, nil, false
		}
		rest = rest[len(key):]
		i := bytes.IndexByte(rest, '"')
		if i < 0 {
			return nil, nil, false
		}
		switch k {
		case 2:
			room = rest[:i]
		case 3:
			text = rest[:i]
		}
		rest = rest[i+1:]
	}
	return room, text, len(rest) == 0
}

// parseEvent reads one of chatd's JSON lines into ev: in one pass where
// it can, by a full decode where the line nests values or escapes one
// that matters. false: not a JSON object.
func parseEvent(line []byte, ev *jsonFields) bool {
	switch err := scanJSON(line, ev); err {
	case nil:
		return true
	case errNotFlat:
		obj, ok := decodeObject(line)
		if !ok {
			return false
		}
		*ev = jsonFields{}
		for k, v := range obj {
			if s, ok := v.(string); ok {
				if dst := ev.slot([]byte(k)); dst != nil {
					*dst = []byte(s)
				}
			}
		}
		return true
	}
	return false
}

// decodeObject decodes a line that must be one JSON object (numbers are
// kept as text, so any valid number decodes).
func decodeObject(line []byte) (map[string]any, bool) {
	if !json.Valid(line) {
		return nil, false
	}
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if d.Decode(&obj) != nil || obj == nil {
		return nil, false
	}
	return obj, true
}
