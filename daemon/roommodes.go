// Room modes (roommode): a room's flags (invite-only, moderated, no lines
// from outside, secret, topic by operators), its member limit, its
// operators and voiced members, and its bans by mask. They are chatd room
// features every transport has; IRC's MODE maps onto them (irccommands.go).

package daemon

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatd"
)

// roomModeChanged is the room event of a roommode change.
const roomModeChanged = "mode"

// roomModeInfo is what a room line needs to know of its room: its flags,
// its owner and its mute masks (m: on the bans and ban exceptions).
type roomModeInfo struct {
	modes string
	owner string
	mutes []chatd.RoomMask
}

func (i roomModeInfo) has(c byte) bool { return strings.IndexByte(i.modes, c) >= 0 }

// roomModeCache keeps each room's flags as this node last read them, so
// that a room line does not read the database. A mode change (noteMode,
// on every node), a transfer and a close forget the room's entry.
type roomModeCache struct {
	mu sync.Mutex              // leaf (DEVELOPING.md): taken under no other lock, takes none
	m  map[string]roomModeInfo // guarded by mu; by chatd.Key(room)
	// gen counts the forgets (guarded by mu): a read of the store that
	// a forget overtook is not kept, since it may be older than the
	// change.
	gen uint64
}

// get is key's entry, or the generation to hand put after reading the
// store.
func (c *roomModeCache) get(key string) (roomModeInfo, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.m[key]
	return i, c.gen, ok
}

// put keeps i, read from the store after get answered gen, unless a
// forget came in between.
func (c *roomModeCache) put(key string, i roomModeInfo, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = map[string]roomModeInfo{}
	}
	c.m[key] = i
}

func (c *roomModeCache) forget(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, chatd.Key(room))
}

// roomModesOf is room's flags and owner, from the cache or the store.
func (s *Server) roomModesOf(ctx context.Context, room string) (roomModeInfo, error) {
	k := chatd.Key(room)
	i, gen, ok := s.roomModes.get(k)
	if ok {
		return i, nil
	}
	r, err := s.store.RoomByName(ctx, room)
	if err != nil {
		return roomModeInfo{}, err
	}
	masks, err := s.store.RoomMasks(ctx, room)
	if err != nil {
		return roomModeInfo{}, err
	}
	i = roomModeInfo{modes: r.Modes, owner: r.Owner}
	for _, m := range masks {
		if _, mute := muteMask(m.Mask); mute && m.Kind != chatd.MaskInvite {
			i.mutes = append(i.mutes, m)
		}
	}
	s.roomModes.put(k, i, gen)
	return i, nil
}

// roomRoles is what user may do in room: op (its owner, a room operator or,
// with admin, a server admin) and voice.
// The owner is an operator unless they set that aside (chatd.RoleAside).
func (s *Server) roomRoles(ctx context.Context, room, owner, user string, admin bool) (op, voice bool, err error) {
	if admin {
		return true, false, nil
	}
	roles, err := s.store.MemberRoles(ctx, room)
	if err != nil {
		return false, false, err
	}
	role := roleOf(roles, user)
	if owner != "" && chatd.Key(owner) == chatd.Key(user) {
		return !strings.Contains(role, chatd.RoleAside), strings.Contains(role, chatd.RoleVoice), nil
	}
	return strings.Contains(role, chatd.RoleOp), strings.Contains(role, chatd.RoleVoice), nil
}

// isRoomOp reports whether the user may moderate r: its owner, one of its
// operators, or a server admin.
func (s *session) isRoomOp(ctx context.Context, r *chatd.Room) (bool, error) {
	op, _, err := s.srv.roomRoles(ctx, r.Name, r.Owner, s.user, s.admin.Load())
	return op, err
}

