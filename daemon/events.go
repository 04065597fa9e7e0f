package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatd"
)

// Output modes of a connection.
const (
	modeText int32 = iota
	modeJSON
)

// field is one JSON member of an event, in the order it is written.
type field struct {
	key string
	val any
}

// event is one server line (or prompt). It is immutable once built and may be
// queued to many sessions at once; each mode is rendered at most once.
type event struct {
	typ    string
	fields []field
	text   string // text-mode rendering without line end; "" with noText
	// rawText is written as is in text mode (prompts, telnet commands) and
	// gets no line end. jsonSkip drops the event in JSON mode.
	rawText  bool
	noText   bool
	jsonSkip bool

	once [2]sync.Once
	out  [2][]byte
	// ircOut holds the IRC lines of a live room message, one rendering
	// per set of the capabilities that change them (ircrender.go).
	ircOut atomic.Pointer[ircShared]

	// switchTo, when not zero, is a mode change (mode+1) that the output
	// applies at this point of the queue: what was queued before it is
	// rendered in the old mode.
	switchTo int32

	// afterWrite runs on the writer goroutine once the event has been
	// written to the connection (used to delete delivered offline mail).
	afterWrite func()

	// at is when the line happened; stamp says whether text mode prefixes
	// it with that time (in the reader's timezone, see session.stampText).
	at    time.Time
	stamp int8

	// clientTags are the IRC client-only tags (+key=value) a live line
	// was sent with; only IRC clients with message-tags see them.
	clientTags map[string]string
	// parts are the lines of the IRC multiline batch a live room line
	// was sent as (irc_multiline.go), nil for other lines.
	parts []mlPart

	// id is the message id of a message or notice (PROTOCOL.md 9.1),
	// which text mode shows at the line's end to users with ids on
	// (session.appendEvent); "" for other events.
	id string
	// conv is the conversation of a live room or private line, as its
	// recipients see it ("#room", "@sender"): a text-mode session that is
	// written the line has read that far (PROTOCOL.md 9.5).
	conv string
	// mentions is whom a room line marks (registered spellings), for
	// their text-mode output (session.markMention).
	mentions []string
}

// When a text-mode line shows its time.
const (
	stampNever  int8 = iota
	stampLive        // live lines, for users with timestamps on
	stampAlways      // replayed and offline lines, always
)

// labeled returns a copy of e carrying label (PROTOCOL.md section 8), or e
// itself when label is "". The copy has its own render cache.
func (e *event) labeled(label string) *event {
	if label == "" || e.switchTo != 0 || e.typ == "telnet" || e.typ == "text" {
		return e
	}
	fields := make([]field, len(e.fields), len(e.fields)+1)
	copy(fields, e.fields)
	return &event{typ: e.typ, fields: append(fields, f("label", label)), text: e.text,
		rawText: e.rawText, noText: e.noText, jsonSkip: e.jsonSkip,
		afterWrite: e.afterWrite, at: e.at, stamp: e.stamp, id: e.id, conv: e.conv, mentions: e.mentions, parts: e.parts}
}

// stamped marks e as a line whose time text mode may show; a zero at is
// the moment it is written.
func (e *event) stamped(at time.Time, when int8) *event {
	e.at, e.stamp = at, when
	return e
}

func newEvent(typ, text string, fields ...field) *event {
	return &event{typ: typ, text: text, fields: fields}
}

// render returns the bytes for mode, line end included.
func (e *event) render(mode int32) []byte {
	e.once[mode].Do(func() {
		if mode == modeJSON {
			if e.jsonSkip {
				return
			}
			var b bytes.Buffer
			b.WriteString(`{"type":`)
			writeJSON(&b, e.typ)
			for _, f := range e.fields {
				b.WriteByte(',')
				writeJSON(&b, f.key)
				b.WriteByte(':')
				writeJSON(&b, f.val)
			}
			b.WriteString("}\r\n")
			e.out[mode] = b.Bytes()
			return
		}
		switch {
		case e.noText:
		case e.rawText:
			e.out[mode] = []byte(e.text)
		default:
			// Whatever an event says, its text reaches a terminal clean
			// (names and arguments echoed in errors included). Multi-line
			// text uses CRLF between lines too.
			t := strings.ReplaceAll(cleanLines(e.text), "\n", "\r\n")
			e.out[mode] = append([]byte(t), '\r', '\n')
		}
	})
	return e.out[mode]
}

