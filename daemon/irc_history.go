// History over IRC (docs/irc.md "History and read markers"): the
// draft/chathistory command pages chatd's conversation history (the same
// store pages as history CONV before|after ID), and draft/read-marker's
// MARKREAD reads and moves chatd's read markers (PROTOCOL.md 9.5).
//
// chatd's message ids are hybrid clock values (chatd.FormatID): the wall
// clock in milliseconds shifted left 16 bits, so an id compares with a
// time. A timestamp= selector becomes an id bound a little wider than
// the time, and the lines found are then cut at the time itself; a
// msgid= selector is the id.

package daemon

import (
	"context"
	"strconv"
	"strings"
	"time"

	"chatd"
)

// ircHistoryMax is the most lines one CHATHISTORY answer holds (the
// CHATHISTORY ISUPPORT token): history's own bound.
const ircHistoryMax = historyMax

// ircHistorySlack is how many lines more than asked a page reads, for
// those a timestamp bound lets in and the time itself cuts (lines whose id
// was given in the millisecond after their time).
const ircHistorySlack = 32

// ircTimeFormat is the IRCv3 timestamp: UTC, milliseconds.
const ircTimeFormat = "2006-01-02T15:04:05.000Z"

// histPoint is a CHATHISTORY or MARKREAD selector: msgid=ID or
// timestamp=TIME.
type histPoint struct {
	id string    // msgid=; "" for a time
	at time.Time // timestamp=, to the millisecond
}

// parsePoint reads msgid=ID or timestamp=TIME; ok is false for anything
// else (and for "*", which only LATEST takes).
func parsePoint(arg string) (histPoint, bool) {
	key, val, found := strings.Cut(arg, "=")
	if !found {
		return histPoint{}, false
	}
	switch key {
	case "msgid":
		if wellFormedID(val) {
			return histPoint{id: val}, true
		}
	case "timestamp":
		if t, err := time.Parse(time.RFC3339Nano, val); err == nil && t.UnixMilli() > 0 {
			return histPoint{at: time.UnixMilli(t.UnixMilli())}, true
		}
	}
	return histPoint{}, false
}

// ms is the point's time in milliseconds (for an id, the clock value's).
func (p histPoint) ms() int64 {
	if p.id == "" {
		return p.at.UnixMilli()
	}
	v, _ := chatd.ParseID(p.id)
	return int64(v >> 16)
}

// before reports whether line l comes before the point; after whether
// it comes after it.
func (p histPoint) before(l chatd.HistoryLine) bool {
	if p.id != "" {
		return l.MsgID < p.id
	}
	return lineTime(l).UnixMilli() < p.ms()
}

func (p histPoint) after(l chatd.HistoryLine) bool {
	if p.id != "" {
		return l.MsgID > p.id
	}
	return lineTime(l).UnixMilli() > p.ms()
}

// idClock is the time of a message id's clock value, to the millisecond:
// the time IRC shows for the message (its server-time tag), so that a
// line shows one time live, in its echo, as mail and in CHATHISTORY, and
// a time a client read off a line selects that line. ok is false for
// anything but an id.
func idClock(id any) (time.Time, bool) {
	s, _ := id.(string)
	v, ok := chatd.ParseID(s)
	if !ok || v>>16 == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(v >> 16)), true
}

// lineTime is the time IRC shows for a stored line: its id's.
func lineTime(l chatd.HistoryLine) time.Time {
	if t, ok := idClock(l.MsgID); ok {
		return t
	}
	return l.Time
}

// idAt is the id bound of the clock value of millisecond ms.
func idAt(ms int64) string { return chatd.FormatID(uint64(max(ms, 0)) << 16) }

// lowBound is an id bound below every line the point is before or at:
// the ids greater than it hold every line at or after the point.
func (p histPoint) lowBound() string {
	if p.id != "" {
		// The greatest string below the id, for ids of [A-Za-z0-9_-]
		// (all below '~'): its last byte one less, then '~'.
		return p.id[:len(p.id)-1] + string(p.id[len(p.id)-1]-1) + "~"
	}
	// A line's id is given after its time, so is no earlier.
	return chatd.FormatID(max(uint64(max(p.ms(), 0))<<16, 1)-1) + "~"
}

