package chatd

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error code from the wire protocol.
type Code string

// The error codes of PROTOCOL.md section 5.
const (
	EUnknownCommand   Code = "unknown_command"
	EBadArgs          Code = "bad_args"
	ENoSuchUser       Code = "no_such_user"
	ESelf             Code = "self"
	EAlreadyBlocked   Code = "already_blocked"
	ENotBlocked       Code = "not_blocked"
	ENotPermitted     Code = "not_permitted"
	EBadCredentials   Code = "bad_credentials"
	ELockedOut        Code = "locked_out"
	EBanned           Code = "banned"
	EAlreadyOnline    Code = "already_online"
	ETooManySessions  Code = "too_many_sessions"
	ENoSuchRoom       Code = "no_such_room"
	ERoomExists       Code = "room_exists"
	EBadRoomPassword  Code = "bad_room_password"
	EBadName          Code = "bad_name"
	EWeakPassword     Code = "weak_password"
	EPasswordMismatch Code = "password_mismatch"
	ERateLimited      Code = "rate_limited"
	ELineTooLong      Code = "line_too_long"
	EBadEncoding      Code = "bad_encoding"
	EMailboxFull      Code = "mailbox_full"
	EServerBusy       Code = "server_busy"
	ENoSuchMessage    Code = "no_such_message"
	// Several rooms at once (PROTOCOL.md 9.3): a plain line, say or me
	// without a current room, or naming a room one is not a member of;
	// a join beyond rooms.max_joined.
	ENotInRoom    Code = "not_in_room"
	ETooManyRooms Code = "too_many_rooms"
	// A watch beyond MaxWatching (PROTOCOL.md 13).
	ETooManyWatched Code = "too_many_watched"
	// A new metadata key beyond MaxMetadataKeys (metadata.go).
	ETooManyKeys Code = "too_many_keys"
	// Room modes (roommode): a join of a room at its member limit (+l)
	// or of an invite-only room (+i) without an invitation; a line to a
	// moderated room (+m) by a member without voice, or to a room one is
	// not in while it refuses outside lines (+n).
	ERoomFull   Code = "room_full"
	EInviteOnly Code = "invite_only"
	ECannotSend Code = "cannot_send"
	// EInternal is never chosen on purpose: it is what a user sees when the
	// server failed (for example the disk is full) instead of a driver message.
	EInternal Code = "internal"
	// EBlocked is never sent as an error: it is the store's way of saying
	// that a recipient blocks the sender, shown as delivery status blocked.
	EBlocked Code = "blocked"
	// EUserExists is used by the admin CLI (useradd of a taken name).
	EUserExists Code = "user_exists"
)

// Error is a domain error: a code for machines and a sentence for people.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds a domain error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the first *Error in err's chain; other
// errors are internal and their text is not shown to users.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal server error"
}
