// Message actions (PROTOCOL.md section 10, docs/protocol.md "Message
// actions"): edit, delete, reply, react and unreact, and the review of
// edits (history CONV edits). Each action is checked and stored by its
// command, then travels the one effect path as a note (noteEdit,
// noteDelete, noteReact) that every node shows its own sessions with
// showAction. The actor's own session gets the event as the answer to its
// line (with its label), as the sender of a chat line gets the line; the
// actor's other sessions get it as everyone else does.

package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"chatd"
)

// quoteMax is how many characters of the original a reply's or a
// reaction's text-mode quote shows.
const quoteMax = 30

// editsDefault and editsMax bound history CONV edits.
const (
	editsDefault = 20
	editsMax     = 200
)

// shortQuote is `from: "the first quoteMax characters…"` of a message.
func shortQuote(from, text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > quoteMax {
		text = string(r[:quoteMax]) + "…"
	}
	return fmt.Sprintf("%s: %q", from, text)
}

// actionArgs parses the arguments of the message action cmd: the message
// (an id, or "last" for edit and delete) and, for edit and reply, the
// text (cleaned), for react and unreact the reaction.
func actionArgs(cmd, args string) (msg, text string, err error) {
	msg, text = splitWord(args)
	switch cmd {
	case "delete":
		if msg == "" || text != "" {
			return "", "", badArgs(cmd)
		}
	case "react", "unreact":
		if msg == "" || text == "" {
			return "", "", badArgs(cmd)
		}
		if !chatd.ValidReaction(text) {
			return "", "", chatd.Errorf(chatd.EBadArgs, "a reaction is 1 to %d bytes without spaces or control characters", chatd.MaxReactionBytes)
		}
	default: // edit, reply
		text = chatd.CleanText(text)
		if msg == "" || strings.TrimSpace(text) == "" {
			return "", "", badArgs(cmd)
		}
	}
	if msg != "last" && !wellFormedID(msg) || msg == "last" && cmd != "edit" && cmd != "delete" {
		return "", "", chatd.Errorf(chatd.ENoSuchMessage, "%q is not a message id", msg)
	}
	return msg, text, nil
}

// target is a message an action is about, as the actor may address it.
type target struct {
	chatd.StoredMessage
	room *chatd.Room // its room's record; nil for a private message
}

// conv is the message's conversation as user sees it.
func (t *target) conv(user string) string {
	if t.Ref.Room != "" {
		return "#" + t.Ref.Room
	}
	if chatd.Key(user) == chatd.Key(t.Ref.User) {
		return "@" + t.Ref.With
	}
	return "@" + t.Ref.User
}

// findTarget looks up the message arg (from actionArgs) names for the
// command cmd: "last" is the user's newest line in their current room,
// anything else a message id. A message the user cannot see is
// no_such_message, whether it exists or not; a room line the user could
// read but is not a member of is not_in_room, unless the user owns the
// room or is an admin and cmd is delete. Lines not yet written by the
// history writer are flushed first, so an action right after a line finds
// it.
func (s *session) findTarget(ctx context.Context, cmd, arg string) (*target, error) {
	var m chatd.StoredMessage
	var err error
	switch {
	case arg == "last":
		room, err := s.currentRoom()
		if err != nil {
			return nil, err
		}
		s.srv.history.flush()
		if m, err = s.srv.store.LastMessage(ctx, room, s.user); err != nil {
			return nil, err
		}
	default:
		if m, err = s.findMessage(ctx, arg); err != nil {
			return nil, err
		}
	}
	t := &target{StoredMessage: m}
	if m.Line.Deleted {
		return nil, chatd.Errorf(chatd.ENoSuchMessage, "message %s was deleted", m.Ref.ID)
	}
	if m.Line.Kind != "" { // a topic change or a TAGMSG: no line to act on
		return nil, chatd.Errorf(chatd.ENoSuchMessage, "there is no message %s that you can act on", arg)
	}
	if m.Ref.Room == "" {
		return t, nil
	}
	if t.room, err = s.srv.store.RoomByName(ctx, m.Ref.Room); chatd.ErrorCode(err) == chatd.ENoSuchRoom {
		return nil, chatd.Errorf(chatd.ENoSuchMessage, "there is no message %s that you can act on", arg)
	} else if err != nil {
		return nil, err
	}
	if _, member := s.srv.hub.memberRoom(s, t.room.Name); member {
		return t, nil
	}
	boss := s.admin.Load() || chatd.Key(t.room.Owner) == chatd.Key(s.user)
	switch {
	case boss && cmd == "delete":
		return t, nil
	case t.room.Locked() && !boss:
		return nil, chatd.Errorf(chatd.ENoSuchMessage, "there is no message %s that you can act on", arg)
	}
	return nil, notInRoom(t.room.Name)
}