func writeJSON(b *bytes.Buffer, v any) {
	enc, err := json.Marshal(v)
	if err != nil {
		// Only our own plain types are marshalled; this cannot happen.
		enc = []byte("null")
	}
	b.Write(enc)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// jsonTime renders a zero time as null.
func jsonTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return stamp(t)
}

func textDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// ---- constructors, one per event type of the protocol ----

func promptEvent(field string) *event {
	labels := map[string]string{
		"username":        "Username: ",
		"password":        "Password: ",
		"new_password":    "New password: ",
		"repeat_password": "Repeat password: ",
		"old_password":    "Old password: ",
	}
	e := newEvent("prompt", labels[field], f("field", field))
	e.rawText = true
	return e
}

// telnetEvent is a raw telnet command for text mode only.
func telnetEvent(seq string) *event {
	return &event{typ: "telnet", text: seq, rawText: true, jsonSkip: true}
}

// modeEvent switches the writer's output mode; it renders nothing.
func modeEvent(m int32) *event {
	return &event{typ: "mode", noText: true, jsonSkip: true, switchTo: m + 1}
}

// textOnly is a line shown only in text mode (the banner's friendly hints).
func textOnly(text string) *event {
	return &event{typ: "text", text: text, jsonSkip: true}
}

func f(key string, val any) field { return field{key, val} }

// welcomeEvent is a login's welcome. online lists everyone online, or,
// with users above zero (more than presence.everyone_limit online,
// PROTOCOL.md 13), only the users online the user hears of, users being
// how many are online in all.
func welcomeEvent(user string, admin bool, room string, rooms []roomInfo, online []string, users, offline int, unread []chatd.Unread, mentions int) *event {
	var b strings.Builder
	if room == "" {
		fmt.Fprintf(&b, "Welcome, %s! You are in no room; join one to talk.", user)
	} else {
		fmt.Fprintf(&b, "Welcome, %s! You are in %s.", user, room)
	}
	if len(rooms) > 1 {
		names := make([]string, len(rooms))
		for i, r := range rooms {
			names[i] = r.Name
		}
		fmt.Fprintf(&b, " Your rooms: %s.", strings.Join(names, ", "))
	}
	if admin {
		b.WriteString(" You are a server admin.")
	}
	if users > 0 {
		fmt.Fprintf(&b, "\nOnline now: %d users; in your rooms or watched: %s.", users, strings.Join(online, ", "))
	} else {
		fmt.Fprintf(&b, "\nOnline now: %s.", strings.Join(online, ", "))
	}
	if len(unread) > 0 {
		fmt.Fprintf(&b, "\nUnread: %s.", unreadText(unread))
	}
	if t := mentionsText(mentions); t != "" {
		b.WriteString("\n" + t)
	}
	if offline > 0 {
		fmt.Fprintf(&b, "\nYou have %d offline message%s:", offline, plural(offline))
	}
	b.WriteString("\nType help for the list of commands.")
	fields := []field{f("user", user), f("admin", admin), f("room", nullable(room)), f("rooms", roomInfoList(rooms)),
		f("online", nonNil(online))}
	if users > 0 {
		fields = append(fields, f("online_count", users))
	}
	fields = append(fields, f("offline", offline), f("unread", unreadFields(unread)), f("mentions", mentions))
	return newEvent("welcome", b.String(), fields...)
}

