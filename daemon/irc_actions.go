// Message actions over IRC (docs/irc.md "Message actions"): the IRCv3
// drafts that have them run chatd's own actions (PROTOCOL.md 10), and the
// actions' events render as those drafts' lines.
//   - REDACT TARGET MSGID [REASON] (draft/message-redaction) is delete;
//     a delete shows as REDACT, or as a NOTICE to a client without it.
//   - PRIVMSG with the client tag +draft/reply=MSGID is reply; a reply
//     carries +draft/reply.
//   - TAGMSG with +draft/react=R and +draft/reply=MSGID is react,
//     +draft/unreact=R unreact; a reaction shows as that TAGMSG, or as a
//     NOTICE to a client without message-tags.
//   - IRC has no edit: an edit shows as a NOTICE from its author to the
//     conversation, "* edited: TEXT", tagged +draft/reply=MSGID.

package daemon

import (
	"context"
	"strings"
	"time"

	"chatd"
)

// ircRedact answers REDACT: chatd's delete of the message, when it is in
// the conversation TARGET names. Everyone who sees it, the redactor
// included, gets the delete event. The reason is not kept.
func ircRedact(ctx context.Context, s *session, m *ircMsg) {
	server := s.srv.serverName()
	target, id := m.params[0], m.params[1]
	fail := func(code string, params ...string) {
		s.ircLineOut(server, "FAIL", append([]string{"REDACT", code, target}, params...)...)
	}
	conv, ok := s.ircConversation(ctx, target, false)
	if !ok {
		fail("INVALID_TARGET", "No such channel or nick")
		return
	}
	if held, err := s.srv.holdsMessage(ctx, s.user, conv, id); err != nil || !held {
		fail("UNKNOWN_MSGID", id, "No such message in "+target)
		return
	}
	s.irc.redactReason = m.param(2)
	_, err := s.collect(ctx, cmdDelete, id)
	s.irc.redactReason = ""
	if err != nil {
		switch chatd.ErrorCode(err) {
		case chatd.ENotPermitted:
			fail("REDACT_FORBIDDEN", id, chatd.ErrorMessage(err))
		case chatd.ENoSuchMessage:
			fail("UNKNOWN_MSGID", id, chatd.ErrorMessage(err))
		default:
			s.ircError("REDACT", target, err)
		}
	}
}

// ircReply sends a PRIVMSG that carries +draft/reply as chatd's reply to
// that message; it reports false when the line is no reply (the PRIVMSG
// goes on as any other). The reply goes to the message's conversation,
// which must be the one the PRIVMSG names.
func ircReply(ctx context.Context, s *session, m *ircMsg) bool {
	id := m.tags["+draft/reply"]
	if id == "" || m.command != "PRIVMSG" || len(m.params) < 2 || m.params[1] == "" || strings.Contains(m.params[0], ",") {
		return false
	}
	target, text := m.params[0], m.params[1]
	if strings.HasPrefix(text, "\x01") {
		return false // CTCP, an ACTION included: no reply of chatd's
	}
	conv, ok := s.ircConversation(ctx, target, true)
	if !ok {
		return false
	}
	if held, err := s.srv.holdsMessage(ctx, s.user, conv, id); err != nil || !held {
		return false // not a message of this conversation: a plain line
	}
	replies, err := s.collect(ctx, cmdReply, id+" "+text)
	if err != nil {
		s.ircError("PRIVMSG", target, err)
		return true
	}
	// A private reply is answered with delivery statuses, as send is;
	// the echo is built here as ircPrivmsg does.
	for _, r := range replies {
		switch r.get("status") {
		case statusDelivered, statusStored:
			if s.irc.has(capEchoMessage) {
				tags := append(s.ircTags(r.get("id"), s.srv.now(), s.user), ircTag{"+draft/reply", id})
				s.irc.out = appendIRC(s.irc.out, tags, userMask(s.user), "PRIVMSG", target, text)
			}
		}
	}
	return true
}

