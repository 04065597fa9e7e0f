package daemon

import (
	"context"
	"sync"

	"chatd"
)

// userNames remembers the registered spelling of user names that exist, so
// that naming a recipient (send) costs a database read only the first
// time; logins fill it too. It remembers only names found to exist, never
// a miss: an account made by `chatd useradd` is seen at once. A name is
// forgotten when an admin deletes its account (the userdel action, before
// its session is ended) or when the database says it is gone. Until then
// (the action is polled; a lookup racing the deletion may put the name
// back) an entry may outlive its account. That is harmless: what is done
// for a recipient next, the block check and storing the message, asks the
// database, which answers no_such_user, and the name is forgotten.
type userNames struct {
	mu sync.Mutex        // leaf (DEVELOPING.md, "Locks")
	m  map[string]string // chatd.Key(name) -> registered spelling
}

// userNamesMax bounds the cache; past it an arbitrary entry makes room.
const userNamesMax = 1 << 16

func newUserNames() *userNames { return &userNames{m: map[string]string{}} }

func (c *userNames) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[key]
	return n, ok
}

// put remembers name, which exists.
func (c *userNames) put(name string) {
	key := chatd.Key(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= userNamesMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = name
}

// forget drops name, whose account was deleted.
func (c *userNames) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, chatd.Key(name))
}

// userName returns the registered spelling of name, or ENoSuchUser: from the
// cache, or from the database.
func (s *Server) userName(ctx context.Context, name string) (string, error) {
	if n, ok := s.names.get(chatd.Key(name)); ok {
		return n, nil
	}
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return "", err
	}
	s.names.put(u.Name)
	return u.Name, nil
}