// checkSend refuses a line (text; action: a /me) to room when its modes
// forbid it: a moderated room (+m) hears only its operators and voiced
// members; a room with +n (the default) only its members; a room with +C
// no CTCP but ACTION; a member a mute (+b m:mask) matches, unless a mute
// exception (+e m:mask) matches them too, speaks only when voiced or an
// operator.
func (s *session) checkSend(ctx context.Context, room string, member bool, text string, action bool) error {
	i, err := s.srv.roomModesOf(ctx, room)
	if err != nil {
		return err
	}
	if !member && i.has('n') {
		return notInRoom(room)
	}
	if i.has('C') && !action && isCTCP(text) {
		return chatd.Errorf(chatd.ECannotSend, "%s takes no CTCP (+C) but ACTION", room)
	}
	muted := false
	if len(i.mutes) > 0 {
		ident, _ := s.srv.identOf(s.user)
		muted = maskVerdictOf(i.mutes, s.user, ident, s.isGuest()).muted
	}
	if !i.has('m') && !muted {
		return nil
	}
	op, voice, err := s.srv.roomRoles(ctx, room, i.owner, s.user, s.admin.Load())
	if err != nil {
		return err
	}
	if op || voice {
		return nil
	}
	if muted {
		return chatd.Errorf(chatd.ECannotSend, "you are muted in %s: only its operators can let you speak", room)
	}
	return chatd.Errorf(chatd.ECannotSend, "%s is moderated: only its operators and voiced members speak", room)
}

// cleanLine is chatd.CleanText for a room line, except that a CTCP
// request (\x01WORD ...\x01, as IRC clients send PING or VERSION) keeps
// its frame, so that IRC members get it as sent and +C can refuse it.
func cleanLine(text string) string {
	body, ok := strings.CutPrefix(text, "\x01")
	if !ok {
		return chatd.CleanText(text)
	}
	body = chatd.CleanText(strings.TrimSuffix(body, "\x01"))
	if strings.TrimSpace(body) == "" {
		return ""
	}
	return "\x01" + body + "\x01"
}

// isCTCP reports whether text is a CTCP request other than ACTION (IRC's
// \x01WORD ...\x01).
func isCTCP(text string) bool {
	return strings.HasPrefix(text, "\x01") && !strings.HasPrefix(strings.ToUpper(text), "\x01ACTION")
}

// outsideRoom is where a line to the room called name (the first word of
// name, "#den hello" naming den) goes when that room
// is none of the user's (err, not_in_room): a room without +n takes it all
// the same; else err.
func (s *session) outsideRoom(ctx context.Context, name string, err error) (string, error) {
	if chatd.ErrorCode(err) != chatd.ENotInRoom {
		return "", err
	}
	name, _ = splitWord(name)
	r, rerr := s.srv.store.RoomByName(ctx, roomArg(name))
	if rerr != nil || r.Has('n') {
		return "", err
	}
	return r.Name, nil
}

// modeString is how IRC and roommode show r's modes: "+" and the flags,
// l with the limit.
func modeString(r *chatd.Room) string {
	m := "+" + r.Modes
	if r.Locked() {
		m += "k"
	}
	if r.Limit > 0 {
		m += "l " + strconv.Itoa(r.Limit)
	}
	return m
}

// modeChange is one change of a roommode line: sign, letter and argument.
type modeChange struct {
	add bool
	c   byte
	arg string
}

func (c modeChange) String() string {
	s := "-"
	if c.add {
		s = "+"
	}
	s += string(c.c)
	if c.arg != "" {
		s += " " + c.arg
	}
	return s
}

