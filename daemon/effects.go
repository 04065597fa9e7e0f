// How an effect travels: a command that changes what others see builds one
// note; apply shows it to this node's sessions, and the community carries it
// to the other nodes, which apply it the same way. DEVELOPING.md ("How an
// effect travels") walks through it.

package daemon

import (
	"context"
	"slices"
	"strings"
	"time"

	"chatd"
)

// A note is a change that every node shows its own sessions: who did what
// to whom, in the words of the event constructors (events.go), so each node
// renders it for its own clients. Kind is one of the note* constants.
type note struct {
	Kind string `json:"k"`
	ID   string `json:"i,omitempty"` // a message's or notice's id (a room line's: see clusterHub.say)
	User string `json:"u,omitempty"` // whom it is about
	By   string `json:"b,omitempty"` // who did it
	Room string `json:"r,omitempty"`
	To   string `json:"o,omitempty"` // the current room after a join or leave
	// Rooms are the user's rooms after a join or leave (the cluster's
	// sessions table keeps them).
	Rooms []string  `json:"rs,omitempty"`
	Text  string    `json:"x,omitempty"`
	Names []string  `json:"n,omitempty"` // a private message's recipients
	Flag  bool      `json:"f,omitempty"` // a /me line; a leave that is announced; admin or not
	Time  time.Time `json:"t,omitzero"`
	SID   string    `json:"s,omitempty"` // the session it is about
	// Src is the session whose command it is, when that session gets an
	// answer of its own instead of the event.
	Src  string `json:"c,omitempty"`
	Node string `json:"d,omitempty"` // the only node that acts on it (a private message)
	Ref  uint64 `json:"e,omitempty"` // the sender's own reference (a room line)
	// Mail is a private message's row in the cluster's mail (owed by
	// Node until written to the session or stored in the mailbox).
	Mail int64 `json:"m,omitempty"`
	// Everywhere: the node that wrote it shows it too (it was not shown
	// anywhere yet: a lost node's logouts).
	Everywhere bool `json:"w,omitempty"`
	// Message actions (msgactions.go): the id a line answers and the
	// short quote of that message its text mode shows; a private
	// message's conversation as its sender sees it.
	ReplyTo string `json:"rt,omitempty"`
	Quote   string `json:"q,omitempty"`
	Conv    string `json:"v,omitempty"`
	// Mentions are whom a room line marks (registered spellings).
	Mentions []string `json:"mn,omitempty"`
	Origin   string   `json:"-"` // the node that wrote it
	// Presence at scale (scale.go, PROTOCOL.md 13), decided where the
	// change happened. Scoped: a login, logout, away or back above
	// presence.everyone_limit, shown only to the user's watchers and the
	// members of their small rooms (Rooms are the user's). Counts: the
	// large rooms among them (or the room joined or left), each with its
	// members online counting User; Owner: a large room's owner, who
	// still sees its joins and leaves.
	Scoped bool           `json:"sc,omitempty"`
	Counts map[string]int `json:"cn,omitempty"`
	Owner  string         `json:"ow,omitempty"`
	// Reason is what a user said leaving a room or logging out (IRC's
	// PART and QUIT messages), shown to the others.
	Reason string `json:"rn,omitempty"`
	// Notice: a room line or private message sent as an IRC NOTICE,
	// which IRC clients show as one (and never answer automatically).
	Notice bool `json:"no,omitempty"`
	// Tags are the IRC client-only tags (+key=value) a room line or
	// private message was sent with; relayed live, not stored.
	Tags map[string]string `json:"tg,omitempty"`
	// Parts are the lines of an IRC multiline batch a room line was
	// sent as (irc_multiline.go); relayed live, not stored: the text
	// holds them joined.
	Parts []mlPart `json:"pl,omitempty"`
	// A metadata key of Room or User and its new value, "" when it was
	// removed (metadata.go).
	MetaKey   string `json:"mk,omitempty"`
	MetaValue string `json:"mv,omitempty"`
}

