package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// TestLineReaderSplits: lines come out whole whatever the reads cut them
// into (here one byte per read), with LF or CR LF, and the buffer grows
// for a line longer than it and for reads that fill it.
func TestLineReaderSplits(t *testing.T) {
	long := strings.Repeat("y", 3*maxReadBuf)
	in := "a\r\nbb\n\n" + long + "\nlast\r\n"
	want := []string{"a", "bb", "", long, "last"}
	for name, rd := range map[string]*lineReader{
		"one byte per read": {rd: iotest.OneByteReader(strings.NewReader(in))},
		"half reads":        {rd: iotest.HalfReader(strings.NewReader(in))},
		"whole":             {rd: strings.NewReader(in)},
	} {
		for i, w := range want {
			line, err := rd.next()
			if err != nil || string(line) != w {
				t.Fatalf("%s: line %d: %d bytes, err %v; want %d bytes", name, i, len(line), err, len(w))
			}
		}
		if line, err := rd.next(); err == nil {
			t.Errorf("%s: after the last line: %q, want the reader's error", name, line)
		}
	}
	// A partial last line is not a line.
	rd := &lineReader{rd: strings.NewReader("whole\npartial")}
	if line, err := rd.next(); err != nil || string(line) != "whole" {
		t.Fatalf("got %q, %v", line, err)
	}
	if line, err := rd.next(); err == nil {
		t.Errorf("partial line returned: %q", line)
	}
}

func TestStampTime(t *testing.T) {
	now := time.Now().UnixNano()
	good := stamp(3, 41)
	ns, ok := stampTime([]byte(good))
	if !ok || ns < now || ns > time.Now().UnixNano() {
		t.Errorf("stampTime(%q) = %d, %v; want the time it was made", good, ns, ok)
	}
	if ns, ok := stampTime([]byte("bench 0 0 1234")); !ok || ns != 1234 {
		t.Errorf("stampTime(bench 0 0 1234) = %d, %v", ns, ok)
	}
	if st, ok := parseStamp([]byte("bench 7 305 1234")); !ok || st != (stamped{sender: 7, seq: 305, ns: 1234}) {
		t.Errorf("parseStamp(bench 7 305 1234) = %+v, %v", st, ok)
	}
	for _, bad := range []string{
		"", "bench", "bench ", "bench 1 2", "bench 1 2 ", "bench 1 2 3 ", "bench 1 2 3x",
		"bench a 2 3", "bench 1  2 3", "Bench 1 2 3", "xbench 1 2 3", " bench 1 2 3",
		"bench 1 2 -3", "bench 1 2 99999999999999999999", "bench 1 2 9999999999999999999",
		"bench 1x2 3", "bench 1 2x3", "hello world", "bench 1234567890 2 3",
	} {
		if ns, ok := stampTime([]byte(bad)); ok {
			t.Errorf("stampTime(%q) = %d, accepted", bad, ns)
		}
	}
}

// TestDecimal: decimal reads exactly what strconv.ParseUint reads, for
// every byte value at every place of numbers of each length up to 19,
// and the largest stamp time is MaxInt64.
func TestDecimal(t *testing.T) {
	for n := 1; n <= 19; n++ {
		digits := []byte("1234567890987654321"[:n])
		for i := range n {
			for c := range 256 {
				b := slices.Clone(digits)
				b[i] = byte(c)
				checkDecimal(t, b)
			}
		}
	}
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"bench 1 2 9223372036854775807", true},
		{"bench 1 2 9223372036854775808", false},
		{"bench 1 2 0000000000000000000", true},
		{"bench 1 2 12345678:", false},
		{"bench 1 2 1234567/9", false},
	} {
		if _, ok := parseStamp([]byte(c.text)); ok != c.ok {
			t.Errorf("parseStamp(%s): %v, want %v", c.text, ok, c.ok)
		}
	}
}

