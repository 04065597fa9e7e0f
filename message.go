package chatd

import (
	"strings"
	"time"
)

// OfflineMessage is a private message kept for a user who was offline.
type OfflineMessage struct {
	ID int64
	// MsgID is the message's id (PROTOCOL.md 9.1), given when it was
	// sent; ID above is its row in the mailbox.
	MsgID string
	From  string
	To    []string // everyone the message was addressed to
	Text  string
	Time  time.Time
}

// HistoryLine is one line of a conversation's history: room chat kept for
// replay on join, or a private message.
type HistoryLine struct {
	MsgID  string // the line's id (PROTOCOL.md 9.1)
	From   string
	Text   string
	Time   time.Time
	Action bool // an action line (the me command)
	// Recipients is, for a private message, everyone it was addressed
	// to, space-separated (a string, so that a line stays comparable).
	Recipients string
	// Mentions is, for a room line, whom it marks (MentionWords, members
	// of the room), registered spellings, space-separated.
	Mentions string
	// Message actions (PROTOCOL.md 10, msgaction.go): the id of the
	// message this one answers ("" for none), when the text was last
	// edited (zero: never), whether the line was deleted (then Text is
	// ""), and its reactions (nil: none).
	ReplyTo   string
	Edited    time.Time
	Deleted   bool
	Reactions *Reactions
	// Kind is "" for a line; an entry of another kind is an event kept
	// in the conversation's history for IRC's draft/event-playback
	// (docs/irc.md): EntryTopic (Text is the new topic) or EntryTagmsg
	// (Text is the client-only tags, as IRC writes them).
	Kind string
}

// The kinds of history entries other than lines (HistoryLine.Kind).
const (
	EntryTopic  = "topic"  // a room's topic change
	EntryTagmsg = "tagmsg" // an IRC TAGMSG sent with +draft/persist
)

// PrivateLine is a private message as the conversation between its sender
// (Line.From) and one recipient, With, keeps it. A message to several
// users is one PrivateLine per recipient.
type PrivateLine struct {
	With string
	Line HistoryLine
}

// PageQuery selects a page of a conversation's history: the newest N lines,
// or, with Before or After (a message id), the N lines just before or just
// after that message. Only the newest Keep lines of the conversation
// (messages.history_keep) are looked at.
type PageQuery struct {
	Before, After string
	N, Keep       int
	// Bound makes Before or After a bound to compare ids with rather
	// than a stored message's id: a page next to a time (an id made of
	// it) or between two messages, with no ENoSuchMessage.
	Bound bool
	// Events includes the entries that are not lines (HistoryLine.Kind):
	// N then counts them too. Without it a page holds lines only.
	Events bool
}

// ConversationEnd is a conversation ("@other" for a private one) and the
// id of its newest line.
type ConversationEnd struct {
	Conversation string
	LastID       string
}

// Page is a page of a conversation's history, oldest first. More says
// whether the conversation holds lines beyond the page in the direction
// asked: older ones for the newest N and for Before, newer ones for After.
type Page struct {
	Lines []HistoryLine
	More  bool
}

// Room is a persistent chat room. Membership is not stored: it is who is in
// the room right now, which the daemon's hub owns.
type Room struct {
	Name     string
	Owner    string // "" for the lobby
	PassHash string // "" when the room has no password
	Created  time.Time
	Topic    string // "" when the room has no topic
	// Modes are the room's flags, in the order of RoomFlags ("nt" for a
	// new room); Limit its member limit (+l), 0 for none.
	Modes string
	Limit int
	// TopicBy set the topic at TopicAt ("" and zero: not known).
	TopicBy string
	TopicAt time.Time
}

// Locked reports whether joining needs a password.
func (r *Room) Locked() bool { return r.PassHash != "" }

// The room flags (roommode, IRC's channel modes of the same letters):
// i invite-only, m moderated (only operators and voiced members speak),
// n no lines from outside the room, s secret (hidden from those not in
// it), t only operators set the topic, C no CTCP but ACTION. RoomFlags is
// their canonical order.
const (
	RoomFlags        = "Cimnst"
	DefaultRoomModes = "nt"
)

// Has reports whether the room has flag c (one of RoomFlags).
func (r *Room) Has(c byte) bool { return strings.IndexByte(r.Modes, c) >= 0 }

// NormalModes puts flags in RoomFlags order, dropping unknown letters and
// repeats.
func NormalModes(flags string) string {
	var b strings.Builder
	for i := 0; i < len(RoomFlags); i++ {
		if strings.IndexByte(flags, RoomFlags[i]) >= 0 {
			b.WriteByte(RoomFlags[i])
		}
	}
	return b.String()
}

// The roles a member can have in a room, besides its owner: an operator
// (IRC +o) moderates it as the owner does, but cannot give it away or
// close it; a voiced member (+v) may speak while it is moderated. A role
// ends with the membership.
const (
	RoleOp    = "o"
	RoleVoice = "v"
	// RoleAside is the owner's own: they set their operator rights aside
	// (IRC -o on themselves) until they take them back (+o).
	RoleAside = "a"
)

// RoomMask is a mask on one of a room's lists (IRC +b nick!user@host,
// with * and ? globs, or an extban: a:account, m:mask), kept as given
// beside the account bans (RoomBan). Kind is the list: MaskBan ("" reads
// as it), MaskException or MaskInvite.
type RoomMask struct {
	Room    string
	Mask    string
	By      string
	Created time.Time
	Kind    string
}

// The lists of room masks: bans (+b), ban exceptions (+e: a mask on it
// is let past the bans it matches) and invite exceptions (+I: a mask on
// it joins an invite-only room without an invitation).
const (
	MaskBan       = "b"
	MaskException = "e"
	MaskInvite    = "I"
)

// RoomLine is a history line with the room it was said in.
type RoomLine struct {
	Room string
	Line HistoryLine
}

// RoomBan keeps a user out of one room until Expires (zero: for good).
type RoomBan struct {
	Room    string
	User    string
	By      string
	Created time.Time
	Expires time.Time
}

// ActiveAt reports whether the room ban is in force at t.
func (b *RoomBan) ActiveAt(t time.Time) bool { return b.Expires.IsZero() || t.Before(b.Expires) }
