package chatd

import (
	"context"
	"time"
)

// LoginAttempt is one recorded try to log in.
type LoginAttempt struct {
	Time    time.Time
	Success bool
}

// Seen is a user's presence times, written at login (all three), when a
// session ends and periodically while it runs. A zero time leaves its
// column as it was.
type Seen struct {
	Name       string
	LastSeen   time.Time
	LastActive time.Time
	LastLogin  time.Time
}

// AccountStore holds the accounts and when each was last seen.
type AccountStore interface {
	CreateUser(ctx context.Context, name, passHash string, admin bool) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error) // ENoSuchUser
	Users(ctx context.Context) ([]*User, error)                 // sorted by name
	SetPassword(ctx context.Context, name, passHash string) error
	// SetSeen writes last_seen, last_active and last_login for each
	// entry (a zero time: left as it was), in one transaction; a name
	// that no longer exists is skipped.
	SetSeen(ctx context.Context, seen []Seen) error
	// UsersSeenSince lists users whose last_seen is at or after since.
	UsersSeenSince(ctx context.Context, since time.Time) ([]string, error)
	// UsersActiveSince lists users whose last_active is at or after since.
	UsersActiveSince(ctx context.Context, since time.Time) ([]string, error)
	// DeleteGuest deletes name, with its rooms and memberships, if it is
	// a guest account (its hash is GuestPassHash: the IRC listener's
	// guests), and reports whether it did; DeleteGuests deletes every
	// guest account and says how many.
	DeleteGuest(ctx context.Context, name string) (bool, error)
	DeleteGuests(ctx context.Context) (int64, error)
}

// AttemptStore records password attempts, for the lockout rule
// (LockedUntil): logins per name and address, room passwords per room and
// user.
type AttemptStore interface {
	// RecordAttempt records a login attempt; addr "" means any address.
	RecordAttempt(ctx context.Context, name, addr string, at time.Time, success bool) error
	// Attempts returns the attempts for name (and addr, unless "") at or
	// after since, oldest first.
	Attempts(ctx context.Context, name, addr string, since time.Time) ([]LoginAttempt, error)
	// PruneAttempts deletes attempts (login and room) older than before.
	PruneAttempts(ctx context.Context, before time.Time) (int64, error)
	RecordRoomAttempt(ctx context.Context, room, user string, at time.Time, success bool) error
	RoomAttempts(ctx context.Context, room, user string, since time.Time) ([]LoginAttempt, error)
}

// MaxWatching is how many users one account may watch (PROTOCOL.md 13).
const MaxWatching = 100

// WatchStore holds the watchers (PROTOCOL.md 13): a watcher hears of the
// watched user's logins, logouts and away changes however many users are
// online.
type WatchStore interface {
	// Watch adds watched to watcher's list; added is false when it was
	// there already. ENoSuchUser, ESelf, ETooManyWatched (beyond
	// MaxWatching).
	Watch(ctx context.Context, watcher, watched string) (added bool, err error)
	// Unwatch takes watched off watcher's list; removed is false when it
	// was not on it. ENoSuchUser.
	Unwatch(ctx context.Context, watcher, watched string) (removed bool, err error)
	// Watching lists, sorted, the users watcher watches.
	Watching(ctx context.Context, watcher string) ([]string, error)
}

// BanStore holds the server-wide bans.
type BanStore interface {
	Ban(ctx context.Context, b Ban) error                 // replaces an existing ban; ENoSuchUser
	Unban(ctx context.Context, name string) error         // ENoSuchUser, or EBadArgs if not banned
	BanOf(ctx context.Context, name string) (*Ban, error) // nil, nil when not banned
	Bans(ctx context.Context) ([]*Ban, error)             // including expired ones
}

// BlockStore holds the blocks: blocker stops receiving from blocked.
type BlockStore interface {
	Block(ctx context.Context, blocker, blocked string) error   // ENoSuchUser, ESelf, EAlreadyBlocked
	Unblock(ctx context.Context, blocker, blocked string) error // ENoSuchUser, ESelf, ENotBlocked
	Blocked(ctx context.Context, blocker string) ([]string, error)
	IsBlocked(ctx context.Context, blocker, blocked string) (bool, error)
}

// MailStore is the offline mailbox: private messages kept for a user who
// was not logged in, delivered and deleted at their next login.
type MailStore interface {
	// StoreOffline commits before it returns; it fails with EMailboxFull
	// when the recipient already holds limit messages (limit <= 0: no
	// limit).
	StoreOffline(ctx context.Context, to string, m OfflineMessage, limit int) error
	// StoreOfflineAll stores m once for all of to; errs[i] (ENoSuchUser,
	// EBlocked when to[i] blocks m.From, EMailboxFull or nil) is the
	// outcome for to[i]. StoreOffline fails the same way.
	StoreOfflineAll(ctx context.Context, to []string, m OfflineMessage, limit int) (errs []error, err error)
	// OfflinePage returns up to n messages (n < 0: all) with IDs above
	// after, oldest first; OfflineCount how many are waiting.
	OfflinePage(ctx context.Context, to string, after int64, n int) ([]OfflineMessage, error)
	OfflineCount(ctx context.Context, to string) (int, error)
	DeleteOffline(ctx context.Context, ids []int64) error
}