// The kinds of notes.
const (
	noteLine      = "line"      // By says Text (Flag: does) in Room
	noteBroadcast = "broadcast" // By broadcasts Text
	noteLogin     = "login"     // User logged in
	noteLogout    = "logout"    // User left; Text is the presence event ("" none)
	noteJoin      = "join"      // User joined Room, now current (To); Rooms are theirs
	noteLeave     = "leave"     // User left Room (Flag: announced), current is now To; Rooms are theirs
	noteCurrent   = "current"   // User's current room is now To, a room they were in already
	noteAway      = "away"      // User is away with Text, in Room
	noteBack      = "back"      // User is back, in Room
	noteTopic     = "topic"     // By set Room's topic to Text, a history entry of id ID
	noteOwner     = "owner"     // By gave Room to User
	noteMode      = "mode"      // By changed Room's modes: Text, as IRC writes it (roommode)
	noteStatus    = "status"    // By says Text (prefix first: @ or +) to those of Names in Room (IRC STATUSMSG)
	noteRoomKick  = "roomkick"  // By put User out of Room, reason Text
	noteRoomBan   = "roomban"   // By banned User from Room until Time
	noteClose     = "close"     // By closed Room
	noteRename    = "rename"    // By renamed Room to To (Reason: why; rename.go)
	notePrivate   = "private"   // By sends Text to User (one of Names), session SID on Node
	noteInvite    = "invite"    // By invites User to Room
	noteEnd       = "end"       // end User's sessions (SID only, if set; logged in before Time, if set): bye Room (reason), Text
	noteReplace   = "replace"   // session SID of User was replaced elsewhere
	noteRead      = "read"      // User's read marker in conversation Text moved to ID
	noteTyping    = "typing"    // By is typing in Room, or to User (a private conversation)
	noteTagmsg    = "tagmsg"    // By sent an IRC TAGMSG (ID, Tags) to Room or User; Src is the sending session
	// Notes of one node only: every node reads the admin actions itself.
	noteAdmin  = "admin"  // User is (Flag) or is no longer a server admin, as of Time
	noteNotice = "notice" // an admin notice, Text, at Time
	// User now blocks Names: all their sessions filter so. Their block
	// command stores the list, so another node reads it from the database.
	noteBlocks = "blocks"
	// By sent the private message ID (Text to Names, at Time) from
	// session Src: By's other sessions show it too.
	noteSent = "sent"
	// User has one more session (not their first anywhere), from the
	// address Text: their other sessions get notice ID, at Time.
	noteDevice = "device"
	// Message actions on the message ID that User sent, in Room or (a
	// private message) seen by Names, its sender's side being Conv: By
	// edited it to Text at Time, deleted it, or reacted Text to it
	// (Flag: on, else took the reaction back). msgactions.go.
	noteEdit   = "edit"
	noteDelete = "delete"
	noteReact  = "react"
	// User now watches Names (scale.go): their sessions' watch lists.
	noteWatch = "watch"
	// By set MetaKey of Room, or of User, to MetaValue ("" removed it);
	// Rooms are User's. metadata.go.
	noteMeta = "meta"
	// User's IRC real name is now Text (irc_setname.go); Src is the
	// session that set it.
	noteSetname = "setname"
	// The guest User registered its name as an account (irc_account.go).
	noteAccount = "account"
	// User is (Flag) or is no longer a bot (bot.go).
	noteBot = "bot"
	// By sent the IRC WALLOPS Text (irc_wallops.go); Src is the session.
	noteWallops = "wallops"
)

// historyLine is the room line a noteLine carries.
func (n *note) historyLine() chatd.HistoryLine {
	return chatd.HistoryLine{MsgID: n.ID, From: n.By, Text: n.Text, Time: n.Time, Action: n.Flag, ReplyTo: n.ReplyTo, Mentions: strings.Join(n.Mentions, " ")}
}