// parseModeChanges reads "+lv 5 bob -m" or "+l 5 +v bob -m": each letter
// that takes an argument (+l, +v, -v, +o, -o, +e, -e, +I, -I) takes the
// next word that is not itself a change.
func parseModeChanges(words []string) ([]modeChange, error) {
	var out []modeChange
	for i := 0; i < len(words); {
		w := words[i]
		i++
		if w[0] != '+' && w[0] != '-' {
			return nil, chatd.Errorf(chatd.EBadArgs, "%q is not a mode change: write +m, -m, +l 10, +v USER, +e MASK ...", w)
		}
		add := true
		for j := 0; j < len(w); j++ {
			c := w[j]
			switch {
			case c == '+' || c == '-':
				add = c == '+'
				continue
			case strings.IndexByte(chatd.RoomFlags, c) >= 0 || c == 'l' && !add:
				out = append(out, modeChange{add: add, c: c})
				continue
			case c == 'l' || c == 'v' || c == 'o' || c == 'e' || c == 'I':
			default:
				return nil, chatd.Errorf(chatd.EBadArgs, "%c is not a room mode: the modes are +C +i +m +n +s +t, +l N, +v USER, +o USER, +e MASK, +I MASK", c)
			}
			if i >= len(words) {
				return nil, chatd.Errorf(chatd.EBadArgs, "%c%c needs an argument", "-+"[b2i(add)], c)
			}
			arg := words[i]
			i++
			if c == 'l' {
				if n, err := strconv.Atoi(arg); err != nil || n <= 0 {
					return nil, chatd.Errorf(chatd.EBadArgs, "+l takes a member limit above 0, not %q", arg)
				}
			}
			out = append(out, modeChange{add: add, c: c, arg: arg})
		}
	}
	return out, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cmdRoomMode(ctx context.Context, s *session, args string) error {
	words := strings.Fields(args)
	var room string
	if len(words) > 0 && strings.HasPrefix(words[0], "#") {
		room, words = words[0][1:], words[1:]
	} else {
		var err error
		if room, err = s.currentRoom(); err != nil {
			return err
		}
	}
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return s.showRoomModes(ctx, r)
	}
	changes, err := parseModeChanges(words)
	if err != nil {
		return err
	}
	op, err := s.isRoomOp(ctx, r)
	if err != nil {
		return err
	}
	// The owner may always take their operator rights back (+o
	// themselves) after setting them aside.
	owner := chatd.Key(r.Owner) == chatd.Key(s.user)
	if !op && !(owner && len(changes) == 1 && changes[0].c == 'o' && changes[0].add && chatd.Key(changes[0].arg) == chatd.Key(s.user)) {
		return chatd.Errorf(chatd.ENotPermitted, "only the owner of %s, its operators or a server admin can change its modes", r.Name)
	}
	modes, limit := r.Modes, r.Limit
	var done []modeChange
	var roles map[string]string
	for _, c := range changes {
		switch c.c {
		case 'l':
			n := 0
			if c.add {
				n, _ = strconv.Atoi(c.arg)
			}
			if n != limit {
				limit = n
				done = append(done, c)
			}
		case 'v', 'o':
			u, err := s.srv.store.UserByName(ctx, c.arg)
			if err != nil {
				return err
			}
			if roles == nil {
				if roles, err = s.srv.store.MemberRoles(ctx, r.Name); err != nil {
					return err
				}
			}
			role := roleOf(roles, u.Name)
			letter, add := string(c.c), c.add
			if c.c == 'o' && chatd.Key(u.Name) == chatd.Key(r.Owner) {
				// The owner stays the owner; only they set their
				// operator rights aside, and take them back.
				if chatd.Key(u.Name) != chatd.Key(s.user) {
					return chatd.Errorf(chatd.ENotPermitted, "%s owns %s: only they can set their operator rights aside", u.Name, r.Name)
				}
				letter, add = chatd.RoleAside, !c.add
			}
			next := strings.ReplaceAll(role, letter, "")
			if add {
				next += letter
			}
			if err := s.srv.store.SetMemberRole(ctx, r.Name, u.Name, next); err != nil {
				if chatd.ErrorCode(err) == chatd.ENotInRoom {
					return chatd.Errorf(chatd.ENotInRoom, "%s is not in %s", u.Name, r.Name)
				}
				return err
			}
			for k := range roles {
				if chatd.Key(k) == chatd.Key(u.Name) {
					delete(roles, k)
				}
			}
			roles[u.Name] = next
			done = append(done, modeChange{add: c.add, c: c.c, arg: u.Name})
		case 'e', 'I':
			c.arg = exceptionMask(c.arg)
			changed, err := s.setExceptionMask(ctx, r, string(c.c), c.arg, c.add)
			if err != nil {
				return err
			}
			if changed {
				done = append(done, c)
			}
		default:
			had := strings.IndexByte(modes, c.c) >= 0
			if had == c.add {
				continue
			}
			if c.add {
				modes += string(c.c)
			} else {
				modes = strings.ReplaceAll(modes, string(c.c), "")
			}
			done = append(done, c)
		}
	}
	modes = chatd.NormalModes(modes)
	if modes != r.Modes || limit != r.Limit {
		if err := s.srv.store.SetRoomModes(ctx, r.Name, modes, limit); err != nil {
			return err
		}
	}
	r.Modes, r.Limit = modes, limit
	change := ircModeLine(done)
	if change != "" {
		if err := s.srv.effect(ctx, &note{Kind: noteMode, Room: r.Name, Text: change, By: s.user, Src: s.sid}); err != nil {
			return err
		}
	}
	text := "no change to the modes of " + r.Name + ": " + modeString(r)
	if change != "" {
		text = fmt.Sprintf("%s: %s (now %s)", r.Name, change, modeString(r))
	}
	s.reply(okEvent("roommode", text, nil, f("room", r.Name), f("change", change),
		f("modes", r.Modes), f("limit", r.Limit)))
	return nil
}