// ircTagmsg answers TAGMSG: +draft/react (or +draft/unreact) with
// +draft/reply is a reaction to that message; +typing=active is chatd's
// typing, where the server has that command; any other client tag
// (+typing=paused and done among them) is dropped.
func ircTagmsg(ctx context.Context, s *session, m *ircMsg) {
	ircRelayTags(ctx, s, m)
	if m.tags["+typing"] == "active" {
		if c, ok := byName["typing"]; ok {
			if conv, ok := s.ircConversation(ctx, m.params[0], true); ok {
				s.collect(ctx, c.run, conv.String())
			}
		}
	}
	id := m.tags["+draft/reply"]
	run, reaction := cmdReact, m.tags["+draft/react"]
	if reaction == "" {
		run, reaction = cmdUnreact, m.tags["+draft/unreact"]
	}
	if id == "" || reaction == "" {
		return
	}
	target := m.params[0]
	if _, ok := s.ircConversation(ctx, target, true); !ok {
		s.ircLineOut(s.srv.serverName(), "FAIL", "TAGMSG", "INVALID_TARGET", target, "No such channel or nick, or you are not on that channel")
		return
	}
	replies, err := s.collect(ctx, run, id+" "+reaction)
	if err != nil {
		s.ircError("TAGMSG", target, err)
		return
	}
	for _, r := range replies {
		if changed, ok := r.get("changed").(bool); ok && !changed {
			s.ircLineOut(userMask(ircPseudoUser), "NOTICE", s.user, r.str("text"))
		}
	}
}

// ircRelayTags relays a TAGMSG's client-only tags (those chatd does not
// act on itself: +typing, +draft/reply and, with it, +draft/react and
// +draft/unreact; a reaction to no message is relayed as any tag) to
// the channel or nick, live, with a msgid; the sender gets its echo with
// echo-message. With +draft/persist it is also stored, an entry of the
// conversation's history that CHATHISTORY gives back to clients with
// draft/event-playback (not to oneself: there is no such conversation).
func ircRelayTags(ctx context.Context, s *session, m *ircMsg) {
	tags := clientOnlyTags(m.tags)
	delete(tags, "+typing")
	if m.tags["+draft/reply"] != "" { // chatd's react and unreact
		delete(tags, "+draft/react")
		delete(tags, "+draft/unreact")
	}
	if len(tags) == 0 {
		return
	}
	target := m.params[0]
	conv, ok := s.ircConversation(ctx, target, true)
	if !ok && chatd.Key(target) != chatd.Key(s.user) {
		s.numeric("401", target, "No such nick/channel")
		return
	}
	id := s.srv.newID()
	if s.irc.has(capEchoMessage) {
		echo := s.withClientTags(s.ircTags(id, time.Time{}, s.user), tags)
		s.irc.out = appendIRC(s.irc.out, echo, userMask(s.user), "TAGMSG", target)
	}
	n := &note{Kind: noteTagmsg, ID: id, By: s.user, Src: s.sid, Room: conv.Room, User: conv.User, Tags: tags}
	if !ok { // to oneself
		n.User = s.user
	} else if _, persist := tags["+draft/persist"]; persist {
		at, _ := idClock(id)
		entry := chatd.HistoryLine{MsgID: id, From: s.user, Text: string(appendTags(nil, sortedTags(tags))), Time: at, Kind: chatd.EntryTagmsg}
		if conv.Room != "" {
			s.srv.history.add(conv.Room, entry)
		} else if blocked, err := s.srv.store.IsBlocked(ctx, conv.User, s.user); err == nil && !blocked {
			// Kept as a private message is: only where it may reach.
			entry.Recipients = conv.User
			s.srv.history.addPrivate(conv.User, entry)
		}
	}
	if err := s.srv.effect(ctx, n); err != nil {
		s.ircError("TAGMSG", target, err)
	}
}

