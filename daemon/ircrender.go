// Rendering events as IRC lines, per session: what a line looks like
// depends on the client's nick and on the capabilities it negotiated, so
// IRC output is never shared between sessions the way text and JSON
// renderings are. Each event type is one case of appendIRCEvent; a new
// event type is one more case.

package daemon

import (
	"strings"
	"time"

	"chatd"
)

// get is the value of ev's field key, nil when it has none.
func (e *event) get(key string) any {
	for _, fl := range e.fields {
		if fl.key == key {
			return fl.val
		}
	}
	return nil
}

func (e *event) str(key string) string {
	v, _ := e.get(key).(string)
	return v
}

// appendIRCEvent appends ev as IRC lines for this session; it runs on the
// goroutine holding the output. Events with no IRC meaning (prompts,
// telnet commands, text-mode hints, mode switches) render as nothing.
func (s *session) appendIRCEvent(buf []byte, ev *event) []byte {
	return s.renderIRC(buf, ev, true)
}

// nickSet is a set of name keys (chatd.Key) held as 64-bit hashes: a map
// without pointers, which the garbage collector does not scan. Every IRC
// session of a big room holds one entry per member it was shown, and as
// map[string]bool those were most of the heap each collection marked. Two
// keys share a hash with a chance of about n²/2⁶⁴; the cost of one that
// did would be a QUIT or AWAY shown to a client that never saw the user.
// The hash is FNV-1a, the same in every process, so a session's set moves
// with it in a live upgrade (upgrade.go).
type nickSet map[uint64]struct{}

// nickHash is the 64-bit FNV-1a hash of key.
func nickHash(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return h
}

func (n *nickSet) add(key string) {
	if *n == nil {
		*n = nickSet{}
	}
	(*n)[nickHash(key)] = struct{}{}
}

func (n nickSet) has(key string) bool {
	_, ok := n[nickHash(key)]
	return ok
}

func (n nickSet) remove(key string) { delete(n, nickHash(key)) }

// hashes lists the set, for the upgrade record.
func (n nickSet) hashes() []uint64 {
	out := make([]uint64, 0, len(n))
	for h := range n {
		out = append(out, h)
	}
	return out
}

// nickSetOf is the set of the hashes h.
func nickSetOf(h []uint64) nickSet {
	n := make(nickSet, len(h))
	for _, x := range h {
		n[x] = struct{}{}
	}
	return n
}

// renderIRC renders ev; output says the goroutine holding the output
// calls it (not the reader diverting an answer), so it may keep
// ircState.known up to date and label what carries a label.
func (s *session) renderIRC(buf []byte, ev *event, output bool) []byte {
	st := s.irc
	me := st.me()
	server := s.srv.serverName()
	label := ""
	if output {
		label = ev.str("label")
	}
	start := len(buf)
	switch ev.typ {
	case "irc":
		buf = append(buf, ev.text...)
		if names, ok := ev.get("names").([]string); ok && output {
			for _, n := range names {
				st.known.add(chatd.Key(n))
			}
		}
		if output {
			buf = s.appendMonitorAnswer(buf, ev)
		}
		return buf // labelled by ircFlush already
	case "message":
		buf = s.appendIRCMessage(buf, ev, me)
	case "notice":
		buf = appendIRC(buf, s.ircTags(ev.id, ev.at, ""), userMask(ircPseudoUser), "NOTICE", me, ev.str("text"))
	case "presence":
		buf = s.appendIRCPresence(buf, ev)
	case "room":
		buf = s.appendIRCRoom(buf, ev, me, output)
	case "ok":
		buf = s.appendIRCOk(buf, ev, me, output)
	case "error":
		switch chatd.Code(ev.str("code")) {
		case chatd.ELineTooLong:
			buf = appendIRC(buf, nil, server, "417", me, "Input line was too long")
		case chatd.EBanned:
			buf = appendIRC(buf, nil, server, "465", me, ev.str("text"))
		case chatd.EBadEncoding:
			cmd := ev.str("cmd")
			if cmd == "" {
				cmd = "*"
			}
			buf = appendIRC(buf, nil, server, "FAIL", cmd, "INVALID_UTF8", ev.str("text"))
		default:
			buf = appendIRC(buf, nil, userMask(ircPseudoUser), "NOTICE", me, "! "+ev.str("text")+" ("+ev.str("code")+")")
		}
	case "delivery":
		buf = s.appendNotice(buf, ev, me)
	case "read":
		buf = s.appendIRCRead(buf, ev)
	case "edit", "delete", "reaction":
		buf = s.appendIRCAction(buf, ev, me)
	case "typing":
		buf = s.appendIRCTyping(buf, ev)
	case "tagmsg":
		buf = s.appendIRCTagmsg(buf, ev, me)
	case "metadata":
		buf = s.appendIRCMeta(buf, ev, me)
	case "setname":
		buf = s.appendIRCSetname(buf, ev, me)
	case "account":
		buf = s.appendIRCAccount(buf, ev, me)
	case "wallops":
		buf = appendIRC(buf, nil, userMask(ev.str("from")), "WALLOPS", ev.str("text"))
	case "bye":
		buf = appendIRC(buf, nil, "", "ERROR", "Closing link: "+ev.str("text"))
	default:
		// welcome is rendered on the reader (ircWelcome); prompt,
		// telnet, text, mode have no IRC form.
		return buf
	}
	if label != "" && st.has(capLabeledResponse) && len(buf) > start {
		lines := labelLines(buf[start:], label, server, st.has(capBatch))
		buf = append(buf[:start], lines...)
	}
	return buf
}