// ircModeLine joins changes as IRC writes them: "+lv-m 5 bob".
func ircModeLine(changes []modeChange) string {
	var letters strings.Builder
	var args []string
	sign := byte(0)
	for _, c := range changes {
		s := byte('-')
		if c.add {
			s = '+'
		}
		if s != sign {
			letters.WriteByte(s)
			sign = s
		}
		letters.WriteByte(c.c)
		if c.arg != "" {
			args = append(args, c.arg)
		}
	}
	out := letters.String()
	if len(args) > 0 {
		out += " " + strings.Join(args, " ")
	}
	return out
}

// showRoomModes answers roommode with no change: the modes, the limit,
// the operators and voiced members.
func (s *session) showRoomModes(ctx context.Context, r *chatd.Room) error {
	roles, err := s.srv.store.MemberRoles(ctx, r.Name)
	if err != nil {
		return err
	}
	var ops, voiced []string
	if r.Owner != "" && !strings.Contains(roleOf(roles, r.Owner), chatd.RoleAside) {
		ops = append(ops, r.Owner)
	}
	for _, name := range sortedNames(mapKeys(roles)) {
		role := roles[name]
		if strings.Contains(role, chatd.RoleOp) && chatd.Key(name) != chatd.Key(r.Owner) {
			ops = append(ops, name)
		}
		if strings.Contains(role, chatd.RoleVoice) {
			voiced = append(voiced, name)
		}
	}
	masks, err := s.srv.store.RoomMasks(ctx, r.Name)
	if err != nil {
		return err
	}
	var bans, exceptions, invex []string
	for _, m := range masks {
		switch m.Kind {
		case chatd.MaskException:
			exceptions = append(exceptions, m.Mask)
		case chatd.MaskInvite:
			invex = append(invex, m.Mask)
		default:
			bans = append(bans, m.Mask)
		}
	}
	body := []string{"  operators: " + strings.Join(ops, ", ")}
	if len(voiced) > 0 {
		body = append(body, "  voiced: "+strings.Join(voiced, ", "))
	}
	if len(bans) > 0 {
		body = append(body, "  banned masks: "+strings.Join(bans, ", "))
	}
	if len(exceptions) > 0 {
		body = append(body, "  ban exceptions: "+strings.Join(exceptions, ", "))
	}
	if len(invex) > 0 {
		body = append(body, "  invite exceptions: "+strings.Join(invex, ", "))
	}
	s.reply(okEvent("roommode", "modes of "+r.Name+": "+modeString(r), body, f("room", r.Name),
		f("modes", r.Modes), f("limit", r.Limit), f("locked", r.Locked()), f("ops", nonNil(ops)), f("voiced", nonNil(voiced)),
		f("masks", nonNil(bans)), f("exceptions", nonNil(exceptions)), f("invite_exceptions", nonNil(invex))))
	return nil
}

