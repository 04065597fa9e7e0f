// Metadata (IRCv3 draft/metadata-3; docs/irc.md "Metadata"): the keys an
// account sets on itself and a room's owner sets on the room, kept by the
// store (chatd.MetadataStore). This file is the part every transport
// shares: who may read and change a target, the change as a note, who
// hears of it, and the chatd command meta. irc_metadata.go is the
// METADATA command and its numerics.

package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"chatd"
)

// metaTarget is a metadata target a command named, looked up.
type metaTarget struct {
	room  bool
	name  string // the account's or room's registered spelling
	owner string // a room's owner
}

// lookupMeta finds the account or room (IRC spelling: "#room") that name
// is: ENoSuchUser or ENoSuchRoom when there is none.
func (s *Server) lookupMeta(ctx context.Context, name string) (metaTarget, error) {
	if room, ok := cutRoom(name); ok {
		r, err := s.store.RoomByName(ctx, room)
		if err != nil {
			return metaTarget{}, err
		}
		return metaTarget{room: true, name: r.Name, owner: r.Owner}, nil
	}
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		return metaTarget{}, err
	}
	return metaTarget{name: u.Name}, nil
}

// cutRoom is the room a "#room" target names.
func cutRoom(name string) (string, bool) {
	if len(name) > 1 && name[0] == '#' {
		return name[1:], true
	}
	return "", false
}

// mayReadMeta reports whether sess may read t's keys: an account's are
// anyone's to read; a room's are its members' (and server admins'), like
// its history.
func (s *Server) mayReadMeta(sess *session, t metaTarget) bool {
	if !t.room {
		return true
	}
	if _, member := s.hub.memberRoom(sess, t.name); member {
		return true
	}
	return s.isAdminSession(sess)
}

// mayWriteMeta reports whether sess may change t's keys: its own account,
// or a room it owns; a server admin may change any room's.
func (s *Server) mayWriteMeta(sess *session, t metaTarget) bool {
	if !t.room {
		return chatd.Key(t.name) == chatd.Key(sess.user)
	}
	return chatd.Key(t.owner) == chatd.Key(sess.user) || s.isAdminSession(sess)
}

// isAdminSession reports whether sess is a server admin's, by account or
// by IRC OPER.
func (s *Server) isAdminSession(sess *session) bool {
	return sess.admin.Load() || s.isOper(sess.user)
}

// setMeta sets key on t to value, or removes it when value is "" (not an
// error when it was not set), and tells whoever hears of t. The caller
// checked the permission, the key and the value.
func (s *Server) setMeta(ctx context.Context, by *session, t metaTarget, key, value string) error {
	if value == "" {
		gone, err := s.store.DeleteMetadata(ctx, t.room, t.name, []string{key})
		if err != nil {
			return err
		}
		if len(gone) > 0 {
			s.tellMeta(ctx, by, t, key, "")
		}
		return nil
	}
	if err := s.store.SetMetadata(ctx, t.room, t.name, chatd.Meta{Key: key, Value: value, Visibility: chatd.MetaPublic}); err != nil {
		return err
	}
	s.tellMeta(ctx, by, t, key, value)
	return nil
}

// clearMeta removes every key of t, tells of each, and returns them.
func (s *Server) clearMeta(ctx context.Context, by *session, t metaTarget) ([]string, error) {
	gone, err := s.store.DeleteMetadata(ctx, t.room, t.name, nil)
	if err != nil {
		return nil, err
	}
	for _, k := range gone {
		s.tellMeta(ctx, by, t, k, "")
	}
	return gone, nil
}

// tellMeta is the effect of one key's change: a note that every node
// shows its sessions (showMeta). by's own session has its answer.
func (s *Server) tellMeta(ctx context.Context, by *session, t metaTarget, key, value string) {
	n := &note{Kind: noteMeta, By: by.user, Src: by.sid, MetaKey: key, MetaValue: value}
	if t.room {
		n.Room = t.name
	} else {
		n.User = t.name
		n.Rooms = s.hub.roomsOf(by)
	}
	if err := s.effect(ctx, n); err != nil {
		s.log.Error("tell the cluster of a metadata change", "user", by.user, "key", key, "err", err)
	}
}