// lineEvent is the live room line a noteLine carries, once it has its id.
func (n *note) lineEvent() *event {
	return roomMessage(kindRoom, n.ID, n.By, n.Room, n.Text, n.Time, n.Flag).replying(n.Text, n.ReplyTo, n.Quote).withMentions(n.Mentions).noticed(n.Notice).withClientTags(n.Tags).withParts(n.Parts)
}

// effect is the one path of a change that others see: apply shows n to
// this node's sessions, then the other nodes are told and apply it the
// same way. It returns once the other nodes' copy is recorded.
func (s *Server) effect(ctx context.Context, n *note) error {
	s.apply(n)
	return s.community.tell(ctx, n)
}

// apply shows n to this node's sessions: every note, whichever node it
// came from, is applied here and only here. A session of this node is
// acted on only through it (and by its own reader).
//
// Logins, logouts, joins and leaves change the registry too: the node
// where they happen applies them inside the registry's change
// (showPresence, with the sessions that change saw) or right after it
// (showJoin, showLeave), every other node here.
func (s *Server) apply(n *note) {
	src := s.source(n)
	switch n.Kind {
	case noteBroadcast:
		fanout(s.hub.sessions(), broadcastMessage(n.ID, n.By, n.Text, n.Time), src, s.notBlockingName(n.By))
	case noteLogin, noteLogout, noteAway, noteBack:
		s.showPresence(n, s.presenceAudience(n), s.hub.sessionsOf(n.User, ""))
		if n.Kind == noteLogin || (n.Kind == noteLogout && n.Text != "") {
			s.showCounts(n)
		}
	case noteWatch:
		s.hub.setWatching(n.User, n.Names)
	case noteJoin:
		s.showJoin(n, s.hub.members(n.Room), nil)
	case noteLeave:
		s.showLeave(n, s.hub.members(n.Room), nil)
	case noteCurrent:
		// Nothing to show: only the cluster's sessions table changes.
	case noteTopic:
		fanout(s.hub.members(n.Room), topicEvent(n.Room, n.Text, n.By).withTopicID(n.ID), src, nil)
	case noteOwner:
		s.roomModes.forget(n.Room)
		fanout(s.hub.members(n.Room), ownerEvent(n.Room, n.User, n.By), src, nil)
	case noteStatus:
		s.showStatus(n, src)
	case noteMode:
		s.roomModes.forget(n.Room)
		fanout(s.hub.members(n.Room), roomModeEvent(n.Room, n.Text, n.By), src, nil)
	case noteRoomKick, noteRoomBan:
		s.putOut(n, src)
	case noteClose:
		s.closeRoom(n.Room, n.By)
	case noteRename:
		s.renameRoom(n)
	case noteInvite:
		fanout(s.hub.sessionsOf(n.User, ""), invitedEvent(n.Room, n.User, n.By), nil, nil)
	case noteSent:
		// Most senders have no other device here: the event is built
		// only when someone besides src is to get it.
		if to := s.hub.sessionsOf(n.By, ""); slices.ContainsFunc(to, func(o *session) bool { return o != src }) {
			fanout(to, privateMessage(kindPrivate, n.ID, n.By, nonNil(n.Names), n.Text, n.Time).replying(n.Text, n.ReplyTo, n.Quote).noticed(n.Notice).withClientTags(n.Tags), src, nil)
		}
	case noteDevice:
		fanout(s.hub.sessionsOf(n.User, ""), newSessionNotice(n), nil, nil)
	case noteBlocks:
		for _, o := range s.hub.sessionsOf(n.User, "") {
			o.setBlocks(n.Names)
		}
	case noteEnd:
		// SID "": every session of the user.
		for _, o := range s.hub.sessionsOf(n.User, n.SID) {
			if !o.ending() && (n.Time.IsZero() || o.loginAt.Before(n.Time)) {
				o.end(n.Room, n.Text)
			}
		}
	case noteReplace:
		for _, o := range s.hub.sessionsOf(n.User, n.SID) {
			o.end(byeReplaced, "you logged in from somewhere else")
		}
	case noteAdmin:
		for _, o := range s.hub.sessionsOf(n.User, "") {
			if o.admin.Swap(n.Flag) != n.Flag {
				text := "you are no longer a server admin"
				if n.Flag {
					text = "you are now a server admin"
				}
				o.send(noticeEvent(n.ID, text, n.Time))
			}
		}
	case noteNotice:
		fanout(s.hub.sessions(), noticeEvent(n.ID, n.Text, n.Time), nil, nil)
	case noteRead:
		s.showRead(n)
	case noteTyping:
		s.showTyping(n)
	case noteTagmsg:
		s.showTagmsg(n, src)
	case noteEdit, noteDelete, noteReact:
		s.showAction(n, src)
	case noteMeta:
		s.showMeta(n, src)
	case noteSetname:
		s.showSetname(n, src)
	case noteAccount:
		s.showAccount(n, src)
	case noteBot:
		s.setBotHere(n.User, n.Flag)
	case noteWallops:
		s.showWallops(n, src)
	case notePrivate:
		switch n.Node {
		case s.node():
			s.receivePrivate(n)
		default:
			// Owed by another node (or by none: the sender's node
			// delivered it): the recipient's devices here only show it.
			shown := *n
			shown.SID, shown.Mail = "", 0
			s.deliverHere(&shown)
		}
	default:
		s.log.Warn("unknown note", "kind", n.Kind)
	}
}