// roomModeEvent tells a room that by changed its modes (change as IRC writes
// it, "+m", "+l 5", "+v bob").
func roomModeEvent(room, change, by string) *event {
	return newEvent("room", fmt.Sprintf("* %s set %s on %s", by, change, room),
		f("event", roomModeChanged), f("room", room), f("mode", change), f("by", by)).stamped(time.Time{}, stampLive)
}

// isGuest reports whether the session is an IRC guest (logged in to no
// account): an account extban (a:name) never matches it.
func (s *session) isGuest() bool { return s.irc != nil && s.irc.guest }

// muteMask is mask without its mute prefix (m:) and whether it had one.
func muteMask(mask string) (string, bool) {
	if len(mask) > 2 && (mask[0] == 'm' || mask[0] == 'M') && mask[1] == ':' {
		return mask[2:], true
	}
	return mask, false
}

// accountMask is the account glob of an account extban (a:name) and
// whether mask is one.
func accountMask(mask string) (string, bool) {
	if len(mask) > 2 && (mask[0] == 'a' || mask[0] == 'A') && mask[1] == ':' {
		return mask[2:], true
	}
	return mask, false
}

// isExtban reports whether mask is an extban (a:account, m:mask).
func isExtban(mask string) bool {
	_, mute := muteMask(mask)
	_, account := accountMask(mask)
	return mute || account
}

// extMatches reports whether mask (without m:) covers user: a:glob the
// account of a user logged in to one (not a guest), else the IRC mask.
func extMatches(mask, user, ident string, guest bool) bool {
	if glob, ok := accountMask(mask); ok {
		return !guest && wildMatch(chatd.Key(glob), chatd.Key(user))
	}
	return maskMatches(mask, user, ident)
}

// maskVerdict is what a room's mask lists say of one user: banned (a ban
// matches and no ban exception), muted (a mute matches and no mute
// exception) and invited (an invite exception matches).
type maskVerdict struct{ banned, muted, invited bool }

// maskVerdictOf reads masks (any of a room's lists) for user, whose IRC
// connection gave the user name ident in USER (identOf; the name itself
// when it gave none).
func maskVerdictOf(masks []chatd.RoomMask, user, ident string, guest bool) maskVerdict {
	var ban, banEx, mute, muteEx, inv bool
	for _, m := range masks {
		body, isMute := muteMask(m.Mask)
		if !extMatches(body, user, ident, guest) {
			continue
		}
		switch cmp.Or(m.Kind, chatd.MaskBan) {
		case chatd.MaskBan:
			if isMute {
				mute = true
			} else {
				ban = true
			}
		case chatd.MaskException:
			if isMute {
				muteEx = true
			} else {
				banEx = true
			}
		case chatd.MaskInvite:
			inv = true
		}
	}
	return maskVerdict{banned: ban && !banEx, muted: mute && !muteEx, invited: inv}
}

// maskMatches reports whether the IRC mask (nick!user@host, with * and ?)
// covers user, whose mask on every transport is userMask(user), or, as
// WHO and WHOIS show it to IRC clients, nick!ident@host with the user name
// their IRC connection gave. A mask without ! or @ is a nick.
func maskMatches(mask, user, ident string) bool {
	m := chatd.Key(mask)
	if !strings.ContainsAny(m, "!@") {
		m += "!*@*"
	}
	if wildMatch(m, chatd.Key(userMask(user))) {
		return true
	}
	return ident != "" && ident != user && wildMatch(m, chatd.Key(user+"!"+ident+"@"+ircHost))
}

