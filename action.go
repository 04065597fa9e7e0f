package chatd

import "time"

// ActionKind names an admin change that the running daemon must act on.
type ActionKind string

// The actions the admin commands record for the daemon.
const (
	ActionUserDel ActionKind = "userdel" // end the user's session
	ActionUserMod ActionKind = "usermod" // re-read the user's admin flag
	ActionPasswd  ActionKind = "passwd"  // end the user's sessions
	ActionBan     ActionKind = "ban"     // end the session if the ban is in force
	ActionUnban   ActionKind = "unban"   // nothing to end; logged
	ActionKick    ActionKind = "kick"    // end the session with Text as the reason
	ActionNotice  ActionKind = "notice"  // tell every online user Text
)

// An Action is one admin change made outside the daemon, recorded in the
// same transaction as the change itself, so the daemon sees it exactly when
// the change is visible.
type Action struct {
	ID   int64
	Kind ActionKind
	User string // the account acted on; "" for a notice
	Text string // the reason, the notice, or what changed
	By   string // who did it ("cli" for the admin commands)
	Time time.Time
}

// OnlineSession is one logged-in session as the daemon reports it for
// `chatd who`.
type OnlineSession struct {
	// ID names the session's row in the online table: the daemon gives
	// each login its own, so that it can later rewrite or delete that
	// row alone (0: the store picks one).
	ID         int64
	User       string
	Room       string
	Addr       string
	Listener   string
	Since      time.Time
	LastActive time.Time
}