// showTagmsg shows a relayed TAGMSG to this node's sessions: the members
// of the room, or the other user (and the sender's other sessions) of a
// private conversation; never the sending session (src), which has its
// echo, nor anyone who blocks the sender. Only IRC clients render it.
func (s *Server) showTagmsg(n *note, src *session) {
	ev := &event{typ: "tagmsg", noText: true, jsonSkip: true, id: n.ID, clientTags: n.Tags,
		fields: []field{f("from", n.By), f("room", n.Room), f("to", n.User)}}
	if n.Room != "" {
		fanout(s.hub.members(n.Room), ev, src, s.notBlockingName(n.By))
		return
	}
	to := s.hub.sessionsOf(n.User, "")
	if chatd.Key(n.User) != chatd.Key(n.By) {
		to = append(to, s.hub.sessionsOf(n.By, "")...)
	}
	fanout(to, ev, src, func(o *session) bool { return !o.blocking(n.By) })
}

// appendIRCTagmsg renders a relayed TAGMSG for a client with message-tags.
func (s *session) appendIRCTagmsg(buf []byte, ev *event, me string) []byte {
	if !s.irc.has(capMessageTags) {
		return buf
	}
	from := ev.str("from")
	target := "#" + ev.str("room")
	if ev.str("room") == "" {
		target = me
		if chatd.Key(from) == chatd.Key(me) {
			target = ev.str("to")
		}
	}
	tags := s.withClientTags(s.ircTags(ev.id, time.Time{}, from), ev.clientTags)
	return appendIRC(buf, tags, userMask(from), "TAGMSG", target)
}

// actionTarget is where an action's line goes for this client: the
// channel, or in a private conversation the client's nick, unless the
// client's user acted, then the other side's.
func (s *session) actionTarget(ev *event, actor string) string {
	conv := ev.str("conversation")
	if strings.HasPrefix(conv, "#") {
		return conv
	}
	if me := s.irc.me(); chatd.Key(actor) != chatd.Key(me) {
		return me
	}
	return strings.TrimPrefix(conv, "@")
}

// appendIRCAction renders an edit, delete or reaction event.
func (s *session) appendIRCAction(buf []byte, ev *event, me string) []byte {
	st := s.irc
	id := ev.str("id")
	switch ev.typ {
	case "edit":
		// The author is the editor: only one's own lines are edited.
		author := ev.str("by")
		if author == "" {
			author = editAuthor(ev)
		}
		var tags []ircTag
		if st.has(capMessageTags) {
			tags = []ircTag{{"+draft/reply", id}}
		}
		return appendIRC(buf, tags, userMask(author), "NOTICE", s.actionTarget(ev, author), "* edited: "+ev.str("text"))
	case "delete":
		by := ev.str("by")
		if st.has(capRedaction) {
			if r := ev.str("reason"); r != "" {
				return appendIRC(buf, nil, userMask(by), "REDACT", s.actionTarget(ev, by), id, r)
			}
			return appendIRC(buf, nil, userMask(by), "REDACT", s.actionTarget(ev, by), id)
		}
	case "reaction":
		user := ev.str("user")
		if st.has(capMessageTags) {
			key := "+draft/react"
			if on, _ := ev.get("on").(bool); !on {
				key = "+draft/unreact"
			}
			tags := []ircTag{{key, ev.str("reaction")}, {"+draft/reply", id}}
			return appendIRC(buf, tags, userMask(user), "TAGMSG", s.actionTarget(ev, user))
		}
	}
	return s.appendNotice(buf, ev, me)
}

// editAuthor is who edited, from the event's text-mode wording
// ("[room] * NAME edited: ..."): the edit event names the line's id, not
// its author.
func editAuthor(ev *event) string {
	text := ev.text
	if strings.HasPrefix(text, "[") {
		if _, rest, ok := strings.Cut(text, "] "); ok {
			text = rest
		}
	}
	text = strings.TrimPrefix(text, "* ")
	name, _, _ := strings.Cut(text, " ")
	return name
}

// appendIRCTyping renders the typing event as TAGMSG +typing=active from
// the typist, for a client with message-tags.
func (s *session) appendIRCTyping(buf []byte, ev *event) []byte {
	if !s.irc.has(capMessageTags) {
		return buf
	}
	user := ev.str("user")
	return appendIRC(buf, []ircTag{{"+typing", "active"}}, userMask(user), "TAGMSG", s.actionTarget(ev, user))
}