// appendNotice renders an answer's text-mode wording as NOTICEs from the
// pseudo-user chatd: the answers of commands run through it.
func (s *session) appendNotice(buf []byte, ev *event, me string) []byte {
	text := strings.TrimRight(string(ev.render(modeText)), "\r\n")
	for _, l := range strings.Split(text, "\r\n") {
		if l == "" {
			l = " "
		}
		buf = appendIRC(buf, nil, userMask(ircPseudoUser), "NOTICE", me, l)
	}
	return buf
}

// ircShared is one IRC rendering of an event that is the same for every
// session whose capabilities agree in the bits caps stands for; an
// event's renderings form a list that only grows (event.ircOut).
type ircShared struct {
	caps uint64
	line []byte
	next *ircShared
}

// ircSharedCaps are the capabilities that change how a live room
// message reads: its tags. Nothing else in its line depends on the
// session (the channel, not the nick, is its target).
const ircSharedCaps = capServerTime | capMessageTags | capAccountTag

// ircMultilineCaps change how a line of several lines reads (a batch or
// a PRIVMSG per line, irc_multiline.go): they key its renderings too.
const ircMultilineCaps = capMultiline | capBatch

// appendIRCMessage renders a message. A live room message is rendered
// once per distinct set of ircSharedCaps and the bytes shared by every
// member with that set: a room of a thousand IRC clients with the same
// capabilities costs one rendering, not a thousand.
func (s *session) appendIRCMessage(buf []byte, ev *event, me string) []byte {
	st := s.irc
	from := ev.str("from")
	own := chatd.Key(from) == chatd.Key(me)
	kind := ev.str("kind")
	if own && kind != kindHistory && kind != kindOffline && !st.has(capEchoMessage) {
		return buf
	}
	if kind != kindRoom {
		return s.renderIRCMessage(buf, ev, me, from, kind)
	}
	caps := st.caps.Load() & ircSharedCaps
	if ev.parts != nil {
		caps |= st.caps.Load() & ircMultilineCaps
	}
	head := ev.ircOut.Load()
	for r := head; r != nil; r = r.next {
		if r.caps == caps {
			return append(buf, r.line...)
		}
	}
	line := s.renderIRCMessage(nil, ev, me, from, kind)
	r := &ircShared{caps: caps, line: line, next: head}
	// Another session may have added a rendering meanwhile; this one is
	// then used here alone, and the list keeps what it has.
	ev.ircOut.CompareAndSwap(head, r)
	return append(buf, line...)
}

