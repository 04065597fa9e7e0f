package daemon

import (
	"testing"
	"unsafe"
)

// An idle server holds a session per connection, so session must stay in
// the 576-byte size class of Go's allocator: what few sessions use goes in
// sessionAside, and what only IRC uses in ircState.
func TestSessionFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 576 {
		t.Fatalf("session is %d bytes, over the 576-byte size class", n)
	}
}
