package daemon

import "chatd"

// PasswordHasher computes argon2id for the server: Hash makes a new PHC
// string at the cost h, Verify checks a password against a stored PHC
// string at the cost recorded in it. The server calls it only through the
// hash gate, so at most the gate's slots run at once. An error from Verify
// means the stored hash is unreadable or the hasher failed; either way the
// login does not get in.
//
// Two implementations: InProcessHasher (the server's own goroutines; what
// tests and embedders get) and HashWorker (a separate low-priority process,
// what chatd serve uses; see hashworker.go).
type PasswordHasher interface {
	Hash(h chatd.Hasher, password string) (string, error)
	Verify(phc, password string) (bool, error)
}

// InProcessHasher hashes on the calling goroutine.
type InProcessHasher struct{}

func (InProcessHasher) Hash(h chatd.Hasher, password string) (string, error) {
	return h.Hash(password)
}

func (InProcessHasher) Verify(phc, password string) (bool, error) {
	return chatd.Verify(phc, password)
}
