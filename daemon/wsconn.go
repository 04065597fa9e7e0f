package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// errBinaryMessage ends a WebSocket session that sent a binary message.
var errBinaryMessage = errors.New("binary WebSocket message")

// wsConn is the WebSocket transport: text messages in, split into lines on
// LF; each outbox batch out as one text message. There is no telnet here.
//
// A pump goroutine reads messages and hands their lines over one at a time
// (so a session that is busy stops the reading, as on TCP). ReadLine waits
// for the next line under a read deadline that, unlike a context deadline
// on the WebSocket itself, does not close the connection: the session can
// still send its bye after a login or idle timeout.
type wsConn struct {
	ws      *websocket.Conn
	raw     *wsSocket  // the socket under ws: metered, and closed to cut a close handshake short
	maxLine func() int // server.max_line_bytes in force
	// perLine sends each line as a message of its own, without its line
	// end (IRC over WebSocket); set before the session starts.
	perLine bool

	lines chan wsLine   // pump → ReadLine
	dead  chan struct{} // closed when the pump has stopped; err says why
	err   error         // written by the pump before dead is closed
	stop  context.CancelFunc
	ctx   context.Context // the pump's; cancelled by Close

	readDL    readDeadline
	writeDL   atomic.Int64 // unix nanoseconds; 0: none
	closeOnce sync.Once
}

type wsLine struct {
	text string
	err  error // errLineTooLong or errBadEncoding
}

func newWSConn(ws *websocket.Conn, raw *wsSocket, maxLine func() int) *wsConn {
	// Lines are limited one by one below; a message may hold any number.
	ws.SetReadLimit(-1)
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{
		ws:      ws,
		raw:     raw,
		maxLine: maxLine,
		lines:   make(chan wsLine),
		dead:    make(chan struct{}),
		stop:    cancel,
		ctx:     ctx,
		readDL:  readDeadline{changed: make(chan struct{}, 1)},
	}
	go c.pump()
	return c
}

// pump reads messages until the connection fails or is closed.
func (c *wsConn) pump() {
	defer close(c.dead)
	buf := make([]byte, 4096)
	for {
		typ, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			c.err = err
			return
		}
		if typ != websocket.MessageText {
			c.ws.Close(websocket.StatusUnsupportedData, "binary messages are not accepted; send text")
			c.err = errBinaryMessage
			return
		}
		if err := c.split(r, buf); err != nil {
			c.err = err
			return
		}
	}
}