// recentWriteWait bounds how long an action waits for a line said a
// moment ago that is not stored yet: in a cluster another node's history
// writer may still hold it (it lingers historyLinger before it writes),
// and on any node a private message reaches its recipient before its
// sender's session queues it for the writer, so a quick reaction can
// come first.
const recentWriteWait = 4 * historyLinger

// findMessage looks up the message id after this node's history writer
// has stored what it holds. A line said within the last few seconds may
// not be queued or written yet (see recentWriteWait): the look-up is
// tried again, flushing this node's writer each time, for up to
// recentWriteWait.
func (s *session) findMessage(ctx context.Context, id string) (chatd.StoredMessage, error) {
	s.srv.history.flush()
	m, err := s.srv.store.FindMessage(ctx, s.user, id)
	if chatd.ErrorCode(err) != chatd.ENoSuchMessage {
		return m, err
	}
	v, ok := chatd.ParseID(id)
	said := time.UnixMilli(int64(v >> 16))
	if !ok || s.srv.now().Sub(said) > 5*time.Second {
		return m, err
	}
	deadline := time.NewTimer(recentWriteWait)
	defer deadline.Stop()
	tick := time.NewTicker(historyLinger / 5)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-deadline.C:
			return m, err
		case <-ctx.Done():
			return m, ctx.Err()
		}
		s.srv.history.flush()
		m, err = s.srv.store.FindMessage(ctx, s.user, id)
		if chatd.ErrorCode(err) != chatd.ENoSuchMessage {
			return m, err
		}
	}
}

// cmdEdit answers edit ID|last TEXT.
func cmdEdit(ctx context.Context, s *session, args string) error {
	arg, text, err := actionArgs("edit", args)
	if err != nil {
		return err
	}
	t, err := s.findTarget(ctx, "edit", arg)
	if err != nil {
		return err
	}
	if chatd.Key(t.Line.From) != chatd.Key(s.user) {
		return chatd.Errorf(chatd.ENotPermitted, "you can only edit your own messages")
	}
	now := s.srv.now()
	if err := s.srv.store.EditMessage(ctx, t.Ref, s.user, text, now); err != nil {
		return err
	}
	n := t.note(noteEdit, s)
	n.Text, n.Time = text, now
	return s.srv.effect(ctx, n)
}

// cmdDelete answers delete ID|last. A room's owner and server admins may
// delete any line of the room; a private message only its sender.
func cmdDelete(ctx context.Context, s *session, args string) error {
	arg, _, err := actionArgs("delete", args)
	if err != nil {
		return err
	}
	t, err := s.findTarget(ctx, "delete", arg)
	if err != nil {
		return err
	}
	own := chatd.Key(t.Line.From) == chatd.Key(s.user)
	if !own && (t.room == nil || !s.admin.Load() && chatd.Key(t.room.Owner) != chatd.Key(s.user)) {
		if t.room == nil {
			return chatd.Errorf(chatd.ENotPermitted, "you can only delete the private messages you sent")
		}
		return chatd.Errorf(chatd.ENotPermitted, "you can only delete your own lines of %s: it is not your room", t.room.Name)
	}
	now := s.srv.now()
	if err := s.srv.store.DeleteMessage(ctx, t.Ref, s.user, now); err != nil {
		return err
	}
	n := t.note(noteDelete, s)
	n.Time, n.Reason = now, s.irc.redacting()
	return s.srv.effect(ctx, n)
}

// cmdReply answers reply ID TEXT: a line in the message's room (one of
// the user's), or a private message to the other side of its
// conversation, with reply_to.
func cmdReply(ctx context.Context, s *session, args string) error {
	arg, text, err := actionArgs("reply", args)
	if err != nil {
		return err
	}
	t, err := s.findTarget(ctx, "reply", arg)
	if err != nil {
		return err
	}
	quote := shortQuote(t.Line.From, t.Line.Text)
	if t.Ref.Room != "" {
		return s.roomReply(ctx, "reply", t.room.Name, text, false, t.Ref.ID, quote)
	}
	return s.sendPrivate(ctx, []string{t.Ref.With}, text, t.Ref.ID, quote)
}

// cmdReact answers react ID REACTION, cmdUnreact unreact ID REACTION.
func cmdReact(ctx context.Context, s *session, args string) error {
	return s.react(ctx, "react", args, true)
}