// showMeta shows a metadata change to this node's sessions that hear of
// its target: a room's members; for an account, the members of its rooms,
// its watchers and its own other sessions. src (the session that made
// the change) has its answer. Only IRC clients subscribed to the key
// render it (appendIRCMeta).
func (s *Server) showMeta(n *note, src *session) {
	ev := &event{typ: "metadata", noText: true, jsonSkip: true,
		fields: []field{f("room", n.Room), f("user", n.User), f("key", n.MetaKey), f("value", n.MetaValue)}}
	if n.Room != "" {
		fanout(s.hub.members(n.Room), ev, src, nil)
		return
	}
	to := s.hub.audience(n.User, n.Rooms)
	for _, o := range s.hub.sessionsOf(n.User, "") {
		if !slices.Contains(to, o) {
			to = append(to, o)
		}
	}
	fanout(to, ev, src, nil)
}

// cmdMeta is the command meta (docs/protocol.md "meta"): list the keys of
// an account or a room (yours when none is named), or set and unset your
// own or, as its owner, a room's.
func cmdMeta(ctx context.Context, s *session, args string) error {
	verb, rest := splitWord(args)
	if (verb == "set" || verb == "unset") && rest != "" {
		return s.metaCommandChange(ctx, verb, rest)
	}
	name, extra := splitWord(args)
	if extra != "" {
		return badArgs("meta")
	}
	if name == "" {
		name = s.user
	}
	t, err := s.srv.lookupMeta(ctx, strings.TrimPrefix(name, "@"))
	if err != nil {
		return err
	}
	shown := metaShown(t)
	if !s.srv.mayReadMeta(s, t) {
		return chatd.Errorf(chatd.ENotInRoom, "you are not in %s: its metadata is its members'", shown)
	}
	all, err := s.srv.store.Metadata(ctx, t.room, t.name)
	if err != nil {
		return err
	}
	list := []object{}
	var body []string
	for _, m := range all {
		list = append(list, object{f("key", m.Key), f("value", m.Value)})
		body = append(body, "  "+m.Key+": "+m.Value)
	}
	text := fmt.Sprintf("%s has %d metadata key%s:", shown, len(all), plural(len(all)))
	if len(all) == 0 {
		text = shown + " has no metadata"
	}
	s.reply(okEvent("meta", text, body, f("target", shown), f("keys", list)))
	return nil
}

// metaCommandChange is meta set [#room] KEY VALUE and meta unset
// [#room] KEY.
func (s *session) metaCommandChange(ctx context.Context, verb, args string) error {
	target := s.user
	if strings.HasPrefix(args, "#") {
		target, args = splitWord(args)
	}
	key, value := splitWord(args)
	if key == "" || (verb == "set") == (value == "") {
		return badArgs("meta")
	}
	t, err := s.srv.lookupMeta(ctx, target)
	if err != nil {
		return err
	}
	shown := metaShown(t)
	if !s.srv.mayWriteMeta(s, t) {
		return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s changes its metadata", shown)
	}
	if !chatd.ValidMetaKey(key) {
		return chatd.Errorf(chatd.EBadArgs, "a metadata key is 1 to %d of a-z, 0-9, _ . / and -", chatd.MaxMetadataKeyBytes)
	}
	if value != "" {
		if err := chatd.CheckMetaValue(value); err != nil {
			return err
		}
	}
	if err := s.srv.setMeta(ctx, s, t, key, value); err != nil {
		return err
	}
	text := fmt.Sprintf("%s of %s is now %s", key, shown, value)
	if value == "" {
		text = fmt.Sprintf("%s of %s is not set", key, shown)
	}
	s.reply(okEvent("meta", text, nil, f("target", shown), f("key", key), f("value", value)))
	return nil
}

// metaShown is how a target is named to users: an account's name, a
// room as #room.
func metaShown(t metaTarget) string {
	if t.room {
		return "#" + t.name
	}
	return t.name
}
