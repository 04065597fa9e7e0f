package client

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// What the client knows of each conversation (a room "#den", the private
// messages with one user "@bob"): the newest message id it has shown, so
// that after a reconnection it asks for exactly the lines it missed and
// shows none twice; how many lines are unread; and the read marker it owes
// the server. Conversations are keyed by their lower-case name.
type convs struct {
	names    map[string]string // key → the name as the server spells it
	last     map[string]string // key → the newest message id shown
	unread   map[string]unreadCount
	readDue  map[string]string   // key → id to send in read, at most once a second
	catching map[string]*catchUp // key → a catch-up history in flight
	byLabel  map[string]string   // label of a catch-up history → key
	welcomed map[string]bool     // keys the last welcome gave a count for
	seq      int                 // numbers the labels
	lastRead time.Time           // when reads were last sent
}

type unreadCount struct {
	n    int
	more bool // more than n (the server stops counting at 1000)
}

// catchUp is one conversation being caught up after a reconnection: its
// live lines wait in held until the history up to them has been shown.
type catchUp struct {
	held     []Event
	advanced bool // the current page showed at least one new line
}

// Labels of the lines the client sends on its own; their answers are not
// shown as answers to anything the person typed.
const (
	labelHistory = "connect-h"
	labelRead    = "connect-r"
)

// readEvery is how often at most the client sends read markers.
const readEvery = time.Second

// catchUpPage is how many lines each catch-up history asks for.
const catchUpPage = 200

func newConvs() convs {
	return convs{
		names: map[string]string{}, last: map[string]string{}, unread: map[string]unreadCount{},
		readDue: map[string]string{}, welcomed: map[string]bool{}, catching: map[string]*catchUp{}, byLabel: map[string]string{},
	}
}

func convKey(name string) string { return strings.ToLower(name) }

// conversationsOf names the conversations a message belongs to: its room,
// or the private conversation with the other side (with each recipient
// for a private message of mine). A broadcast belongs to none.
func (s *session) conversationsOf(ev Event) []string {
	switch ev.Kind {
	case "room":
		return []string{"#" + ev.Room}
	case "history":
		if ev.Conv != "" {
			return []string{ev.Conv}
		}
		if ev.Room != "" {
			return []string{"#" + ev.Room}
		}
	case "private", "offline":
		if strings.EqualFold(ev.From, s.r.Me) {
			out := make([]string, 0, len(ev.To))
			for _, to := range ev.To {
				out = append(out, "@"+to)
			}
			return out
		}
		return []string{"@" + ev.From}
	}
	return nil
}

// current is the key of the current room's conversation, "" for none.
func (s *session) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.room == "" {
		return ""
	}
	return convKey("#" + s.room)
}

// seeMessage decides whether a message is shown: not a line shown before
// (after a reconnection the server's replay and the catch-up bring lines
// again), and a live line of a conversation being caught up only after
// the lines before it. What is shown is counted.
func (s *session) seeMessage(ev Event) bool {
	names := s.conversationsOf(ev)
	if ev.ID == "" || len(names) == 0 {
		return true
	}
	c := &s.convs
	if key, ok := c.byLabel[ev.Label]; ok && ev.Label != "" {
		if ev.ID <= c.last[key] {
			return false
		}
		c.catching[key].advanced = true
		// What was missed is unread, unless the welcome counted it.
		s.counted(ev, names, !c.welcomed[key])
		return true
	}
	key := convKey(names[0])
	if ev.Kind == "history" {
		if _, known := c.last[key]; known && s.replaying {
			// The login's replay of a room this client has shown lines
			// of: the catch-up brings them, in order and once.
			return false
		}
		s.counted(ev, names, false)
		return true
	}
	if cu := c.catching[key]; cu != nil {
		cu.held = append(cu.held, ev)
		return false
	}
	if last, known := c.last[key]; known && ev.ID <= last {
		return false
	}
	s.counted(ev, names, true)
	return true
}

// counted records a message about to be shown: the newest id of its
// conversations and, for a live line from someone else, one more unread
// line; a line of the current room is read as it is shown.
func (s *session) counted(ev Event, names []string, live bool) {
	c := &s.convs
	cur := s.current()
	for _, name := range names {
		key := convKey(name)
		c.names[key] = name
		if ev.ID > c.last[key] {
			c.last[key] = ev.ID
		}
		switch {
		case key == cur:
			c.markRead(key)
		case live && !strings.EqualFold(ev.From, s.r.Me):
			u := c.unread[key]
			u.n++
			c.unread[key] = u
		}
	}
}

// markRead clears key's unread count and owes the server a read marker
// at the newest line shown there.
func (c *convs) markRead(key string) {
	delete(c.unread, key)
	if id := c.last[key]; id != "" {
		c.readDue[key] = id
	}
}

// sendReads sends the read markers due, one line per conversation.
func (s *session) sendReads(now time.Time) error {
	c := &s.convs
	keys := make([]string, 0, len(c.readDue))
	for k := range c.readDue {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.seq++
		if err := s.conn.Send(fmt.Sprintf("@%s%d read %s %s", labelRead, c.seq, c.names[k], c.readDue[k])); err != nil {
			return err
		}
		delete(c.readDue, k)
	}
	c.lastRead = now
	return nil
}