// roleOf is user's roles in roles (by registered name), "" for none.
func roleOf(roles map[string]string, user string) string {
	if r, ok := roles[user]; ok {
		return r
	}
	k := chatd.Key(user)
	for name, r := range roles {
		if chatd.Key(name) == k {
			return r
		}
	}
	return ""
}

func mapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// maskVerdict is what room's mask lists say of the session's user.
func (s *session) maskVerdict(ctx context.Context, room string) (maskVerdict, error) {
	masks, err := s.srv.store.RoomMasks(ctx, room)
	if err != nil {
		return maskVerdict{}, err
	}
	ident, _ := s.srv.identOf(s.user)
	return maskVerdictOf(masks, s.user, ident, s.isGuest()), nil
}

// isMask reports whether a roomban argument is an IRC mask or an extban
// rather than an account's name.
func isMask(arg string) bool { return strings.ContainsAny(arg, "!@*?") || isExtban(arg) }

// roomMaskBan bans (or, with !add, lets in again) the mask from the user's
// current room: roomban and roomunban with a mask (or an extban: a:account
// bans an account, m:mask mutes).
func (s *session) roomMaskBan(ctx context.Context, cmd, mask string, add bool) error {
	r, err := s.ownedRoom(ctx, cmd, true)
	if err != nil {
		return err
	}
	if add {
		err = s.srv.store.AddRoomMask(ctx, chatd.RoomMask{Room: r.Name, Mask: mask, By: s.user, Created: s.srv.now(), Kind: chatd.MaskBan})
	} else {
		err = s.srv.store.RemoveRoomMask(ctx, r.Name, chatd.MaskBan, mask)
	}
	if err != nil {
		return err
	}
	_, mute := muteMask(mask)
	change := "-b " + mask
	text := fmt.Sprintf("%s may join %s again", mask, r.Name)
	switch {
	case add && mute:
		change = "+b " + mask
		text = fmt.Sprintf("%s is muted in %s: whoever it matches may join but not speak", mask, r.Name)
	case add:
		change = "+b " + mask
		text = fmt.Sprintf("%s is banned from %s: whoever it matches cannot join", mask, r.Name)
	case mute:
		text = fmt.Sprintf("%s may speak in %s again", mask, r.Name)
	}
	if err := s.srv.effect(ctx, &note{Kind: noteMode, Room: r.Name, Text: change, By: s.user, Src: s.sid}); err != nil {
		return err
	}
	s.reply(okEvent(cmd, text, nil, f("room", r.Name), f("mask", mask)))
	return nil
}

// exceptionMask is a +e or +I argument as kept: a bare nick becomes
// nick!*@*; extbans stay as given.
func exceptionMask(arg string) string {
	if isExtban(arg) || strings.ContainsAny(arg, "!@") {
		return arg
	}
	return arg + "!*@*"
}

// setExceptionMask puts mask on (add) or takes it off r's list kind (+e
// or +I) for roommode; changed is false when it already was (or was
// not) there.
func (s *session) setExceptionMask(ctx context.Context, r *chatd.Room, kind, mask string, add bool) (changed bool, err error) {
	if add {
		err = s.srv.store.AddRoomMask(ctx, chatd.RoomMask{Room: r.Name, Mask: mask, By: s.user, Created: s.srv.now(), Kind: kind})
	} else {
		err = s.srv.store.RemoveRoomMask(ctx, r.Name, kind, mask)
	}
	if chatd.ErrorCode(err) == chatd.EBadArgs {
		return false, nil
	}
	return err == nil, err
}

