// Moderation: putting users out of a room or off the server.

package daemon

import (
	"context"

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
	o := s.srv.hub.lookup(name)
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
		o.end(byeKicked, text)
		s.reply(okEvent("kick", o.user+" was disconnected", nil, f("user", o.user)))
		return nil
	}
	room := s.srv.hub.roomOf(o)
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil || chatd.Key(r.Owner) != chatd.Key(s.user) {
		return chatd.Errorf(chatd.ENotPermitted, "only server admins, or the owner of the room %s is in, can kick them", o.user)
	}
	ev := roomKickEvent(r.Name, o.user, s.user, reason)
	fanout(s.srv.hub.members(r.Name), ev, nil, nil)
	s.srv.moveTo(o, chatd.Lobby, false, nil)
	s.reply(okEvent("kick", o.user+" was put out of "+r.Name, nil, f("user", o.user)))
	return nil
}
