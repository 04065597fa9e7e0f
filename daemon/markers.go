// Read markers and unread counts (PROTOCOL.md 9.5): the read and unread
// commands, the read event every session of the user gets, and the
// text-mode sessions' own progress, kept in memory as lines are written
// and stored in batches.

package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
)

// markerFlushEvery is how often the text-mode sessions' read progress is
// stored (and at each session's end).
const markerFlushEvery = 5 * time.Second

func cmdRead(ctx context.Context, s *session, args string) error {
	arg, id := splitWord(args)
	if arg == "" || id == "" || strings.ContainsAny(id, " \t") {
		return badArgs("read")
	}
	conv, err := parseConversation(arg)
	if err != nil {
		return err
	}
	conv, _, err = s.srv.resolveConversation(ctx, s.user, conv)
	if err != nil {
		return err
	}
	ok, err := s.srv.holdsMessage(ctx, s.user, conv, id)
	if err != nil {
		return err
	}
	if !ok {
		return chatd.Errorf(chatd.ENoSuchMessage, "there is no message %s in %s", clean(id), conv)
	}
	name := conv.String()
	cur, moved, err := s.srv.store.SetReadMarker(ctx, s.user, name, id)
	if err != nil {
		return err
	}
	if moved {
		s.srv.tellRead(ctx, cur)
	}
	text := "read " + name + " up to " + cur.MsgID
	if !moved {
		text = "your marker in " + name + " is at " + cur.MsgID + " already"
	}
	s.reply(okEvent("read", text, nil, f("conversation", name), f("id", cur.MsgID), f("moved", moved)))
	return nil
}

// tellRead tells every session of m's user, on every node, that their
// marker moved to m.
func (s *Server) tellRead(ctx context.Context, m chatd.ReadMarker) {
	n := &note{Kind: noteRead, User: m.User, Text: m.Conversation, ID: m.MsgID, Time: m.Time()}
	if err := s.effect(ctx, n); err != nil {
		s.log.Error("tell the cluster of a read marker", "user", m.User, "err", err)
	}
}

func cmdUnread(ctx context.Context, s *session, args string) error {
	if strings.TrimSpace(args) != "" {
		return badArgs("unread")
	}
	counts, err := s.srv.unreadOf(ctx, s.user, s.srv.hub.roomsOf(s))
	if err != nil {
		return err
	}
	text := "nothing unread"
	if len(counts) > 0 {
		text = "unread: " + unreadText(counts)
	}
	s.reply(okEvent("unread", text, nil, f("unread", unreadFields(counts))))
	return nil
}

// resolveConversation gives conv, as user names it, its names' registered
// spellings, checking that they exist, and returns a room's record (nil
// for a private conversation); a private conversation with oneself is
// none.
func (s *Server) resolveConversation(ctx context.Context, user string, conv conversation) (conversation, *chatd.Room, error) {
	if conv.User != "" {
		name, err := s.userName(ctx, conv.User)
		if err != nil {
			return conversation{}, nil, err
		}
		if chatd.Key(name) == chatd.Key(user) {
			return conversation{}, nil, chatd.Errorf(chatd.ESelf, "there is no private conversation with yourself")
		}
		return conversation{User: name}, nil, nil
	}
	r, err := s.store.RoomByName(ctx, conv.Room)
	if err != nil {
		return conversation{}, nil, err
	}
	return conversation{Room: r.Name}, r, nil
}

// holdsMessage reports whether id is a message of conv: a room's line in
// its recent lines here or in its stored history, or a message of user's
// private conversation.
func (s *Server) holdsMessage(ctx context.Context, user string, conv conversation, id string) (bool, error) {
	if !wellFormedID(id) {
		return false, nil
	}
	if conv.User != "" {
		s.history.flush()
		return s.store.PrivateHasMessage(ctx, user, conv.User, id)
	}
	if s.logs.holds(conv.Room, id) {
		return true, nil
	}
	s.history.flush()
	return s.store.RoomHasMessage(ctx, conv.Room, id)
}

// wellFormedID reports whether id has the shape of a message id: 1-32 of
// [A-Za-z0-9_-] (PROTOCOL.md 9.1).
func wellFormedID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// unreadOf counts user's unread messages in their conversations: their
// rooms and every conversation they have a marker in. Those with
// none unread are left out.
func (s *Server) unreadOf(ctx context.Context, user string, rooms []string) ([]chatd.Unread, error) {
	marks, err := s.store.ReadMarkers(ctx, user)
	if err != nil {
		return nil, err
	}
	return s.unreadFrom(ctx, user, rooms, marks)
}