// seesRoom reports whether the user may see r's members: a secret room
// (+s) shows them to its members and to server admins only.
func (s *session) seesRoom(r *chatd.Room) bool {
	if !r.Has('s') || s.admin.Load() {
		return true
	}
	_, ok := s.srv.hub.memberRoom(s, r.Name)
	return ok
}

// ircPrefix is user's prefix in room r for NAMES, WHO and WHOIS: @ for an
// operator (its owner, unless they set that aside), + for a voiced
// member; with multi (multi-prefix) both, else the higher.
func ircPrefix(r *chatd.Room, roles map[string]string, user string, multi bool) string {
	role := roleOf(roles, user)
	op := strings.Contains(role, chatd.RoleOp)
	if r.Owner != "" && chatd.Key(r.Owner) == chatd.Key(user) {
		op = !strings.Contains(role, chatd.RoleAside)
	}
	p := ""
	if op {
		p = "@"
	}
	if strings.Contains(role, chatd.RoleVoice) && (multi || !op) {
		p += "+"
	}
	return p
}

// statusLine sends text (action: does it) to those of room's members with
// the status prefix (IRC STATUSMSG, PRIVMSG @#room): "@" its operators,
// "+" its operators and voiced members. Such a line is shown live and not
// stored.
func (s *session) statusLine(ctx context.Context, prefix, room, text string, action bool) error {
	text = cleanLine(text)
	if strings.TrimSpace(text) == "" {
		return badArgs("say")
	}
	name := room
	room, err := s.memberArg(name)
	if err != nil {
		if room, err = s.outsideRoom(ctx, name, err); err != nil {
			return err
		}
	}
	if err := s.checkSend(ctx, room, true, text, action); err != nil {
		return err
	}
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		return err
	}
	roles, err := s.srv.store.MemberRoles(ctx, r.Name)
	if err != nil {
		return err
	}
	var to []string
	if r.Owner != "" && !strings.Contains(roleOf(roles, r.Owner), chatd.RoleAside) {
		to = append(to, r.Owner)
	}
	for name, role := range roles {
		if strings.Contains(role, chatd.RoleOp) || prefix == "+" && strings.Contains(role, chatd.RoleVoice) {
			to = append(to, name)
		}
	}
	n := &note{Kind: noteStatus, ID: s.srv.newID(), By: s.user, Room: r.Name, Text: prefix + text, Flag: action,
		Time: s.srv.now(), Names: to, Src: s.sid, Notice: s.irc.sendingNotice(), Tags: s.irc.sendingTags()}
	if err := s.srv.effect(ctx, n); err != nil {
		return err
	}
	s.sendVia(&s.out, s.answer(statusEvent(n)))
	return nil
}

// statusEvent is the live line a noteStatus carries (its Text starts with
// the prefix).
func statusEvent(n *note) *event {
	prefix, text := n.Text[:1], n.Text[1:]
	ev := roomMessage(kindRoom, n.ID, n.By, n.Room, text, n.Time, n.Flag).noticed(n.Notice).withClientTags(n.Tags)
	ev.fields = append(ev.fields, f("status", prefix))
	ev.text = fmt.Sprintf("[%s%s] <%s> %s", prefix, n.Room, n.By, text)
	return ev
}

// showStatus shows a noteStatus to this node's sessions of its recipients
// that are in the room.
func (s *Server) showStatus(n *note, src *session) {
	to := make(map[string]bool, len(n.Names))
	for _, name := range n.Names {
		to[chatd.Key(name)] = true
	}
	fanout(s.hub.members(n.Room), statusEvent(n), src, func(m *session) bool { return to[chatd.Key(m.user)] })
}

// topicSetEvent is r's topic as a join shows it, with who set it and when
// (set_by, set_at) when known.
func topicSetEvent(r *chatd.Room) *event {
	ev := topicEvent(r.Name, r.Topic, "")
	if r.TopicBy != "" {
		ev.fields = append(ev.fields, f("set_by", r.TopicBy), f("set_at", stamp(r.TopicAt)))
	}
	return ev
}
