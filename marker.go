package chatd

import "context"

// Read markers (PROTOCOL.md section 9.5): per user and conversation, the id
// of the newest message the user has read. A conversation is written in its
// canonical form: "#" and a room's registered name, or "@" and the other
// user's registered name.

// UnreadCap bounds an unread count: a conversation with more unread
// messages than this is counted as UnreadCap with More set ("1000+").
const UnreadCap = 1000

// ReadMarker is where User has read Conversation up to: the id of a
// message in it.
type ReadMarker struct {
	User         string
	Conversation string
	MsgID        string
}

// Unread is how many messages of a conversation a user has not read:
// those after the user's marker that someone else sent.
type Unread struct {
	Conversation string
	Count        int  // at most UnreadCap
	More         bool // there are more than Count
}

// MarkerStore keeps the read markers. A marker never moves back: a move
// to an id at or before the stored one changes nothing.
type MarkerStore interface {
	// SetReadMarker moves user's marker in conv to id, unless it is at
	// or past id already. It returns the marker as it is afterwards and
	// whether it moved. ENoSuchUser for an unknown user.
	SetReadMarker(ctx context.Context, user, conv, id string) (current string, moved bool, err error)
	// AdvanceMarkers moves each marker forward as SetReadMarker does, in
	// one transaction; markers of users that no longer exist are skipped.
	AdvanceMarkers(ctx context.Context, marks []ReadMarker) error
	// ReadMarkers returns user's markers, by conversation.
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
