package daemon

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// pipeChannel is an ssh.Channel made of two pipes: what the server reads
// (the keys typed) and what it writes (the screen).
type pipeChannel struct {
	keys   *io.PipeReader
	screen *io.PipeWriter
}

func (c pipeChannel) Read(p []byte) (int, error)  { return c.keys.Read(p) }
func (c pipeChannel) Write(p []byte) (int, error) { return c.screen.Write(p) }
func (c pipeChannel) Close() error {
	c.keys.Close()
	return c.screen.Close()
}
func (c pipeChannel) CloseWrite() error { return c.screen.Close() }
func (c pipeChannel) SendRequest(string, bool, []byte) (bool, error) {
	return false, nil
}
func (c pipeChannel) Stderr() io.ReadWriter { return nil }

var _ ssh.Channel = pipeChannel{}

// TestSSHSecretPromptWithoutItsWrite: a secret line's prompt is the one
// the session asked with, even when the editor starts reading before the
// session's write of the prompt has reached it (the write goes out on a
// writer goroutine). It once took the last prompt written instead, the
// shell's "> ", and passwd then waited behind a prompt the user never saw.
func TestSSHSecretPromptWithoutItsWrite(t *testing.T) {
	keysR, keysW := io.Pipe()
	screenR, screenW := io.Pipe()
	reqs := make(chan *ssh.Request)
	defer close(reqs)
	c := newSSHConn(nil, pipeChannel{keys: keysR, screen: screenW}, reqs,
		&ptyRequest{Width: 80, Height: 24}, func() int { return 1000 }, nil)
	defer func() {
		c.stopReading()
		keysW.Close() // the editor's read ends, and with it the pump
		screenW.Close()
	}()

	var mu sync.Mutex
	var screen strings.Builder
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := screenR.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shows := func(want string) bool {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := screen.String()
			mu.Unlock()
			if strings.Contains(got, want) {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}

	// The session asks for a secret and reads before its prompt is
	// written: the editor shows the secret's prompt by itself.
	c.readSecret("Old password: ")
	got := make(chan string, 1)
	go func() {
		line, err := c.ReadLine()
		if err != nil {
			line = "error: " + err.Error()
		}
		got <- line
	}()
	if !shows("Old password: ") {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the editor read a secret behind another prompt; the screen shows %q", screen.String())
	}
	// The prompt's write arrives late: it changes nothing the user sees
	// but the redrawn prompt, and the typed secret is not echoed.
	if _, err := c.Write([]byte("Old password: ")); err != nil {
		t.Fatal(err)
	}
	if _, err := keysW.Write([]byte("hunter2\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-got:
		if line != "hunter2" {
			t.Fatalf("ReadLine = %q, want the secret typed", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the secret line never came")
	}
	mu.Lock()
	defer mu.Unlock()
	if s := screen.String(); strings.Contains(s, "hunter2") {
		t.Errorf("the secret was echoed: %q", s)
	}
}