// nullable is s, or JSON null for "".
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// okEvent answers a command. body holds extra text-mode lines (tables);
// fields are command-specific JSON members.
func okEvent(cmd, text string, body []string, fields ...field) *event {
	t := text
	if len(body) > 0 {
		t += "\n" + strings.Join(body, "\n")
	}
	return newEvent("ok", t, append([]field{f("cmd", cmd), f("text", text)}, fields...)...)
}

func errorEvent(cmd string, code chatd.Code, text string, extra ...field) *event {
	// Errors echo what the client typed: a name, a command word.
	cmd, text = clean(cmd), clean(text)
	t := fmt.Sprintf("! %s (%s)", text, code)
	return newEvent("error", t, append([]field{f("cmd", cmd), f("code", string(code)), f("text", text)}, extra...)...)
}

// Message kinds.
const (
	kindRoom      = "room"
	kindBroadcast = "broadcast"
	kindPrivate   = "private"
	kindOffline   = "offline"
	kindHistory   = "history"
)

// withID sets the message id e carries (see event.id).
func (e *event) withID(id string) *event {
	e.id = id
	return e
}

// noticed marks a live message sent as an IRC NOTICE ("notice": true),
// when on.
func (e *event) noticed(on bool) *event {
	if on {
		e.fields = append(e.fields, f("notice", true))
	}
	return e
}

// withClientTags gives a live message the IRC client-only tags it was
// sent with.
func (e *event) withClientTags(tags map[string]string) *event {
	e.clientTags = tags
	return e
}

// withParts gives a live room line the lines of the IRC multiline batch
// it was sent as.
func (e *event) withParts(parts []mlPart) *event {
	e.parts = parts
	return e
}

// roomMessage is a line of room chat, live or (kind history) replayed,
// with its message id. An action (the me command) reads "* alice waves"
// and carries "action":true.
func roomMessage(kind, id, from, room, text string, ts time.Time, action bool) *event {
	// A line of several (an IRC multiline batch) shows its continuation
	// lines indented in text mode (irc_multiline.go).
	shown := strings.ReplaceAll(text, "\n", "\n    ")
	t := fmt.Sprintf("[%s] <%s> %s", room, from, shown)
	if ctcp, ok := strings.CutPrefix(text, "\x01"); ok {
		// A CTCP request from IRC (cleanLine): text mode shows no
		// control characters.
		t = fmt.Sprintf("[%s] <%s> CTCP %s", room, from, strings.TrimSuffix(ctcp, "\x01"))
	}
	if action {
		t = fmt.Sprintf("[%s] * %s %s", room, from, shown)
	}
	fields := []field{f("kind", kind), f("id", id), f("from", from), f("room", room), f("text", text), f("ts", stamp(ts))}
	if action {
		fields = append(fields, f("action", true))
	}
	when := stampLive
	if kind == kindHistory {
		when = stampAlways
	}
	ev := newEvent("message", t, fields...).stamped(ts, when).withID(id)
	if kind == kindRoom {
		ev.conv = "#" + room
	}
	return ev
}

func broadcastMessage(id, from, text string, ts time.Time) *event {
	return newEvent("message", fmt.Sprintf("[broadcast] <%s> %s", from, text),
		f("kind", kindBroadcast), f("id", id), f("from", from), f("text", text), f("ts", stamp(ts))).stamped(ts, stampLive).withID(id)
}

func privateMessage(kind, id, from string, to []string, text string, ts time.Time) *event {
	var t string
	others := ""
	if len(to) > 1 {
		others = " (to " + strings.Join(to, ", ") + ")"
	}
	when := stampLive
	if kind == kindOffline {
		t = fmt.Sprintf("[offline] *%s*%s %s", from, others, text)
		when = stampAlways
	} else {
		t = fmt.Sprintf("*%s*%s %s", from, others, text)
	}
	ev := newEvent("message", t,
		f("kind", kind), f("id", id), f("from", from), f("to", to), f("text", text), f("ts", stamp(ts))).stamped(ts, when).withID(id)
	ev.conv = "@" + from
	return ev
}