func FuzzDecimal(f *testing.F) {
	f.Add("1765069200000000000")
	f.Add("17650692:0000000000")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) >= 1 && len(s) <= 19 {
			checkDecimal(t, []byte(s))
		}
	})
}

func checkDecimal(t *testing.T, b []byte) {
	t.Helper()
	n, ok := decimal(b)
	want, err := strconv.ParseUint(string(b), 10, 64)
	if ok != (err == nil) || ok && n != want {
		t.Errorf("decimal(%q) = %d, %v; strconv reads %d, %v", b, n, ok, want, err)
	}
}

// jsonCases are lines scanJSON must judge as encoding/json does.
var jsonCases = []string{
	`{"type":"message","kind":"room","from":"u1","room":"bench","text":"bench 1 2 3","ts":"2026-01-01T00:00:00Z"}`,
	`{"type":"ok","cmd":"join","text":"joined"}`,
	`{"type":"delivery","to":"u2","status":"stored"}`,
	`{"type":"welcome","user":"u1","admin":false,"room":"lobby","online":["a","b"],"offline":0}`,
	`{"type":"message","kind":"room","room":"bench","text":"say \"hi\" \\ \u00e9","ts":"x"}`,
	`{"type":"message","kind":"private","to":["u2"],"text":"x"}`,
	` { "type" : "ok" , "n" : -1.5e+3 , "b" : true , "z" : null } `,
	`{}`,
	`{"a":{"b":[1,2]}}`,
	`{"type":"x","n":1}`,
	`{"ty\"pe":"x"}`, `{"typ\u0065":"x"}`, `{"type":1,"text":["a"]}`, `{"n":0,"m":-0.5}`, `{"":1e700}`,
	// Malformed, each in one way.
	``, `{`, `}`, `[]`, `"type"`, `{"type":"message"`, `{"type":"message",}`,
	`{"type":"message"}}`, `{"type":"message"} x`, `{"type" "message"}`, `{"type":message}`,
	`{type:"message"}`, `{"type":"mess`, `{"type":"a\qb"}`, `{"type":"a\u12"}`, `{"n":01x}`,
	`{"n":1.}`, `{"n":01}`, `{"a":{"b":}}`, `{"a":[1,}`, `{"n":-}`, `{"n":1e}`, `{"b":tru}`, `{"a":"b",,"c":"d"}`, `{"a":"b" "c":"d"}`,
	`{"text":"x\"}`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`,
}

// TestScanJSONAgreesWithEncodingJSON: whatever scanJSON accepts is valid
// JSON, whatever it calls not JSON is invalid, and the members it keeps
// hold what a full decode finds.
func TestScanJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, line := range jsonCases {
		checkScan(t, []byte(line))
	}
}

func FuzzScanJSON(f *testing.F) {
	for _, line := range jsonCases {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) { checkScan(t, []byte(line)) })
}

func checkScan(t *testing.T, line []byte) {
	t.Helper()
	if bytes.ContainsAny(line, "\n\r") {
		return // never part of a line
	}
	for _, c := range line {
		if c < 0x20 {
			return // raw control bytes in strings are not looked for
		}
	}
	obj, valid := decodeObject(line)
	if valid != (json.Valid(line) && bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("{"))) {
		t.Fatalf("decodeObject(%s) = %v", line, valid)
	}
	var ev jsonFields
	err := scanJSON(line, &ev)
	if err == nil && !valid {
		t.Errorf("scanJSON(%s) accepts what encoding/json refuses", line)
	}
	if err == errNotJSON && valid {
		t.Errorf("scanJSON(%s): not JSON, but encoding/json decodes it", line)
	}
	if ok := parseEvent(line, &ev); ok != valid {
		t.Errorf("parseEvent(%s) = %v, encoding/json says valid %v", line, ok, valid)
		return
	}
	if !valid || !utf8.Valid(line) {
		return // encoding/json replaces bad UTF-8; the scan keeps the bytes
	}
	str := func(k string) string { s, _ := obj[k].(string); return s }
	for _, f := range []struct {
		name string
		got  []byte
	}{{"type", ev.typ}, {"kind", ev.kind}, {"room", ev.room}, {"text", ev.text},
		{"cmd", ev.cmd}, {"status", ev.status}, {"code", ev.code}, {"field", ev.field}} {
		if string(f.got) != str(f.name) {
			t.Errorf("parseEvent(%s): %s = %q, encoding/json decodes %q", line, f.name, f.got, str(f.name))
		}
	}
}

func TestClassifyChatd(t *testing.T) {
	d := chatdJSON{room: "bench"}
	msg := func(room, text string) string {
		return `{"type":"message","kind":"room","from":"u1","room":"` + room + `","text":"` + text + `","ts":"2026-01-01T00:00:00Z"}`
	}
	for _, c := range []struct {
		line string
		want lineKind
		ns   int64
	}{
		{msg("bench", "bench 1 2 42"), lineRoom, 42},
		{msg("Bench", "bench 1 2 42"), lineRoom, 42},
		// An escaped text is decoded before it is read.
		{msg("bench", `bench 1 2 4\u0032`), lineRoom, 42},
		{`{"ts":"x","text":"bench 1 2 42","room":"bench","kind":"room","type":"message"}`, lineRoom, 42},
		// Not this run's line: an error, never a delivery.
		{msg("other", "bench 1 2 42"), lineBad, 0},
		{msg("bench", "hello"), lineBad, 0},
		{msg("bench", "bench 1 2 42x"), lineBad, 0},
		{`{"type":"message","kind":"room","room":"bench","ts":"x"}`, lineBad, 0},
		// Malformed.
		{msg("bench", "bench 1 2 42")[:60], lineBad, 0},
		{msg("bench", "bench 1 2 42") + "}", lineBad, 0},
		{strings.Replace(msg("bench", "bench 1 2 42"), `,"room"`, ` "room"`, 1), lineBad, 0},
		{"bench 1 2 42", lineBad, 0},
		{"", lineBad, 0},
		{`{"kind":"room","room":"bench","text":"bench 1 2 42"}`, lineBad, 0},
		// Well-formed lines that are not deliveries.
		{`{"type":"message","kind":"history","room":"bench","text":"bench 1 2 42","ts":"x"}`, lineOther, 0},
		// The private workload's deliveries and their acknowledgements.
		{`{"type":"message","kind":"private","from":"u1","to":["u2"],"text":"bench 1 2 42","ts":"x"}`, linePrivate, 42},
		{`{"type":"message","kind":"private","from":"u1","to":["u2"],"text":"hello","ts":"x"}`, lineOther, 0},
		{`{"type":"presence","user":"u7","event":"login"}`, lineOther, 0},
		{`{"type":"ok","cmd":"say","text":"x"}`, lineOther, 0},
		{`{"type":"ok","cmd":"join","room":"bench","text":"joined"}`, lineJoined, 0},
		{`{"type":"ok","cmd":"create","room":"bench"}`, lineJoined, 0},
		{`{"type":"delivery","to":"u2","status":"stored"}`, lineStored, 0},
		{`{"type":"delivery","to":"u2","status":"delivered","id":"x1"}`, lineDelivered, 0},
		{`{"type":"delivery","to":"u2","status":"blocked"}`, lineOther, 0},
	} {
		kind, st := d.classify([]byte(c.line))
		if kind != c.want || st.ns != c.ns {
			t.Errorf("classify(%s) = %d, %d; want %d, %d", c.line, kind, st.ns, c.want, c.ns)
		}
	}
}

// roomLine is a room message as chatd renders it (daemon/events.go,
// roomMessage), with room and text as given.
func roomLine(room, text string) string {
	return `{"type":"message","kind":"room","id":"01a24e0be3060000","from":"u1","room":"` + room +
		`","text":"` + text + `","ts":"2026-12-07T01:08:51Z"}`
}

// roomLineCases are lines near the shape scanRoomLine matches: those it
// must take (the first few) and those it must leave to the general scan.
var roomLineCases = []string{
	roomLine("bench", "bench 1 2 42"),
	roomLine("Bench", "bench 1 2 42"),
	roomLine("other", "bench 1 2 42"),
	roomLine("bench", "hello"),
	roomLine("bench", ""),
	roomLine("", "bench 1 2 42"),
	`{"type":"message","kind":"room","from":"u1","room":"bench","text":"bench 1 2 42","ts":"x"}`, // no id
	`{"type":"message","kind":"room","id":"","from":"","room":"","text":"","ts":""}`,
	// Left to the general scan, which still judges them.
	roomLine("bench", `bench 1 2 4\u0032`),
	roomLine("bench", `say \"hi\"`),
	roomLine("bench", `a\"`),
	roomLine("bench", "bench 1 2 42") + " ",
	" " + roomLine("bench", "bench 1 2 42"),
	roomLine("bench", "bench 1 2 42") + "}",
	roomLine("bench", "bench 1 2 42")[:60],
	roomLine("bench", "bench 1 2 42")[:len(roomLine("bench", "bench 1 2 42"))-1],
	roomLine(`bench","room":"other`, "bench 1 2 42"),
	roomLine("bench", `bench 1 2 42","text":"hello`),
	roomLine("bench", "bench 1 2 42")[:len(roomLine("bench", "bench 1 2 42"))-2] + `","action":true}`,
	`{"type":"message","kind":"room","id":"x","from":"u1","room":"bench","text":"bench 1 2 42"}`,
	`{"type":"message","kind":"room","id":"x","room":"bench","from":"u1","text":"bench 1 2 42","ts":"x"}`,
	`{"type":"message","kind":"room","id":"x","from":"u1","room":"bench","text":"bench 1 2 42","ts":"x","ts":"y"}`,
	`{"type":"message","kind":"room", "id":"x","from":"u1","room":"bench","text":"bench 1 2 42","ts":"x"}`,
	`{"type":"message","kind":"room","id":"x","from":"u1","room":"bench","text":"bench 1 2 42","ts":x"}`,
	`{"type":"message","kind":"room","id":"x","from":"u1","room":"bench","text":"bench 1 2 42","ts":"}`,
	`{"type":"message","kind":"history","id":"x","from":"u1","room":"bench","text":"bench 1 2 42","ts":"x"}`,
	`{"type":"message","kind":"room"}`, `{"type":"message","kind":"room""}`, `{"type":"message","kind":"room`,
}

// TestScanRoomLine: the room messages chatd writes take the fast path,
// and every line it takes is one encoding/json reads as a room message
// with the same room and text, and classify judges as the general scan.
func TestScanRoomLine(t *testing.T) {
	for i, line := range roomLineCases {
		if taken := checkRoomScan(t, []byte(line)); taken != (i < 8) {
			t.Errorf("scanRoomLine(%s) takes it: %v, want %v", line, taken, i < 8)
		}
	}
	for _, line := range jsonCases {
		checkRoomScan(t, []byte(line))
	}
}

func FuzzScanRoomLine(f *testing.F) {
	for _, line := range roomLineCases {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) { checkRoomScan(t, []byte(line)) })
}