// renderIRCMessage renders a message for this session, from its start.
func (s *session) renderIRCMessage(buf []byte, ev *event, me, from, kind string) []byte {
	st := s.irc
	text := ev.str("text")
	at := ev.at
	if at.IsZero() {
		if ts, err := time.Parse(time.RFC3339, ev.str("ts")); err == nil {
			at = ts
		}
	}
	own := chatd.Key(from) == chatd.Key(me)
	if action, _ := ev.get("action").(bool); action {
		text = "\x01ACTION " + text + "\x01"
	}
	tags := s.withClientTags(s.ircTags(ev.id, at, from), ev.clientTags)
	if r := ev.str("reply_to"); r != "" && st.has(capMessageTags) {
		tags = append(tags, ircTag{"+draft/reply", r})
	}
	command := "PRIVMSG"
	if notice, _ := ev.get("notice").(bool); notice {
		command = "NOTICE"
	}
	if (kind == kindRoom || kind == kindHistory) && strings.Contains(text, "\n") {
		return s.appendMultiline(buf, ev, tags, kind == kindRoom, userMask(from), command, ev.str("status")+"#"+ev.str("room"), text)
	}
	switch kind {
	case kindRoom, kindHistory:
		return appendIRC(buf, tags, userMask(from), command, ev.str("status")+"#"+ev.str("room"), text)
	case kindBroadcast:
		return appendIRC(buf, tags, userMask(from), "NOTICE", me, "[broadcast] "+text)
	default: // private, offline
		target := me
		if own {
			if to, ok := ev.get("to").([]string); ok && len(to) > 0 {
				target = strings.Join(to, ",")
			}
		}
		return appendIRC(buf, tags, userMask(from), command, target, text)
	}
}

// appendIRCPresence: a login JOINs the user to the client's channels they
// share; a logout is a QUIT for clients that could see them; away and
// back are AWAY for clients with away-notify.
func (s *session) appendIRCPresence(buf []byte, ev *event) []byte {
	st := s.irc
	user := ev.str("user")
	k := chatd.Key(user)
	buf = s.appendMonitor(buf, ev)
	switch ev.str("event") {
	case presLogin:
		for _, r := range s.srv.hub.sharedRooms(s, user) {
			buf = s.appendJoin(buf, user, r, true)
		}
	case presAway:
		if s.awayNotified(k) {
			buf = appendIRC(buf, nil, userMask(user), "AWAY", ev.str("text"))
		}
	case presBack:
		if s.awayNotified(k) {
			buf = appendIRC(buf, nil, userMask(user), "AWAY")
		}
	default:
		if st.known.has(k) {
			st.known.remove(k)
			if r := ev.str("reason"); r != "" {
				return appendIRC(buf, nil, userMask(user), "QUIT", "Quit: "+r)
			}
			reason := ev.render(modeText)
			buf = appendIRC(buf, nil, userMask(user), "QUIT", "Quit: "+strings.TrimPrefix(strings.TrimSpace(string(reason)), "* "+user+" "))
		}
	}
	return buf
}

// appendJoin is a JOIN of user to room, as extended-join shows it where
// asked for.
func (s *session) appendJoin(buf []byte, user, room string, output bool) []byte {
	if output {
		s.irc.known.add(chatd.Key(user))
	}
	if s.irc.has(capExtendedJoin) {
		account := user
		if s.srv.isGuest(user) {
			account = "*"
		}
		_, real := s.srv.identOf(user)
		return appendIRC(buf, nil, userMask(user), "JOIN", "#"+room, account, real)
	}
	return appendIRC(buf, nil, userMask(user), "JOIN", "#"+room)
}

func (s *session) appendIRCRoom(buf []byte, ev *event, me string, output bool) []byte {
	room, user, by := ev.str("room"), ev.str("user"), ev.str("by")
	channel := "#" + room
	switch ev.str("event") {
	case roomJoined:
		return s.appendJoin(buf, user, room, output)
	case roomLeft:
		if r := ev.str("reason"); r != "" {
			return appendIRC(buf, nil, userMask(user), "PART", channel, r)
		}
		return appendIRC(buf, nil, userMask(user), "PART", channel)
	case roomKicked:
		if by == "" {
			by = ircPseudoUser
		}
		return appendIRC(buf, nil, userMask(by), "KICK", channel, user, ev.str("reason"))
	case roomClosed:
		return appendIRC(buf, nil, userMask(me), "PART", channel, "the room was closed by "+user)
	case roomRenamed:
		return s.appendIRCRename(buf, ev, me)
	case roomTopic:
		if user == "" {
			buf = appendIRC(buf, nil, s.srv.serverName(), "332", me, channel, ev.str("topic"))
			if by := ev.str("set_by"); by != "" {
				if at, err := time.Parse(time.RFC3339, ev.str("set_at")); err == nil {
					buf = appendIRC(buf, nil, s.srv.serverName(), "333", me, channel, by, itoa(int(at.Unix())))
				}
			}
			return buf
		}
		var tags []ircTag
		if ev.id != "" {
			tags = s.ircTags(ev.id, time.Time{}, user)
		}
		return appendIRC(buf, tags, userMask(user), "TOPIC", channel, ev.str("topic"))
	case roomBanned:
		buf = appendIRC(buf, nil, userMask(by), "MODE", channel, "+b", user+"!*@*")
		return appendIRC(buf, nil, userMask(by), "KICK", channel, user, "banned")
	case roomInvited:
		return appendIRC(buf, s.ircTags(nil, ev.at, by), userMask(by), "INVITE", me, channel)
	case roomOwner:
		return appendIRC(buf, nil, userMask(by), "MODE", channel, "+o", user)
	case roomModeChanged:
		return appendIRC(buf, nil, userMask(by), "MODE", append([]string{channel}, strings.Fields(ev.str("mode"))...)...)
	}
	return buf
}