// Delivery statuses.
const (
	statusDelivered   = "delivered"
	statusStored      = "stored"
	statusBlocked     = "blocked"
	statusMailboxFull = "mailbox_full"
	statusNoSuchUser  = "no_such_user"
)

// deliveryWords is the text of each delivery status.
var deliveryWords = map[string]string{
	statusDelivered:   "delivered",
	statusStored:      "offline; stored for their next login",
	statusBlocked:     "not sent: they have blocked you",
	statusMailboxFull: "not sent: their offline mailbox is full",
	statusNoSuchUser:  "not sent: no such user",
}

// deliveryEvent is the status of the private message id to one of its
// recipients.
func deliveryEvent(to, status, id string) *event {
	to = clean(to) // may be a name as typed
	return newEvent("delivery", "-> "+to+": "+deliveryWords[status], f("to", to), f("status", status), f("id", id))
}

// awayDeliveryEvent is a delivery to someone who is away: it carries their
// away message.
func awayDeliveryEvent(to, status, away, id string) *event {
	return newEvent("delivery", fmt.Sprintf("-> %s: delivered, but they are away: %s", to, away),
		f("to", to), f("status", status), f("away", away), f("id", id))
}

// Presence events.
const (
	presLogin    = "login"
	presLogout   = "logout"
	presTimeout  = "timeout"
	presKicked   = "kicked"
	presBanned   = "banned"
	presShutdown = "shutdown"
	presAway     = "away"
	presBack     = "back"
)

func presenceEvent(user, what, room string) *event {
	words := map[string]string{
		presLogin:    "logged in",
		presLogout:   "logged out",
		presTimeout:  "timed out",
		presKicked:   "was kicked",
		presBanned:   "was banned",
		presShutdown: "was disconnected by the shutdown",
		presBack:     "is back",
	}
	return newEvent("presence", fmt.Sprintf("* %s %s", user, words[what]),
		f("user", user), f("event", what), f("room", room)).stamped(time.Time{}, stampLive)
}

// withReason adds to a presence or room event, just built, what the user
// said leaving ("" none; IRC's QUIT and PART messages): a "reason" member,
// and ": reason" after its text.
func (e *event) withReason(reason string) *event {
	if reason != "" {
		e.text += ": " + reason
		e.fields = append(e.fields, f("reason", reason))
	}
	return e
}

// awayEvent is the presence event away, with the away message.
func awayEvent(user, room, text string, at time.Time) *event {
	t := fmt.Sprintf("* %s is away", user)
	if text != "" {
		t += ": " + text
	}
	return newEvent("presence", t, f("user", user), f("event", presAway), f("room", room), f("text", text)).
		stamped(at, stampLive)
}

// Room events.
const (
	roomJoined  = "joined"
	roomLeft    = "left"
	roomKicked  = "kicked"
	roomClosed  = "closed"
	roomRenamed = "renamed" // rename.go
	roomTopic   = "topic"
	roomBanned  = "banned"
	roomInvited = "invited"
	roomOwner   = "owner"
)

func roomEvent(what, room, user string) *event {
	var t string
	switch what {
	case roomJoined:
		t = fmt.Sprintf("* %s joined %s", user, room)
	case roomLeft:
		t = fmt.Sprintf("* %s left %s", user, room)
	case roomKicked:
		t = fmt.Sprintf("* %s was kicked out of %s", user, room)
	case roomClosed:
		t = fmt.Sprintf("* room %s was closed by %s", room, user)
	}
	return newEvent("room", t, f("event", what), f("room", room), f("user", user)).stamped(time.Time{}, stampLive)
}

// topicEvent tells a room (or someone joining it) its topic; user is who
// set it, "" when it is shown on join.
func topicEvent(room, topic, user string) *event {
	var t string
	switch {
	case user == "":
		t = fmt.Sprintf("* topic of %s: %s", room, topic)
	case topic == "":
		t = fmt.Sprintf("* %s cleared the topic of %s", user, room)
	default:
		t = fmt.Sprintf("* %s set the topic of %s: %s", user, room, topic)
	}
	fields := []field{f("event", roomTopic), f("room", room), f("topic", topic)}
	if user != "" {
		fields = append(fields, f("user", user))
	}
	return newEvent("room", t, fields...).stamped(time.Time{}, stampLive)
}