// split hands over the lines of one message: LF separates them, a CR
// before LF is dropped, and a final LF is optional (so an empty message is
// one empty line). A line longer than max_line_bytes is refused whole and
// the rest of it is discarded, without ever being buffered.
func (c *wsConn) split(r io.Reader, buf []byte) error {
	max := c.maxLine()
	var line []byte
	tooLong := false
	afterLF := false // the last byte read ended a line
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			afterLF = false
			part := data
			i := bytes.IndexByte(data, '\n')
			if i >= 0 {
				part = data[:i]
			}
			if !tooLong {
				if len(line)+len(part) > max+1 { // +1 leaves room for a CR
					tooLong, line = true, line[:0]
				} else {
					line = append(line, part...)
				}
			}
			if i < 0 {
				break
			}
			data = data[i+1:]
			if !c.deliver(line, tooLong) {
				return errWSClosed
			}
			line, tooLong, afterLF = line[:0], false, true
		}
		if err == io.EOF {
			if !afterLF && !c.deliver(line, tooLong) {
				return errWSClosed
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// errWSClosed is what the pump reports once Close has stopped it.
var errWSClosed = errors.New("WebSocket closed")

func (c *wsConn) deliver(line []byte, tooLong bool) bool {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	l := wsLine{text: string(line)}
	switch {
	case tooLong || len(line) > c.maxLine():
		l = wsLine{err: errLineTooLong}
	case !utf8.Valid(line):
		l = wsLine{err: errBadEncoding}
	}
	select {
	case c.lines <- l:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// OnBytes makes meter see every byte read from the client's socket, as it
// arrives: frame headers, masks, control frames and empty frames count as
// well as the text of lines, refused or unfinished ones included. See
// wsSocket.
func (c *wsConn) OnBytes(meter func(n int) error) { c.raw.meter.Store(&meter) }

// ReadLine returns the next line, or os.ErrDeadlineExceeded once the read
// deadline has passed (the connection stays open).
func (c *wsConn) ReadLine() (string, error) { return c.readDL.wait(c.wait) }

// wait is one round of ReadLine; again means the read deadline changed.
func (c *wsConn) wait(expired <-chan time.Time) (line string, err error, again bool) {
	select {
	case l := <-c.lines:
		return l.text, l.err, false
	case <-c.dead:
		// Lines sent before the pump stopped were all taken: the
		// channel is unbuffered.
		return "", c.err, false
	case <-expired:
		return "", os.ErrDeadlineExceeded, false
	case <-c.readDL.changed:
		return "", nil, true
	}
}

// Write sends p, whole lines, as one text message. Lines end with LF here,
// not the CRLF of the TCP transport.
func (c *wsConn) Write(p []byte) (int, error) {
	ctx := context.Background()
	if dl := c.writeDL.Load(); dl != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, dl))
		defer cancel()
	}
	// A failed write closes the WebSocket; the session ends either way.
	if c.perLine {
		for _, line := range bytes.SplitAfter(p, []byte("\n")) {
			if line = bytes.TrimRight(line, "\r\n"); len(line) > 0 {
				if err := c.ws.Write(ctx, websocket.MessageText, line); err != nil {
					return 0, err
				}
			}
		}
		return len(p), nil
	}
	if err := c.ws.Write(ctx, websocket.MessageText, bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	c.writeDL.Store(n)
	return nil
}

// closeWait bounds the WebSocket closing handshake: a client that does
// not answer our close frame by then has its socket closed under it.
const closeWait = time.Second

// Close ends the connection with a normal closure and stops the pump.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			err = c.ws.Close(websocket.StatusNormalClosure, "")
		}()
		select {
		case <-done:
		case <-time.After(closeWait):
			c.raw.Close()
			<-done
		}
		c.stop()
	})
	return err
}

// hijackRecorder keeps the socket that websocket.Accept takes over from
// net/http, so that Close can cut a stalled closing handshake short, and
// hands the WebSocket library that socket metered (wsSocket).
type hijackRecorder struct {
	http.ResponseWriter
	conn *wsSocket
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	// What net/http read past the request is read by the library from
	// brw, not through the socket: it is owed from the start.
	h.conn = &wsSocket{Conn: c, owed: brw.Reader.Buffered()}
	return h.conn, brw, nil
}

// wsSocket is the client's socket under the WebSocket library, metered: every
// byte the library reads from it is charged to the session's byte budget
// (the meter OnBytes sets), whatever frame it belongs to. Empty frames and
// pings never reach the pump as data, so metering the messages' text alone
// would let a client send them for free, as fast as the daemon can parse
// them.
//
// The library reads the socket under its own read lock, so Read is never
// called twice at once: the pump's reads and, at the end, the closing
// handshake's follow each other. owed and flood are touched only there.
type wsSocket struct {
	net.Conn
	meter atomic.Pointer[func(n int) error]
	owed  int   // bytes read before a meter was set
	flood error // once the meter has refused, every read fails with it
}

func (s *wsSocket) Read(p []byte) (int, error) {
	if s.flood != nil {
		return 0, s.flood
	}
	n, err := s.Conn.Read(p)
	s.owed += n
	if m := s.meter.Load(); m != nil && s.owed > 0 {
		owed := s.owed
		s.owed = 0
		if merr := (*m)(owed); merr != nil {
			// What was read is dropped: the session ends as flooding.
			s.flood = merr
			return 0, merr
		}
	}
	return n, err
}
