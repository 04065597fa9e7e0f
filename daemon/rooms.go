// Room commands: list, create, join, leave, close.

package daemon

import (
	"context"
	"fmt"
	"strings"

	"chatd"
)

func cmdRooms(ctx context.Context, s *session, _ string) error {
	rooms, err := s.srv.store.Rooms(ctx)
	if err != nil {
		return err
	}
	occupants := s.srv.hub.roomCounts()
	var list []object
	var body []string
	for _, r := range rooms {
		members := nonNil(occupants[chatd.Key(r.Name)])
		owner := any(nil)
		if r.Owner != "" {
			owner = r.Owner
		}
		list = append(list, object{f("name", r.Name), f("owner", owner), f("members", members),
			f("created", stamp(r.Created)), f("locked", r.Locked())})
		lock := ""
		if r.Locked() {
			lock = " [password]"
		}
		by := ""
		if r.Owner != "" {
			by = ", owner " + r.Owner
		}
		body = append(body, fmt.Sprintf("  %s%s (%d here%s, created %s): %s",
			r.Name, lock, len(members), by, textDate(r.Created), strings.Join(members, ", ")))
	}
	if list == nil {
		list = []object{}
	}
	s.reply(okEvent("rooms", fmt.Sprintf("%d room%s:", len(rooms), plural(len(rooms))), body, f("rooms", list)))
	return nil
}

func cmdCreate(ctx context.Context, s *session, args string) error {
	name, pw := splitWord(args)
	if name == "" || strings.ContainsAny(pw, " \t") {
		return badArgs("create")
	}
	if err := s.srv.cfg().Accounts.CheckName(name); err != nil {
		return chatd.Errorf(chatd.EBadName, "room names follow the username rules: %s", chatd.ErrorMessage(err))
	}
	r := chatd.Room{Name: name, Owner: s.user, Created: s.srv.now()}
	if pw != "" {
		var err error
		if r.PassHash, err = s.srv.hashPassword(pw); err != nil {
			return err
		}
	}
	if err := s.srv.store.CreateRoom(ctx, r); err != nil {
		return err
	}
	// A room of this name may have been deleted behind the daemon's back
	// (chatd userdel deletes the user's rooms): its history and anyone
	// still inside must not become part of the new room.
	s.srv.logs.drop(name)
	for _, m := range s.srv.hub.members(name) {
		m.send(roomEvent(roomClosed, name, "chatd"))
		s.srv.moveTo(m, chatd.Lobby, false, nil)
	}
	s.srv.moveTo(s, name, true, okEvent("create", "created room "+name+"; you own it", nil, f("room", name), f("locked", pw != "")))
	return nil
}

func cmdJoin(ctx context.Context, s *session, args string) error {
	name, pw := splitWord(args)
	if name == "" || strings.ContainsAny(pw, " \t") {
		return badArgs("join")
	}
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	if chatd.Key(s.srv.hub.roomOf(s)) == chatd.Key(r.Name) {
		s.reply(okEvent("join", "you are already in "+r.Name, nil, f("room", r.Name)))
		return nil
	}
	if r.Locked() && !s.admin.Load() && chatd.Key(r.Owner) != chatd.Key(s.user) {
		// Each guess costs an argon2 hash; without a limit one user could
		// keep the hash gate busy and lock everyone else out of logging in.
		if s.roomGuesses == nil {
			s.roomGuesses = newBucket(roomGuessRate, roomGuessBurst, s.srv.now())
		}
		if !s.roomGuesses.allow(s.srv.now()) {
			return chatd.Errorf(chatd.ERateLimited, "too many room password tries; wait a little")
		}
		match, err := s.srv.verifyPassword(r.PassHash, pw)
		if err != nil {
			return err
		}
		if !match {
			return chatd.Errorf(chatd.EBadRoomPassword, "%s needs the right password: join %s PASSWORD", r.Name, r.Name)
		}
	}
	s.srv.moveTo(s, r.Name, true, okEvent("join", "you are now in "+r.Name, nil, f("room", r.Name)))
	return nil
}

func cmdLeave(ctx context.Context, s *session, _ string) error {
	if chatd.Key(s.srv.hub.roomOf(s)) == chatd.Key(chatd.Lobby) {
		s.reply(okEvent("leave", "you are already in the "+chatd.Lobby, nil, f("room", chatd.Lobby)))
		return nil
	}
	s.srv.moveTo(s, chatd.Lobby, true, okEvent("leave", "you are back in the "+chatd.Lobby, nil, f("room", chatd.Lobby)))
	return nil
}

func cmdClose(ctx context.Context, s *session, args string) error {
	name := strings.TrimSpace(args)
	if name == "" {
		name = s.srv.hub.roomOf(s)
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
	s.srv.logs.drop(r.Name)
	members := s.srv.hub.members(r.Name)
	fanout(members, roomEvent(roomClosed, r.Name, s.user), nil, nil)
	for _, m := range members {
		s.srv.moveTo(m, chatd.Lobby, false, nil)
	}
	s.reply(okEvent("close", "closed room "+r.Name, nil, f("room", r.Name)))
	return nil
}