// withTopicID gives a topic change its id (its history entry's): IRC
// shows it as the TOPIC's msgid and time, JSON as "id". A note from an
// older node has none.
func (e *event) withTopicID(id string) *event {
	if id != "" {
		e.id = id
		e.fields = append(e.fields, f("id", id))
	}
	return e
}

// roomBanEvent tells a room and the user that user is banned from it.
func roomBanEvent(room, user, by string, until time.Time) *event {
	t := fmt.Sprintf("* %s was banned from %s by %s", user, room, by)
	if !until.IsZero() {
		t += " until " + textDate(until)
	}
	return newEvent("room", t, f("event", roomBanned), f("room", room), f("user", user),
		f("by", by), f("until", jsonTime(until))).stamped(time.Time{}, stampLive)
}

// invitedEvent tells user that by invited them to room.
func invitedEvent(room, user, by string) *event {
	return newEvent("room", fmt.Sprintf("* %s invites you to %s: type join %s", by, room, room),
		f("event", roomInvited), f("room", room), f("user", user), f("by", by)).stamped(time.Time{}, stampLive)
}

// ownerEvent tells a room that by gave it to user.
func ownerEvent(room, user, by string) *event {
	return newEvent("room", fmt.Sprintf("* %s gave %s to %s", by, room, user),
		f("event", roomOwner), f("room", room), f("user", user), f("by", by)).stamped(time.Time{}, stampLive)
}

// Bye reasons.
const (
	byeLogout   = "logout"
	byeTimeout  = "timeout"
	byeKicked   = "kicked"
	byeBanned   = "banned"
	byeReplaced = "replaced"
	byeShutdown = "shutdown"
	byeError    = "error"
	// byeRestart ends a session that cannot move to a new process at an
	// upgrade (upgrade_bye.go); its client comes straight back.
	byeRestart = "restart"
)

// roomKickEvent is a room event kicked that also says who did it and why.
func roomKickEvent(room, user, by, reason string) *event {
	t := fmt.Sprintf("* %s was kicked out of %s by %s", user, room, by)
	if reason != "" {
		t += ": " + reason
	}
	return newEvent("room", t, f("event", roomKicked), f("room", room), f("user", user),
		f("by", by), f("reason", reason)).stamped(time.Time{}, stampLive)
}

// noticeEvent is a notice from the server's operators (chatd notice, or a
// change to the user's own account).
func noticeEvent(id, text string, ts time.Time) *event {
	return newEvent("notice", "*** Notice: "+text, f("id", id), f("text", text), f("ts", stamp(ts))).withID(id)
}

func byeEvent(reason, text string) *event {
	return newEvent("bye", "Goodbye: "+text, f("reason", reason), f("text", text))
}

// interruptedBye is the bye of a session the user interrupted (telnet's
// IAC IP or BRK, Ctrl-C or Ctrl-D in the SSH shell): a logout.
func interruptedBye() *event { return byeEvent(byeLogout, "interrupted; see you soon") }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedNames(names []string) []string {
	// Each name's key once, not once per comparison: a login sorts
	// everyone online for its welcome, under the hub's lock.
	keyed := make([]keyedName, len(names))
	for i, n := range names {
		keyed[i] = keyedName{chatd.Key(n), n}
	}
	slices.SortFunc(keyed, func(a, b keyedName) int { return strings.Compare(a.key, b.key) })
	for i, k := range keyed {
		names[i] = k.name
	}
	return names
}

type keyedName struct{ key, name string }

// stampText is how a person reads the time of a line: HH:MM for a time
// today in loc, with the date before it for an earlier day. Live, replayed
// and offline lines all use it.
func stampText(t time.Time, loc *time.Location, now time.Time) string {
	t, now = t.In(loc), now.In(loc)
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}