// readWait is how long to wait before the reads due may be sent; ok is
// false when none are due.
func (c *convs) readWait(now time.Time) (wait time.Duration, ok bool) {
	if len(c.readDue) == 0 {
		return 0, false
	}
	return max(0, readEvery-now.Sub(c.lastRead)), true
}

// setUnread takes the server's counts: the welcome's rooms and unread
// list, the answers to rooms mine and unread. A conversation they do not
// name keeps its count (the server counts only rooms and conversations
// with a marker); welcome says the counts are a welcome's.
func (c *convs) setUnread(counts []unreadEntry, welcome bool) {
	if welcome {
		clear(c.welcomed)
	}
	for _, u := range counts {
		key := convKey(u.Conversation)
		if welcome {
			c.welcomed[key] = true
		}
		c.names[key] = u.Conversation
		if u.Count > 0 || u.More {
			c.unread[key] = unreadCount{u.Count, u.More}
		} else {
			delete(c.unread, key)
		}
	}
}

type unreadEntry struct {
	Conversation string `json:"conversation"`
	Count        int    `json:"count"`
	More         bool   `json:"more"`
}

type myRoom struct {
	Name   string `json:"name"`
	Unread *int   `json:"unread"`
	Topic  string `json:"topic"`
}

// serverCounts reads the unread counts an event carries, if any.
func (s *session) serverCounts(ev Event) {
	var rooms []myRoom
	var list []unreadEntry
	haveRooms := decode(ev.Raw["rooms"], &rooms)
	switch {
	case ev.Type == "welcome":
		var counts []unreadEntry
		for _, r := range rooms {
			if r.Unread != nil {
				counts = append(counts, unreadEntry{Conversation: "#" + r.Name, Count: *r.Unread})
			}
		}
		decode(ev.Raw["unread"], &list)
		s.convs.setUnread(append(counts, list...), true)
	case ev.Type == "ok" && ev.Cmd == "rooms" && haveRooms:
		var counts []unreadEntry
		for _, r := range rooms {
			if r.Unread != nil {
				counts = append(counts, unreadEntry{Conversation: "#" + r.Name, Count: *r.Unread})
			}
		}
		s.convs.setUnread(counts, false)
	case ev.Type == "ok" && ev.Cmd == "unread" && decode(ev.Raw["unread"], &list):
		s.convs.setUnread(list, false)
	case ev.Type == "read":
		var conv, id string
		decode(ev.Raw["conversation"], &conv)
		decode(ev.Raw["id"], &id)
		key := convKey(conv)
		if last := s.convs.last[key]; id >= last {
			delete(s.convs.unread, key)
		}
	}
}

// unreadText is the unread part of the prompt: "#lobby 3, @bob 1".
func (c *convs) unreadText() string {
	keys := make([]string, 0, len(c.unread))
	for k := range c.unread {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		u := c.unread[k]
		more := ""
		if u.more {
			more = "+"
		}
		parts = append(parts, fmt.Sprintf("%s %d%s", clean(c.names[k]), u.n, more))
	}
	return strings.Join(parts, ", ")
}

// catchUpAll asks, for every conversation shown, for the lines after the
// newest one shown: what was said while the connection was down.
func (s *session) catchUpAll() error {
	keys := make([]string, 0, len(s.convs.last))
	for k := range s.convs.last {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.convs.catching[k] = &catchUp{}
		if err := s.askHistory(k); err != nil {
			return err
		}
	}
	return nil
}

// askHistory asks for the next page of key's catch-up.
func (s *session) askHistory(key string) error {
	c := &s.convs
	c.seq++
	label := fmt.Sprintf("%s%d", labelHistory, c.seq)
	c.byLabel[label] = key
	c.catching[key].advanced = false
	return s.conn.Send(fmt.Sprintf("@%s history %s after %s %d", label, c.names[key], c.last[key], catchUpPage))
}

// ownAnswer handles the answer to a line the client sent on its own (a
// catch-up history or a read); it reports false for any other event.
func (s *session) ownAnswer(ev Event) (bool, error) {
	if strings.HasPrefix(ev.Label, labelRead) {
		return true, nil
	}
	key, ok := s.convs.byLabel[ev.Label]
	if !ok || ev.Label == "" || (ev.Type != "ok" && ev.Type != "error") {
		return false, nil
	}
	delete(s.convs.byLabel, ev.Label)
	cu := s.convs.catching[key]
	if ev.Type == "ok" && ev.More && cu.advanced {
		return true, s.askHistory(key)
	}
	if ev.Type == "error" {
		s.in.print(s.r.paint(dim, fmt.Sprintf(":: could not fetch what %s missed: %s", clean(s.convs.names[key]), clean(ev.Text))), false)
	}
	delete(s.convs.catching, key)
	for _, held := range cu.held {
		if s.seeMessage(held) {
			s.show(held)
		}
	}
	return true, nil
}
