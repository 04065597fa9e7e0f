package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errBusy is a login the server refused for load (chatd's server_busy); a
// real client backs off and tries again.
var errBusy = errors.New("server busy")

// A dialect is how one kind of server is spoken to: chatd's JSON mode, or
// IRC for ngircd and other IRC servers. The workloads only see this.
type dialect interface {
	// login makes a fresh connection the user name (registering it on
	// first use where the server needs accounts).
	login(c *conn, name string) error
	// join puts a logged-in connection into room.
	join(c *conn, room string) error
	// joinLine is the line that joins an existing room.
	joinLine(room string) string
	// roomLine is the line that says text to room.
	roomLine(room, text string) string
	// privateLine is the line that sends text to user.
	privateLine(user, text string) string
	// classify says what one line from the server is, and for a
	// delivery (lineRoom, linePrivate) what its stamp says: the sender,
	// the number and the time it was sent. It must not allocate for the
	// lines a workload counts in a burst (room lines): it runs for every
	// line.
	classify(line []byte) (kind lineKind, st stamped)
	// logout ends the session politely.
	logout(c *conn)
}

// conn is one benchmark client's connection.
type conn struct {
	net.Conn
	lr lineReader
	mu sync.Mutex // guards wbuf: a reader may answer PING while a sender writes
	// wbuf holds the lines of one send, written with one write(2).
	wbuf []byte
	// joined is signalled by the client's reader (bench.read) when its
	// join is answered (the join workload).
	joined chan struct{}
	// idx is the client's number (its user is PREFIX idx).
	idx int
	// pending holds the send times (unix ns) of a private-workload
	// sender's messages not yet answered with their delivery status, in
	// the order sent: chatd answers a connection's lines in order, so
	// the reader takes the oldest for each answer. Made with room for
	// all the sender's messages, so a send never waits on it.
	pending chan int64
}

func newConn(nc net.Conn) *conn {
	return &conn{Conn: nc, lr: lineReader{rd: nc}, joined: make(chan struct{}, 1)}
}

func dial(addr, local string) (*conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newConn(nc), nil
}

func (c *conn) send(lines ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, l := range lines {
		c.wbuf = append(c.wbuf, l...)
		c.wbuf = append(c.wbuf, "\r\n"...)
	}
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.Write(c.wbuf)
	return err
}

// readLine returns the next line without its end, within d.
func (c *conn) readLine(d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	return c.next()
}

// next returns the next line without its end. A line longer than the
// buffer (chatd's welcome lists everyone online) is gathered whole; the
// result is only valid until the next read. A read that times out keeps
// what it got of a line in the buffer for the next call.
func (c *conn) next() ([]byte, error) { return c.lr.next() }

// lastProgress is when any client's wait (until) last ended well (unix
// ns). A client waiting for its login or join keeps waiting while the
// others keep getting in: a server that lets thousands in one after the
// other (chatd's logins grow slower as more users are online to be told)
// is slow, not stuck.
var lastProgress atomic.Int64

// until reads lines until match accepts one, or until d has passed with
// no client's wait ending (lastProgress) since this one began.
func (c *conn) until(d time.Duration, match func([]byte) (bool, error)) error {
	start := time.Now().UnixNano()
	for {
		from := max(start, lastProgress.Load())
		deadline := time.Unix(0, from).Add(d)
		if !time.Now().Before(deadline) {
			return fmt.Errorf("no answer within %v, and no other client got in meanwhile: %w", d, os.ErrDeadlineExceeded)
		}
		// Short reads, so that others' progress extends the wait.
		line, err := c.readLine(min(time.Until(deadline), time.Second))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return err
		}
		ok, err := match(line)
		if ok && err == nil {
			lastProgress.Store(time.Now().UnixNano())
		}
		if ok || err != nil {
			return err
		}
	}
}

// chatdJSON speaks chatd's JSON mode. Every user has the same password;
// unknown names are registered through open registration. room is the
// bench room, whose messages are the deliveries.
type chatdJSON struct{ password, room string }

// loginWait is how long a client waits for the answer to its login or
// join (-login-wait) while no other client gets in either (until): a real
// client waits as long as the server keeps it.
var loginWait = 60 * time.Second

