// The IRC commands a registered client sends (irc.go's ircCommands):
// each is one small function over chatd's command handlers, answering
// with the numerics IRC clients expect.

package daemon

import (
	"cmp"
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatd"
)

// ---- commands after registration ----

func ircPing(_ context.Context, s *session, m *ircMsg) {
	s.ircLineOut(s.srv.serverName(), "PONG", s.srv.serverName(), m.params[0])
}

func ircQuit(_ context.Context, s *session, m *ircMsg) {
	text := "Quit"
	if q := m.param(0); q != "" {
		text = "Quit: " + q
	}
	s.irc.quitReason = m.param(0)
	s.logOut(byeEvent(byeLogout, text))
}

func ircAlready(_ context.Context, s *session, _ *ircMsg) {
	s.numeric("462", "You may not reregister")
}

func ircNickLater(ctx context.Context, s *session, m *ircMsg) {
	if len(m.params) == 0 {
		s.numeric("431", "No nickname given")
		return
	}
	if m.params[0] == s.user {
		return
	}
	if _, err := s.srv.store.UserByName(ctx, m.params[0]); err == nil && chatd.Key(m.params[0]) != chatd.Key(s.user) {
		s.numeric("433", m.params[0], "Nickname is already in use")
		return
	}
	s.numeric("447", m.params[0], "Your nick is your account's name; it cannot change")
}

// run runs a chatd command handler with its replies collected, for the
// IRC command to translate; it returns them and the handler's error.
func (s *session) collect(ctx context.Context, c func(context.Context, *session, string) error, args string) ([]*event, error) {
	var sink []*event
	s.irc.sink = &sink
	err := c(ctx, s, args)
	s.irc.sink = nil
	return sink, err
}

// ircError answers the failure err of an IRC command about target with
// the numeric IRC clients expect for its code.
func (s *session) ircError(cmd, target string, err error) {
	code := chatd.ErrorCode(err)
	text := chatd.ErrorMessage(err)
	if code == chatd.EInternal {
		s.srv.log.Error("irc command failed", "cmd", cmd, "user", s.user, "err", err)
	}
	channel := strings.HasPrefix(target, "#")
	switch code {
	case chatd.ENoSuchUser:
		s.numeric("401", target, "No such nick/channel")
	case chatd.ENoSuchRoom:
		s.numeric("403", target, "No such channel")
	case chatd.ENotInRoom:
		if cmd == "PRIVMSG" || cmd == "NOTICE" {
			s.numeric("404", target, "Cannot send to channel")
		} else {
			s.numeric("442", target, "You're not on that channel")
		}
	case chatd.EBadRoomPassword:
		s.numeric("475", target, "Cannot join channel (+k)")
	case chatd.ETooManyRooms:
		s.numeric("405", target, "You have joined too many channels")
	case chatd.EBadName:
		if channel {
			s.numeric("479", target, "Illegal channel name")
		} else {
			s.numeric("432", target, "Erroneous nickname")
		}
	case chatd.ENotPermitted:
		switch {
		case cmd == "JOIN":
			s.numeric("474", target, "Cannot join channel (+b): "+text)
		case channel:
			s.numeric("482", target, "You're not channel operator")
		default:
			s.numeric("481", "Permission Denied: "+text)
		}
	case chatd.EBadArgs:
		s.numeric("461", cmd, "Not enough parameters: "+text)
	case chatd.ERoomFull:
		s.numeric("471", target, "Cannot join channel (+l)")
	case chatd.EInviteOnly:
		s.numeric("473", target, "Cannot join channel (+i)")
	case chatd.ECannotSend:
		s.numeric("404", target, "Cannot send to channel: "+text)
	default:
		s.ircLineOut(s.srv.serverName(), "FAIL", cmd, strings.ToUpper(string(code)), target, text)
	}
}

