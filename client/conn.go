// Package client is the protocol side of `chatd connect`: it speaks the JSON
// mode of the chatd wire protocol over TCP or TLS and turns each server line
// into an Event. How events look to a person is render.go's business; the
// terminal and script front ends live in terminal.go and script.go.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// DefaultPort is the TCP port assumed when an address has none.
const DefaultPort = "4119"

// maxLine bounds one server line, so a misbehaving server cannot make the
// client buffer without end.
const maxLine = 4 << 20

// Event is one JSON line from the server. The common members of every event
// type are decoded into fields; Raw keeps all of them for command-specific
// answers (users, rooms, info, ...).
type Event struct {
	Type    string                     `json:"type"`
	Field   string                     `json:"field"`        // prompt
	User    string                     `json:"user"`         // welcome, presence, room
	Admin   bool                       `json:"admin"`        // welcome
	Room    string                     `json:"room"`         // welcome, message, presence, room
	Online  []string                   `json:"online"`       // welcome
	Offline int                        `json:"offline"`      // welcome
	Cmd     string                     `json:"cmd"`          // ok, error
	Text    string                     `json:"text"`         // ok, error, message, bye, presence (away)
	Code    string                     `json:"code"`         // error
	Reason  string                     `json:"reason"`       // error, bye, room kick
	Until   string                     `json:"until"`        // error (locked_out, banned)
	Kind    string                     `json:"kind"`         // message
	From    string                     `json:"from"`         // message
	To      []string                   `json:"-"`            // message: recipients; delivery: the one recipient
	Action  bool                       `json:"action"`       // message (/me)
	Event   string                     `json:"event"`        // presence, room
	Status  string                     `json:"status"`       // delivery
	Away    string                     `json:"away"`         // delivery
	Topic   string                     `json:"topic"`        // room
	By      string                     `json:"by"`           // room kick
	ID      string                     `json:"id"`           // message, delivery, read
	Conv    string                     `json:"conversation"` // history, read
	Label   string                     `json:"label"`        // an answer to a labelled line
	More    bool                       `json:"more"`         // ok of history: more lines beyond
	TS      time.Time                  `json:"-"`            // when the server stamped it, zero if not
	Raw     map[string]json.RawMessage `json:"-"`

	// Message actions, decoded by UnmarshalJSON where they have the shape
	// below (the welcome's "mentions" is a count, not names).
	ReplyTo   string              `json:"-"` // message: the id of the line it answers
	Mentions  []string            `json:"-"` // message: the users it names
	Edited    string              `json:"-"` // history: when the line was last edited
	Deleted   bool                `json:"-"` // history: the line was deleted
	Reactions map[string][]string `json:"-"` // history: reaction → who reacted
	Reaction  string              `json:"-"` // reaction
	On        bool                `json:"-"` // reaction: added (false: taken back)
}

// UnmarshalJSON decodes one server line. "to" is a list in messages and a
// single name in deliveries; both end up in To.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = Event(p)
	e.Raw = raw
	if to, ok := raw["to"]; ok {
		var one string
		if json.Unmarshal(to, &one) == nil {
			e.To = []string{one}
		} else if err := json.Unmarshal(to, &e.To); err != nil {
			return fmt.Errorf("member to: %w", err)
		}
	}
	decode(raw["reply_to"], &e.ReplyTo)
	decode(raw["mentions"], &e.Mentions)
	decode(raw["edited"], &e.Edited)
	decode(raw["deleted"], &e.Deleted)
	decode(raw["reactions"], &e.Reactions)
	decode(raw["reaction"], &e.Reaction)
	decode(raw["on"], &e.On)
	if ts, ok := raw["ts"]; ok {
		var s string
		if json.Unmarshal(ts, &s) == nil {
			e.TS, _ = time.Parse(time.RFC3339, s)
		}
	}
	return nil
}

// Conn is one connection to a chatd server in JSON mode. Next is called
// from one goroutine; Send may be called from any.
type Conn struct {
	c   net.Conn
	sc  *bufio.Scanner
	wmu sync.Mutex
}

// Options say how to reach the server.
type Options struct {
	TLS      bool // speak TLS (the server's tls_listen port)
	Insecure bool // with TLS: do not verify the certificate
}

// WithPort returns addr with DefaultPort added when it names no port.
func WithPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), DefaultPort)
}

// Dial connects to addr, switches the connection to JSON mode and returns
// once the server has confirmed the switch; the next event is the username
// prompt.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	addr = WithPort(addr)
	d := &net.Dialer{Timeout: 10 * time.Second}
	var nc net.Conn
	var err error
	if o.TLS {
		host, _, _ := net.SplitHostPort(addr)
		td := &tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: host, InsecureSkipVerify: o.Insecure}}
		nc, err = td.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	c := NewConn(nc)
	if err := c.start(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return c, nil
}

// NewConn wraps an established connection; Dial calls it.
func NewConn(nc net.Conn) *Conn {
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &Conn{c: nc, sc: sc}
}

// start asks for JSON mode and skips what the server said in text mode
// before it (the banner, a text prompt, telnet bytes).
func (c *Conn) start() error {
	if err := c.Send("mode json"); err != nil {
		return err
	}
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer c.c.SetReadDeadline(time.Time{})
	for c.sc.Scan() {
		line := c.sc.Bytes()
		i := bytes.Index(line, []byte(`{"type":`))
		if i < 0 {
			continue
		}
		var ev Event
		if json.Unmarshal(line[i:], &ev) == nil && ev.Type == "ok" && ev.Cmd == "mode" {
			return nil
		}
	}
	if err := c.sc.Err(); err != nil {
		return err
	}
	return errors.New("the server closed the connection before the session started; is it a chatd server?")
}

// Send writes one line (a command, chat, or an answer to a prompt).
func (c *Conn) Send(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("a line to send must not contain a line break")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.c.Write([]byte(line + "\n"))
	return err
}

// Next returns the next event. At the end of the connection it returns
// io.EOF, or the read error.
func (c *Conn) Next() (Event, error) {
	for c.sc.Scan() {
		line := bytes.TrimSpace(c.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Type == "" {
			// Not the JSON the protocol promises: show it as it came.
			return Event{Type: "text", Text: string(line)}, nil
		}
		return ev, nil
	}
	if err := c.sc.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}

// Close ends the connection.
func (c *Conn) Close() error { return c.c.Close() }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// decode unmarshals a raw member, reporting whether it held a value of v's type.
func decode(raw json.RawMessage, v any) bool {
	return len(raw) > 0 && json.Unmarshal(raw, v) == nil
}
