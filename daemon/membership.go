// Several rooms at once (PROTOCOL.md 9.3): a user's member rooms, leave,
// rooms mine, and speaking to a room that is not the current one.

package daemon

import (
	"context"
	"fmt"
	"strings"

	"chatd"
)

// roomInfo is one of the user's rooms as the welcome and rooms mine show
// it.
type roomInfo struct {
	Name   string
	Unread int
	Topic  string
}

// roomInfoList renders rooms as JSON objects {"name","unread","topic"}.
func roomInfoList(rooms []roomInfo) []object {
	out := make([]object, len(rooms))
	for i, r := range rooms {
		out[i] = object{f("name", r.Name), f("unread", r.Unread), f("topic", r.Topic)}
	}
	return out
}

// describeRooms looks rooms up for their topics and gives each its count
// from unread (by chatd.Key(room)). A room closed since it was listed is
// left out.
func (s *Server) describeRooms(ctx context.Context, names []string, unread map[string]int) ([]string, []roomInfo, error) {
	var rooms []string
	var infos []roomInfo
	for _, name := range names {
		r, err := s.store.RoomByName(ctx, name)
		if chatd.ErrorCode(err) == chatd.ENoSuchRoom {
			continue
		} else if err != nil {
			return nil, nil, err
		}
		rooms = append(rooms, r.Name)
		infos = append(infos, roomInfo{Name: r.Name, Unread: unread[chatd.Key(r.Name)], Topic: r.Topic})
	}
	return rooms, infos, nil
}

// unreadCounts is how many lines of each of rooms user has not read (read
// markers, PROTOCOL.md 9.5), by chatd.Key(room).
func (s *Server) unreadCounts(ctx context.Context, user string, rooms []string) (map[string]int, error) {
	convs := make([]string, len(rooms))
	for i, r := range rooms {
		convs[i] = "#" + r
	}
	counts, err := s.store.UnreadCounts(ctx, user, convs)
	if err != nil {
		return nil, err
	}
	return roomUnread(counts), nil
}

// roomUnread picks the rooms' counts out of counts, by chatd.Key(room).
func roomUnread(counts []chatd.Unread) map[string]int {
	out := make(map[string]int, len(counts))
	for _, c := range counts {
		if strings.HasPrefix(c.Conversation, "#") {
			out[chatd.Key(c.Conversation[1:])] = c.Count
		}
	}
	return out
}

// currentRoom is the room plain lines of s go to, or not_in_room.
func (s *session) currentRoom() (string, error) {
	room := s.srv.hub.roomOf(s)
	if room == "" {
		return "", notInRoom("")
	}
	return room, nil
}

// notInRoom is the error for a room the user is not a member of ("": no
// current room).
func notInRoom(room string) error {
	if room == "" {
		return chatd.Errorf(chatd.ENotInRoom, "you are in no room; join one first (rooms lists them)")
	}
	return chatd.Errorf(chatd.ENotInRoom, "you are not in %s; join %s first", room, room)
}

// memberArg resolves a room argument (#den or den) to one of the user's
// rooms, or not_in_room.
func (s *session) memberArg(arg string) (string, error) {
	name := roomArg(arg)
	room, ok := s.srv.hub.memberRoom(s, name)
	if !ok {
		return "", notInRoom(name)
	}
	return room, nil
}

func cmdLeave(ctx context.Context, s *session, args string) error {
	return leaveBecause(ctx, s, args, "")
}

// leaveBecause is cmdLeave with what the user said leaving, shown to the
// room ("" nothing; IRC's PART message).
func leaveBecause(ctx context.Context, s *session, args, reason string) error {
	var room string
	var err error
	if strings.TrimSpace(args) == "" {
		room, err = s.currentRoom()
	} else {
		if strings.ContainsAny(strings.TrimSpace(args), " \t") {
			return badArgs("leave")
		}
		room, err = s.memberArg(args)
	}
	if err != nil {
		return err
	}
	if _, err := s.srv.store.RemoveMember(ctx, s.user, room); err != nil {
		return err
	}
	s.srv.leaveRoomWith(s, room, true, reason, func(current string) []*event {
		text := "you left " + room
		if current != "" {
			text += "; you are now in " + current
		} else {
			text += "; you are in no room now"
		}
		fields := []field{f("room", nullable(current)), f("left", room)}
		if reason != "" {
			fields = append(fields, f("reason", reason))
		}
		return []*event{s.answer(okEvent("leave", text, nil, fields...))}
	})
	return nil
}

// cmdRoomsMine lists the user's rooms with their unread counts.
func cmdRoomsMine(ctx context.Context, s *session) error {
	rooms := s.srv.hub.roomsOf(s)
	unread, err := s.srv.unreadCounts(ctx, s.user, rooms)
	if err != nil {
		return err
	}
	_, infos, err := s.srv.describeRooms(ctx, rooms, unread)
	if err != nil {
		return err
	}
	current := s.srv.hub.roomOf(s)
	var body []string
	for _, r := range infos {
		mark := " "
		if chatd.Key(r.Name) == chatd.Key(current) {
			mark = "*"
		}
		line := fmt.Sprintf(" %s%s (%d unread)", mark, r.Name, r.Unread)
		if r.Topic != "" {
			line += ": " + r.Topic
		}
		body = append(body, line)
	}
	text := fmt.Sprintf("you are in %d room%s:", len(infos), plural(len(infos)))
	if current != "" {
		text += " (* is where you talk: " + current + ")"
	}
	s.reply(okEvent("rooms", text, body, f("room", nullable(current)), f("rooms", roomInfoList(infos))))
	return nil
}

// roomTarget splits "#ROOM TEXT" when the first word names a room with #:
// the room must be one of the user's (not_in_room otherwise). ok is false
// when args does not start with #.
func (s *session) roomTarget(args string) (room, text string, ok bool, err error) {
	w, rest := splitWord(args)
	if !strings.HasPrefix(w, "#") || len(w) < 2 {
		return "", "", false, nil
	}
	room, err = s.memberArg(w)
	return room, rest, true, err
}
