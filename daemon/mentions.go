// Mentions (PROTOCOL.md 10): a room line that names @bob, a member of the
// room, marks bob; the mentions command lists the lines that marked me;
// the welcome counts those I have not read.

package daemon

import (
	"context"
	"fmt"
	"strings"

	"chatd"
)

// mentionsDefault and mentionsMax bound the mentions command's answer.
const (
	mentionsDefault = 20
	mentionsMax     = 100
)

// mentionsOf returns whom text, which the user says in room, marks (see
// mentionsIn). A line that names nobody costs nothing; one that does costs
// one database read, so what this reader's chat queued goes out first. A
// line whose mentions cannot be looked up still goes out, marking nobody.
func (s *session) mentionsOf(ctx context.Context, room, text string) []string {
	if !strings.Contains(text, "@") {
		return nil
	}
	words := chatd.MentionWords(text)
	if len(words) == 0 {
		return nil
	}
	s.out.flush()
	marks, err := s.srv.mentionsIn(ctx, room, s.user, words)
	if err != nil {
		s.srv.log.Error("look up the mentions of a line", "user", s.user, "room", room, "err", err)
	}
	return marks
}

// mentionsIn returns whom words (chatd.MentionWords of a line said by by
// in room) mark: the members of room they name, in registered spelling,
// in the order the line names them, by not included.
func (s *Server) mentionsIn(ctx context.Context, room, by string, words []chatd.MentionWord) ([]string, error) {
	names := make([]string, 0, 2*len(words))
	for _, w := range words {
		names = append(names, w.Word)
		if w.Trimmed != "" {
			names = append(names, w.Trimmed)
		}
	}
	members, err := s.store.MembersNamed(ctx, room, names)
	if err != nil || len(members) == 0 {
		return nil, err
	}
	byKey := make(map[string]string, len(members))
	for _, m := range members {
		byKey[chatd.Key(m)] = m
	}
	self := chatd.Key(by)
	var out []string
	seen := map[string]bool{}
	for _, w := range words {
		k := chatd.Key(w.Word)
		m, ok := byKey[k]
		if !ok && w.Trimmed != "" {
			k = chatd.Key(w.Trimmed)
			m, ok = byKey[k]
		}
		if ok && k != self && !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// withMentions makes e, a room line, carry whom it marks: the JSON member
// "mentions" (left out when none), and for text mode the names, so that
// the output of a marked user rings and marks the line (markMention).
func (e *event) withMentions(names []string) *event {
	if len(names) == 0 {
		return e
	}
	e.fields = append(e.fields, f("mentions", names))
	e.mentions = names
	return e
}

// storedRoomLine is a stored (or replayed) line of room, kind history,
// with whom it marks and what actions left on it.
func storedRoomLine(room string, l chatd.HistoryLine) *event {
	return roomMessage(kindHistory, l.MsgID, l.From, room, l.Text, l.Time, l.Action).withMentions(strings.Fields(l.Mentions)).withState(l)
}

// markMention starts the text-mode rendering of ev for this session: a
// line that marks the session's user begins with ">> ", and a live one
// rings the terminal's bell (BEL) first. Anything else, and every line for
// everyone else, is written as before. The caller holds the output.
func (s *session) markMention(buf []byte, ev *event) []byte {
	for _, m := range ev.mentions {
		if m == s.user || chatd.Key(m) == chatd.Key(s.user) {
			if ev.conv != "" {
				buf = append(buf, '\a')
			}
			return append(buf, ">> "...)
		}
	}
	return buf
}

// cmdMentions answers mentions [before ID] [N]: the lines that marked me in
// my rooms, newest first, kind history with their room, then an ok.
func cmdMentions(ctx context.Context, s *session, args string) error {
	words := strings.Fields(args)
	before := ""
	if len(words) >= 2 && words[0] == "before" {
		before = words[1]
		if !wellFormedID(before) {
			return chatd.Errorf(chatd.EBadArgs, "%q is not a message id", clean(before))
		}
		words = words[2:]
	}
	n := mentionsDefault
	switch len(words) {
	case 0:
	case 1:
		var err error
		if n, err = intArg("mentions", words[0], 1, mentionsMax); err != nil {
			return err
		}
	default:
		return badArgs("mentions")
	}
	s.srv.history.flush() // the lines said up to now, as history does
	found, more, err := s.srv.store.Mentions(ctx, s.user, before, n)
	if err != nil {
		return err
	}
	lines := make([]chatd.HistoryLine, 0, len(found))
	shown := 0
	for _, m := range found {
		if s.srv.cfg().Messages.BlocksApplyToBroadcast && s.blocking(m.Line.From) {
			continue
		}
		s.reply(storedRoomLine(m.Room, m.Line))
		lines = append(lines, m.Line)
		shown++
	}
	s.chargeLines("", lines)
	text := fmt.Sprintf("%d mention%s of you, newest first", shown, plural(shown))
	if shown == 0 {
		text = "no mentions of you"
	}
	s.reply(okEvent("mentions", text, nil, f("count", shown), f("more", more)))
	return nil
}

// mentionsText is the welcome's line about unread mentions ("" for none).
func mentionsText(n int) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return "You were mentioned once while away: type mentions to see where."
	case n >= chatd.UnreadCap:
		return fmt.Sprintf("You were mentioned %d+ times while away: type mentions to see where.", n)
	default:
		return fmt.Sprintf("You were mentioned %d times while away: type mentions to see where.", n)
	}
}
