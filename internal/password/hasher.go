// Package password computes and checks argon2id password hashes for the
// daemon: a Hasher (in process, or a Worker: a child process at low CPU
// priority), the Gate in front of it that bounds how many hashes run at
// once and shares the turns fairly between source addresses, and the
// process settings that go with them (MemoryLimit, Slots, RaiseProcs). It
// knows nothing of sessions: the daemon asks, with the address, the
// deadline and the end of the session that wants the hash.
package password

import "chatd"

// Hasher computes argon2id for the server: Hash makes a new PHC string at
// the cost h, Verify checks a password against a stored PHC string at the
// cost recorded in it. The server calls it only through the Gate, so at
// most the gate's slots run at once. An error from Verify
// means the stored hash is unreadable or the hasher failed; either way the
// login does not get in.
//
// Two implementations: InProcess (the server's own goroutines; what tests
// and embedders get) and Worker (a separate low-priority process, what
// chatd serve uses; see worker.go).
type Hasher interface {
	Hash(h chatd.Hasher, password string) (string, error)
	Verify(phc, password string) (bool, error)
}

// InProcess hashes on the calling goroutine.
type InProcess struct{}

func (InProcess) Hash(h chatd.Hasher, password string) (string, error) {
	return h.Hash(password)
}

func (InProcess) Verify(phc, password string) (bool, error) {
	return chatd.Verify(phc, password)
}
