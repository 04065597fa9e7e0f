// Message commands: room chat, broadcast and private messages.

package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"chatd"
)

// privateDelivered, set only by tests, runs once a private message has
// reached its recipients live and before its sender queues it for the
// history writer: the moment a quick reaction can come first.
var privateDelivered atomic.Pointer[func()]

// chat sends text to the user's current room.
func (s *session) chat(ctx context.Context, text string) error {
	return s.roomLine(ctx, "say", "", text, false)
}

// roomLine says text (or, with action, does it) in room, one of the
// user's rooms ("": the current one). The sender's own copy is the answer
// to their line and carries its label.
func (s *session) roomLine(ctx context.Context, cmd, room, text string, action bool) error {
	return s.roomReply(ctx, cmd, room, text, action, "", "")
}

// roomReply is roomLine for a line that answers the message replyTo
// ("" for none), shown in text mode with quote.
func (s *session) roomReply(ctx context.Context, cmd, room, text string, action bool, replyTo, quote string) error {
	if s.irc.sendingParts() != nil {
		text = cleanLines(text) // an IRC multiline batch (irc_multiline.go)
	} else {
		text = cleanLine(text)
	}
	if strings.TrimSpace(text) == "" {
		return badArgs(cmd)
	}
	if room == "" {
		var err error
		if room, err = s.currentRoom(); err != nil {
			return err
		}
	}
	if err := s.checkSend(ctx, room, true, text, action); err != nil {
		return err
	}
	marks := s.mentionsOf(ctx, room, text)
	now := s.srv.now()
	// The id comes with the line's place in the room's order (say).
	n := &note{Kind: noteLine, By: s.user, Room: room, Text: text, Flag: action, Time: now, ReplyTo: replyTo, Quote: quote, Mentions: marks, Notice: s.irc.sendingNotice(), Tags: s.irc.sendingTags(), Parts: s.irc.sendingParts()}
	s.srv.metrics.message(kindRoom)
	return s.srv.community.say(ctx, s, n)
}

// cmdSay chats to the current room, or with say #ROOM TEXT to another of
// the user's rooms.
func cmdSay(ctx context.Context, s *session, args string) error {
	room, text, ok, err := s.roomTarget(args)
	if !ok {
		return s.chat(ctx, args)
	}
	if err != nil {
		if room, err = s.outsideRoom(ctx, args, err); err != nil {
			return err
		}
	}
	return s.roomLine(ctx, "say", room, text, false)
}

func cmdMe(ctx context.Context, s *session, args string) error {
	return s.roomLine(ctx, "me", "", args, true)
}

func cmdBroadcast(ctx context.Context, s *session, args string) error {
	text := chatd.CleanText(args)
	if strings.TrimSpace(text) == "" {
		return badArgs("broadcast")
	}
	s.srv.metrics.message(kindBroadcast)
	now := s.srv.now()
	id := s.srv.newID()
	if err := s.srv.effect(ctx, &note{Kind: noteBroadcast, ID: id, By: s.user, Src: s.sid, Text: text, Time: now}); err != nil {
		return err
	}
	s.reply(broadcastMessage(id, s.user, text, now))
	return nil
}