// source is the session of this node whose command n answers, if any: it
// gets its own answer instead of the event.
func (s *Server) source(n *note) *session {
	if n.Src == "" {
		return nil
	}
	if o := s.hub.sessionsOf(n.By, n.Src); len(o) == 1 {
		return o[0]
	}
	return nil
}

// showPresence queues the presence event of a login, logout, away or back
// to the sessions in to, except skip (the user's own sessions).
func (s *Server) showPresence(n *note, to []*session, skip []*session) {
	var ev *event
	switch n.Kind {
	case noteLogin:
		ev = presenceEvent(n.User, presLogin, chatd.Lobby)
	case noteLogout:
		if n.Text == "" {
			return // replaced: still online
		}
		ev = presenceEvent(n.User, n.Text, n.Room).withReason(n.Reason)
	case noteAway:
		ev = awayEvent(n.User, n.Room, n.Text, s.now())
	case noteBack:
		ev = presenceEvent(n.User, presBack, n.Room)
	}
	if len(skip) == 1 {
		fanoutPresence(to, ev, skip[0])
		return
	}
	fanoutPresence(slices.DeleteFunc(slices.Clone(to), func(o *session) bool { return slices.Contains(skip, o) }), ev, nil)
}

// showJoin tells the members of the room a user joined, except skip (the
// user's own session). In a large room (n.Counts) only its owner and
// server admins hear of the join; the members hear the count.
func (s *Server) showJoin(n *note, members []*session, skip *session) {
	s.showRoomChange(n, members, roomEvent(roomJoined, n.Room, n.User), skip)
}

// showLeave tells the members of the room a user left, when the leave is
// announced (a kick or close has told them already); in a large room as
// showJoin.
func (s *Server) showLeave(n *note, members []*session, skip *session) {
	if n.Flag {
		s.showRoomChange(n, members, roomEvent(roomLeft, n.Room, n.User).withReason(n.Reason), skip)
	}
}

// showRoomChange is showJoin and showLeave with the event ev.
func (s *Server) showRoomChange(n *note, members []*session, ev *event, skip *session) {
	if n.Counts == nil {
		fanoutPresence(members, ev, skip)
		return
	}
	for _, o := range members {
		if o != skip && seesEveryJoin(o, n.Owner) {
			o.sendLazy(ev)
		}
	}
	s.showCounts(n)
}

// showLine queues a room line ev (from by) to members, through the
// flusher fl (nil: writer goroutines), and answer to its sender when the
// sender is one of this node's sessions.
func (s *Server) showLine(fl *flusher, members []*session, ev *event, by string, sender *session, answer *event) {
	fanoutVia(fl, members, ev, sender, s.notBlockingName(by))
	if sender != nil {
		sender.sendVia(fl, answer)
	}
}

