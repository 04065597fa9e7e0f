package daemon

import (
	"strings"

	"chatd"
)

// A conversation (PROTOCOL.md 9.2) is a room or the private conversation
// with one other user: exactly one of Room and User is set. User is the
// other party's name.
//
// The privhist branch writes this same parser; the merge keeps one copy.
type conversation struct{ Room, User string }

// parseConversation reads a conversation as a command's argument: "#den"
// or "den" is a room, "@bob" the private conversation with bob.
func parseConversation(arg string) (conv conversation, err error) {
	arg = strings.TrimSpace(arg)
	switch {
	case strings.HasPrefix(arg, "@"):
		conv.User = arg[1:]
	default:
		conv.Room = strings.TrimPrefix(arg, "#")
	}
	if conv.Room == "" && conv.User == "" || strings.ContainsAny(arg, " \t") {
		return conversation{}, chatd.Errorf(chatd.EBadArgs, "%q is not a conversation: write #room or @user", arg)
	}
	return conv, nil
}

// String is the canonical form of a conversation whose name has its
// registered spelling: "#" and the room, or "@" and the user.
func (c conversation) String() string {
	if c.User != "" {
		return "@" + c.User
	}
	return "#" + c.Room
}