func (d chatdJSON) login(c *conn, name string) error {
	if err := c.send("mode json", name); err != nil {
		return err
	}
	var ev jsonFields
	return c.until(loginWait, func(line []byte) (bool, error) {
		if !parseEvent(line, &ev) {
			return false, nil // the text banner before the mode switch
		}
		switch string(ev.typ) {
		case "prompt":
			switch string(ev.field) {
			case "password", "new_password", "repeat_password":
				return false, c.send(d.password)
			}
		case "welcome":
			return true, nil
		case "error":
			if string(ev.code) == "server_busy" {
				return false, errBusy
			}
			return false, fmt.Errorf("login %s: %s: %s", name, ev.code, ev.text)
		case "bye":
			return false, fmt.Errorf("login %s: bye: %s", name, ev.text)
		}
		return false, nil
	})
}

func (chatdJSON) join(c *conn, room string) error {
	if err := c.send("join " + room); err != nil {
		return err
	}
	var ev jsonFields
	return c.until(loginWait, func(line []byte) (bool, error) {
		if !parseEvent(line, &ev) {
			return false, nil
		}
		typ, cmd, code := string(ev.typ), string(ev.cmd), string(ev.code)
		if typ == "error" && cmd == "join" && code == "no_such_room" {
			return false, c.send("create " + room)
		}
		if typ == "error" && (cmd == "join" || cmd == "create") && code != "room_exists" {
			return false, fmt.Errorf("join %s: %s: %s", room, code, ev.text)
		}
		if typ == "error" && code == "room_exists" {
			return false, c.send("join " + room) // created by someone else meanwhile
		}
		return typ == "ok" && (cmd == "join" || cmd == "create"), nil
	})
}

func (chatdJSON) joinLine(room string) string { return "join " + room }

func (chatdJSON) roomLine(_, text string) string { return "say " + text }

func (chatdJSON) privateLine(user, text string) string { return "send " + user + " " + text }

func (d chatdJSON) classify(line []byte) (lineKind, stamped) {
	if room, text, ok := scanRoomLine(line); ok {
		// A room message as chatd writes it (a burst's every line):
		// judged as classifyEvent would, without its general scan.
		return d.judgeRoom(room, text)
	}
	return d.classifyEvent(line)
}

// classifyEvent is classify for any line: the general scan (parseEvent).
func (d chatdJSON) classifyEvent(line []byte) (lineKind, stamped) {
	var ev jsonFields
	if !parseEvent(line, &ev) {
		return lineBad, stamped{}
	}
	switch string(ev.typ) {
	case "message":
		switch string(ev.kind) {
		case "room":
		case "private":
			// A stamped one is the private workload's; others (none in
			// a bench run) are not counted.
			if st, ok := parseStamp(ev.text); ok {
				return linePrivate, st
			}
			return lineOther, stamped{}
		default:
			return lineOther, stamped{} // history, broadcast, offline
		}
		return d.judgeRoom(ev.room, ev.text)
	case "ok":
		if cmd := string(ev.cmd); cmd == "join" || cmd == "create" {
			return lineJoined, stamped{}
		}
	case "delivery":
		switch string(ev.status) {
		case "stored":
			return lineStored, stamped{}
		case "delivered":
			return lineDelivered, stamped{}
		}
	case "":
		return lineBad, stamped{} // every event has a type
	}
	return lineOther, stamped{}
}

// judgeRoom judges a room message: a delivery if its text is a stamp and
// it is in the bench room, else a bad line.
func (d chatdJSON) judgeRoom(room, text []byte) (lineKind, stamped) {
	st, ok := parseStamp(text)
	if !ok || !bytes.EqualFold(room, []byte(d.room)) {
		return lineBad, stamped{}
	}
	return lineRoom, st
}

func (chatdJSON) logout(c *conn) {
	c.send("logout")
	c.until(5*time.Second, func(line []byte) (bool, error) {
		return bytes.Contains(line, []byte(`"type":"bye"`)), nil
	})
}

// ircDialect speaks enough IRC for the same workloads: NICK/USER, JOIN,
// PRIVMSG, answering PING. channel is the bench room's ("#" + room). With
// auth "pass" or "sasl" a client logs in to its account (name, password)
// with PASS name:password or SASL PLAIN, as chatd's IRC listener wants;
// with "" it only registers a nick, as ngircd wants.
type ircDialect struct{ channel, auth, password string }

