// Room commands: list, create, join, leave, close, topic. History and
// search, which read rooms and private conversations, are in conversation.go.

package daemon

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"chatd"
	"chatd/internal/ratelimit"
)

func cmdRooms(ctx context.Context, s *session, args string) error {
	switch strings.ToLower(strings.TrimSpace(args)) {
	case "":
	case "mine":
		return cmdRoomsMine(ctx, s)
	default:
		return badArgs("rooms")
	}
	rooms, err := s.srv.store.Rooms(ctx)
	if err != nil {
		return err
	}
	occupants, err := s.srv.roomCounts(ctx)
	if err != nil {
		return err
	}
	var list []object
	var body []string
	shown := rooms[:0:0]
	for _, r := range rooms {
		// A secret room (+s) is listed to its members and admins only.
		if r.Has('s') && !s.admin.Load() {
			if _, ok := s.srv.hub.memberRoom(s, r.Name); !ok {
				continue
			}
		}
		shown = append(shown, r)
	}
	rooms = shown
	for _, r := range rooms {
		members := nonNil(occupants[chatd.Key(r.Name)])
		owner := any(nil)
		if r.Owner != "" {
			owner = r.Owner
		}
		list = append(list, object{f("name", r.Name), f("owner", owner), f("members", members),
			f("created", stamp(r.Created)), f("locked", r.Locked()), f("topic", r.Topic), f("modes", r.Modes), f("limit", r.Limit)})
		lock := ""
		if r.Locked() {
			lock = " [password]"
		}
		if r.Modes != chatd.DefaultRoomModes || r.Limit > 0 {
			lock += " [" + modeString(&chatd.Room{Modes: r.Modes, Limit: r.Limit}) + "]"
		}
		by := ""
		if r.Owner != "" {
			by = ", owner " + r.Owner
		}
		body = append(body, fmt.Sprintf("  %s%s (%d here%s, created %s): %s",
			r.Name, lock, len(members), by, s.textTime(r.Created), strings.Join(members, ", ")))
		if r.Topic != "" {
			body = append(body, "    topic: "+r.Topic)
		}
	}
	if list == nil {
		list = []object{}
	}
	s.reply(okEvent("rooms", fmt.Sprintf("%d room%s:", len(rooms), plural(len(rooms))), body, f("rooms", list)))
	return nil
}

func cmdCreate(ctx context.Context, s *session, args string) error {
	name, pw := splitWord(args)
	name = roomArg(name)
	if name == "" || strings.ContainsAny(pw, " \t") {
		return badArgs("create")
	}
	if err := s.srv.cfg().Accounts.CheckRoomName(name); err != nil {
		return err
	}
	// A room of this name may have been deleted behind the daemon's back
	// (chatd userdel deletes the user's rooms): its history and anyone
	// still inside must not become part of the new room. Members are looked
	// at before the database: someone in a room that the database has is
	// in a live room, perhaps one created a moment ago, and stays there.
	if s.srv.hub.occupied(name) || s.srv.logs.has(name) {
		switch _, err := s.srv.store.RoomByName(ctx, name); {
		case chatd.ErrorCode(err) == chatd.ENoSuchRoom:
			s.srv.closeRoom(name, "chatd")
		case err != nil:
			return err
		default:
			return chatd.Errorf(chatd.ERoomExists, "room %s already exists", name)
		}
	}
	token := s.srv.hub.roomToken(name)
	r := chatd.Room{Name: name, Owner: s.user, Created: s.srv.now()}
	if pw != "" {
		var err error
		if r.PassHash, err = s.hashPassword(pw); err != nil {
			return err
		}
	}
	perUser := s.srv.cfg().Rooms.MaxPerUser
	if s.admin.Load() {
		perUser = 0
	}
	if err := s.srv.store.CreateRoomLimited(ctx, r, perUser, s.srv.cfg().Rooms.MaxTotal); err != nil {
		return err
	}
	if err := s.srv.store.AddMember(ctx, s.user, name, s.srv.now(), s.srv.cfg().Rooms.MaxJoined); err != nil {
		if chatd.ErrorCode(err) == chatd.ETooManyRooms {
			return chatd.Errorf(chatd.ETooManyRooms, "created room %s, but you are in too many rooms to join it (rooms.max_joined); leave one, then join %s", name, name)
		}
		return err
	}
	if _, ok := s.srv.joinRoom(s, name, &token, s.answer(okEvent("create", "created room "+name+"; you own it", nil, f("room", name), f("locked", pw != "")))); !ok {
		return chatd.Errorf(chatd.ENoSuchRoom, "%s was created and closed again at once", name)
	}
	return nil
}