func cmdUnreact(ctx context.Context, s *session, args string) error {
	return s.react(ctx, "unreact", args, false)
}

func (s *session) react(ctx context.Context, cmd, args string, on bool) error {
	arg, reaction, err := actionArgs(cmd, args)
	if err != nil {
		return err
	}
	t, err := s.findTarget(ctx, cmd, arg)
	if err != nil {
		return err
	}
	now := s.srv.now()
	changed, err := s.srv.store.React(ctx, t.Ref, s.user, reaction, on, now)
	if err != nil {
		return err
	}
	if !changed {
		what := "you had reacted so already"
		if !on {
			what = "you had not reacted so"
		}
		s.reply(okEvent(cmd, what+"; nothing changed", nil, f("id", t.Ref.ID), f("conversation", t.conv(s.user)), f("changed", false)))
		return nil
	}
	n := t.note(noteReact, s)
	n.Text, n.Flag, n.Time = reaction, on, now
	if t.Ref.Room == "" {
		// A reaction is in the reactor's conversation only.
		n.Names = []string{t.Ref.User, t.Ref.With}
	}
	return s.srv.effect(ctx, n)
}

// note is the note of an action by s on t: the room, or for a private
// message who sees it (its sender and recipients) and the conversation
// as its sender sees it.
func (t *target) note(kind string, s *session) *note {
	n := &note{Kind: kind, ID: t.Ref.ID, By: s.user, User: t.Line.From, Src: s.sid,
		Quote: shortQuote(t.Line.From, t.Line.Text)}
	if t.Ref.Room != "" {
		n.Room = t.Ref.Room
		return n
	}
	n.Names = append([]string{t.Line.From}, strings.Fields(t.Line.Recipients)...)
	// The sender's side: the conversation the actor named it in when the
	// actor is its sender, else the reactor's.
	n.Conv = "@" + t.Ref.With
	if chatd.Key(s.user) != chatd.Key(t.Line.From) {
		n.Conv = "@" + s.user
	}
	return n
}

// showAction shows a message action to this node's sessions: the room's
// members (and its recent lines here are changed to match), or every
// session of those who see the private message. The session whose
// command it was (src) gets it as its answer, with its label.
func (s *Server) showAction(n *note, src *session) {
	if n.Room != "" {
		s.changeRecent(n)
		ev := actionEvent(n, "#"+n.Room)
		// Who hides the line's sender (or the actor) from room chat is
		// not told what became of it.
		author, actor := s.notBlockingName(n.User), s.notBlockingName(n.By)
		fanout(s.hub.members(n.Room), ev, src, func(o *session) bool { return author(o) && actor(o) })
		if src != nil {
			src.send(ev.labeled(src.label))
		}
		return
	}
	var seen []string
	for _, name := range n.Names {
		k := chatd.Key(name)
		if slices.Contains(seen, k) {
			continue
		}
		seen = append(seen, k)
		conv := "@" + n.User
		if k == chatd.Key(n.User) {
			conv = n.Conv
		}
		ev := actionEvent(n, conv)
		fanout(s.hub.sessionsOf(name, ""), ev, src, nil)
		if src != nil && chatd.Key(src.user) == k {
			src.send(ev.labeled(src.label))
		}
	}
}

// changeRecent applies an action to the room's recent lines kept here,
// from which joins and logins replay.
func (s *Server) changeRecent(n *note) {
	if !s.logs.has(n.Room) {
		return
	}
	l := s.logs.get(n.Room)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		line := &l.lines[i]
		if line.MsgID != n.ID {
			continue
		}
		switch n.Kind {
		case noteEdit:
			line.Text, line.Edited = n.Text, n.Time
		case noteDelete:
			line.Text, line.Deleted, line.Reactions = "", true, nil
		case noteReact:
			line.Reactions = line.Reactions.With(n.Text, n.By, n.Flag)
		}
		return
	}
}