// targets parses "USER rest" or "(U1 U2 ...) rest". Names are de-duplicated
// case-insensitively, keeping the first spelling.
func targets(args string) (names []string, rest string, ok bool) {
	args = strings.TrimSpace(args)
	if strings.HasPrefix(args, "(") {
		end := strings.IndexByte(args, ')')
		if end < 0 {
			return nil, "", false
		}
		names = strings.Fields(args[1:end])
		rest = strings.TrimSpace(args[end+1:])
	} else {
		var w string
		w, rest = splitWord(args)
		// IRC habit: bob,carol is the list (bob carol).
		for _, n := range strings.Split(w, ",") {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		if k := chatd.Key(n); !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out, rest, len(out) > 0
}

func cmdSend(ctx context.Context, s *session, args string) error {
	// msg #ROOM TEXT speaks to one of the user's rooms, as say #ROOM.
	if room, text, ok, err := s.roomTarget(args); ok {
		if err != nil {
			if room, err = s.outsideRoom(ctx, args, err); err != nil {
				return err
			}
		}
		return s.roomLine(ctx, "say", room, text, false)
	}
	names, text, ok := targets(args)
	text = chatd.CleanText(text)
	if !ok || strings.TrimSpace(text) == "" {
		return badArgs("send")
	}
	return s.sendPrivate(ctx, names, text, "", "")
}

// sendPrivate sends the private message text to names, answering the
// message replyTo ("" for none; quote is its text mode's short quote).
func (s *session) sendPrivate(ctx context.Context, names []string, text, replyTo, quote string) error {
	if max := s.srv.cfg().Messages.MaxRecipients; len(names) > max {
		return chatd.Errorf(chatd.EBadArgs, "a message may name at most %d recipients (messages.max_recipients), this one names %d", max, len(names))
	}
	// Resolve names first: one recipient that is yourself or unknown makes
	// a single send an error; in a list each gets its own status.
	type rcpt struct {
		typed string
		user  string // registered spelling; "" for an unknown name
		self  bool
	}
	var rs []rcpt
	var to []string
	for _, n := range names {
		if chatd.Key(n) == chatd.Key(s.user) {
			if len(names) == 1 {
				return chatd.Errorf(chatd.ESelf, "you cannot send a message to yourself")
			}
			rs = append(rs, rcpt{typed: n, self: true})
			continue
		}
		u, err := s.srv.userName(ctx, n)
		if chatd.ErrorCode(err) == chatd.ENoSuchUser {
			if len(names) == 1 {
				return chatd.Errorf(chatd.ENoSuchUser, "there is no user %s", n)
			}
			rs = append(rs, rcpt{typed: n})
			continue
		} else if err != nil {
			return err
		}
		rs = append(rs, rcpt{typed: n, user: u})
		to = append(to, u)
	}
	now := s.srv.now()
	id := s.srv.newID()
	// The message as the recipient's node is given it.
	msg := note{Kind: notePrivate, ID: id, By: s.user, Names: nonNil(to), Text: text, Time: now, ReplyTo: replyTo, Quote: quote, Notice: s.irc.sendingNotice(), Tags: s.irc.sendingTags()}
	s.srv.metrics.message(kindPrivate)
	// Live delivery first; whoever is offline gets the message stored
	// once for all of them, in one transaction.
	type outcome struct {
		status string
		away   *string
		err    error
	}
	outs := make([]outcome, len(rs))
	var offline []string
	var offlineAt []int
	for i, r := range rs {
		if r.self || r.user == "" {
			continue
		}
		status, away, err := s.deliverLive(ctx, r.user, msg)
		outs[i] = outcome{status, away, err}
		if err == nil && status == "" {
			offline = append(offline, r.user)
			offlineAt = append(offlineAt, i)
		}
	}
	if h := privateDelivered.Load(); h != nil {
		(*h)()
	}
	if len(offline) > 0 {
		errs, err := s.srv.store.StoreOfflineAll(ctx, offline,
			chatd.OfflineMessage{MsgID: id, From: s.user, To: to, Text: text, Time: now}, s.srv.cfg().Messages.OfflineLimit)
		for j, i := range offlineAt {
			switch {
			case err != nil:
				outs[i].err = err
			case errs[j] == nil:
				s.srv.metrics.stored()
				outs[i].status = statusStored
			case chatd.ErrorCode(errs[j]) == chatd.EMailboxFull:
				outs[i].status = statusMailboxFull
			case chatd.ErrorCode(errs[j]) == chatd.EBlocked:
				outs[i].status = statusBlocked
			case chatd.ErrorCode(errs[j]) == chatd.ENoSuchUser:
				s.srv.names.forget(offline[j]) // deleted a moment ago
				outs[i].status = statusNoSuchUser
			default:
				outs[i].err = errs[j]
			}
		}
	}
	if len(to) > 0 {
		// The sender's other devices show the conversation too: the
		// message as its recipients got it, from the sender.
		sent := &note{Kind: noteSent, ID: id, By: s.user, Src: s.sid, Names: nonNil(to), Text: text, Time: now, ReplyTo: replyTo, Quote: quote, Notice: s.irc.sendingNotice(), Tags: s.irc.sendingTags()}
		s.srv.apply(sent)
		// On other nodes only under "multi": nobody else has sessions
		// of the sender there.
		if s.srv.cfg().Accounts.DuplicateLogin == loginMulti {
			if err := s.srv.community.tell(ctx, sent); err != nil {
				s.srv.log.Error("show a private message on the sender's other devices", "user", s.user, "err", err)
			}
		}
	}
	// The conversations keep what reached its recipient, live or in the
	// mailbox; the sender's node writes them (once, in a cluster).
	kept := chatd.HistoryLine{MsgID: id, From: s.user, Text: text, Time: now, Recipients: strings.Join(to, " "), ReplyTo: replyTo}
	for i, r := range rs {
		if outs[i].err == nil && (outs[i].status == statusDelivered || outs[i].status == statusStored) {
			s.srv.history.addPrivate(r.user, kept)
		}
	}
	for i, r := range rs {
		switch {
		case r.self:
			// Not a delivery status: the list named the sender.
			s.fail("send", chatd.Errorf(chatd.ESelf, "you are in the list; no copy was sent to you"))
		case r.user == "":
			s.srv.metrics.delivery(statusNoSuchUser)
			s.reply(deliveryEvent(r.typed, statusNoSuchUser, id))
		case outs[i].err != nil:
			s.fail("send", fmt.Errorf("deliver to %s: %w", r.user, outs[i].err))
		default:
			status := outs[i].status
			s.srv.metrics.delivery(status)
			ev := deliveryEvent(r.user, status, id)
			if away := outs[i].away; away != nil {
				ev = awayDeliveryEvent(r.user, status, *away, id)
			}
			s.reply(ev)
		}
	}
	return nil
}

// deliverLive hands one private message to name if they are online and
// returns its status, and the recipient's away message when they are online
// but away; status "" means name is offline and the message must be stored.
// An error means the server failed and is reported as such, not disguised
// as a status.
//
// Blocks are checked where they are cheapest: a session of this node holds
// its user's blocks in memory (loaded before it joined the registry,
// updated by its own block and unblock); a user on another node is asked of
// the database; for someone offline the mailer checks inside the
// transaction that stores the message.
func (s *session) deliverLive(ctx context.Context, name string, msg note) (string, *string, error) {
	p, err := s.srv.community.find(ctx, name)
	if err != nil || p == nil {
		return "", nil, err
	}
	msg.User = p.User
	// Every session of theirs here first (several devices).
	here := msg
	here.SID, here.Node = "", ""
	status, away := s.srv.deliverHere(&here)
	switch {
	case len(p.Remote) == 0 || status == statusBlocked:
		return status, away, nil
	case status == statusDelivered:
		// Their devices on other nodes show it too; a session here took
		// it, so no other node owes it.
		if err := s.srv.community.tell(ctx, &here); err != nil {
			s.srv.log.Error("show a private message on the recipient's other devices", "user", p.User, "err", err)
		}
		return status, away, nil
	}
	// On other nodes: the message is theirs once the note is recorded,
	// owed by the node of one of their sessions until it has written it
	// to them or stored it in their mailbox (docs/cluster.md, "Private
	// messages"); their other devices are shown it.
	blocked, err := s.srv.store.IsBlocked(ctx, name, s.user)
	if chatd.ErrorCode(err) == chatd.ENoSuchUser {
		s.srv.names.forget(name) // deleted a moment ago
		return statusNoSuchUser, nil, nil
	} else if err != nil {
		return "", nil, err
	}
	if blocked {
		return statusBlocked, nil, nil
	}
	for _, r := range p.Remote {
		msg.Node, msg.SID = r.Node, r.SID
		if err := s.srv.community.tell(ctx, &msg); errors.Is(err, errLeft) {
			continue // gone since the look-up: the next, else the mailbox
		} else if err != nil {
			return "", nil, err
		}
		return statusDelivered, p.Away, nil
	}
	return "", nil, nil // the mailbox, as for anyone offline
}