func cmdJoin(ctx context.Context, s *session, args string) error {
	name, pw := splitWord(args)
	name = roomArg(name)
	if name == "" || strings.ContainsAny(pw, " \t") {
		return badArgs("join")
	}
	// Before the lookup: a close after it makes the move below fail.
	token := s.srv.hub.roomToken(name)
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	if member, ok := s.srv.hub.memberRoom(s, r.Name); ok {
		// Already a member: it only becomes the current room.
		text := "you are now talking in " + member
		if chatd.Key(s.srv.hub.roomOf(s)) == chatd.Key(member) {
			text = "you are already in " + member
		}
		if _, ok := s.srv.joinRoom(s, member, nil, s.answer(okEvent("join", text, nil, f("room", member)))); ok {
			return nil
		}
		// Left or closed meanwhile: join it as anyone would.
	}
	owner := chatd.Key(r.Owner) == chatd.Key(s.user)
	if b, err := s.srv.store.RoomBanOf(ctx, r.Name, s.user); err != nil {
		return err
	} else if b != nil && !owner && b.ActiveAt(s.srv.now()) {
		until := "for good"
		if !b.Expires.IsZero() {
			until = "until " + s.textTime(b.Expires)
		}
		return &untilError{chatd.Errorf(chatd.ENotPermitted, "you are banned from %s %s", r.Name, until), b.Expires}
	}
	// The mask lists: a ban keeps one out unless a ban exception (+e)
	// matches too; an invite exception (+I) lets one past +i.
	var masks maskVerdict
	if !owner && !s.admin.Load() {
		if masks, err = s.maskVerdict(ctx, r.Name); err != nil {
			return err
		} else if masks.banned {
			return chatd.Errorf(chatd.ENotPermitted, "you are banned from %s", r.Name)
		}
	}
	// An invitation lets one in once past the password, invite-only
	// mode (+i) and the member limit (+l).
	invited := false
	if (r.Locked() || r.Has('i') || r.Limit > 0) && !s.admin.Load() && !owner {
		if invited, err = s.srv.store.UseInvite(ctx, r.Name, s.user); err != nil {
			return err
		}
	}
	if r.Has('i') && !s.admin.Load() && !owner && !invited && !masks.invited {
		return chatd.Errorf(chatd.EInviteOnly, "%s is invite-only: ask one of its operators for an invitation", r.Name)
	}
	if r.Locked() && !s.admin.Load() && !owner && !invited {
		// Each guess costs an argon2 hash; without a limit one user could
		// keep the hash gate busy and lock everyone else out of logging in.
		a := s.setAside()
		if a.roomGuesses == nil {
			a.roomGuesses = ratelimit.New(roomGuessRate, roomGuessBurst, s.srv.now())
		}
		if !a.roomGuesses.Allow(s.srv.now()) {
			return chatd.Errorf(chatd.ERateLimited, "too many room password tries; wait a little")
		}
		if err := s.checkRoomPassword(ctx, r, pw); err != nil {
			return err
		}
	}
	limit := r.Limit
	if s.admin.Load() || owner || invited {
		limit = 0
	}
	if err := s.srv.store.AddMemberWithin(ctx, s.user, r.Name, s.srv.now(), s.srv.cfg().Rooms.MaxJoined, limit); err != nil {
		return err
	}
	replies := []*event{s.answer(okEvent("join", "you are now in "+r.Name, nil, f("room", r.Name)))}
	if r.Topic != "" {
		replies = append(replies, s.answer(topicSetEvent(r)))
	}
	for range 3 {
		if _, ok := s.srv.joinRoom(s, r.Name, &token, replies...); ok || s.ending() {
			return nil
		}
		// A room was closed since the lookup: this one, or another that
		// shares its counter. Look again.
		token = s.srv.hub.roomToken(r.Name)
		if _, err := s.srv.store.RoomByName(ctx, r.Name); err != nil {
			return err
		}
	}
	return chatd.Errorf(chatd.ENoSuchRoom, "%s is being closed", r.Name)
}