// checkRoomScan checks scanRoomLine and classify on one line against the
// general scan and, where scanRoomLine takes the line, against
// encoding/json; it reports whether scanRoomLine took it.
func checkRoomScan(t *testing.T, line []byte) bool {
	t.Helper()
	d := chatdJSON{room: "bench"}
	kind, st := d.classify(line)
	if wkind, wst := d.classifyEvent(line); kind != wkind || st != wst {
		t.Errorf("classify(%s) = %d, %+v; the general scan says %d, %+v", line, kind, st, wkind, wst)
	}
	room, text, ok := scanRoomLine(line)
	if !ok {
		return false
	}
	if bytes.ContainsFunc(line, func(r rune) bool { return r < 0x20 }) {
		return true // raw control bytes in strings are not looked for (scanJSON)
	}
	obj, valid := decodeObject(line)
	if !valid {
		t.Errorf("scanRoomLine(%s) takes what encoding/json refuses", line)
		return true
	}
	if !utf8.Valid(line) {
		return true // encoding/json replaces bad UTF-8; the scans keep the bytes
	}
	str := func(k string) string { s, _ := obj[k].(string); return s }
	if str("type") != "message" || str("kind") != "room" || str("room") != string(room) || str("text") != string(text) {
		t.Errorf("scanRoomLine(%s) = room %q, text %q; encoding/json decodes %v", line, room, text, obj)
	}
	return true
}

