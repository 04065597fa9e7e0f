package daemon

import "sync"

// keyLocks serializes work per key (a chatd.Key of a name): a password
// check of a name holds its lock from the lockout check through recording
// the attempt, so parallel connections cannot all be checked against the
// same, not yet updated, count of failures. Entries exist only while
// someone holds or waits for them.
type keyLocks struct {
	mu    sync.Mutex // leaf (DEVELOPING.md, "Locks")
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex // tier 0: one per name, never two at once
	refs int        // holders and waiters; guarded by keyLocks.mu
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
