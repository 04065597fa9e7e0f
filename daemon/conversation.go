// Conversations: a room or the private conversation with one user, and the
// commands that read them (history, search).

package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
)

// conversation is a room (Room set) or the private conversation with
// another user (User set: their registered name once looked up).
type conversation struct{ Room, User string }

// String is the conversation's canonical form: #room or @user.
func (c conversation) String() string {
	if c.User != "" {
		return "@" + c.User
	}
	return "#" + c.Room
}

// parseConversation reads a conversation argument: "@bob" is the private
// conversation with bob, "#den" or "den" the room den. Names are not
// looked up.
func parseConversation(arg string) (conv conversation, err error) {
	arg = strings.TrimSpace(arg)
	switch {
	case strings.ContainsAny(arg, " \t"):
	case strings.HasPrefix(arg, "@"):
		if name := arg[1:]; name != "" && !strings.HasPrefix(name, "@") {
			return conversation{User: name}, nil
		}
	case strings.HasPrefix(arg, "#"):
		if name := arg[1:]; name != "" && !strings.HasPrefix(name, "#") {
			return conversation{Room: name}, nil
		}
	case arg != "":
		return conversation{Room: arg}, nil
	}
	return conversation{}, chatd.Errorf(chatd.EBadArgs, "%q is not a conversation: give a room (den or #den) or @user", arg)
}

// openConversation checks that the user may read conv and returns it with
// its names in their registered spelling. A private conversation is its
// two users'; a room is open to read unless it is locked, then only to
// those in it, its owner and server admins.
func (s *session) openConversation(ctx context.Context, conv conversation) (conversation, error) {
	c, r, err := s.srv.resolveConversation(ctx, s.user, conv)
	if err != nil || r == nil {
		return c, err
	}
	if _, member := s.srv.hub.memberRoom(s, r.Name); r.Locked() && !s.admin.Load() && chatd.Key(r.Owner) != chatd.Key(s.user) && !member {
		return conversation{}, chatd.Errorf(chatd.ENotPermitted, "%s is locked: only those in it can read its history", r.Name)
	}
	return c, nil
}

// History and search answer with the lines (kind history), then an ok
// that says how many there were, so a program knows the answer is over.
const (
	historyDefault = 20
	historyMax     = 200
	searchMax      = 20
)

// cmdHistory answers history [N], history CONV [N], and history CONV
// before|after ID [N].
func cmdHistory(ctx context.Context, s *session, args string) error {
	words := strings.Fields(args)
	conv := conversation{Room: s.srv.hub.roomOf(s)}
	q := chatd.PageQuery{N: historyDefault, Keep: s.srv.cfg().Messages.HistoryKeep}
	if len(words) == 0 || len(words) == 1 && isNumber(words[0]) {
		// Without a conversation: the current room.
		if conv.Room == "" {
			return notInRoom("")
		}
		words = append([]string{conv.Room}, words...)
	}
	if len(words) > 0 {
		var err error
		if conv, err = parseConversation(words[0]); err != nil {
			return err
		}
		words = words[1:]
	}
	if len(words) > 0 && words[0] == "edits" {
		return s.historyEdits(ctx, conv, words[1:])
	}
	if len(words) >= 2 && (words[0] == "before" || words[0] == "after") {
		if words[0] == "before" {
			q.Before = words[1]
		} else {
			q.After = words[1]
		}
		words = words[2:]
	}
	switch len(words) {
	case 0:
	case 1:
		var err error
		if q.N, err = intArg("history", words[0], 1, historyMax); err != nil {
			return err
		}
	default:
		return badArgs("history")
	}
	conv, err := s.openConversation(ctx, conv)
	if err != nil {
		return err
	}
	s.srv.history.flush()
	var page chatd.Page
	if conv.User != "" {
		page, err = s.srv.store.PrivateHistoryPage(ctx, s.user, conv.User, q)
	} else {
		page, err = s.srv.store.RoomHistoryPage(ctx, conv.Room, q)
	}
	if err != nil {
		return err
	}
	shown := s.replyLines(conv, page.Lines)
	s.chargeLines(conv.String(), page.Lines)
	fields := []field{f("conversation", conv.String()), f("count", shown), f("more", page.More)}
	if conv.Room != "" {
		fields = append([]field{f("room", conv.Room)}, fields...)
	}
	name := conv.Room
	if conv.User != "" {
		name = "your conversation with " + conv.User
	}
	s.reply(okEvent("history", fmt.Sprintf("%d stored line%s of %s", shown, plural(shown), name), nil, fields...))
	return nil
}

// isNumber reports whether w is all ASCII digits.
func isNumber(w string) bool {
	return w != "" && strings.Trim(w, "0123456789") == ""
}

