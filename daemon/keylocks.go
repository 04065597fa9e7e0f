package daemon

import "sync"

// keyLocks serializes work per key (a chatd.Key of a name): a password
// check of a name holds its lock from the lockout check through recording
// the attempt, so parallel connections cannot all be checked against the
// same, not yet updated, count of failures. Entries exist only while
// someone holds or waits for them.
//
// Locking: keyLocks.mu is a leaf lock; a key's own mutex is taken without
// it and may be held across database calls and a hash, but never while
// taking another key's.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int // holders and waiters
}

func newKeyLocks() *keyLocks { return &keyLocks{locks: map[string]*keyLock{}} }

// lock takes the lock of key and returns its unlock.
func (k *keyLocks) lock(key string) (unlock func()) {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