func TestClassifyIRC(t *testing.T) {
	d := ircDialect{channel: "#bench"}
	for _, c := range []struct {
		line string
		want lineKind
		ns   int64
	}{
		{":u1!~u1@localhost PRIVMSG #bench :bench 1 2 42", lineRoom, 42},
		{":u1!~u1@localhost PRIVMSG #Bench :bench 1 2 42", lineRoom, 42},
		{":u1!~u1@localhost PRIVMSG #other :bench 1 2 42", lineBad, 0},
		{":u1!~u1@localhost PRIVMSG u2 :bench 1 2 42", lineBad, 0},
		{":u1!~u1@localhost PRIVMSG #bench :hello", lineBad, 0},
		{":u1!~u1@localhost PRIVMSG #bench bench 1 2 42", lineBad, 0},
		{":u1!~u1@localhost PRIVMSG #bench :bench 1 2", lineBad, 0},
		{":u1!~u1@localhost PRIVMSG", lineBad, 0},
		{":u1", lineBad, 0},
		{": PRIVMSG #bench :bench 1 2 42", lineBad, 0},
		{"", lineBad, 0},
		{"PING :irc.example", linePing, 0},
		{":irc.example 366 u1 #bench :End of NAMES list", lineJoined, 0},
		{":irc.example 366 u1 #BENCH :End of NAMES list", lineJoined, 0},
		// Another channel's NAMES (chatd's auto-join of the lobby at
		// login) is not the bench room's join.
		{":irc.example 366 u1 #lobby :End of NAMES list", lineOther, 0},
		{":irc.example 366 u1", lineOther, 0},
		{":irc.example 353 u1 = #bench :u1 u2", lineOther, 0},
		{":u2!~u2@localhost JOIN :#bench", lineOther, 0},
		{"ERROR :Closing connection", lineOther, 0},
	} {
		kind, st := d.classify([]byte(c.line))
		if kind != c.want || st.ns != c.ns {
			t.Errorf("classify(%q) = %d, %d; want %d, %d", c.line, kind, st.ns, c.want, c.ns)
		}
	}
}