// RoomStore holds the rooms and their moderation: topic, password, owner,
// room bans and invitations. The moderation methods fail with ENoSuchRoom
// for an unknown room and ENoSuchUser for an unknown user.
type RoomStore interface {
	// CreateRoomLimited stores r; it fails with ERoomExists when the name
	// is taken, and with ENotPermitted when r.Owner already owns
	// maxPerOwner rooms or there are maxTotal rooms (the lobby not
	// counted; a limit <= 0 is no limit).
	CreateRoomLimited(ctx context.Context, r Room, maxPerOwner, maxTotal int) error
	RoomByName(ctx context.Context, name string) (*Room, error) // ENoSuchRoom
	Rooms(ctx context.Context) ([]*Room, error)                 // sorted by name
	DeleteRoom(ctx context.Context, name string) error          // ENoSuchRoom
	// RenameRoom renames a room; its history, members and settings stay
	// with it. ENoSuchRoom, ERoomExists, ENotPermitted (the lobby).
	RenameRoom(ctx context.Context, name, to string) error

	SetRoomTopic(ctx context.Context, room, topic string) error
	// SetRoomTopicBy sets the topic as set by by at at (IRC's 333).
	SetRoomTopicBy(ctx context.Context, room, topic, by string, at time.Time) error
	SetRoomPassword(ctx context.Context, room, passHash string) error // "" removes it
	SetRoomOwner(ctx context.Context, room, owner string) error       // stores owner's registered spelling
	RoomBan(ctx context.Context, b RoomBan) error                     // replaces an existing room ban
	RoomUnban(ctx context.Context, room, user string) error           // EBadArgs if not banned
	RoomBanOf(ctx context.Context, room, user string) (*RoomBan, error)
	// Invite lets user join room once without its password; UseInvite
	// consumes the invitation and reports whether there was one;
	// InvitesOf lists the rooms user has an invitation to, oldest first.
	Invite(ctx context.Context, room, user, by string, at time.Time) error
	UseInvite(ctx context.Context, room, user string) (bool, error)
	InvitesOf(ctx context.Context, user string) ([]string, error)

	// SetRoomModes sets room's flags (RoomFlags letters) and member
	// limit (0: none).
	SetRoomModes(ctx context.Context, room, modes string, limit int) error
	// AddRoomMask puts a mask on one of room's lists (m.Kind: MaskBan,
	// MaskException, MaskInvite; EBadArgs if it already is there);
	// RemoveRoomMask takes it off (EBadArgs if it is not); RoomMasks
	// lists the masks of every list, oldest first.
	AddRoomMask(ctx context.Context, m RoomMask) error
	RemoveRoomMask(ctx context.Context, room, kind, mask string) error
	RoomMasks(ctx context.Context, room string) ([]RoomMask, error)
}

// MemberStore keeps which rooms each account is a member of (PROTOCOL.md
// 9.3). CreateUser makes a new account a member of the lobby.
type MemberStore interface {
	// AddMember makes user a member of room as of at, unless they already
	// are (then nothing changes). It fails with ETooManyRooms when the
	// user already is a member of max rooms (max <= 0: no limit), and
	// with ENoSuchRoom or ENoSuchUser.
	AddMember(ctx context.Context, user, room string, at time.Time, max int) error
	// RemoveMember ends user's membership of room and reports whether
	// there was one.
	RemoveMember(ctx context.Context, user, room string) (bool, error)
	// MemberRooms lists user's rooms (registered spellings), the one
	// joined first first, the most recent last.
	MemberRooms(ctx context.Context, user string) ([]string, error)
	// AddMemberWithin is AddMember that also fails with ERoomFull when
	// room already has limit members (limit <= 0: no limit), counted in
	// the same transaction as the insert.
	AddMemberWithin(ctx context.Context, user, room string, at time.Time, max, limit int) error
	// SetMemberRole gives user, a member of room, the roles (RoleOp,
	// RoleVoice letters; "" none); ENotInRoom when they are no member.
	SetMemberRole(ctx context.Context, room, user, roles string) error
	// MemberRoles are the roles of room's members that have one, by
	// their registered names.
	MemberRoles(ctx context.Context, room string) (map[string]string, error)
}

