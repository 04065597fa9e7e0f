package chatd

import "time"

// User is a registered account.
type User struct {
	ID         int64
	Name       string // registered spelling
	PassHash   string // argon2id PHC string
	Admin      bool
	Created    time.Time
	LastLogin  time.Time // zero: never
	LastSeen   time.Time // zero: never
	LastActive time.Time // zero: never
}

// GuestPassHash is the password hash of an IRC guest's account (the IRC
// listener's [irc] guests): not a PHC string, so no password can match
// it, and the mark by which guests are told from accounts with a
// password and removed (DeleteGuest, DeleteGuests).
const GuestPassHash = "!guest"

// Ban keeps a user from logging in until Expires (zero: permanent).
type Ban struct {
	User    string
	Reason  string
	By      string
	Created time.Time
	Expires time.Time
}

// Permanent reports whether the ban never expires.
func (b *Ban) Permanent() bool { return b.Expires.IsZero() }

// ActiveAt reports whether the ban is in force at t.
func (b *Ban) ActiveAt(t time.Time) bool { return b.Permanent() || t.Before(b.Expires) }
