// Moderation: putting users out of a room or off the server, and what a
// room's owner may do with it (invite, roomban, roompasswd, transfer).

package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
)

func cmdKick(ctx context.Context, s *session, args string) error {
	name, reason := splitWord(args)
	if name == "" {
		return badArgs("kick")
	}
	reason = chatd.CleanText(reason)
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you cannot kick yourself")
	}
	o, err := s.srv.community.find(ctx, name)
	if err != nil {
		return err
	}
	if o == nil {
		if _, err := s.srv.store.UserByName(ctx, name); err != nil {
			return err
		}
		return chatd.Errorf(chatd.ENoSuchUser, "%s is not online", name)
	}
	text := "kicked by " + s.user
	if reason != "" {
		text += ": " + reason
	}
	if s.admin.Load() {
		if err := s.srv.endUser(ctx, o.User, byeKicked, text); err != nil {
			return err
		}
		s.reply(okEvent("kick", o.User+" was disconnected", nil, f("user", o.User)))
		return nil
	}
	// The room: the kicker's current one when the user is in it (a user
	// may be in several rooms), else the user's current one.
	room := o.Room
	if mine := s.srv.hub.roomOf(s); mine != "" && o.in(mine) {
		room = mine
	}
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		return chatd.Errorf(chatd.ENotPermitted, "only server admins, or the owner of the room %s is in, can kick them", o.User)
	}
	if op, err := s.isRoomOp(ctx, r); err != nil {
		return err
	} else if !op {
		return chatd.Errorf(chatd.ENotPermitted, "only server admins, or the owner or an operator of the room %s is in, can kick them", o.User)
	}
	// A kick ends the membership (PROTOCOL.md 9.3).
	if _, err := s.srv.store.RemoveMember(ctx, o.User, r.Name); err != nil {
		return err
	}
	if err := s.srv.effect(ctx, &note{Kind: noteRoomKick, Room: r.Name, User: o.User, By: s.user, Text: reason}); err != nil {
		return err
	}
	s.reply(okEvent("kick", o.User+" was put out of "+r.Name, nil, f("user", o.User)))
	return nil
}

// untilError is an error that says until when it holds (a login or room
// password lock, a room ban); fail() adds "until", null for good.
type untilError struct {
	err   *chatd.Error
	until time.Time
}

func (e *untilError) Error() string { return e.err.Error() }
func (e *untilError) Unwrap() error { return e.err }

// ownedRoom returns the room the user is in when they may moderate it: its
// owner, or with admins a server admin. The lobby has no owner.
func (s *session) ownedRoom(ctx context.Context, cmd string, admins bool) (*chatd.Room, error) {
	room, err := s.currentRoom()
	if err != nil {
		return nil, err
	}
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		return nil, err
	}
	if chatd.Key(r.Name) == chatd.Key(chatd.Lobby) {
		return nil, chatd.Errorf(chatd.ENotPermitted, "the %s has no owner; %s works in a room you own", chatd.Lobby, cmd)
	}
	if chatd.Key(r.Owner) == chatd.Key(s.user) || admins && s.admin.Load() {
		return r, nil
	}
	// A room operator (roommode +o) moderates it as its owner does, but
	// cannot give it away.
	if cmd != "transfer" {
		if op, err := s.isRoomOp(ctx, r); err != nil {
			return nil, err
		} else if op {
			return r, nil
		}
	}
	if admins {
		return nil, chatd.Errorf(chatd.ENotPermitted, "only the owner of %s or a server admin can use %s here", r.Name, cmd)
	}
	return nil, chatd.Errorf(chatd.ENotPermitted, "only the owner of %s can use %s here", r.Name, cmd)
}

// oneName reads a single user name argument.
func oneName(cmd, args string) (string, error) {
	name := strings.TrimSpace(args)
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", badArgs(cmd)
	}
	return name, nil
}

// cmdInvites lists the rooms the user has an invitation to (IRC's INVITE
// with no parameters).
func cmdInvites(ctx context.Context, s *session, args string) error {
	if strings.TrimSpace(args) != "" {
		return badArgs("invites")
	}
	rooms, err := s.srv.store.InvitesOf(ctx, s.user)
	if err != nil {
		return err
	}
	text := "you have no invitations"
	var body []string
	if len(rooms) > 0 {
		text = "you are invited to:"
		for _, r := range rooms {
			body = append(body, "  "+r)
		}
	}
	s.reply(okEvent("invites", text, body, f("rooms", nonNil(rooms))))
	return nil
}

func cmdInvite(ctx context.Context, s *session, args string) error {
	name, err := oneName("invite", args)
	if err != nil {
		return err
	}
	room, err := s.currentRoom()
	if err != nil {
		return err
	}
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		return err
	}
	if chatd.Key(r.Name) == chatd.Key(chatd.Lobby) {
		return chatd.Errorf(chatd.ENotPermitted, "everyone is in the %s; invite works in another room", chatd.Lobby)
	}
	// Any member invites to an open room; to an invite-only (+i) or a
	// locked one, only its owner and operators.
	if op, err := s.isRoomOp(ctx, r); err != nil {
		return err
	} else if !op && (r.Has('i') || r.Locked()) {
		return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s or its operators can invite to it", r.Name)
	}
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you are in %s already; you need no invitation", r.Name)
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if b, err := s.srv.store.RoomBanOf(ctx, r.Name, u.Name); err != nil {
		return err
	} else if b != nil && b.ActiveAt(s.srv.now()) {
		return chatd.Errorf(chatd.ENotPermitted, "%s is banned from %s; roomunban %s first", u.Name, r.Name, u.Name)
	}
	if err := s.srv.store.Invite(ctx, r.Name, u.Name, s.user, s.srv.now()); err != nil {
		return err
	}
	if err := s.srv.effect(ctx, &note{Kind: noteInvite, Room: r.Name, User: u.Name, By: s.user}); err != nil {
		return err
	}
	text := fmt.Sprintf("%s may now join %s once without its password", u.Name, r.Name)
	switch {
	case r.Has('i') || r.Limit > 0:
		text = fmt.Sprintf("%s may now join %s once (past its password, invite-only mode and member limit)", u.Name, r.Name)
	case !r.Locked():
		text = fmt.Sprintf("%s was invited to %s (it has no password: anyone may join)", u.Name, r.Name)
	}
	s.reply(okEvent("invite", text, nil, f("room", r.Name), f("user", u.Name)))
	return nil
}