// actionEvent is the event of a message action in conv (as its
// recipient sees it): edit, delete or reaction (PROTOCOL.md 10).
func actionEvent(n *note, conv string) *event {
	where := ""
	if strings.HasPrefix(conv, "#") {
		where = "[" + conv[1:] + "] "
	}
	var ev *event
	switch n.Kind {
	case noteEdit:
		ev = newEvent("edit", fmt.Sprintf("%s* %s edited: %s", where, n.By, n.Text),
			f("id", n.ID), f("conversation", conv), f("text", n.Text), f("ts", stamp(n.Time)))
	case noteDelete:
		text := fmt.Sprintf("%s* %s deleted a message", where, n.By)
		if chatd.Key(n.By) != chatd.Key(n.User) {
			text = fmt.Sprintf("%s* %s deleted a message of %s", where, n.By, n.User)
		}
		fields := []field{f("id", n.ID), f("conversation", conv), f("by", n.By)}
		if n.Reason != "" {
			text += ": " + n.Reason
			fields = append(fields, f("reason", n.Reason))
		}
		ev = newEvent("delete", text, fields...)
	default:
		verb := "reacted " + n.Text + " to"
		if !n.Flag {
			verb = "took back " + n.Text + " from"
		}
		ev = newEvent("reaction", fmt.Sprintf("%s* %s %s %s", where, n.By, verb, n.Quote),
			f("id", n.ID), f("conversation", conv), f("user", n.By), f("reaction", n.Text), f("on", n.Flag))
	}
	return ev.withID(n.ID)
}

// replying makes ev, a live message with the text text, the answer to
// the message replyTo: it carries "reply_to", and text mode shows the
// quote before the text. ev is returned as is for "".
func (e *event) replying(text, replyTo, quote string) *event {
	if replyTo == "" {
		return e
	}
	e.fields = append(e.fields, f("reply_to", replyTo))
	if quote == "" {
		quote = replyTo
	}
	if head, ok := strings.CutSuffix(e.text, text); ok {
		e.text = head + "(re " + quote + ") " + text
	}
	return e
}

// withState adds to a stored line's event what actions left on it:
// "reply_to", "edited", "deleted" (its text is gone) and "reactions",
// and their text-mode marks.
func (e *event) withState(l chatd.HistoryLine) *event {
	if l.ReplyTo != "" {
		e.fields = append(e.fields, f("reply_to", l.ReplyTo))
		if head, ok := strings.CutSuffix(e.text, l.Text); ok {
			e.text = head + "(reply) " + l.Text
		}
	}
	if l.Deleted {
		e.fields = append(e.fields, f("deleted", true))
		e.text = strings.TrimRight(e.text, " ") + " (deleted)"
	} else if !l.Edited.IsZero() {
		e.fields = append(e.fields, f("edited", stamp(l.Edited)))
		e.text += " (edited)"
	}
	if l.Reactions != nil {
		m := map[string][]string{}
		var marks []string
		for _, r := range l.Reactions.List {
			m[r.Reaction] = r.Users
			marks = append(marks, fmt.Sprintf("%s %d", r.Reaction, len(r.Users)))
		}
		e.fields = append(e.fields, f("reactions", m))
		e.text += " [" + strings.Join(marks, ", ") + "]"
	}
	return e
}

// historyEdits answers history CONV edits [N]: the newest N entries of the
// conversation's edit log, for a room's owner and server admins, and for
// the two users of a private conversation.
func (s *session) historyEdits(ctx context.Context, conv conversation, words []string) error {
	n := editsDefault
	switch len(words) {
	case 0:
	case 1:
		var err error
		if n, err = intArg("history", words[0], 1, editsMax); err != nil {
			return err
		}
	default:
		return badArgs("history")
	}
	c, r, err := s.srv.resolveConversation(ctx, s.user, conv)
	if err != nil {
		return err
	}
	ref := chatd.MessageRef{User: s.user, With: c.User}
	if r != nil {
		if !s.admin.Load() && chatd.Key(r.Owner) != chatd.Key(s.user) {
			return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s and admins may review its edits", r.Name)
		}
		ref = chatd.MessageRef{Room: r.Name}
	}
	s.srv.history.flush()
	edits, err := s.srv.store.MessageEdits(ctx, ref, n)
	if err != nil {
		return err
	}
	list := make([]map[string]any, len(edits))
	body := make([]string, len(edits))
	for i, e := range edits {
		list[i] = map[string]any{"id": e.ID, "from": e.From, "by": e.By, "old": e.Old, "new": e.New, "deleted": e.Deleted, "ts": stamp(e.Time)}
		if e.Deleted {
			body[i] = fmt.Sprintf("%s %s deleted %s's %s: %q", textDate(e.Time), e.By, e.From, e.ID, e.Old)
		} else {
			body[i] = fmt.Sprintf("%s %s edited %s: %q -> %q", textDate(e.Time), e.By, e.ID, e.Old, e.New)
		}
	}
	s.reply(okEvent("history", fmt.Sprintf("%d edit%s of %s", len(edits), plural(len(edits)), c), body,
		f("conversation", c.String()), f("edits", list)))
	return nil
}
