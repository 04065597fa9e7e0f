package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"chatd"
)

// rename #ROOM #NEW [reason]: the room's owner or a server admin renames
// a room. It stays the same room (history, members, bans, modes, read
// markers go with it); the sessions in it are moved under the hub's lock,
// so no one leaves or joins. Everyone in it is told: IRC clients with
// draft/channel-rename get RENAME, the others a PART and a JOIN; telnet,
// SSH and JSON get the room event "renamed".

// cmdRename renames a room.
func cmdRename(ctx context.Context, s *session, args string) error {
	name, rest := splitWord(args)
	to, reason := splitWord(rest)
	name, to = roomArg(name), roomArg(to)
	if name == "" || to == "" {
		return badArgs("rename")
	}
	if err := s.srv.cfg().Accounts.CheckRoomName(to); err != nil {
		return err
	}
	r, err := s.srv.store.RoomByName(ctx, name)
	if err != nil {
		return err
	}
	if !s.admin.Load() && chatd.Key(r.Owner) != chatd.Key(s.user) {
		return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s or a server admin can rename it", r.Name)
	}
	if err := s.srv.store.RenameRoom(ctx, r.Name, to); err != nil {
		return err
	}
	if err := s.srv.effect(ctx, &note{Kind: noteRename, Room: r.Name, To: to, By: s.user, Reason: chatd.CleanText(reason)}); err != nil {
		return err
	}
	s.reply(okEvent("rename", "renamed room "+r.Name+" to "+to, nil, f("room", r.Name), f("to", to)))
	return nil
}

// renameRoom applies a rename on this node: the room's caches are
// dropped, its sessions moved to the new name, and they are told.
func (s *Server) renameRoom(n *note) {
	s.logs.drop(n.Room)
	s.roomModes.forget(n.Room)
	s.sizes.forget(n.Room)
	members := s.hub.renameRoom(n.Room, n.To)
	ev := renamedEvent(n.Room, n.To, n.By, n.Reason)
	fanout(members, ev, nil, nil)
}

// renameRoom moves room's sessions to the name to; moves holding a token
// of room's stripe fail (as for a closed room). It returns the members.
func (h *hub) renameRoom(room, to string) []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closes[closeStripe(room)]++
	k, nk := chatd.Key(room), chatd.Key(to)
	members := h.rooms[k]
	delete(h.rooms, k)
	if len(members) > 0 {
		h.rooms[nk] = members
	}
	if n, ok := h.roomUsers[k]; ok {
		delete(h.roomUsers, k)
		h.roomUsers[nk] = n
	}
	for _, m := range members {
		for i, r := range m.rooms {
			if chatd.Key(r) == k {
				m.rooms[i] = to
			}
		}
		if chatd.Key(m.room) == k {
			m.room = to
		}
	}
	h.changedLocked(members...)
	return snapshotOf(members)
}

func renamedEvent(room, to, by, reason string) *event {
	t := fmt.Sprintf("* room %s is now called %s (renamed by %s)", room, to, by)
	if reason != "" {
		t += ": " + reason
	}
	return newEvent("room", t, f("event", roomRenamed), f("room", room), f("to", to), f("user", by), f("reason", reason)).stamped(time.Time{}, stampLive)
}

// ircRename is RENAME #old #new [:reason] (draft/channel-rename).
func ircRename(ctx context.Context, s *session, m *ircMsg) {
	if !strings.HasPrefix(m.params[0], "#") || !strings.HasPrefix(m.params[1], "#") {
		s.ircLineOut(s.srv.serverName(), "FAIL", "RENAME", "CANNOT_RENAME", m.params[0], m.params[1], "channel names start with #")
		return
	}
	_, err := s.collect(ctx, cmdRename, m.params[0]+" "+m.params[1]+" "+m.param(2))
	if err == nil {
		return
	}
	switch chatd.ErrorCode(err) {
	case chatd.ENoSuchRoom:
		s.numeric("403", m.params[0], "No such channel")
	case chatd.ENotPermitted:
		s.numeric("482", m.params[0], "You're not channel operator")
	case chatd.ERoomExists:
		s.ircLineOut(s.srv.serverName(), "FAIL", "RENAME", "CHANNEL_NAME_IN_USE", m.params[0], m.params[1], "that name is taken")
	default:
		s.ircLineOut(s.srv.serverName(), "FAIL", "RENAME", "CANNOT_RENAME", m.params[0], m.params[1], err.Error())
	}
}

// appendIRCRename renders a rename: RENAME with draft/channel-rename,
// else a PART of the old channel and a JOIN of the new one.
func (s *session) appendIRCRename(buf []byte, ev *event, me string) []byte {
	room, to, by, reason := ev.str("room"), ev.str("to"), ev.str("user"), ev.str("reason")
	if s.irc.has(capChannelRename) {
		return appendIRC(buf, nil, userMask(by), "RENAME", "#"+room, "#"+to, reason)
	}
	buf = appendIRC(buf, nil, userMask(me), "PART", "#"+room, "the room was renamed to #"+to)
	return appendIRC(buf, nil, userMask(me), "JOIN", "#"+to)
}
