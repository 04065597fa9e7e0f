package chatd

import "time"

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

// HistoryLine is one line of room chat kept for replay on join.
type HistoryLine struct {
	MsgID  string // the line's id (PROTOCOL.md 9.1)
	From   string
	Text   string
	Time   time.Time
	Action bool // an action line (the me command)
}

// Room is a persistent chat room. Membership is not stored: it is who is in
// the room right now, which the daemon's hub owns.
type Room struct {
	Name     string
	Owner    string // "" for the lobby
	PassHash string // "" when the room has no password
	Created  time.Time
	Topic    string // "" when the room has no topic
}

// Locked reports whether joining needs a password.
func (r *Room) Locked() bool { return r.PassHash != "" }

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