// cmdSearch answers search WORDS (the current room), search #ROOM WORDS
// and search @USER WORDS.
func cmdSearch(ctx context.Context, s *session, args string) error {
	query := strings.TrimSpace(args)
	if query == "" {
		return badArgs("search")
	}
	conv := conversation{Room: s.srv.hub.roomOf(s)}
	first, rest := splitWord(query)
	if !strings.HasPrefix(first, "@") && !strings.HasPrefix(first, "#") && conv.Room == "" {
		return notInRoom("")
	}
	if strings.HasPrefix(first, "@") || strings.HasPrefix(first, "#") {
		c, err := parseConversation(first)
		if err != nil {
			return err
		}
		if conv, err = s.openConversation(ctx, c); err != nil {
			return err
		}
		if query = strings.TrimSpace(rest); query == "" {
			return badArgs("search")
		}
	}
	// One search at a time per user, however many sessions they have: a
	// user cannot hold several of the store's search slots at once.
	if _, busy := s.srv.searching.LoadOrStore(chatd.Key(s.user), true); busy {
		return chatd.Errorf(chatd.EServerBusy, "your other session is searching; one search at a time")
	}
	defer s.srv.searching.Delete(chatd.Key(s.user))
	s.srv.history.flush()
	cfg := s.srv.cfg()
	// The store stops a search that outlives its budget (server_busy).
	sctx, cancel := context.WithTimeout(ctx, cfg.Messages.SearchTimeout.Duration)
	defer cancel()
	var lines []chatd.HistoryLine
	var err error
	if conv.User != "" {
		lines, err = s.srv.store.SearchPrivate(sctx, s.user, conv.User, query, searchMax, cfg.Messages.HistoryKeep)
	} else {
		lines, err = s.srv.store.SearchHistory(sctx, conv.Room, query, searchMax, cfg.Messages.HistoryKeep)
	}
	if err != nil {
		return err
	}
	shown := s.replyLines(conv, lines)
	s.chargeLines(conv.String(), lines)
	name := conv.Room
	if conv.User != "" {
		name = "your conversation with " + conv.User
	}
	text := fmt.Sprintf("%d lines of %s match, newest first", shown, name)
	if shown == 1 {
		text = "1 line of " + name + " matches"
	}
	if shown == 0 {
		text = "no stored line of " + name + " matches"
	}
	fields := []field{f("conversation", conv.String()), f("count", shown)}
	if conv.Room != "" {
		fields = append([]field{f("room", conv.Room)}, fields...)
	}
	s.reply(okEvent("search", text, nil, fields...))
	return nil
}

// chargeLines counts the stored lines a history or search answer sent
// against the sender's line budget, one line for every max_line_bytes of
// them beyond the first (which the command line itself paid for): a
// 12-byte command that brings back megabytes is as much a flood as
// megabytes sent. The budget may go into debt; until it is paid back the
// user's next lines are refused with rate_limited, and a client that keeps
// sending them is ended as flooding, as for any other flood.
func (s *session) chargeLines(conv string, lines []chatd.HistoryLine) {
	const overhead = 64 // type, kind, time and quoting around each line
	size := 0
	for _, l := range lines {
		size += len(l.From) + len(conv) + len(l.Text) + len(l.Recipients) + overhead
	}
	lineMax := s.srv.cfg().Server.MaxLineBytes
	if cost := size/lineMax - 1; cost > 0 {
		s.bucket.Take(float64(cost), s.srv.now())
	}
}

// replyLines answers with stored lines of conv as kind history, leaving
// out room lines of senders the user blocks when blocks apply to room
// chat. It returns how many it sent.
func (s *session) replyLines(conv conversation, lines []chatd.HistoryLine) int {
	hide := conv.Room != "" && s.srv.cfg().Messages.BlocksApplyToBroadcast
	n := 0
	for _, l := range lines {
		if hide && s.blocking(l.From) {
			continue
		}
		if conv.User != "" {
			s.reply(privateHistoryMessage(l.MsgID, l.From, strings.Fields(l.Recipients), conv.String(), l.Text, l.Time).withState(l))
		} else {
			s.reply(roomMessage(kindHistory, l.MsgID, l.From, conv.Room, l.Text, l.Time, l.Action).withState(l))
		}
		n++
	}
	return n
}

// privateHistoryMessage is a stored private message replayed (kind
// history): "[@bob] <alice> text", with everyone it was sent to.
func privateHistoryMessage(id, from string, to []string, conv, text string, ts time.Time) *event {
	return newEvent("message", fmt.Sprintf("[%s] <%s> %s", conv, from, text),
		f("kind", kindHistory), f("id", id), f("from", from), f("to", nonNil(to)), f("conversation", conv),
		f("text", text), f("ts", stamp(ts))).stamped(ts, stampAlways).withID(id)
}