// ircTargets splits a comma-separated target list.
func ircTargets(p string) []string {
	var out []string
	for _, t := range strings.Split(p, ",") {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

func ircPrivmsg(ctx context.Context, s *session, m *ircMsg) {
	if ircReply(ctx, s, m) {
		return
	}
	notice := m.command == "NOTICE"
	s.irc.lineNotice, s.irc.lineTags = notice, clientOnlyTags(m.tags)
	defer func() { s.irc.lineNotice, s.irc.lineTags = false, nil }()
	if len(m.params) == 0 || m.params[0] == "" {
		if !notice {
			s.numeric("411", "No recipient given ("+m.command+")")
		}
		return
	}
	if len(m.params) < 2 || m.params[1] == "" {
		if !notice {
			s.numeric("412", "No text to send")
		}
		return
	}
	text := m.params[1]
	for _, t := range ircTargets(m.params[0]) {
		switch {
		case chatd.Key(t) == ircPseudoUser:
			if notice {
				continue
			}
			if c, _, _ := lookupCommand(text); c != nil && c.name == "passwd" {
				// passwd prompts for its answers, which an IRC client
				// cannot give as bare lines.
				s.ircLineOut(userMask(ircPseudoUser), "NOTICE", s.user, "passwd asks for passwords at prompts: change yours over telnet, SSH or the web page")
				continue
			}
			s.execute(ctx, text)
		case t == "#":
			if !notice {
				s.numeric("403", t, "No such channel")
			}
		case chatd.Key(t) == chatd.Key(s.user):
			// To oneself: chatd stores nothing. The client gets it as
			// received, and its echo too with echo-message (the echo is
			// the answer that carries a label).
			tags := s.ircTags(nil, time.Time{}, s.user)
			line := appendIRC(nil, tags, userMask(s.user), m.command, s.user, text)
			if s.irc.has(capEchoMessage) {
				s.sendVia(&s.out, &event{typ: "irc", text: string(line)})
			}
			s.irc.out = append(s.irc.out, line...)
		case len(t) > 2 && (t[0] == '@' || t[0] == '+') && t[1] == '#':
			// STATUSMSG: to the channel's operators (@) or its
			// operators and voiced members (+).
			action := false
			if body, ok := strings.CutPrefix(text, "\x01ACTION "); ok {
				text, action = strings.TrimSuffix(body, "\x01"), true
			}
			_, err := s.collect(ctx, func(ctx context.Context, s *session, _ string) error {
				return s.statusLine(ctx, t[:1], t[2:], text, action)
			}, "")
			if err != nil && !notice {
				if chatd.ErrorCode(err) == chatd.ENoSuchRoom {
					s.numeric("403", t, "No such channel")
				} else {
					s.ircError(m.command, t[1:], err)
				}
			}
		case strings.HasPrefix(t, "#"):
			room := t[1:]
			action := false
			if body, ok := strings.CutPrefix(text, "\x01ACTION "); ok {
				text, action = strings.TrimSuffix(body, "\x01"), true
			}
			_, err := s.collect(ctx, func(ctx context.Context, s *session, _ string) error {
				name := room
				room, err := s.memberArg(name)
				if err != nil {
					if room, err = s.outsideRoom(ctx, name, err); err != nil {
						return err
					}
				}
				return s.roomLine(ctx, "say", room, text, action)
			}, "")
			if err != nil && !notice {
				if chatd.ErrorCode(err) == chatd.ENoSuchRoom {
					s.numeric("403", t, "No such channel")
				} else {
					s.ircError(m.command, t, err)
				}
			}
		default:
			replies, err := s.collect(ctx, cmdSend, t+" "+text)
			if err != nil {
				if !notice {
					s.ircError(m.command, t, err)
				}
				continue
			}
			for _, r := range replies {
				status, _ := r.get("status").(string)
				switch status {
				case statusDelivered, statusStored:
					if s.irc.has(capEchoMessage) {
						tags := s.withClientTags(s.ircTags(r.get("id"), time.Time{}, s.user), s.irc.lineTags)
						s.irc.out = appendIRC(s.irc.out, tags, userMask(s.user), m.command, t, text)
					}
					if away, ok := r.get("away").(string); ok && !notice {
						s.numeric("301", t, away)
					}
				case statusBlocked, statusMailboxFull:
					if !notice {
						s.ircLineOut(s.srv.serverName(), "FAIL", m.command, strings.ToUpper(status), t, deliveryWords[status])
					}
				case statusNoSuchUser:
					if !notice {
						s.numeric("401", t, "No such nick/channel")
					}
				}
			}
		}
	}
}

// clientOnlyTags are the client-only tags (+key) of a line, but for
// +draft/reply, which chatd keeps as a reply (nil for none).
func clientOnlyTags(tags map[string]string) map[string]string {
	var out map[string]string
	for k, v := range tags {
		if strings.HasPrefix(k, "+") && k != "+draft/reply" {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// withClientTags adds client-only tags to tags, in key order, when the
// client asked for message-tags.
func (s *session) withClientTags(tags []ircTag, client map[string]string) []ircTag {
	if len(client) == 0 || !s.irc.has(capMessageTags) {
		return tags
	}
	return append(tags, sortedTags(client)...)
}

// sortedTags is tags in key order.
func sortedTags(tags map[string]string) []ircTag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ircTag, len(keys))
	for i, k := range keys {
		out[i] = ircTag{k, tags[k]}
	}
	return out
}

// ircTags are the tags a message line carries for this client: its time,
// its id and its sender's account, each where the client asked for it.
func (s *session) ircTags(id any, at time.Time, from string) []ircTag {
	st := s.irc
	var tags []ircTag
	if st.has(capServerTime) {
		// A message's time is its id's clock time (irc_history.go), the
		// same on every path: live, echo, mail and CHATHISTORY.
		if t, ok := idClock(id); ok {
			at = t
		} else if at.IsZero() {
			at = s.srv.now()
		}
		tags = append(tags, ircTag{"time", at.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	if idStr, ok := id.(string); ok && idStr != "" && st.has(capMessageTags) {
		tags = append(tags, ircTag{"msgid", idStr})
	}
	if from != "" && st.has(capAccountTag) && !s.srv.isGuest(from) {
		tags = append(tags, ircTag{"account", from})
	}
	if from != "" && st.has(capMessageTags) && s.srv.isBot(from) {
		tags = append(tags, ircTag{"bot", ""})
	}
	return tags
}

func ircJoin(ctx context.Context, s *session, m *ircMsg) {
	if m.params[0] == "0" {
		for _, r := range s.srv.hub.roomsOf(s) {
			s.collect(ctx, cmdLeave, r)
		}
		return
	}
	keys := strings.Split(m.param(1), ",")
	for i, t := range ircTargets(m.params[0]) {
		key := ""
		if i < len(keys) {
			key = keys[i]
		}
		if !strings.HasPrefix(t, "#") || len(t) < 2 {
			s.numeric("403", t, "No such channel")
			continue
		}
		room := t[1:]
		if _, member := s.srv.hub.memberRoom(s, room); member {
			continue
		}
		args := strings.TrimSpace(room + " " + key)
		cmd := cmdJoin
		if _, err := s.srv.store.RoomByName(ctx, room); chatd.ErrorCode(err) == chatd.ENoSuchRoom {
			cmd = cmdCreate
		}
		_, err := s.collect(ctx, cmd, args)
		if chatd.ErrorCode(err) == chatd.ERoomExists {
			// Someone created it since it was looked up: join it.
			_, err = s.collect(ctx, cmdJoin, args)
		}
		if err != nil {
			s.ircError("JOIN", t, err)
			continue
		}
		if r, ok := s.srv.hub.memberRoom(s, room); ok {
			s.ircJoinMarker(ctx, r)
			s.ircNames(ctx, r)
			s.ircMetaJoined(ctx, r)
		}
	}
}

func ircPart(ctx context.Context, s *session, m *ircMsg) {
	for _, t := range ircTargets(m.params[0]) {
		if !strings.HasPrefix(t, "#") {
			s.numeric("403", t, "No such channel")
			continue
		}
		leave := func(ctx context.Context, s *session, args string) error {
			return leaveBecause(ctx, s, args, m.param(1))
		}
		if _, err := s.collect(ctx, leave, t[1:]); err != nil {
			s.ircError("PART", t, err)
		}
	}
}

// ircFocus makes room, one of the user's, the current one, for the chatd
// commands that act on the current room (topic, kick, invite, ...). It
// reports false, with the numeric sent, when the user is not in it.
func (s *session) ircFocus(ctx context.Context, target string) (string, bool) {
	if !strings.HasPrefix(target, "#") {
		s.numeric("403", target, "No such channel")
		return "", false
	}
	room, ok := s.srv.hub.memberRoom(s, target[1:])
	if !ok {
		if _, err := s.srv.store.RoomByName(ctx, target[1:]); err != nil {
			s.numeric("403", target, "No such channel")
		} else {
			s.numeric("442", target, "You're not on that channel")
		}
		return "", false
	}
	if _, ok := s.srv.joinRoom(s, room, nil); !ok {
		s.numeric("442", target, "You're not on that channel")
		return "", false
	}
	return room, true
}

func ircTopic(ctx context.Context, s *session, m *ircMsg) {
	t := m.params[0]
	if len(m.params) == 1 {
		r, err := s.srv.store.RoomByName(ctx, strings.TrimPrefix(t, "#"))
		if err != nil || !strings.HasPrefix(t, "#") {
			s.numeric("403", t, "No such channel")
			return
		}
		if r.Topic == "" {
			s.numeric("331", "#"+r.Name, "No topic is set")
		} else {
			s.numeric("332", "#"+r.Name, r.Topic)
			if r.TopicBy != "" {
				s.numeric("333", "#"+r.Name, r.TopicBy, itoa(int(r.TopicAt.Unix())))
			}
		}
		return
	}
	if _, ok := s.ircFocus(ctx, t); !ok {
		return
	}
	text := m.params[1]
	if text == "" {
		text = "-"
	}
	replies, err := s.collect(ctx, cmdTopic, text)
	if err != nil {
		s.ircError("TOPIC", t, err)
		return
	}
	// The others hear it from the effect; the setter is told here, with
	// the change's id and time as a line's echo has them.
	var id string
	for _, r := range replies {
		if v := r.str("id"); v != "" {
			id = v
		}
	}
	r, err := s.srv.store.RoomByName(ctx, t[1:])
	if err == nil {
		var tags []ircTag
		if id != "" {
			tags = s.ircTags(id, time.Time{}, s.user)
		}
		s.irc.out = appendIRC(s.irc.out, tags, userMask(s.user), "TOPIC", "#"+r.Name, r.Topic)
	}
}

// ircNames answers NAMES for room: owners (and, for multi-prefix, only
// them) marked @.
func (s *session) ircNames(ctx context.Context, room string) { s.ircNamesEnd(ctx, room, true) }

// ircNamesEnd is ircNames with or without its 366 (end false: the NAMES
// of several channels ends once, after them all).
func (s *session) ircNamesEnd(ctx context.Context, room string, end bool) {
	r, err := s.srv.store.RoomByName(ctx, room)
	if err != nil {
		if end {
			s.numeric("366", "#"+room, "End of /NAMES list")
		}
		return
	}
	users, err := s.srv.roomNames(ctx, r.Name)
	if err != nil {
		s.ircError("NAMES", "#"+room, err)
		return
	}
	roles, err := s.srv.store.MemberRoles(ctx, r.Name)
	if err != nil {
		s.ircError("NAMES", "#"+room, err)
		return
	}
	symbol := "="
	if r.Has('s') {
		// A secret room's names are for its members.
		symbol = "@"
		if _, ok := s.srv.hub.memberRoom(s, r.Name); !ok && !s.admin.Load() {
			users = nil
		}
	}
	var list []string
	for _, u := range users {
		n := u
		if s.irc.has(capUserhostInNames) {
			n = userMask(u)
		}
		list = append(list, ircPrefix(r, roles, u, s.irc.has(capMultiPrefix))+n)
	}
	// The renderer learns these nicks are in one of the client's
	// channels (ircState.known) from the event's names.
	for len(list) > 0 {
		chunk := list[:min(len(list), 20)]
		list = list[len(chunk):]
		s.numeric("353", symbol, "#"+r.Name, strings.Join(chunk, " "))
	}
	if end {
		s.numeric("366", "#"+r.Name, "End of /NAMES list")
	}
	if s.irc.collecting.Load() != nil {
		// The lines stay in the labeled response; the renderer still
		// learns the names.
		s.sendVia(&s.out, &event{typ: "irc", fields: []field{f("names", users)}})
		return
	}
	out := s.irc.out
	s.irc.out = nil
	s.sendVia(&s.out, &event{typ: "irc", text: string(out), fields: []field{f("names", users)}})
}

func ircNames(ctx context.Context, s *session, m *ircMsg) {
	if len(m.params) == 0 {
		s.numeric("366", "*", "End of /NAMES list")
		return
	}
	// Several channels are answered as RFC 2812 says: their names, then
	// one 366 for them all.
	targets := ircTargets(m.params[0])
	several := len(targets) > 1
	for _, t := range targets {
		if _, err := s.srv.store.RoomByName(ctx, strings.TrimPrefix(t, "#")); err != nil || !strings.HasPrefix(t, "#") {
			if !several {
				s.numeric("366", t, "End of /NAMES list")
			}
			continue
		}
		s.ircNamesEnd(ctx, t[1:], !several)
	}
	if several {
		s.numeric("366", m.params[0], "End of /NAMES list")
	}
}

func ircList(ctx context.Context, s *session, m *ircMsg) {
	rooms, err := s.srv.store.Rooms(ctx)
	if err != nil {
		s.ircError("LIST", "*", err)
		return
	}
	counts, err := s.srv.roomCounts(ctx)
	if err != nil {
		s.ircError("LIST", "*", err)
		return
	}
	filter := parseListFilter(m.param(0))
	now := s.srv.now()
	s.numeric("321", "Channel", "Users  Name")
	for _, r := range rooms {
		k := chatd.Key(r.Name)
		if r.Has('s') && !s.admin.Load() {
			if _, ok := s.srv.hub.memberRoom(s, r.Name); !ok {
				continue // a secret room is listed to its members only
			}
		}
		// As on IRC, a channel nobody is in is not listed.
		if n := len(counts[k]); n > 0 && filter.match("#"+r.Name, n) && filter.aged(r, now) {
			s.numeric("322", "#"+r.Name, itoa(n), r.Topic)
		}
	}
	s.numeric("323", "End of /LIST")
}

func ircWho(ctx context.Context, s *session, m *ircMsg) {
	mask := m.param(0)
	if mask == "" {
		mask = "*"
	}
	all, err := s.srv.community.everyone(ctx)
	if err != nil {
		s.ircError("WHO", mask, err)
		return
	}
	// WHOX (IRCv3): "%fields[,token]" picks the fields of 354 replies.
	fields, token, whox := strings.Cut(strings.TrimPrefix(m.param(1), "%"), ",")
	whox = whox || strings.HasPrefix(m.param(1), "%")
	line := func(channel string, p presence, prefix string) {
		flags := "H"
		if p.Away != nil {
			flags = "G"
		}
		if s.srv.isOper(p.User) {
			flags += "*"
		}
		if s.srv.isBot(p.User) {
			flags += "B"
		}
		flags += prefix
		user, real := s.srv.identOf(p.User)
		if !whox {
			s.numeric("352", channel, user, ircHost, s.srv.serverName(), p.User, flags, "0 "+real)
			return
		}
		var out []string
		for _, c := range "tcuihsnfdlaor" {
			if !strings.ContainsRune(fields, c) {
				continue
			}
			switch c {
			case 't':
				out = append(out, cmp.Or(token, "0"))
			case 'c':
				out = append(out, channel)
			case 'u':
				out = append(out, user)
			case 'i':
				out = append(out, "255.255.255.255")
			case 'h':
				out = append(out, ircHost)
			case 's':
				out = append(out, s.srv.serverName())
			case 'n':
				out = append(out, p.User)
			case 'f':
				out = append(out, flags)
			case 'd':
				out = append(out, "0")
			case 'l':
				out = append(out, itoa(int(max(0, s.srv.now().Sub(p.LastActive).Seconds()))))
			case 'a':
				account := p.User
				if s.srv.isGuest(p.User) {
					account = "0"
				}
				out = append(out, account)
			case 'o':
				out = append(out, "n/a")
			case 'r':
				out = append(out, real)
			}
		}
		s.numeric("354", out...)
	}
	if strings.HasPrefix(mask, "#") {
		if r, err := s.srv.store.RoomByName(ctx, mask[1:]); err == nil && s.seesRoom(r) {
			roles, _ := s.srv.store.MemberRoles(ctx, r.Name)
			for _, p := range all {
				if p.in(r.Name) {
					line("#"+r.Name, p, ircPrefix(r, roles, p.User, s.irc.has(capMultiPrefix)))
				}
			}
		}
	} else {
		masked := strings.ContainsAny(mask, "*?")
		for _, p := range all {
			if wildMatch(chatd.Key(mask), chatd.Key(p.User)) && (!masked || !s.hiddenFrom(&p)) {
				line("*", p, "")
			}
		}
	}
	s.numeric("315", mask, "End of /WHO list")
}

// listFilter is what LIST's ELIST parameter asks for (ELIST=CMNTU):
// channels that match any of masks (all, when there are none), none of the
// excluded masks, have more than above and fewer than below users, and
// were made and had their topic set within the ages asked.
type listFilter struct {
	masks, not   []string
	above, below int // below 0: no bound
	// The ages, in minutes, as InspIRCd and Solanum read them: C<n a
	// room made less than n minutes ago, C>n more than n minutes ago;
	// T the same for its topic's time. Negative: no bound.
	madeUnder, madeOver   int
	topicUnder, topicOver int
}

// parseListFilter reads LIST's comma-separated conditions: a channel mask
// (* and ?), !mask, >n, <n, C<n, C>n, T<n, T>n.
func parseListFilter(p string) listFilter {
	lf := listFilter{above: 0, below: -1, madeUnder: -1, madeOver: -1, topicUnder: -1, topicOver: -1}
	for _, c := range ircTargets(p) {
		switch {
		case c[0] == '>' || c[0] == '<':
			n, err := strconv.Atoi(c[1:])
			if err != nil {
				continue
			}
			if c[0] == '>' {
				lf.above = max(lf.above, n)
			} else if lf.below < 0 || n < lf.below {
				lf.below = n
			}
		case c[0] == '!':
			lf.not = append(lf.not, chatd.Key(c[1:]))
		case strings.HasPrefix(c, "C<"), strings.HasPrefix(c, "C>"), strings.HasPrefix(c, "T<"), strings.HasPrefix(c, "T>"):
			n, err := strconv.Atoi(c[2:])
			if err != nil || n < 0 {
				continue
			}
			under, over := &lf.madeUnder, &lf.madeOver
			if c[0] == 'T' {
				under, over = &lf.topicUnder, &lf.topicOver
			}
			if c[1] == '<' && (*under < 0 || n < *under) {
				*under = n
			} else if c[1] == '>' {
				*over = max(*over, n)
			}
		default:
			lf.masks = append(lf.masks, chatd.Key(c))
		}
	}
	return lf
}

// aged reports whether room r, at now, passes the filter's creation and
// topic ages. A room whose topic time is not known fails any topic bound.
func (lf listFilter) aged(r *chatd.Room, now time.Time) bool {
	within := func(at time.Time, under, over int) bool {
		if under < 0 && over < 0 {
			return true
		}
		if at.IsZero() {
			return false
		}
		age := now.Sub(at)
		return (under < 0 || age < time.Duration(under)*time.Minute) &&
			(over < 0 || age > time.Duration(over)*time.Minute)
	}
	return within(r.Created, lf.madeUnder, lf.madeOver) && within(r.TopicAt, lf.topicUnder, lf.topicOver)
}

// match reports whether channel, with n users, passes the filter.
func (lf listFilter) match(channel string, n int) bool {
	if n <= lf.above || lf.below >= 0 && n >= lf.below {
		return false
	}
	k := chatd.Key(channel)
	for _, m := range lf.not {
		if wildMatch(m, k) {
			return false
		}
	}
	if len(lf.masks) == 0 {
		return true
	}
	for _, m := range lf.masks {
		if wildMatch(m, k) || wildMatch("#"+m, k) {
			return true
		}
	}
	return false
}

// wildMatch matches name against an IRC mask: * for any run, ? for any one
// character.
func wildMatch(mask, name string) bool {
	for len(mask) > 0 {
		switch mask[0] {
		case '*':
			mask = strings.TrimLeft(mask, "*")
			if mask == "" {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if wildMatch(mask, name[i:]) {
					return true
				}
			}
			return false
		case '?':
			if name == "" {
				return false
			}
			mask, name = mask[1:], name[1:]
		default:
			if name == "" || name[0] != mask[0] {
				return false
			}
			mask, name = mask[1:], name[1:]
		}
	}
	return name == ""
}

func ircWhois(ctx context.Context, s *session, m *ircMsg) {
	nick := m.params[len(m.params)-1]
	u, err := s.srv.store.UserByName(ctx, nick)
	var o *presence
	if err == nil {
		o, _ = s.srv.community.find(ctx, u.Name)
	}
	if o == nil {
		s.numeric("401", nick, "No such nick/channel")
		s.numeric("318", nick, "End of /WHOIS list")
		return
	}
	user, real := s.srv.identOf(u.Name)
	s.numeric("311", u.Name, user, ircHost, "*", real)
	var chans []string
	for _, r := range o.Rooms {
		rr, err := s.srv.store.RoomByName(ctx, r)
		if err != nil || !s.seesRoom(rr) {
			continue
		}
		roles, _ := s.srv.store.MemberRoles(ctx, rr.Name)
		chans = append(chans, ircPrefix(rr, roles, u.Name, s.irc.has(capMultiPrefix))+"#"+rr.Name)
	}
	if len(chans) > 0 {
		s.numeric("319", u.Name, strings.Join(chans, " "))
	}
	s.numeric("312", u.Name, s.srv.serverName(), "chatd")
	if o.Away != nil {
		s.numeric("301", u.Name, *o.Away)
	}
	if u.Admin || s.srv.isOper(u.Name) {
		s.numeric("313", u.Name, "is a server admin")
	}
	if !s.srv.isGuest(u.Name) {
		s.numeric("330", u.Name, u.Name, "is logged in as")
	}
	if s.srv.isBot(u.Name) {
		s.numeric("335", u.Name, "is a bot")
	}
	idle := int64(s.srv.now().Sub(o.LastActive).Seconds())
	s.numeric("317", u.Name, itoa(int(max(idle, 0))), itoa(int(o.Since.Unix())), "seconds idle, signon time")
	s.ircWhoisMeta(ctx, u.Name)
	s.numeric("318", nick, "End of /WHOIS list")
}

func ircAway(ctx context.Context, s *session, m *ircMsg) {
	if m.param(0) == "" {
		if _, err := s.collect(ctx, cmdBack, ""); err != nil && chatd.ErrorCode(err) != chatd.EBadArgs {
			s.ircError("AWAY", "*", err)
			return
		}
		s.numeric("305", "You are no longer marked as being away")
		return
	}
	if _, err := s.collect(ctx, cmdAway, m.params[0]); err != nil {
		s.ircError("AWAY", "*", err)
		return
	}
	s.numeric("306", "You have been marked as being away")
}

// ircKickMax is the most nicks one KICK takes (TARGMAX); more are dropped.
const ircKickMax = 10

// ircKick is KICK #room nick[,nick...] [:reason], or, as RFC 2812 has
// it, KICK #a,#b nick1,nick2: the first nick from the first channel, the
// second from the second. Each is one kick, shown as its own KICK line.
func ircKick(ctx context.Context, s *session, m *ircMsg) {
	channels, nicks := ircTargets(m.params[0]), ircTargets(m.params[1])
	if len(channels) == 0 || len(nicks) == 0 || len(channels) > 1 && len(channels) != len(nicks) {
		s.numeric("461", "KICK", "Not enough parameters: one channel, or as many channels as nicks")
		return
	}
	nicks = nicks[:min(len(nicks), ircKickMax)]
	for i, nick := range nicks {
		channel := channels[min(i, len(channels)-1)]
		if _, ok := s.ircFocus(ctx, channel); !ok {
			continue
		}
		if o, _ := s.srv.community.find(ctx, nick); o == nil || !o.in(strings.TrimPrefix(channel, "#")) {
			s.numeric("441", nick, channel, "They aren't on that channel")
			continue
		}
		reason := m.param(2)
		if reason == "" {
			reason = s.user
		}
		if _, err := s.collect(ctx, cmdKick, nick+" "+reason); err != nil {
			s.ircError("KICK", channel, err)
		}
	}
}

func ircInvite(ctx context.Context, s *session, m *ircMsg) {
	if len(m.params) == 0 {
		// The invite list: the rooms the user is invited to (336, 337).
		rooms, err := s.srv.store.InvitesOf(ctx, s.user)
		if err != nil {
			s.ircError("INVITE", "*", err)
			return
		}
		for _, r := range rooms {
			s.numeric("336", "#"+r)
		}
		s.numeric("337", "End of /INVITE list")
		return
	}
	if len(m.params) < 2 {
		s.numeric("461", "INVITE", "Not enough parameters")
		return
	}
	nick, channel := m.params[0], m.params[1]
	room, ok := s.ircFocus(ctx, channel)
	if !ok {
		return
	}
	if o, _ := s.srv.community.find(ctx, nick); o != nil && o.in(room) {
		s.numeric("443", nick, channel, "is already on channel")
		return
	}
	if _, err := s.collect(ctx, cmdInvite, nick); err != nil {
		if chatd.ErrorCode(err) == chatd.ENoSuchUser {
			s.numeric("401", nick, "No such nick/channel")
		} else {
			s.ircError("INVITE", channel, err)
		}
		return
	}
	s.numeric("341", nick, channel)
}

func ircMode(ctx context.Context, s *session, m *ircMsg) {
	t := m.params[0]
	if !strings.HasPrefix(t, "#") {
		if chatd.Key(t) != chatd.Key(s.user) {
			s.numeric("502", "Can't change mode for other users")
			return
		}
		ircUserMode(ctx, s, m)
		return
	}
	r, err := s.srv.store.RoomByName(ctx, t[1:])
	if err != nil {
		s.numeric("403", t, "No such channel")
		return
	}
	modes := m.param(1)
	if modes == "" {
		s.numeric("324", append([]string{"#" + r.Name}, strings.Fields(modeString(r))...)...)
		s.numeric("329", "#"+r.Name, itoa(int(r.Created.Unix())))
		return
	}
	if len(m.params) == 2 && len(strings.TrimPrefix(modes, "+")) == 1 && strings.Contains("beI", strings.TrimPrefix(modes, "+")) {
		s.ircMaskList(ctx, r, strings.TrimPrefix(modes, "+"))
		return
	}
	if _, ok := s.ircFocus(ctx, t); !ok {
		return
	}
	// The flags, +l, +v and +o go to roommode in one line, so that the
	// client gets one MODE back, as IRC servers answer; +k and +b map to
	// roompasswd and roomban.
	var changes []string
	arg := 2
	add := true
	sign := func() string { return map[bool]string{true: "+", false: "-"}[add] }
	for _, c := range modes {
		var err error
		switch c {
		case '+':
			add = true
		case '-':
			add = false
		case 'C', 'i', 'm', 'n', 's', 't':
			changes = append(changes, sign()+string(c))
		case 'e', 'I':
			mask := m.param(arg)
			arg++
			if mask == "" {
				s.ircMaskList(ctx, r, string(c))
				continue
			}
			changes = append(changes, sign()+string(c)+" "+mask)
		case 'l':
			if !add {
				changes = append(changes, "-l")
				continue
			}
			v := m.param(arg)
			arg++
			if n, err := strconv.Atoi(v); err != nil || n <= 0 {
				s.numeric("696", "#"+r.Name, "l", cmp.Or(v, "*"), "the member limit must be a number above 0")
				continue
			}
			changes = append(changes, "+l "+v)
		case 'v', 'o':
			nick := m.param(arg)
			arg++
			if nick == "" {
				s.numeric("461", "MODE", "Not enough parameters")
				continue
			}
			if o, _ := s.srv.community.find(ctx, nick); o == nil {
				s.numeric("401", nick, "No such nick/channel")
			} else if !o.in(r.Name) {
				s.numeric("441", nick, "#"+r.Name, "They aren't on that channel")
			} else {
				changes = append(changes, sign()+string(c)+" "+o.User)
			}
		case 'k':
			key := ""
			if add {
				key = m.param(arg)
				arg++
				if key == "" || strings.ContainsAny(key, " \t") {
					s.numeric("696", "#"+r.Name, "k", "*", "a key is one word, without spaces")
					continue
				}
			}
			if _, err = s.collect(ctx, cmdRoomPasswd, key); err == nil {
				shown := "*"
				if add {
					shown = key
				}
				s.ircLineOut(userMask(s.user), "MODE", "#"+r.Name, map[bool]string{true: "+k", false: "-k"}[add], shown)
			}
		case 'b':
			mask := m.param(arg)
			arg++
			if mask == "" {
				s.ircMaskList(ctx, r, chatd.MaskBan)
				continue
			}
			err = s.ircBan(ctx, r, mask, add)
		default:
			s.numeric("472", string(c), "is unknown mode char to me")
		}
		if err != nil {
			s.ircError("MODE", t, err)
		}
	}
	if len(changes) == 0 {
		return
	}
	replies, err := s.collect(ctx, cmdRoomMode, "#"+r.Name+" "+strings.Join(changes, " "))
	if err != nil {
		s.ircError("MODE", t, err)
		return
	}
	for _, ev := range replies {
		if change, _ := ev.get("change").(string); change != "" {
			s.ircLineOut(userMask(s.user), "MODE", append([]string{"#" + r.Name}, strings.Fields(change)...)...)
		}
	}
}

// ircMaskLists are the numerics of MODE #room +b, +e and +I: an entry and
// the end of the list.
var ircMaskLists = map[string][3]string{
	chatd.MaskBan:       {"367", "368", "End of channel ban list"},
	chatd.MaskException: {"348", "349", "End of channel exception list"},
	chatd.MaskInvite:    {"346", "347", "End of channel invite exception list"},
}

// ircMaskList answers MODE #room +b (+e, +I): the masks of the room's list
// kind, each with who set it when, then the end.
func (s *session) ircMaskList(ctx context.Context, r *chatd.Room, kind string) {
	masks, err := s.srv.store.RoomMasks(ctx, r.Name)
	if err != nil {
		s.ircError("MODE", "#"+r.Name, err)
		return
	}
	nums := ircMaskLists[kind]
	for _, b := range masks {
		if cmp.Or(b.Kind, chatd.MaskBan) == kind {
			s.numeric(nums[0], "#"+r.Name, b.Mask, cmp.Or(b.By, s.srv.serverName()), itoa(int(b.Created.Unix())))
		}
	}
	s.numeric(nums[1], "#"+r.Name, nums[2])
}

// ircBan is MODE +b mask (or -b): the mask is kept as given (roomban
// MASK); a mask that names an account (nick!*@* or nick) bans the account
// too, as roomban USER does, which puts them out.
func (s *session) ircBan(ctx context.Context, r *chatd.Room, mask string, add bool) error {
	nick, rest, _ := strings.Cut(mask, "!")
	account := ""
	if (rest == "" || rest == "*@*") && !isExtban(mask) {
		if u, err := s.srv.store.UserByName(ctx, nick); err == nil {
			account = u.Name
		}
	}
	if !strings.ContainsAny(mask, "!@") && !isExtban(mask) {
		mask += "!*@*"
	}
	if add {
		if account != "" {
			if o, _ := s.srv.community.find(ctx, account); o != nil && o.in(r.Name) {
				if _, err := s.collect(ctx, cmdRoomBan, account); err != nil {
					return err
				}
			}
		}
		if _, err := s.collect(ctx, cmdRoomBan, mask); err != nil && chatd.ErrorCode(err) != chatd.EBadArgs {
			return err
		}
		s.ircLineOut(userMask(s.user), "MODE", "#"+r.Name, "+b", mask)
		return nil
	}
	_, err := s.collect(ctx, cmdRoomUnban, mask)
	if account != "" {
		if _, aerr := s.collect(ctx, cmdRoomUnban, account); aerr == nil {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	s.ircLineOut(userMask(s.user), "MODE", "#"+r.Name, "-b", mask)
	return nil
}

func ircLusers(ctx context.Context, s *session, _ *ircMsg) {
	all, _ := s.srv.community.everyone(ctx)
	s.ircLusers(len(all))
}

// ircLusers answers LUSERS for n users online.
func (s *session) ircLusers(n int) {
	peak := int64(n)
	for {
		old := s.srv.ircPeak.Load()
		if old >= peak || s.srv.ircPeak.CompareAndSwap(old, peak) {
			peak = max(old, peak)
			break
		}
	}
	c, p := itoa(n), itoa(int(peak))
	s.numeric("251", "There are "+c+" users and 0 invisible on 1 servers")
	s.numeric("255", "I have "+c+" clients and 0 servers")
	s.numeric("265", c, p, "Current local users "+c+", max "+p)
	s.numeric("266", c, p, "Current global users "+c+", max "+p)
}

func ircVersion(_ context.Context, s *session, _ *ircMsg) {
	s.numeric("351", "chatd", s.srv.serverName(), "chatd IRC listener")
	s.ircISupport()
}

func ircTime(_ context.Context, s *session, _ *ircMsg) {
	s.numeric("391", s.srv.serverName(), s.srv.now().UTC().Format(time.RFC1123))
}

func ircIson(ctx context.Context, s *session, m *ircMsg) {
	var on []string
	for _, p := range m.params {
		for _, n := range strings.Fields(p) {
			if o, _ := s.srv.community.find(ctx, n); o != nil {
				on = append(on, o.User)
			}
		}
	}
	s.numeric("303", strings.Join(on, " "))
}

func ircUserhost(ctx context.Context, s *session, m *ircMsg) {
	var out []string
	for _, n := range m.params {
		if o, _ := s.srv.community.find(ctx, n); o != nil {
			mark := "+"
			if o.Away != nil {
				mark = "-"
			}
			out = append(out, o.User+"="+mark+o.User+"@"+ircHost)
		}
	}
	s.numeric("302", strings.Join(out, " "))
}

// ircISupport is the 005 line: what the server supports, honestly.
func (s *session) ircISupport() {
	cfg := s.srv.cfg()
	tokens := []string{
		"AWAYLEN=300", "WHOX", "CASEMAPPING=ascii", "CHANLIMIT=#:" + itoa(cfg.Rooms.MaxJoined),
		"CHANMODES=beI,k,l,Cimnst", "CHANNELLEN=64", "CHANTYPES=#", "MODES=4",
		"NETWORK=chatd", "NICKLEN=32", "PREFIX=(ov)@+", "STATUSMSG=@+",
		"TARGMAX=PRIVMSG:" + itoa(cfg.Messages.MaxRecipients) + ",NOTICE:" + itoa(cfg.Messages.MaxRecipients) + ",JOIN:,PART:,NAMES:,KICK:" + itoa(ircKickMax),
		"TOPICLEN=" + itoa(topicMax), "UTF8ONLY",
		"CHATHISTORY=" + itoa(ircHistoryMax), "MSGREFTYPES=msgid,timestamp", "MONITOR=" + itoa(ircMonitorMax),
		"NAMELEN=" + itoa(realnameMax), "BOT=B", "ELIST=CMNTU",
		"EXCEPTS=e", "INVEX=I", "EXTBAN=,am", "ACCOUNTEXTBAN=a",
	}
	for len(tokens) > 0 {
		n := min(len(tokens), 12) // 15 parameters with the nick and the text
		s.numeric("005", append(tokens[:n:n], "are supported by this server")...)
		tokens = tokens[n:]
	}
}

// ircMOTD sends the banner as the message of the day.
func (s *session) ircMOTD() {
	banner := strings.TrimSpace(s.srv.cfg().Server.Banner)
	if banner == "" {
		s.numeric("422", "MOTD File is missing")
		return
	}
	s.numeric("375", "- "+s.srv.serverName()+" Message of the day -")
	for _, l := range strings.Split(banner, "\n") {
		s.numeric("372", "- "+strings.TrimRight(l, "\r"))
	}
	s.numeric("376", "End of /MOTD command")
}

func itoa(n int) string { return strconv.Itoa(n) }

// whowasMax is how many departures WHOWAS remembers.
const whowasMax = 100

// ircWhowas is the memory behind WHOWAS: the last whowasMax IRC sessions
// that ended on this node, oldest first.
type ircWhowas struct {
	mu   sync.Mutex // leaf (DEVELOPING.md "Locks")
	gone []whowasEntry
}

type whowasEntry struct {
	nick, username, realname string
	at                       time.Time
}

// add remembers that s, a logged-in IRC session, ends.
func (w *ircWhowas) add(s *session) {
	e := whowasEntry{nick: s.user, username: s.irc.username, realname: s.irc.realname, at: s.srv.now()}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.gone) == whowasMax {
		w.gone = append(w.gone[:0], w.gone[1:]...)
	}
	w.gone = append(w.gone, e)
}

// find lists name's departures, the newest first, at most n (n <= 0: all).
func (w *ircWhowas) find(name string, n int) []whowasEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []whowasEntry
	for i := len(w.gone) - 1; i >= 0 && (n <= 0 || len(out) < n); i-- {
		if wildMatch(chatd.Key(name), chatd.Key(w.gone[i].nick)) {
			out = append(out, w.gone[i])
		}
	}
	return out
}

func ircWhowasCmd(_ context.Context, s *session, m *ircMsg) {
	nick := m.param(0)
	if nick == "" {
		s.numeric("431", "No nickname given")
		return
	}
	n, _ := strconv.Atoi(m.param(1))
	found := s.srv.whowas.find(nick, n)
	if len(found) == 0 {
		s.numeric("406", nick, "There was no such nickname")
	}
	for _, e := range found {
		s.numeric("314", e.nick, e.username, ircHost, "*", e.realname)
		s.numeric("312", e.nick, s.srv.serverName(), e.at.UTC().Format(time.RFC1123))
	}
	s.numeric("369", nick, "End of WHOWAS")
}

// ircOper gives the session server admin rights when name and password
// are those of an admin account (checked like any login: the gate, the
// lockout): whoever knows them could log in as that admin anyway.
func ircOper(ctx context.Context, s *session, m *ircMsg) {
	u, err := s.ircCheck(ctx, m.params[0], m.params[1])
	if err != nil {
		if chatd.ErrorCode(err) == chatd.ELockedOut {
			s.numeric("464", chatd.ErrorMessage(err))
		} else {
			s.numeric("464", "Password incorrect")
		}
		return
	}
	if !u.Admin {
		s.numeric("491", "No O-lines for your host: "+u.Name+" is not a server admin")
		return
	}
	s.admin.Store(true)
	if v, ok := s.srv.ircIdents.Load(chatd.Key(s.user)); ok {
		id := *v.(*ircIdent)
		id.oper = true
		s.srv.ircIdents.Store(chatd.Key(s.user), &id)
	}
	s.srv.connLog.Info("oper", "user", s.user, "as", u.Name, "addr", s.addr)
	s.numeric("381", "You are now an IRC operator (a chatd server admin)")
	s.ircLineOut(userMask(s.user), "MODE", s.user, "+o")
}

// ircKill disconnects a user, for server admins: chatd's kick of an admin.
func ircKill(ctx context.Context, s *session, m *ircMsg) {
	if !s.admin.Load() {
		s.numeric("481", "Permission Denied: KILL is for server admins")
		return
	}
	reason := cmp.Or(m.param(1), "killed")
	if _, err := s.collect(ctx, cmdKick, m.params[0]+" "+reason); err != nil {
		s.ircError("KILL", m.params[0], err)
	}
}

// ircLinks answers LINKS with its end only: to IRC a chatd community is
// one server (a cluster's nodes share one server_name), so there are no
// links to list.
func ircLinks(_ context.Context, s *session, _ *ircMsg) {
	s.numeric("365", "*", "End of /LINKS list")
}

func ircInfo(_ context.Context, s *session, _ *ircMsg) {
	s.numeric("371", "chatd "+chatd.Version+": a chat server for telnet, the web, and IRC")
	s.numeric("374", "End of INFO list")
}

// ircRegisterAccount is REGISTER (draft/account-registration) after
// registration: a guest makes its nick an account by giving it a password,
// where accounts.registration is open. The e-mail is not used.
func ircRegisterAccount(ctx context.Context, s *session, m *ircMsg) {
	st := s.irc
	name, pw := m.params[0], m.params[2]
	fail := func(code, text string) {
		s.ircLineOut(s.srv.serverName(), "FAIL", "REGISTER", code, cmp.Or(name, "*"), text)
	}
	switch {
	case s.srv.cfg().Accounts.Registration != "open":
		fail("TEMPORARILY_UNAVAILABLE", "Accounts are created by the server's admins")
		return
	case name != "*" && chatd.Key(name) != chatd.Key(s.user):
		fail("ACCOUNT_NAME_MUST_BE_NICK", "The account's name is your nick")
		return
	case !st.guest:
		fail("ALREADY_AUTHENTICATED", "You are logged in to your account already")
		return
	}
	if err := s.srv.cfg().Accounts.CheckPassword(pw); err != nil {
		fail("WEAK_PASSWORD", chatd.ErrorMessage(err))
		return
	}
	hash, err := s.hashPassword(pw)
	if err == nil {
		err = s.srv.store.SetPassword(ctx, s.user, hash)
	}
	if err != nil {
		fail("TEMPORARILY_UNAVAILABLE", chatd.ErrorMessage(err))
		return
	}
	st.guest = false
	if v, ok := s.srv.ircIdents.Load(chatd.Key(s.user)); ok {
		id := *v.(*ircIdent)
		id.guest = false
		s.srv.ircIdents.Store(chatd.Key(s.user), &id)
	}
	s.srv.connLog.Info("registered", "user", s.user, "addr", s.addr, "listener", s.info.Listener)
	s.ircAccountRegistered(ctx)
	s.ircLineOut(s.srv.serverName(), "REGISTER", "SUCCESS", s.user, "Account created: log in with SASL or PASS next time")
}