func cmdClose(ctx context.Context, s *session, args string) error {
	name := roomArg(args)
	if name == "" {
		var err error
		if name, err = s.currentRoom(); err != nil {
			return err
		}
	}
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	if chatd.Key(r.Name) == chatd.Key(chatd.Lobby) {
		return chatd.Errorf(chatd.ENotPermitted, "the %s cannot be closed", chatd.Lobby)
	}
	if !s.admin.Load() && chatd.Key(r.Owner) != chatd.Key(s.user) {
		return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s or a server admin can close it", r.Name)
	}
	if err := s.srv.store.DeleteRoom(ctx, r.Name); err != nil {
		return err
	}
	if err := s.srv.effect(ctx, &note{Kind: noteClose, Room: r.Name, By: s.user}); err != nil {
		return err
	}
	s.reply(okEvent("close", "closed room "+r.Name, nil, f("room", r.Name)))
	return nil
}

// checkRoomPassword checks pw against room r's password for this user, with
// the login lockout rule applied per room and user and kept in the
// database: after lockout.attempts wrong passwords, join of r answers
// locked_out until lockout.duration has passed, however often the user
// logs in again. One check per room and user runs at a time, so parallel
// sessions cannot outrun the count.
func (s *session) checkRoomPassword(ctx context.Context, r *chatd.Room, pw string) error {
	defer s.srv.nameLocks.lock("room\x00" + chatd.Key(r.Name) + "\x00" + chatd.Key(s.user))()
	locked := func() (bool, error) {
		lc := s.srv.cfg().Lockout
		now := s.srv.now()
		attempts, err := s.srv.store.RoomAttempts(ctx, r.Name, s.user, now.Add(-s.srv.attemptRetention()))
		if err != nil {
			return true, err
		}
		if until := chatd.LockedUntil(attempts, lc.Attempts, lc.Duration.Duration, now); !until.IsZero() {
			return true, &untilError{chatd.Errorf(chatd.ELockedOut, "too many wrong passwords for %s; try again after %s",
				r.Name, s.textTime(until)), until}
		}
		return false, nil
	}
	if stop, err := locked(); stop {
		return err
	}
	match, err := s.verifyPassword(r.PassHash, pw)
	if err != nil {
		return err
	}
	if err := s.srv.store.RecordRoomAttempt(ctx, r.Name, s.user, s.srv.now(), match); err != nil {
		return err
	}
	if match {
		return nil
	}
	if stop, err := locked(); stop {
		return err // this failure set the lock
	}
	return chatd.Errorf(chatd.EBadRoomPassword, "%s needs the right password: join %s PASSWORD", r.Name, r.Name)
}

// roomArg reads a room name argument; IRC's #room spelling is accepted.
func roomArg(arg string) string {
	return strings.TrimPrefix(strings.TrimSpace(arg), "#")
}

// topicMax caps a topic, in characters.
const topicMax = 300

func cmdTopic(ctx context.Context, s *session, args string) error {
	room, err := s.currentRoom()
	if err != nil {
		return err
	}
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		return err
	}
	text := strings.TrimSpace(chatd.CleanText(args))
	if text == "" {
		msg := r.Name + " has no topic"
		if r.Topic != "" {
			msg = "topic of " + r.Name + ": " + r.Topic
		}
		s.reply(okEvent("topic", msg, nil, f("room", r.Name), f("topic", r.Topic)))
		return nil
	}
	// +t (the default): only the room's operators set the topic; -t:
	// any member (the lobby's stays with the admins).
	if r.Has('t') || r.Owner == "" {
		if op, err := s.isRoomOp(ctx, r); err != nil {
			return err
		} else if !op {
			return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s, its operators or a server admin can set its topic", r.Name)
		}
	}
	if text == "-" {
		text = ""
	}
	if n := utf8.RuneCountInString(text); n > topicMax {
		return chatd.Errorf(chatd.EBadArgs, "a topic has at most %d characters; this one has %d", topicMax, n)
	}
	if err := s.srv.store.SetRoomTopicBy(ctx, r.Name, text, s.user, s.srv.now()); err != nil {
		return err
	}
	// The change is an entry of the room's history too, with an id of
	// its own (IRC's event-playback gives it back; every other reader of
	// history keeps to lines). The node where it happens stores it; the
	// note carries the id to the others.
	id := s.srv.newID()
	at, _ := idClock(id)
	s.srv.history.add(r.Name, chatd.HistoryLine{MsgID: id, From: s.user, Text: text, Time: at, Kind: chatd.EntryTopic})
	if err := s.srv.effect(ctx, &note{Kind: noteTopic, ID: id, Room: r.Name, Text: text, By: s.user, Src: s.sid}); err != nil {
		return err
	}
	msg := "topic of " + r.Name + " is now: " + text
	if text == "" {
		msg = "topic of " + r.Name + " cleared"
	}
	s.reply(okEvent("topic", msg, nil, f("room", r.Name), f("topic", text), f("id", id)))
	return nil
}
