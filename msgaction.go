package chatd

import (
	"context"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message actions (PROTOCOL.md section 10): a message, once it has an id,
// can be edited or deleted by its sender (a room line also by the room's
// owner and by admins), answered (ReplyTo) and reacted to.

// The bounds of reactions. A message holds at most MaxReactionKinds
// different reactions, and one user puts at most MaxReactionsPerUser of
// them on one message; a reaction is 1 to MaxReactionBytes bytes without
// spaces or control characters.
const (
	MaxReactionKinds    = 20
	MaxReactionsPerUser = 10
	MaxReactionBytes    = 32
)

// Reactions are the reactions on one message: each reaction with the
// users who gave it, both in the order they were first given. It is a
// pointer in HistoryLine, so that a line stays comparable.
type Reactions struct {
	List []Reaction
}

// Reaction is one reaction and who gave it.
type Reaction struct {
	Reaction string
	Users    []string
}

// With returns a copy of r (nil: none) with user's reaction added (on) or
// taken away; nil when none is left.
func (r *Reactions) With(reaction, user string, on bool) *Reactions {
	var out Reactions
	found := false
	if r != nil {
		for _, x := range r.List {
			users := slices.Clone(x.Users)
			if x.Reaction == reaction {
				found = true
				i := slices.IndexFunc(users, func(u string) bool { return Key(u) == Key(user) })
				switch {
				case on && i < 0:
					users = append(users, user)
				case !on && i >= 0:
					users = slices.Delete(users, i, i+1)
				}
			}
			if len(users) > 0 {
				out.List = append(out.List, Reaction{Reaction: x.Reaction, Users: users})
			}
		}
	}
	if on && !found {
		out.List = append(out.List, Reaction{Reaction: reaction, Users: []string{user}})
	}
	if len(out.List) == 0 {
		return nil
	}
	return &out
}

// ValidReaction reports whether s may be a reaction: 1 to MaxReactionBytes
// bytes of valid UTF-8 without spaces or control characters.
func ValidReaction(s string) bool {
	if s == "" || len(s) > MaxReactionBytes || CleanText(s) != s {
		return false
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// MessageRef says where a stored message is: a room's line (Room set), or
// a private message as one of its conversations holds it (User, who
// addresses it, and With, the other side of that conversation).
type MessageRef struct {
	ID         string
	Room       string
	User, With string
}

// StoredMessage is a message looked up by id: where it is and the line as
// stored (From is its sender; Recipients a private message's).
type StoredMessage struct {
	Ref  MessageRef
	Line HistoryLine
}

// MessageEdit is one entry of a conversation's edit log: By changed the
// message ID from Old to New (New "" and Deleted set: deleted it) at Time.
type MessageEdit struct {
	ID      string
	From    string // who sent the message
	By      string
	Old     string
	New     string
	Deleted bool
	Time    time.Time
}

// MessageActionStore holds what the message actions change: the text of
// stored lines, their edit log, reactions, and the offline mail not yet
// delivered. It is a concern of its own rather than more HistoryStore
// methods: the history writer, which only appends, keeps asking for the
// small HistoryStore.
type MessageActionStore interface {
	// FindMessage looks up the message id as user may address it: a line
	// of any room, or a private message of a conversation user is one of
	// the two sides of (the first such conversation, for a message to
	// several users). ENoSuchMessage otherwise.
	FindMessage(ctx context.Context, user, id string) (StoredMessage, error)
	// LastMessage is user's newest line in room that is not deleted;
	// ENoSuchMessage when there is none.
	LastMessage(ctx context.Context, room, user string) (StoredMessage, error)
	// EditMessage gives the message ref points to the text new, edited at
	// at by by, in every conversation that holds it (a private message to
	// several users is in several) and in the undelivered offline mail;
	// the old text goes to the edit log, and search follows, in one
	// transaction. ENoSuchMessage for a message not (or no longer)
	// there, or deleted.
	EditMessage(ctx context.Context, ref MessageRef, by, text string, at time.Time) error
	// DeleteMessage empties the message (deleted, no text, gone from
	// search, its reactions dropped) and deletes its undelivered offline
	// mail; the edit log keeps its last text (docs/protocol.md, "Message
	// actions"). ENoSuchMessage as EditMessage.
	DeleteMessage(ctx context.Context, ref MessageRef, by string, at time.Time) error
	// React adds (on) or takes away user's reaction on the message ref
	// points to. It reports whether anything changed, and fails with
	// ENotPermitted beyond the bounds above, ENoSuchMessage for a
	// message not there or deleted.
	React(ctx context.Context, ref MessageRef, user, reaction string, on bool, at time.Time) (bool, error)
	// MessageEdits returns the newest n entries of the edit log of a
	// conversation (ref without an ID), oldest first.
	MessageEdits(ctx context.Context, ref MessageRef, n int) ([]MessageEdit, error)
}