// highBound is an id bound above every line the point is after: the ids
// less than it hold every line before the point (for a time, a line whose
// id came within a millisecond after it too).
func (p histPoint) highBound() string {
	if p.id != "" {
		return p.id
	}
	return idAt(p.ms() + 2)
}

// histPage reads up to n lines of conv that keep accepts, oldest first:
// with after, the oldest above the id bound; else the newest below it
// ("" for the newest of all).
//
// With events the page holds the conversation's other entries too (topic
// changes, persisted TAGMSGs: draft/event-playback), counted in n.
func (s *session) histPage(ctx context.Context, conv conversation, bound string, after bool, n int, keep func(chatd.HistoryLine) bool, events bool) ([]chatd.HistoryLine, error) {
	if n <= 0 {
		return nil, nil
	}
	q := chatd.PageQuery{N: n + ircHistorySlack, Keep: s.srv.cfg().Messages.HistoryKeep, Bound: true, Events: events}
	if after {
		q.After = bound
	} else {
		q.Before = bound
	}
	var page chatd.Page
	var err error
	if conv.User != "" {
		page, err = s.srv.store.PrivateHistoryPage(ctx, s.user, conv.User, q)
	} else {
		page, err = s.srv.store.RoomHistoryPage(ctx, conv.Room, q)
	}
	if err != nil {
		return nil, err
	}
	lines := page.Lines[:0]
	for _, l := range page.Lines {
		if keep == nil || keep(l) {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		if after {
			lines = lines[:n]
		} else {
			lines = lines[len(lines)-n:]
		}
	}
	return lines, nil
}

// ircConversation is the conversation a CHATHISTORY or MARKREAD target
// names: one of the user's channels, or a nick (the private conversation
// with that account). ok is false for anything else.
func (s *session) ircConversation(ctx context.Context, target string, member bool) (conversation, bool) {
	if strings.HasPrefix(target, "#") {
		if member {
			room, ok := s.srv.hub.memberRoom(s, target[1:])
			return conversation{Room: room}, ok
		}
		r, err := s.srv.store.RoomByName(ctx, target[1:])
		if err != nil {
			return conversation{}, false
		}
		return conversation{Room: r.Name}, true
	}
	if chatd.Key(target) == ircPseudoUser {
		return conversation{}, false
	}
	c, _, err := s.srv.resolveConversation(ctx, s.user, conversation{User: target})
	return c, err == nil
}

// ircTarget is how IRC names conv: #room, or the other user's nick.
func ircTarget(conv string) string { return strings.TrimPrefix(conv, "@") }

// ircChathistory answers CHATHISTORY (draft/chathistory): LATEST, BEFORE,
// AFTER, AROUND and BETWEEN over one conversation, TARGETS over the
// user's conversations.
func ircChathistory(ctx context.Context, s *session, m *ircMsg) {
	server := s.srv.serverName()
	sub := strings.ToUpper(m.params[0])
	fail := func(code string, params ...string) {
		s.ircLineOut(server, "FAIL", append([]string{"CHATHISTORY", code}, params...)...)
	}
	need := map[string]int{"LATEST": 4, "BEFORE": 4, "AFTER": 4, "AROUND": 4, "BETWEEN": 5, "TARGETS": 4}[sub]
	switch {
	case need == 0:
		fail("UNKNOWN_COMMAND", m.params[0], "Unknown CHATHISTORY subcommand")
		return
	case len(m.params) < need:
		fail("NEED_MORE_PARAMS", sub, "Missing parameters")
		return
	}
	limit, err := strconv.Atoi(m.params[need-1])
	if err != nil || limit < 1 {
		fail("INVALID_PARAMS", sub, m.params[need-1], "The limit is a positive number")
		return
	}
	limit = min(limit, ircHistoryMax)
	s.srv.history.flush()
	if sub == "TARGETS" {
		s.ircHistoryTargets(ctx, m.params[1], m.params[2], limit, fail)
		return
	}
	target := m.params[1]
	conv, ok := s.ircConversation(ctx, target, true)
	if !ok {
		fail("INVALID_TARGET", sub, target, "No such channel or nick, or you are not on that channel")
		return
	}
	points := make([]histPoint, 0, 2)
	for _, arg := range m.params[2 : need-1] {
		if sub == "LATEST" && arg == "*" {
			continue
		}
		p, ok := parsePoint(arg)
		if !ok {
			fail("INVALID_PARAMS", sub, arg, "Give msgid=ID or timestamp=TIME")
			return
		}
		points = append(points, p)
	}
	// A client with draft/event-playback gets topic changes and
	// persisted TAGMSGs too; the limit counts them.
	events := s.irc.has(capEventPlayback)
	var lines []chatd.HistoryLine
	switch sub {
	case "LATEST":
		var keep func(chatd.HistoryLine) bool
		if len(points) == 1 {
			keep = points[0].after
		}
		lines, err = s.histPage(ctx, conv, "", false, limit, keep, events)
	case "BEFORE":
		lines, err = s.histPage(ctx, conv, points[0].highBound(), false, limit, points[0].before, events)
	case "AFTER":
		lines, err = s.histPage(ctx, conv, points[0].lowBound(), true, limit, points[0].after, events)
	case "AROUND":
		p := points[0]
		if lines, err = s.histPage(ctx, conv, p.highBound(), false, (limit-1)/2, p.before, events); err == nil {
			var rest []chatd.HistoryLine
			rest, err = s.histPage(ctx, conv, p.lowBound(), true, limit-len(lines), func(l chatd.HistoryLine) bool { return !p.before(l) }, events)
			lines = append(lines, rest...)
		}
	case "BETWEEN":
		a, b := points[0], points[1]
		if a.ms() < b.ms() || a.ms() == b.ms() && a.id <= b.id {
			lines, err = s.histPage(ctx, conv, a.lowBound(), true, limit, func(l chatd.HistoryLine) bool { return a.after(l) && b.before(l) }, events)
		} else {
			lines, err = s.histPage(ctx, conv, a.highBound(), false, limit, func(l chatd.HistoryLine) bool { return a.before(l) && b.after(l) }, events)
		}
	}
	if err != nil {
		if chatd.ErrorCode(err) == chatd.EInternal {
			s.srv.log.Error("irc chathistory", "user", s.user, "err", err)
		}
		fail("MESSAGE_ERROR", sub, target, chatd.ErrorMessage(err))
		return
	}
	s.chargeLines(conv.String(), lines)
	s.ircHistoryBatch(conv, target, lines)
}

// ircHistoryBatch sends lines of conv as a chathistory batch (lines
// without one when the client has no batch), labelled on the BATCH line
// when the command was: the batch is the labelled response.
func (s *session) ircHistoryBatch(conv conversation, target string, lines []chatd.HistoryLine) {
	st := s.irc
	server := s.srv.serverName()
	hide := conv.Room != "" && s.srv.cfg().Messages.BlocksApplyToBroadcast
	id := s.ircOpenBatch("chathistory", target)
	for _, l := range lines {
		if l.Deleted || hide && s.blocking(l.From) {
			continue
		}
		st.out = s.appendIRCStored(st.out, conv, l, id)
	}
	if id != "" {
		st.out = appendIRC(st.out, nil, server, "BATCH", "-"+id)
	}
}

// ircOpenBatch starts a batch of kind in the command's answer and returns
// its id, "" (no batch) for a client without batch. The BATCH line takes
// the command's label: the batch is the labelled response, and the
// command's other lines go without it.
func (s *session) ircOpenBatch(kind string, params ...string) string {
	st := s.irc
	if !st.has(capBatch) {
		return ""
	}
	st.batches++
	id := "b" + strconv.FormatUint(st.batches, 36)
	var tags []ircTag
	if st.label != "" && st.has(capLabeledResponse) {
		tags = []ircTag{{"label", st.label}}
		st.label = ""
	}
	st.out = appendIRC(st.out, tags, s.srv.serverName(), "BATCH", append([]string{"+" + id, kind}, params...)...)
	return id
}

// appendIRCStored renders a stored line of conv as the PRIVMSG it was:
// to the channel, or between the user and the other side, with its time,
// id, sender's account and, when it answered one, +draft/reply. A topic
// change is the TOPIC it was, a persisted TAGMSG the TAGMSG with its
// client-only tags (for a client with message-tags; else nothing).
func (s *session) appendIRCStored(buf []byte, conv conversation, l chatd.HistoryLine, batch string) []byte {
	st := s.irc
	me := st.me()
	text := l.Text
	if l.Action {
		text = "\x01ACTION " + text + "\x01"
	}
	var tags []ircTag
	if batch != "" {
		tags = append(tags, ircTag{"batch", batch})
	}
	tags = append(tags, s.ircTags(l.MsgID, l.Time, l.From)...)
	switch l.Kind {
	case chatd.EntryTopic:
		return appendIRC(buf, tags, userMask(l.From), "TOPIC", "#"+conv.Room, text)
	case chatd.EntryTagmsg:
		if !st.has(capMessageTags) {
			return buf
		}
		tags = s.withClientTags(tags, parseTags(l.Text))
		return appendIRC(buf, tags, userMask(l.From), "TAGMSG", ircStoredTarget(conv, l, me))
	case "":
	default:
		return buf // a kind this build does not know
	}
	if l.ReplyTo != "" && st.has(capMessageTags) {
		tags = append(tags, ircTag{"+draft/reply", l.ReplyTo})
	}
	target := ircStoredTarget(conv, l, me)
	if strings.Contains(text, "\n") {
		// A line sent as several (irc_multiline.go): a PRIVMSG per line.
		return s.appendMultiline(buf, &event{}, tags, false, userMask(l.From), "PRIVMSG", target, text)
	}
	return appendIRC(buf, tags, userMask(l.From), "PRIVMSG", target, text)
}

// ircStoredTarget is where a stored line of conv went, as IRC names it
// for the user me: the channel, or in a private conversation me when the
// other side sent it and the other side when me did.
func ircStoredTarget(conv conversation, l chatd.HistoryLine, me string) string {
	if conv.User == "" {
		return "#" + conv.Room
	}
	if chatd.Key(l.From) == chatd.Key(me) {
		return conv.User
	}
	return me
}

// ircHistoryTargets answers CHATHISTORY TARGETS: the user's channels and
// private conversations whose newest line falls between the two times
// (both excluded), oldest first.
func (s *session) ircHistoryTargets(ctx context.Context, from, to string, limit int, fail func(string, ...string)) {
	a, okA := parsePoint(from)
	b, okB := parsePoint(to)
	if !okA || !okB || a.id != "" || b.id != "" {
		fail("INVALID_PARAMS", "TARGETS", "Give two timestamp=TIME")
		return
	}
	if a.ms() > b.ms() {
		a, b = b, a
	}
	type found struct {
		target string
		at     time.Time
	}
	var list []found
	for _, r := range s.srv.hub.roomsOf(s) {
		lines, err := s.histPage(ctx, conversation{Room: r}, "", false, 1, nil, false)
		if err != nil || len(lines) == 0 {
			continue
		}
		if l := lines[0]; a.after(l) && b.before(l) {
			list = append(list, found{"#" + r, lineTime(l)})
		}
	}
	private, err := s.srv.store.PrivateConversations(ctx, s.user, a.lowBound(), idAt(b.ms()+1), limit)
	if err != nil {
		fail("MESSAGE_ERROR", "TARGETS", "*", chatd.ErrorMessage(err))
		return
	}
	for _, c := range private {
		if at, ok := idClock(c.LastID); ok && at.UnixMilli() > a.ms() && at.UnixMilli() < b.ms() {
			list = append(list, found{ircTarget(c.Conversation), at})
		}
	}
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].at.Before(list[j-1].at); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	list = list[:min(len(list), limit)]
	st := s.irc
	server := s.srv.serverName()
	id := s.ircOpenBatch("draft/chathistory-targets")
	for _, f := range list {
		var tags []ircTag
		if id != "" {
			tags = []ircTag{{"batch", id}}
		}
		st.out = appendIRC(st.out, tags, server, "CHATHISTORY", "TARGETS", f.target, f.at.UTC().Format(ircTimeFormat))
	}
	if id != "" {
		st.out = appendIRC(st.out, nil, server, "BATCH", "-"+id)
	}
}

