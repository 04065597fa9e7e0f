package chatd

import (
	"context"
	"time"
)

// Read markers (PROTOCOL.md section 9.5): per user and conversation, the id
// of the newest message the user has read. A conversation is written in its
// canonical form: "#" and a room's registered name, or "@" and the other
// user's registered name.

// UnreadCap bounds an unread count: a conversation with more unread
// messages than this is counted as UnreadCap with More set ("1000+").
const UnreadCap = 1000

// ReadMarker is where User has read Conversation up to: the id of a
// message in it ("" for none yet), and the time the user marked it read
// up to when they gave a time (IRC's MARKREAD) rather than an id.
type ReadMarker struct {
	User         string
	Conversation string
	MsgID        string
	At           time.Time // zero: the marker was only ever set by id
}

// Time is the time m stands at: the later of At and the clock time of
// MsgID (a message id's time, to the millisecond); zero for no marker.
func (m ReadMarker) Time() time.Time {
	t := m.At
	if v, ok := ParseID(m.MsgID); ok && v>>16 != 0 {
		if c := time.UnixMilli(int64(v >> 16)); c.After(t) {
			t = c
		}
	}
	return t
}

// Unread is how many messages of a conversation a user has not read:
// those after the user's marker that someone else sent.
type Unread struct {
	Conversation string
	Count        int  // at most UnreadCap
	More         bool // there are more than Count
}

// MarkerStore keeps the read markers. A marker never moves back: a move
// to an id at or before the stored one changes nothing, and neither does
// a move to a time at or before the marker's Time.
type MarkerStore interface {
	// SetReadMarker moves user's marker in conv to id, unless it is at
	// or past id already (its At stays). It returns the marker as it is
	// afterwards and whether it moved. ENoSuchUser for an unknown user.
	SetReadMarker(ctx context.Context, user, conv, id string) (current ReadMarker, moved bool, err error)
	// SetReadMarkerAt moves user's marker in conv to the time at, unless
	// its Time is at or past it already: At becomes at, and the id
	// becomes id (the newest message of conv at or before at, "" for
	// none) unless the stored one is past it. It returns the marker as
	// it is afterwards and whether it moved. ENoSuchUser for an unknown
	// user.
	SetReadMarkerAt(ctx context.Context, user, conv, id string, at time.Time) (current ReadMarker, moved bool, err error)
	// ReadMarker returns user's marker in conv: the zero ReadMarker (with
	// User and Conversation) when there is none.
	ReadMarker(ctx context.Context, user, conv string) (ReadMarker, error)
	// AdvanceMarkers moves each marker forward as SetReadMarker does, in
	// one transaction; markers of users that no longer exist are skipped.
	AdvanceMarkers(ctx context.Context, marks []ReadMarker) error
	// ReadMarkers returns user's markers' ids, by conversation.
	ReadMarkers(ctx context.Context, user string) (map[string]string, error)
	// RoomHasMessage reports whether room's stored history holds the
	// line id (ENoSuchRoom for an unknown room).
	RoomHasMessage(ctx context.Context, room, id string) (bool, error)
	// UnreadCounts counts, for each of convs in order, the messages after
	// user's marker that others sent, at most UnreadCap each. A room that
	// does not exist counts none.
	UnreadCounts(ctx context.Context, user string, convs []string) ([]Unread, error)
	// PrivateHasMessage reports whether the private conversation of user
	// and other holds the message id.
	PrivateHasMessage(ctx context.Context, user, other, id string) (bool, error)
}