// putOut shows a room kick or room ban. The user, if a member of the room
// here, leaves it first and hears why as part of that leave; then the
// room's other members are told (the command's own session excepted: it
// gets its answer), so whatever anyone asks next already sees the user
// out. A user banned while elsewhere is told too. The command ended the
// membership in the database.
func (s *Server) putOut(n *note, src *session) {
	ev := roomKickEvent(n.Room, n.User, n.By, n.Text)
	if n.Kind == noteRoomBan {
		ev = roomBanEvent(n.Room, n.User, n.By, n.Time)
	}
	members := s.hub.members(n.Room)
	var left []*session
	for _, o := range s.hub.sessionsOf(n.User, "") {
		if s.leaveRoom(o, n.Room, false, ev) {
			left = append(left, o)
		} else if n.Kind == noteRoomBan {
			o.send(ev)
		}
	}
	fanout(members, ev, src, func(m *session) bool { return !slices.Contains(left, m) })
}

// endUser ends every session of name with reason and text, whichever node
// they are on.
func (s *Server) endUser(ctx context.Context, name, reason, text string) error {
	return s.effect(ctx, &note{Kind: noteEnd, User: name, Room: reason, Text: text})
}

// joinRoom makes room the current room of sess, adding it to its rooms
// unless sess is a member already. A new member is added under the room
// log's lock, and replies (nil ones skipped) then the room's recent lines
// are queued to sess there: a client that reads the reply to its join is
// already a member, so no line said after that can miss it, and none is
// both replayed and live. The room's members are told, and the other
// nodes. token (from hub.roomToken, taken before the room was looked up;
// nil: no check) must still be current for a new membership. It reports
// whether sess is now in the room as its current one; replies go out only
// then, and already says it was a member before (then no replay and no
// events, only replies).
func (s *Server) joinRoom(sess *session, room string, token *uint64, replies ...*event) (already, ok bool) {
	l := s.logs.get(room)
	l.mu.Lock()
	members, rooms, already, ok := s.hub.join(sess, room, token)
	count := s.community.elsewhere().roomCount(room, s.hub.roomUserCount(room))
	if ok {
		for _, r := range replies {
			if r != nil {
				sess.send(r)
			}
		}
		if !already {
			l.replay(sess, room)
		}
	}
	l.mu.Unlock()
	if !ok {
		return false, false
	}
	n := &note{Kind: noteJoin, User: sess.user, SID: sess.sid, Room: room, To: room, Rooms: rooms}
	if already {
		n.Kind = noteCurrent
	} else {
		if owner, large := s.largeRoom(room, count); large {
			s.scopeRoom(n, count, owner)
		}
		s.showJoin(n, members, sess)
	}
	// The other nodes hear of it before this command returns, so they see
	// the join before anything the user says next.
	if err := s.community.tell(context.Background(), n); err != nil {
		s.log.Error("tell the cluster of a join", "user", sess.user, "room", room, "err", err)
	}
	return already, true
}

// leaveRoom ends the membership of sess in room (in the registry: the
// caller changed the database). announce=false skips the "left" event
// (kick and close tell the room themselves). replies are built from the
// current room after the leave and queued to sess first. It reports
// whether sess was a member.
func (s *Server) leaveRoom(sess *session, room string, announce bool, replies ...*event) bool {
	return s.leaveRoomWith(sess, room, announce, "", func(string) []*event { return replies })
}

// leaveRoomWith is leaveRoom with replies that name the new current room,
// and the reason the user gave for leaving ("" none).
func (s *Server) leaveRoomWith(sess *session, room string, announce bool, reason string, replies func(current string) []*event) bool {
	members, current, rooms, ok := s.hub.part(sess, room)
	if !ok {
		return false
	}
	for _, r := range replies(current) {
		if r != nil {
			sess.send(r)
		}
	}
	n := &note{Kind: noteLeave, User: sess.user, SID: sess.sid, Room: room, To: current, Rooms: rooms, Flag: announce, Reason: reason}
	if announce {
		// The count as it was, the leaver included.
		count := s.community.elsewhere().roomCount(room, s.hub.roomUserCount(room)+1)
		if owner, large := s.largeRoom(room, count); large {
			s.scopeRoom(n, count, owner)
		}
	}
	s.showLeave(n, members, sess)
	if err := s.community.tell(context.Background(), n); err != nil {
		s.log.Error("tell the cluster of a leave", "user", sess.user, "room", room, "err", err)
	}
	return true
}