// TestClassifyDoesNotAllocate: the per-line work of a burst makes no
// garbage in either dialect.
func TestClassifyDoesNotAllocate(t *testing.T) {
	for _, c := range []struct {
		d    dialect
		line string
	}{
		{chatdJSON{room: "bench"}, `{"type":"message","kind":"room","from":"u1","room":"bench","text":"` + stamp(1, 2) + `","ts":"2026-01-01T00:00:00Z"}`},
		{chatdJSON{room: "bench"}, roomLine("bench", stamp(1, 2))},
		{chatdJSON{room: "bench"}, roomLine("bench", stamp(1, 2)) + " "}, // the general scan
		{ircDialect{channel: "#bench"}, ":u1!~u1@localhost PRIVMSG #bench :" + stamp(1, 2)},
	} {
		line := []byte(c.line)
		if kind, _ := c.d.classify(line); kind != lineRoom {
			t.Fatalf("%s: not a delivery", line)
		}
		if n := testing.AllocsPerRun(100, func() { c.d.classify(line) }); n != 0 {
			t.Errorf("%T.classify allocates %.0f times per line", c.d, n)
		}
	}
}

// TestReaderCountsOnlyDeliveries feeds a client's reader a mix of
// deliveries, other lines and bad ones, cut across writes: it counts each
// delivery once with its latency, every line, and the bad lines as bad.
func TestReaderCountsOnlyDeliveries(t *testing.T) {
	for _, d := range []dialect{chatdJSON{room: "bench"}, ircDialect{channel: "#bench"}} {
		b := &bench{d: d}
		a, nc := net.Pipe()
		c := newConn(nc)
		var wg sync.WaitGroup
		wg.Add(1)
		go b.read(c, &wg)
		var in bytes.Buffer
		good, other, bad := 0, 0, 0
		for i := range 50 {
			text := stamp(i, i)
			switch d.(type) {
			case chatdJSON:
				in.WriteString(`{"type":"message","kind":"room","from":"u","room":"bench","text":"` + text + `","ts":"x"}` + "\r\n")
				in.WriteString(`{"type":"presence","user":"u","event":"login"}` + "\n")
				in.WriteString(`{"type":"message","kind":"room","room":"bench","text":"` + text + "\r\n") // cut short
			case ircDialect:
				in.WriteString(":u!u@h PRIVMSG #bench :" + text + "\r\n")
				in.WriteString(":u!u@h JOIN #bench\r\n")
				in.WriteString(":u!u@h PRIVMSG #bench " + text + "\r\n") // no text marker
			}
			good, other, bad = good+1, other+1, bad+1
		}
		data := in.Bytes()
		go func() {
			for len(data) > 0 {
				n := min(len(data), 97) // cut lines across writes
				a.Write(data[:n])
				data = data[n:]
			}
			a.Close()
		}()
		wg.Wait()
		if b.recv.Load() != int64(good) || b.bad.Load() != int64(bad) || b.lines.Load() != int64(good+other+bad) {
			t.Errorf("%T: %d deliveries, %d bad, %d lines; want %d, %d, %d", d,
				b.recv.Load(), b.bad.Load(), b.lines.Load(), good, bad, good+other+bad)
		}
		if s := b.lat.summary(); s.N != good || s.P50 <= 0 {
			t.Errorf("%T: %d latencies (p50 %v), want %d", d, s.N, s.P50, good)
		}
	}
}