func (d ircDialect) login(c *conn, name string) error {
	var first []string
	switch d.auth {
	case "pass":
		first = []string{"PASS " + name + ":" + d.password}
	case "sasl":
		first = []string{"CAP LS 302", "CAP REQ :sasl"}
	}
	if err := c.send(append(first, "NICK "+name, "USER "+name+" 0 * :"+name)...); err != nil {
		return err
	}
	return c.until(loginWait, func(line []byte) (bool, error) {
		f := strings.Fields(string(line))
		if len(f) >= 2 && f[0] == "PING" {
			return false, c.send("PONG " + f[1])
		}
		if len(f) >= 2 && f[0] == "ERROR" {
			return false, fmt.Errorf("login %s: %s", name, line)
		}
		if len(f) >= 2 && (f[1] == "433" || f[1] == "432" || f[1] == "464" || f[1] == "904") {
			return false, fmt.Errorf("login %s: refused: %s", name, line)
		}
		// SASL PLAIN: CAP ACK, AUTHENTICATE +, 903, then CAP END.
		switch {
		case len(f) >= 4 && f[1] == "CAP" && f[3] == "ACK":
			return false, c.send("AUTHENTICATE PLAIN")
		case len(f) >= 4 && f[1] == "CAP" && f[3] == "NAK":
			return false, fmt.Errorf("login %s: the server has no SASL: %s", name, line)
		case len(f) == 2 && f[0] == "AUTHENTICATE" && f[1] == "+":
			return false, c.send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte(name+"\x00"+name+"\x00"+d.password)))
		case len(f) >= 2 && f[1] == "903":
			return false, c.send("CAP END")
		}
		return len(f) >= 2 && f[1] == "001", nil
	})
}

func (ircDialect) join(c *conn, room string) error {
	if err := c.send("JOIN #" + room); err != nil {
		return err
	}
	return c.until(loginWait, func(line []byte) (bool, error) {
		f := strings.Fields(string(line))
		if len(f) >= 2 && f[0] == "PING" {
			return false, c.send("PONG " + f[1])
		}
		return namesEnd(line, "#"+room), nil
	})
}

// namesEnd reports whether line is the end of channel's NAMES (366), the
// answer to a JOIN of it. Not any 366: chatd joins a logged-in client to
// its account's rooms (the lobby) with NAMES of their own, which may come
// after a JOIN is sent.
func namesEnd(line []byte, channel string) bool {
	// ":server 366 me channel :End of NAMES list"
	_, rest, _ := bytes.Cut(line, []byte(" "))
	cmd, rest, _ := bytes.Cut(rest, []byte(" "))
	_, rest, _ = bytes.Cut(rest, []byte(" "))
	ch, _, _ := bytes.Cut(rest, []byte(" "))
	return string(cmd) == "366" && bytes.EqualFold(ch, []byte(channel))
}

func (ircDialect) joinLine(room string) string { return "JOIN #" + room }

func (ircDialect) roomLine(room, text string) string { return "PRIVMSG #" + room + " :" + text }

func (ircDialect) privateLine(user, text string) string { return "PRIVMSG " + user + " :" + text }

func (d ircDialect) classify(line []byte) (lineKind, stamped) {
	// [":" prefix " "] command [" " params], where a PRIVMSG's params are
	// the target and " :" text.
	if len(line) == 0 {
		return lineBad, stamped{}
	}
	if line[0] != ':' {
		if bytes.HasPrefix(line, []byte("PING ")) {
			return linePing, stamped{}
		}
		return lineOther, stamped{} // ERROR, NOTICE before registration, ...
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 2 {
		return lineBad, stamped{}
	}
	cmd, params, _ := bytes.Cut(line[sp+1:], []byte(" "))
	switch string(cmd) {
	case "":
		return lineBad, stamped{}
	case "PRIVMSG":
		target, text, ok := bytes.Cut(params, []byte(" :"))
		if !ok || !bytes.EqualFold(target, []byte(d.channel)) {
			return lineBad, stamped{}
		}
		st, ok := parseStamp(text)
		if !ok {
			return lineBad, stamped{}
		}
		return lineRoom, st
	case "366":
		if namesEnd(line, d.channel) {
			return lineJoined, stamped{}
		}
		return lineOther, stamped{}
	}
	return lineOther, stamped{}
}

func (ircDialect) logout(c *conn) {
	c.send("QUIT :bye")
	c.until(5*time.Second, func(line []byte) (bool, error) {
		return bytes.HasPrefix(line, []byte("ERROR")), nil
	})
}