// unreadFrom is unreadOf with user's markers read already.
func (s *Server) unreadFrom(ctx context.Context, user string, rooms []string, marks map[string]string) ([]chatd.Unread, error) {
	var convs []string
	seen := map[string]bool{}
	add := func(c string) {
		if k := chatd.Key(c); !seen[k] {
			seen[k] = true
			convs = append(convs, c)
		}
	}
	for _, r := range rooms {
		add("#" + r)
	}
	for c := range marks {
		add(c)
	}
	s.history.flush() // count the lines said up to now, as history does
	counts, err := s.store.UnreadCounts(ctx, user, convs)
	if err != nil {
		return nil, err
	}
	out := counts[:0]
	for _, c := range counts {
		if c.Count > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// unreadFields is counts as the protocol's list of
// {"conversation","count","more"}.
func unreadFields(counts []chatd.Unread) []map[string]any {
	out := make([]map[string]any, 0, len(counts))
	for _, c := range counts {
		out = append(out, map[string]any{"conversation": c.Conversation, "count": c.Count, "more": c.More})
	}
	return out
}

// unreadText is counts in words: "#den 3, #lobby 1000+".
func unreadText(counts []chatd.Unread) string {
	parts := make([]string, len(counts))
	for i, c := range counts {
		more := ""
		if c.More {
			more = "+"
		}
		parts[i] = fmt.Sprintf("%s %d%s", c.Conversation, c.Count, more)
	}
	return strings.Join(parts, ", ")
}

// readEvent tells a user's sessions that their marker in conv moved to
// id ("" for none: marked by a time before its first message) and the
// time at, to the millisecond (the marker's Time). Text mode shows
// nothing: a terminal has no marker to move.
func readEvent(conv, id string, at time.Time) *event {
	fields := []field{f("conversation", conv), f("id", id)}
	if !at.IsZero() {
		fields = append(fields, f("ts", at.UTC().Format(markerTimeFormat)))
	}
	return &event{typ: "read", noText: true, fields: fields}
}

// markerTimeFormat is how a read marker's time is written: UTC, to the
// millisecond (IRC's server-time format).
const markerTimeFormat = "2006-01-02T15:04:05.000Z"

// showRead shows a read note to every session of the user here. A note
// without a time (from a node that predates marker times) stands at its
// message's.
func (s *Server) showRead(n *note) {
	at := n.Time
	if at.IsZero() {
		at = chatd.ReadMarker{MsgID: n.ID}.Time()
	}
	fanout(s.hub.sessionsOf(n.User, ""), readEvent(n.Text, n.ID, at), nil, nil)
}

// shownLine records, for a text-mode session, that the message id of
// conversation conv was written to it. Called by the goroutine holding
// the output; the marker flusher takes what it gathered.
func (s *session) shownLine(conv, id string) {
	s.shownMu.Lock()
	if s.shown == nil {
		s.shown = map[string]string{}
	}
	if id > s.shown[conv] {
		s.shown[conv] = id
	}
	s.shownMu.Unlock()
}

// takeShown returns the markers this session's output moved since the last
// call, and forgets them.
func (s *session) takeShown(into []chatd.ReadMarker) []chatd.ReadMarker {
	s.shownMu.Lock()
	shown := s.shown
	s.shown = nil
	s.shownMu.Unlock()
	for conv, id := range shown {
		into = append(into, chatd.ReadMarker{User: s.user, Conversation: conv, MsgID: id})
	}
	return into
}

// flushMarkers stores the text-mode sessions' read progress every
// markerFlushEvery: one transaction for all of them.
func (s *Server) flushMarkers(ctx context.Context) {
	t := time.NewTicker(markerFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var marks []chatd.ReadMarker
		for _, o := range s.hub.sessions() {
			marks = o.takeShown(marks)
		}
		if err := s.store.AdvanceMarkers(ctx, marks); err != nil && ctx.Err() == nil {
			s.log.Error("store read markers", "err", err)
		}
	}
}

// storeShown stores what this session's output moved, at its end.
func (s *session) storeShown(ctx context.Context) {
	if err := s.srv.store.AdvanceMarkers(ctx, s.takeShown(nil)); err != nil {
		s.srv.log.Error("store read markers", "user", s.user, "err", err)
	}
}
