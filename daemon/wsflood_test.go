package daemon_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"chatd"
)

// rawWS is a WebSocket client written by hand over TCP, so a test can send
// frames no library would: empty text and continuation frames, pings, as
// fast as the socket takes them. What the server sends is read by a
// goroutine; msgs gets each text message, and closed is closed once the
// server has closed the connection.
type rawWS struct {
	t      *testing.T
	conn   net.Conn
	msgs   chan string
	closed chan struct{}
}

// WebSocket opcodes (RFC 6455, 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opPing         = 0x9
)

func dialRawWS(t *testing.T, addr string) *rawWS {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	conn.SetReadDeadline(time.Time{})
	c := &rawWS{t: t, conn: conn, msgs: make(chan string, 1024), closed: make(chan struct{})}
	go c.read(br)
	return c
}

// read parses the server's frames (never masked) until the connection ends.
func (c *rawWS) read(br *bufio.Reader) {
	defer close(c.closed)
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		switch op := h[0] & 0x0f; {
		case op == opText || op == opContinuation:
			msg = append(msg, p...)
			if h[0]&0x80 != 0 {
				select {
				case c.msgs <- string(msg):
				default: // nobody is reading: the test only wants the end
				}
				msg = nil
			}
		}
	}
}

// frame is one client frame: masked, with a zero mask, so the payload
// goes as it is.
func frame(op byte, fin bool, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if len(payload) > 125 {
		panic("frame: payload too long for this test client")
	}
	f := []byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	return append(f, payload...)
}

// sendLine sends line as one text message.
func (c *rawWS) sendLine(line string) {
	c.t.Helper()
	if _, err := c.conn.Write(frame(opText, true, []byte(line))); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// waitFor returns the first text message holding want.
func (c *rawWS) waitFor(want string) string {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-c.closed:
			c.t.Fatalf("closed while waiting for %q", want)
		case <-deadline:
			c.t.Fatalf("no message with %q", want)
		}
	}
}

// flood writes batch again and again until the server closes the
// connection or limit bytes have gone; it returns how many went.
func (c *rawWS) flood(batch []byte, limit int) (sent int, cut bool) {
	c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for sent < limit {
		select {
		case <-c.closed:
			return sent, true
		default:
		}
		n, err := c.conn.Write(batch)
		sent += n
		if err != nil {
			break
		}
	}
	select {
	case <-c.closed:
		return sent, true
	case <-time.After(10 * time.Second):
		return sent, false
	}
}

// TestWebSocketEmptyFramesMetered: every byte of every frame counts against
// the byte budget, so a client that floods empty frames or pings (which
// carry no line, and once cost nothing) is cut off as flooding, before and
// after login, within a bounded number of bytes; a client that chats and
// pings normally is not.
func TestWebSocketEmptyFramesMetered(t *testing.T) {
	ts, web := startWeb(t, func(c *chatd.Config) {
		c.Server.MaxLineBytes = 256
		c.Rate.LinesPerSecond = 10
		c.Rate.Burst = 30
	})
	ts.addUsers("alice", "bob", "flood", "normal")
	alice := login(t, ts.addr, "alice", "password1")
	bob := login(t, ts.addr, "bob", "password1")
	normal := dialRawWS(t, web)
	normal.waitFor(`"username"`)
	normal.sendLine("normal")
	normal.waitFor(`"password"`)
	normal.sendLine("password1")
	normal.waitFor(`"welcome"`)

	// The budget: 30 lines of 256 bytes of burst, a debt of twice that,
	// 2,560 bytes a second. Megabytes are far beyond it, even counting
	// what the sockets' buffers hold.
	const limit = 32 << 20
	// A message that never ends: an empty text frame without FIN, then
	// empty continuation frames, for ever.
	var emptyFrames, pings []byte
	for range 1000 {
		emptyFrames = append(emptyFrames, frame(opContinuation, false, nil)...)
	}
	for range 1000 {
		pings = append(pings, frame(opPing, true, nil)...)
	}

	for _, tc := range []struct {
		name  string
		login bool
		first []byte
		batch []byte
	}{
		{"EmptyFramesBeforeLogin", false, frame(opText, false, nil), emptyFrames},
		{"PingsBeforeLogin", false, nil, pings},
		{"EmptyFramesAfterLogin", true, frame(opText, false, nil), emptyFrames},
		{"PingsAfterLogin", true, nil, pings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRawWS(t, web)
			c.waitFor(`"username"`)
			if tc.login {
				c.sendLine("flood")
				c.waitFor(`"password"`)
				c.sendLine("password1")
				c.waitFor(`"welcome"`)
			}
			if _, err := c.conn.Write(tc.first); err != nil {
				t.Fatal(err)
			}
			sent, cut := c.flood(tc.batch, limit)
			if !cut {
				t.Fatalf("sent %d bytes of empty frames and pings and was not cut off", sent)
			}
			var bye string
			for len(c.msgs) > 0 {
				if m := <-c.msgs; strings.Contains(m, `"bye"`) {
					bye = m
				}
			}
			// The bye may be lost: the server closes with the flood
			// unread, and the reset can drop what the client had not
			// read yet. When it arrives, it says why.
			if bye != "" && !strings.Contains(bye, "flooding") {
				t.Fatalf("cut off with bye %q, want flooding", bye)
			}
		})
	}

	// Everyone else goes on, the normal WebSocket client included, pings
	// and all.
	for i := range 20 {
		normal.sendLine(fmt.Sprint("line ", i))
		if _, err := normal.conn.Write(frame(opPing, true, []byte("are you there"))); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	for i := range 20 {
		alice.expect("message", "kind", "room", "text", fmt.Sprint("line ", i))
	}
	alice.send("still here")
	bob.expect("message", "kind", "room", "text", "still here")
	normal.waitFor(`"still here"`)
}