// TestHistogramPercentiles: percentiles from the merged per-client
// histograms are within 0.2% of the exact ones (the maximum exact), from
// nanoseconds to minutes.
func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	var l latencies
	for range 20 { // clients
		var h histogram
		for range 5000 {
			d := time.Duration(math.Exp(rng.Float64() * math.Log(float64(10*time.Minute))))
			h.add(d)
			all = append(all, d)
		}
		l.add(&h)
	}
	l.add(&histogram{}) // a client that got nothing
	slices.Sort(all)
	s := l.summary()
	exact := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{{"p50", s.P50, exact(0.5)}, {"p90", s.P90, exact(0.9)}, {"p99", s.P99, exact(0.99)}} {
		if diff := math.Abs(float64(c.got-c.want)) / float64(c.want); diff > 0.002 {
			t.Errorf("%s = %v, exact %v (%.3f%% off)", c.name, c.got, c.want, diff*100)
		}
	}
	if s.Max != all[len(all)-1] || s.N != len(all) {
		t.Errorf("max %v of %d, want %v of %d", s.Max, s.N, all[len(all)-1], len(all))
	}
	spread := l.spread(500)
	if len(spread) != 500 || !slices.IsSorted(spread) || spread[499] != ms(s.Max) {
		t.Errorf("spread: %d values, sorted %v, last %v (max %v)", len(spread), slices.IsSorted(spread), spread[len(spread)-1], ms(s.Max))
	}
	for _, d := range []time.Duration{0, 1, 511, 512, 513, 1 << 20, 1<<40 - 1, 1 << 40, 1 << 62} {
		b := histBucket(d)
		if b < 0 || b >= histBuckets {
			t.Fatalf("bucket(%d) = %d, outside [0, %d)", d, b, histBuckets)
		}
		if v := histValue(b); d < 1<<40 && math.Abs(float64(v-d)) > float64(d)/500+0.5 {
			t.Errorf("bucket(%d) is reported as %d", d, v)
		}
	}
}