// closeRoom empties a room that is gone from the database (and with it
// every membership of it): its recent lines are dropped, joins that looked
// it up before now fail, and everyone in it is told (by whom) and leaves
// it. Each member hears of the close as part of their own leave, so by the
// time they read it they are out: a names or who sent after it never finds
// them in the closed room.
func (s *Server) closeRoom(room, by string) {
	s.logs.drop(room)
	s.roomModes.forget(room)
	s.sizes.forget(room)
	// Under the hub's lock: whoever is not in it now can no longer get in.
	members := s.hub.closeRoom(room)
	closed := roomEvent(roomClosed, room, by)
	for _, m := range members {
		s.leaveRoom(m, room, false, closed)
	}
}

// deliverHere hands the private message n to its recipient's sessions on
// this node (n.User: every one of them). It
// returns statusDelivered (with the recipient's away message) when one of
// them took it, statusBlocked, or "" when no session is here (any more) or
// none could take it. A message another node sent (n.Mail) is forgotten by
// the cluster once it has been written to one of the connections; until
// then it stays owed.
func (s *Server) deliverHere(n *note) (status string, away *string) {
	mine := s.hub.sessionsOf(n.User, "")
	if len(mine) == 0 {
		return "", nil
	}
	// Blocks are the user's, whichever session changed them last.
	if mine[0].blocking(n.By) {
		return statusBlocked, nil
	}
	for _, o := range mine {
		ev := privateMessage(kindPrivate, n.ID, n.By, nonNil(n.Names), n.Text, n.Time).replying(n.Text, n.ReplyTo, n.Quote).noticed(n.Notice).withClientTags(n.Tags)
		if n.Mail != 0 && s.cluster != nil {
			id := n.Mail
			ev.afterWrite = func() { s.cluster.mailDone(id) }
		}
		if o.send(ev) && status == "" {
			status, away = statusDelivered, o.away.Load()
		}
	}
	return status, away
}

// receivePrivate delivers a private message that another node found its
// recipient online here. Should that session have left meanwhile, the
// message goes to the recipient's mailbox instead, once: it was
// acknowledged as delivered, so it must not be lost, and it is stored even
// beyond messages.offline_limit (docs/cluster.md, "Private messages").
func (s *Server) receivePrivate(n *note) {
	status, _ := s.deliverHere(n)
	if status == statusDelivered {
		return // forgotten once written
	}
	if status == "" {
		err := s.store.StoreOffline(context.Background(), n.User,
			chatd.OfflineMessage{MsgID: n.ID, From: n.By, To: n.Names, Text: n.Text, Time: n.Time}, 0)
		// EBlocked: they blocked the sender since the sender's node
		// checked; ENoSuchUser: the account is gone.
		if code := chatd.ErrorCode(err); err != nil && code != chatd.EBlocked && code != chatd.ENoSuchUser {
			// Still owed: the heartbeat mails it (clusterHub.mailOrphans).
			s.log.Error("store a private message whose recipient left", "user", n.User, "err", err)
			return
		}
	}
	if n.Mail != 0 && s.cluster != nil {
		s.cluster.mailDone(n.Mail)
	}
}

// notBlockingName is the fanout filter of a line from name: recipients
// who block name do not get it when blocks apply to room chat.
func (s *Server) notBlockingName(name string) func(*session) bool {
	return func(rcpt *session) bool {
		return !s.cfg().Messages.BlocksApplyToBroadcast || !rcpt.blocking(name)
	}
}