// ircMarkread answers MARKREAD TARGET with the user's read marker there,
// and MARKREAD TARGET timestamp=TIME by moving the marker to TIME: it
// keeps TIME, and its message id becomes the newest line of the
// conversation at or before TIME (a chatd marker is a message id, which
// unread counts from). A marker that moves is told to every session of
// the user (the read event, rendered by appendIRCRead), this one
// included; one that does not (TIME is not past the marker's time) is
// answered with where it stays. A TIME still to come counts as now.
func ircMarkread(ctx context.Context, s *session, m *ircMsg) {
	server := s.srv.serverName()
	fail := func(code string, params ...string) {
		s.ircLineOut(server, "FAIL", append([]string{"MARKREAD", code}, params...)...)
	}
	if len(m.params) == 0 || m.params[0] == "" {
		fail("NEED_MORE_PARAMS", "Missing parameters")
		return
	}
	target := m.params[0]
	conv, ok := s.ircConversation(ctx, target, false)
	if len(m.params) == 1 {
		if !ok {
			s.ircLineOut(server, "MARKREAD", target, "*")
			return
		}
		s.ircMarker(ctx, conv, target)
		return
	}
	p, valid := parsePoint(m.params[1])
	if !valid || p.id != "" {
		fail("INVALID_PARAMS", target, "Give timestamp=TIME")
		return
	}
	if !ok {
		fail("INVALID_TARGET", target, "No such channel or nick")
		return
	}
	s.srv.history.flush()
	lines, err := s.histPage(ctx, conv, p.highBound(), false, 1, func(l chatd.HistoryLine) bool { return !p.after(l) }, false)
	var cur chatd.ReadMarker
	moved := false
	if err == nil {
		id := ""
		if len(lines) == 1 {
			id = lines[0].MsgID
		}
		// A time to come is taken as now: a marker set ahead by a
		// client's wrong clock would stop every later one until then.
		at := p.at
		if now := s.srv.now().Truncate(time.Millisecond); at.After(now) {
			at = now
		}
		cur, moved, err = s.srv.store.SetReadMarkerAt(ctx, s.user, conv.String(), id, at)
	}
	if err != nil {
		if chatd.ErrorCode(err) == chatd.EInternal {
			s.srv.log.Error("irc markread", "user", s.user, "err", err)
		}
		fail("INTERNAL_ERROR", target, chatd.ErrorMessage(err))
		return
	}
	if moved {
		s.srv.tellRead(ctx, cur)
		return
	}
	s.ircLineOut(server, "MARKREAD", target, markTime(cur))
}