// appendIRCOk renders the answers that change what the client is in (a
// join, a leave); any other answer is a command run through the
// pseudo-user chatd, and comes as its NOTICEs.
func (s *session) appendIRCOk(buf []byte, ev *event, me string, output bool) []byte {
	switch ev.str("cmd") {
	case "join":
		if strings.HasPrefix(ev.str("text"), "you are now in ") {
			return s.appendJoin(buf, me, ev.str("room"), output)
		}
		return buf
	case "create":
		return s.appendJoin(buf, me, ev.str("room"), output)
	case "leave":
		if r := ev.str("reason"); r != "" {
			return appendIRC(buf, nil, userMask(me), "PART", "#"+ev.str("left"), r)
		}
		return appendIRC(buf, nil, userMask(me), "PART", "#"+ev.str("left"))
	}
	return s.appendNotice(buf, ev, me)
}

// ircWelcome renders the welcome of a login as IRC registration: 001 to
// 005, LUSERS, the banner as MOTD, and a JOIN (with its topic) for each of
// the user's rooms. It runs on the reader, inside enter, so it holds no
// lock of its own and asks nothing of the hub.
func (s *session) ircWelcome(ev *event) *event {
	st := s.irc
	saved := st.out
	st.out = nil
	me := st.me()
	server := s.srv.serverName()
	if !st.relogin {
		s.numeric("001", "Welcome to the chatd IRC network, "+me)
		s.numeric("002", "Your host is "+server+", running chatd")
		s.numeric("003", "This server was created "+s.srv.startedAs.UTC().Format(time.RFC1123))
		s.numeric("004", server, "chatd", "Biw", "CIbeiklmnostv")
		s.ircISupport()
		online, _ := ev.get("online").([]string)
		users := len(online)
		if n, ok := ev.get("online_count").(int); ok {
			users = n // above presence.everyone_limit online is a few
		}
		s.ircLusers(users)
		s.ircMetaBurst()
		s.ircMOTD()
	}
	if rooms, ok := ev.get("rooms").([]object); ok {
		for _, o := range rooms {
			var name, topic string
			for _, fl := range o {
				switch fl.key {
				case "name":
					name, _ = fl.val.(string)
				case "topic":
					topic, _ = fl.val.(string)
				}
			}
			if st.has(capExtendedJoin) {
				account := me
				if st.guest {
					account = "*"
				}
				st.out = appendIRC(st.out, nil, userMask(me), "JOIN", "#"+name, account, st.realname)
			} else {
				st.out = appendIRC(st.out, nil, userMask(me), "JOIN", "#"+name)
			}
			if topic != "" {
				s.numeric("332", "#"+name, topic)
			}
		}
	}
	out := st.out
	st.out = saved
	return &event{typ: "irc", text: string(out)}
}

// sharedRooms lists the rooms s is in that name's sessions on this node
// are in too.
func (h *hub) sharedRooms(s *session, name string) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var out []string
	for _, o := range h.users[chatd.Key(name)] {
		for _, r := range o.rooms {
			if memberIndex(s, r) >= 0 && !containsKey(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func containsKey(list []string, name string) bool {
	for _, x := range list {
		if chatd.Key(x) == chatd.Key(name) {
			return true
		}
	}
	return false
}
