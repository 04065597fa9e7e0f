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
	if s.irc.known == nil {
		s.irc.known = map[string]bool{}
	}
	return s.renderIRC(buf, ev, true)
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
				st.known[chatd.Key(n)] = true
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
			buf = appendIRC(buf, nil, server, "FAIL", "*", "INVALID_UTF8", ev.str("text"))
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

func (s *session) appendIRCMessage(buf []byte, ev *event, me string) []byte {
	st := s.irc
	from, text := ev.str("from"), ev.str("text")
	at := ev.at
	if ts, err := time.Parse(time.RFC3339, ev.str("ts")); err == nil && at.IsZero() {
		at = ts
	}
	own := chatd.Key(from) == chatd.Key(me)
	kind := ev.str("kind")
	if own && kind != kindHistory && kind != kindOffline && !st.has(capEchoMessage) {
		return buf
	}
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
	switch kind {
	case kindRoom, kindHistory:
		return appendIRC(buf, tags, userMask(from), command, "#"+ev.str("room"), text)
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
		if st.known[k] {
			delete(st.known, k)
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
		s.irc.known[chatd.Key(user)] = true
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
	case roomTopic:
		if user == "" {
			return appendIRC(buf, nil, s.srv.serverName(), "332", me, channel, ev.str("topic"))
		}
		return appendIRC(buf, nil, userMask(user), "TOPIC", channel, ev.str("topic"))
	case roomBanned:
		buf = appendIRC(buf, nil, userMask(by), "MODE", channel, "+b", user+"!*@*")
		return appendIRC(buf, nil, userMask(by), "KICK", channel, user, "banned")
	case roomInvited:
		return appendIRC(buf, s.ircTags(nil, ev.at, by), userMask(by), "INVITE", me, channel)
	case roomOwner:
		return appendIRC(buf, nil, userMask(by), "MODE", channel, "+o", user)
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
	s.numeric("001", "Welcome to the chatd IRC network, "+me)
	s.numeric("002", "Your host is "+server+", running chatd")
	s.numeric("003", "This server was created "+time.Unix(0, s.srv.startedAt).UTC().Format(time.RFC1123))
	s.numeric("004", server, "chatd", "i", "bko")
	s.ircISupport()
	online, _ := ev.get("online").([]string)
	users := len(online)
	if n, ok := ev.get("online_count").(int); ok {
		users = n // above presence.everyone_limit online is a few
	}
	s.ircLusers(users)
	s.ircMOTD()
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