// ircMarker adds MARKREAD TARGET with the user's marker in conv: its
// time, or * for none.
func (s *session) ircMarker(ctx context.Context, conv conversation, target string) {
	m, err := s.srv.store.ReadMarker(ctx, s.user, conv.String())
	if err != nil {
		s.srv.log.Error("irc read marker", "user", s.user, "err", err)
	}
	s.ircLineOut(s.srv.serverName(), "MARKREAD", target, markTime(m))
}

// ircJoinMarker adds, after a JOIN of room and before its names, the
// user's marker there, to a client with draft/read-marker.
func (s *session) ircJoinMarker(ctx context.Context, room string) {
	if s.irc.has(capReadMarker) {
		s.ircMarker(ctx, conversation{Room: room}, "#"+room)
	}
}

// markTime is a marker as MARKREAD shows it: its time (the time a
// client marked with, or its message's), or * for none.
func markTime(m chatd.ReadMarker) string {
	t := m.Time()
	if t.IsZero() {
		return "*"
	}
	return "timestamp=" + t.UTC().Format(ircTimeFormat)
}

// appendIRCRead renders the read event (the user's marker moved, here or
// on another session) as MARKREAD, for a client with draft/read-marker.
func (s *session) appendIRCRead(buf []byte, ev *event) []byte {
	if !s.irc.has(capReadMarker) {
		return buf
	}
	at := "*"
	if ts := ev.str("ts"); ts != "" {
		at = "timestamp=" + ts
	}
	return appendIRC(buf, nil, s.srv.serverName(), "MARKREAD", ircTarget(ev.str("conversation")), at)
}