// HistoryStore keeps each conversation's newest lines: a room's, for replay
// on join, and each pair of users' private messages; for paging and search.
type HistoryStore interface {
	// AppendHistoryBatch adds lines, in order, in one transaction and trims
	// each room it touched to keep lines. Lines for rooms that no longer
	// exist are skipped.
	AppendHistoryBatch(ctx context.Context, lines []RoomLine, keep int) error
	History(ctx context.Context, room string, n int) ([]HistoryLine, error) // oldest first
	// SearchHistory returns up to n of the newest keep stored lines of
	// room that hold every word of query, newest first, through the
	// full-text index.
	SearchHistory(ctx context.Context, room, query string, n, keep int) ([]HistoryLine, error)
	// RoomHistoryPage returns the page of room's history that q selects,
	// in message id order; ENoSuchRoom, or ENoSuchMessage for an id of q
	// that room does not hold.
	RoomHistoryPage(ctx context.Context, room string, q PageQuery) (Page, error)
	// AppendPrivateBatch adds private messages to their conversations in
	// one transaction and trims each conversation it touched to keep
	// lines. A line whose sender or recipient no longer exists is skipped,
	// and so is one its conversation already holds (same id).
	AppendPrivateBatch(ctx context.Context, lines []PrivateLine, keep int) error
	// PrivateHistoryPage is RoomHistoryPage for the conversation between
	// user and other; ENoSuchUser when either does not exist.
	PrivateHistoryPage(ctx context.Context, user, other string, q PageQuery) (Page, error)
	// SearchPrivate is SearchHistory for the conversation between user
	// and other.
	SearchPrivate(ctx context.Context, user, other, query string, n, keep int) ([]HistoryLine, error)
	// PrivateConversations lists up to n of user's private conversations
	// whose newest line's id is above after and below before, the one
	// with the oldest newest line first (IRC's CHATHISTORY TARGETS).
	PrivateConversations(ctx context.Context, user, after, before string, n int) ([]ConversationEnd, error)
	// LastMessageID is the greatest message id stored, in room or private
	// history or in a mailbox ("" for none): a restarted daemon's ids go
	// on from there even if the wall clock went back.
	LastMessageID(ctx context.Context) (string, error)
}

// SettingStore holds a user's own preferences, by key (see settings.go).
type SettingStore interface {
	Settings(ctx context.Context, user string) (map[string]string, error)
	SetSetting(ctx context.Context, user, key, value string) error
}

// ActionStore is the daemon's side of the admin actions that the admin
// commands record (db's *Action methods, Kick, Notice).
type ActionStore interface {
	LastActionID(ctx context.Context) (int64, error)
	// ActionsAfter returns up to limit actions with an id above after,
	// oldest first.
	ActionsAfter(ctx context.Context, after int64, limit int) ([]Action, error)
	// PruneActions deletes actions older than before.
	PruneActions(ctx context.Context, before time.Time) (int64, error)
}

// OnlineStore publishes who is online on this server, for `chatd who`.
type OnlineStore interface {
	// SetOnline replaces the online-sessions table that `chatd who` reads.
	SetOnline(ctx context.Context, sessions []OnlineSession) error
	// UpdateOnline changes only some rows of that table, in one
	// transaction: it deletes the rows whose ids are in gone and writes
	// put, each in place of any row with its id. Nothing to do writes
	// nothing.
	UpdateOnline(ctx context.Context, gone []int64, put []OnlineSession) error
	// MarkOnlineSeen sets last_seen to at for every user the table lists,
	// in one statement.
	MarkOnlineSeen(ctx context.Context, at time.Time) error
}

// Store is everything chatd keeps, cut by concern: AccountStore,
// AttemptStore, BanStore, BlockStore, MailStore, RoomStore, MemberStore,
// HistoryStore, SettingStore, ActionStore, OnlineStore, WatchStore,
// MarkerStore (marker.go), MentionStore (mention.go), MessageActionStore
// (msgaction.go), KeyStore (sshkey.go) and MetadataStore (metadata.go),
// and the database itself. A
// consumer asks for the parts it uses (the daemon's history writer takes a
// HistoryStore); the db package implements all of it, over SQLite and over
// PostgreSQL. Methods return *Error values with a domain Code for the
// failures a user can cause (ENoSuchUser, EUserExists, ...); any other
// error is internal.
type Store interface {
	AccountStore
	AttemptStore
	BanStore
	BlockStore
	MailStore
	RoomStore
	MemberStore
	HistoryStore
	SettingStore
	ActionStore
	OnlineStore
	MarkerStore
	MentionStore
	MessageActionStore
	KeyStore
	WatchStore
	MetadataStore

	// Ping runs a trivial query, to prove the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// LockedUntil applies the lockout rule to attempts (oldest first): every run
// of max consecutive failures locks the name until the last of them plus d; a
// success resets the count, and after a lock has run out the next failures
// count from zero. It returns the end of the lock in force at now, or the zero
// time when there is none.
func LockedUntil(attempts []LoginAttempt, max int, d time.Duration, now time.Time) time.Time {
	until, _ := LockState(attempts, max, d, now)
	return until
}

// LockState is LockedUntil, and the failures that count toward the next
// lock: those after the last success or lock. With none, recording one
// more success would change nothing the rule decides.
func LockState(attempts []LoginAttempt, max int, d time.Duration, now time.Time) (until time.Time, fails int) {
	if max <= 0 {
		return time.Time{}, 0
	}
	for _, a := range attempts {
		if a.Time.Before(until) {
			continue // made while locked; does not count
		}
		if a.Success {
			fails = 0
			continue
		}
		fails++
		if fails >= max {
			until = a.Time.Add(d)
			fails = 0
		}
	}
	if now.Before(until) {
		return until, fails
	}
	return time.Time{}, fails
}