func cmdRoomBan(ctx context.Context, s *session, args string) error {
	name, rest := splitWord(args)
	if name == "" {
		return badArgs("roomban")
	}
	if isMask(name) && rest == "" {
		return s.roomMaskBan(ctx, "roomban", name, true)
	}
	var dur time.Duration
	if rest != "" {
		d, err := chatd.ParseBanDuration(rest)
		if err != nil {
			return chatd.Errorf(chatd.EBadArgs, "%q is not a duration: write it like 30m, 2h or 7d (or permanent)", rest)
		}
		dur = d
	}
	r, err := s.ownedRoom(ctx, "roomban", true)
	if err != nil {
		return err
	}
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you cannot ban yourself from %s", r.Name)
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if chatd.Key(u.Name) == chatd.Key(r.Owner) {
		return chatd.Errorf(chatd.ENotPermitted, "%s owns %s and cannot be banned from it", u.Name, r.Name)
	}
	now := s.srv.now()
	b := chatd.RoomBan{Room: r.Name, User: u.Name, By: s.user, Created: now}
	if dur > 0 {
		b.Expires = now.Add(dur)
	}
	if err := s.srv.store.RoomBan(ctx, b); err != nil {
		return err
	}
	if _, err := s.srv.store.RemoveMember(ctx, u.Name, r.Name); err != nil {
		return err
	}
	n := &note{Kind: noteRoomBan, Room: r.Name, User: u.Name, By: s.user, Src: s.sid, Time: b.Expires}
	if err := s.srv.effect(ctx, n); err != nil {
		return err
	}
	until := "for good"
	if dur > 0 {
		until = "until " + s.textTime(b.Expires)
	}
	s.reply(okEvent("roomban", fmt.Sprintf("%s is banned from %s %s", u.Name, r.Name, until), nil,
		f("room", r.Name), f("user", u.Name), f("until", jsonTime(b.Expires))))
	return nil
}

func cmdRoomUnban(ctx context.Context, s *session, args string) error {
	name, err := oneName("roomunban", args)
	if err != nil {
		return err
	}
	if isMask(name) {
		return s.roomMaskBan(ctx, "roomunban", name, false)
	}
	r, err := s.ownedRoom(ctx, "roomunban", true)
	if err != nil {
		return err
	}
	if err := s.srv.store.RoomUnban(ctx, r.Name, name); err != nil {
		return err
	}
	name = s.registered(ctx, name)
	s.reply(okEvent("roomunban", fmt.Sprintf("%s may join %s again", name, r.Name), nil,
		f("room", r.Name), f("user", name)))
	return nil
}

func cmdRoomPasswd(ctx context.Context, s *session, args string) error {
	pw := strings.TrimSpace(args)
	if strings.ContainsAny(pw, " \t") {
		return badArgs("roompasswd")
	}
	r, err := s.ownedRoom(ctx, "roompasswd", false)
	if err != nil {
		return err
	}
	hash := ""
	if pw != "" {
		if hash, err = s.hashPassword(pw); err != nil {
			return err
		}
	}
	if err := s.srv.store.SetRoomPassword(ctx, r.Name, hash); err != nil {
		return err
	}
	text := r.Name + " now needs a password to join"
	if pw == "" {
		text = r.Name + " no longer has a password: anyone may join"
	}
	s.reply(okEvent("roompasswd", text, nil, f("room", r.Name), f("locked", pw != "")))
	return nil
}

func cmdTransfer(ctx context.Context, s *session, args string) error {
	name, err := oneName("transfer", args)
	if err != nil {
		return err
	}
	r, err := s.ownedRoom(ctx, "transfer", false)
	if err != nil {
		return err
	}
	if chatd.Key(name) == chatd.Key(s.user) {
		return chatd.Errorf(chatd.ESelf, "you already own %s", r.Name)
	}
	u, err := s.srv.store.UserByName(ctx, name)
	if err != nil {
		return err
	}
	o, err := s.srv.community.find(ctx, u.Name)
	if err != nil {
		return err
	}
	if o == nil || !o.in(r.Name) {
		return chatd.Errorf(chatd.ENotPermitted, "%s must be in %s to take it over", u.Name, r.Name)
	}
	if err := s.srv.store.SetRoomOwner(ctx, r.Name, u.Name); err != nil {
		return err
	}
	if err := s.srv.effect(ctx, &note{Kind: noteOwner, Room: r.Name, User: u.Name, By: s.user, Src: s.sid}); err != nil {
		return err
	}
	s.reply(okEvent("transfer", fmt.Sprintf("%s now owns %s", u.Name, r.Name), nil,
		f("room", r.Name), f("user", u.Name)))
	return nil
}
