package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	// parse classifies one server line: the text of a room message, or
	// whether it acknowledges a private message as stored.
	parse(line []byte) (roomText string, isRoom bool, stored bool)
	// joinAck reports whether line answers this client's own join.
	joinAck(line []byte) bool
	// logout ends the session politely.
	logout(c *conn)
}

// conn is one benchmark client's connection.
type conn struct {
	net.Conn
	r  *bufio.Reader
	mu sync.Mutex // guards w: a reader may answer PING while a sender writes
	w  *bufio.Writer
	// joined is signalled by the client's reader (bench.read) when its
	// join is answered (the join workload).
	joined chan struct{}
	// part is the start of a line a read deadline cut short; the next
	// read carries on from it.
	part []byte
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
	return &conn{Conn: nc, r: bufio.NewReaderSize(nc, 16<<10), w: bufio.NewWriter(nc), joined: make(chan struct{}, 1)}, nil
}

func (c *conn) send(lines ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for _, l := range lines {
		c.w.WriteString(l)
		c.w.WriteString("\r\n")
	}
	return c.w.Flush()
}

// readLine returns the next line without its end, within d.
func (c *conn) readLine(d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	return c.next()
}

// next returns the next line without its end. A line longer than the
// buffer (chatd's welcome lists everyone online) is gathered whole; the
// result is only valid until the next read. A read that times out keeps
// what it got of a line for the next call.
func (c *conn) next() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if c.part != nil || len(line) > 0 && err != nil {
		c.part = append(c.part, line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = c.r.ReadSlice('\n')
			c.part = append(c.part, line...)
		}
		if err != nil {
			return nil, err
		}
		line, c.part = c.part, nil
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

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
// unknown names are registered through open registration.
type chatdJSON struct{ password string }

type jsonEvent struct {
	Type   string `json:"type"`
	Field  string `json:"field"`
	Code   string `json:"code"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Cmd    string `json:"cmd"`
	Status string `json:"status"`
}

// loginWait is how long a client waits for the answer to its login or
// join (-login-wait) while no other client gets in either (until): a real
// client waits as long as the server keeps it.
var loginWait = 60 * time.Second

func (d chatdJSON) login(c *conn, name string) error {
	if err := c.send("mode json", name); err != nil {
		return err
	}
	return c.until(loginWait, func(line []byte) (bool, error) {
		var ev jsonEvent
		if json.Unmarshal(line, &ev) != nil {
			return false, nil // the text banner before the mode switch
		}
		switch ev.Type {
		case "prompt":
			switch ev.Field {
			case "password", "new_password", "repeat_password":
				return false, c.send(d.password)
			}
		case "welcome":
			return true, nil
		case "error":
			if ev.Code == "server_busy" {
				return false, errBusy
			}
			return false, fmt.Errorf("login %s: %s: %s", name, ev.Code, ev.Text)
		case "bye":
			return false, fmt.Errorf("login %s: bye: %s", name, ev.Text)
		}
		return false, nil
	})
}

func (chatdJSON) join(c *conn, room string) error {
	if err := c.send("join " + room); err != nil {
		return err
	}
	return c.until(loginWait, func(line []byte) (bool, error) {
		var ev jsonEvent
		if json.Unmarshal(line, &ev) != nil {
			return false, nil
		}
		if ev.Type == "error" && ev.Cmd == "join" && ev.Code == "no_such_room" {
			return false, c.send("create " + room)
		}
		if ev.Type == "error" && (ev.Cmd == "join" || ev.Cmd == "create") && ev.Code != "room_exists" {
			return false, fmt.Errorf("join %s: %s: %s", room, ev.Code, ev.Text)
		}
		if ev.Type == "error" && ev.Code == "room_exists" {
			return false, c.send("join " + room) // created by someone else meanwhile
		}
		return ev.Type == "ok" && (ev.Cmd == "join" || ev.Cmd == "create"), nil
	})
}

func (chatdJSON) joinLine(room string) string { return "join " + room }

func (chatdJSON) joinAck(line []byte) bool {
	if !bytes.Contains(line, []byte(`"type":"ok"`)) {
		return false
	}
	var ev jsonEvent
	return json.Unmarshal(line, &ev) == nil && (ev.Cmd == "join" || ev.Cmd == "create")
}

func (chatdJSON) roomLine(_, text string) string { return "say " + text }

func (chatdJSON) privateLine(user, text string) string { return "send " + user + " " + text }

// roomPrefix starts every room message chatd writes in JSON mode (its
// members come in a fixed order), and textKey the text member.
var (
	roomPrefix = []byte(`{"type":"message","kind":"room",`)
	textKey    = []byte(`,"text":"`)
)

func (chatdJSON) parse(line []byte) (string, bool, bool) {
	// Most lines are room messages: their text is cut out without
	// decoding the line, as cheaply as the IRC dialect does, so that in a
	// burst the load tool is not what limits the deliveries per second.
	// A text with escapes is decoded properly below.
	if bytes.HasPrefix(line, roomPrefix) {
		if i := bytes.Index(line, textKey); i >= 0 {
			rest := line[i+len(textKey):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
				return string(rest[:j]), true, false
			}
		}
	}
	if bytes.Contains(line, []byte(`"type":"message"`)) {
		var ev jsonEvent
		if json.Unmarshal(line, &ev) == nil && ev.Kind == "room" {
			return ev.Text, true, false
		}
		return "", false, false
	}
	if bytes.Contains(line, []byte(`"type":"delivery"`)) {
		var ev jsonEvent
		if json.Unmarshal(line, &ev) == nil && ev.Status == "stored" {
			return "", false, true
		}
	}
	return "", false, false
}

func (chatdJSON) logout(c *conn) {
	c.send("logout")
	c.until(5*time.Second, func(line []byte) (bool, error) {
		return bytes.Contains(line, []byte(`"type":"bye"`)), nil
	})
}

// ircDialect speaks enough IRC for the same workloads: NICK/USER, JOIN,
// PRIVMSG, answering PING.
type ircDialect struct{}

func (ircDialect) login(c *conn, name string) error {
	if err := c.send("NICK "+name, "USER "+name+" 0 * :"+name); err != nil {
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
		if len(f) >= 2 && (f[1] == "433" || f[1] == "432") {
			return false, fmt.Errorf("login %s: nick refused: %s", name, line)
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
		return len(f) >= 2 && f[1] == "366", nil // end of NAMES: joined
	})
}

func (ircDialect) joinLine(room string) string { return "JOIN #" + room }

func (ircDialect) joinAck(line []byte) bool {
	f := bytes.Fields(line)
	return len(f) >= 2 && string(f[1]) == "366" // end of NAMES: joined
}

func (ircDialect) roomLine(room, text string) string { return "PRIVMSG #" + room + " :" + text }

func (ircDialect) privateLine(user, text string) string { return "PRIVMSG " + user + " :" + text }

func (ircDialect) parse(line []byte) (string, bool, bool) {
	// :nick!user@host PRIVMSG #room :text
	i := bytes.Index(line, []byte(" PRIVMSG #"))
	if i < 0 {
		return "", false, false
	}
	j := bytes.Index(line[i+1:], []byte(" :"))
	if j < 0 {
		return "", false, false
	}
	return string(line[i+1+j+2:]), true, false
}

func (ircDialect) logout(c *conn) {
	c.send("QUIT :bye")
	c.until(5*time.Second, func(line []byte) (bool, error) {
		return bytes.HasPrefix(line, []byte("ERROR")), nil
	})
}