// BenchmarkClassify is the load tool's work per delivered line, after
// the read, in each dialect.
func BenchmarkClassify(b *testing.B) {
	for _, c := range []struct {
		name string
		d    dialect
		line string
	}{
		{"chatd", chatdJSON{room: "bench"}, `{"type":"message","kind":"room","id":"01a24e0be3060000","from":"user123","room":"bench","text":"` + stamp(1, 2) + `","ts":"2026-01-01T00:00:00Z"}`},
		{"irc", ircDialect{channel: "#bench"}, ":user123!~user123@localhost PRIVMSG #bench :" + stamp(1, 2)},
	} {
		b.Run(c.name, func(b *testing.B) {
			line := []byte(c.line)
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				c.d.classify(line)
			}
		})
	}
}

// TestServerCPUClock: the server's CPU time is read to the nanosecond,
// and agrees with the ticks /proc counts.
func TestServerCPUClock(t *testing.T) {
	pid := os.Getpid()
	fine, ok := processCPU(pid)
	if !ok {
		t.Skip("no process CPU clock here")
	}
	for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
	}
	later, _ := processCPU(pid)
	if later <= fine {
		t.Errorf("CPU clock did not advance over a busy loop: %v then %v", fine, later)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skip(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	ticks := time.Duration(ut+st) * 10 * time.Millisecond
	now, _ := processCPU(pid)
	if d := now - ticks; d < -20*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("CPU clock says %v, /proc/%d/stat %v", now, pid, ticks)
	}
}

// TestReadAllCountsOnlyDeliveries: the same through readAll (on Linux the
// epoll loop) over real loopback sockets, lines cut across writes, with a
// line already buffered from the setup; stop merges every latency.
func TestReadAllCountsOnlyDeliveries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b := &bench{d: chatdJSON{room: "bench"}}
	delivery := func() string {
		return `{"type":"message","kind":"room","from":"u","room":"bench","text":"` + stamp(1, 1) + `","ts":"x"}` + "\r\n"
	}
	var conns []*conn
	var servers []net.Conn
	for range 5 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		c := newConn(nc)
		// The setup read a line, and the buffer holds a delivery and the
		// start of the next.
		d := delivery()
		sc.Write([]byte(`{"type":"welcome","user":"u"}` + "\n" + d + d[:40]))
		if line, err := c.readLine(5 * time.Second); err != nil || !bytes.Contains(line, []byte("welcome")) {
			t.Fatalf("setup: %q, %v", line, err)
		}
		sc.Write([]byte(d[40:]))
		conns, servers = append(conns, c), append(servers, sc)
	}
	stop := b.readAll(conns)
	const rounds = 40
	for _, sc := range servers {
		var in bytes.Buffer
		for range rounds {
			in.WriteString(delivery())
			in.WriteString(`{"type":"presence","user":"u","event":"login"}` + "\n")
			in.WriteString(`{"type":"message","kind":"room","room":"lobby","text":"` + stamp(1, 1) + `","ts":"x"}` + "\n") // another room
		}
		data := in.Bytes()
		for len(data) > 0 {
			n := min(len(data), 333)
			sc.Write(data[:n])
			data = data[n:]
		}
	}
	want := int64(len(conns) * (2 + 3*rounds))
	for deadline := time.Now().Add(10 * time.Second); b.lines.Load() < want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	good, bad := int64(len(conns)*(2+rounds)), int64(len(conns)*rounds)
	if b.recv.Load() != good || b.bad.Load() != bad {
		t.Errorf("%d deliveries, %d bad; want %d, %d", b.recv.Load(), b.bad.Load(), good, bad)
	}
	if s := b.lat.summary(); int64(s.N) != good {
		t.Errorf("%d latencies merged, want %d", s.N, good)
	}
}
