package daemon

import (
	"context"
	"time"

	"chatd"
)

// timedStore is the store as the server uses it: every operation is timed
// into chatd_db_operation_seconds{op}, and the writes the health check
// watches (watchedWrites) report their outcome to w. It wraps the store instead of
// embedding it, so a method added to chatd.Store and not here fails to
// compile; TestTimedStoreTimesEveryMethod checks that each wrapper times.
// The op names are the method names in snake case, except that
// StoreOfflineAll counts as store_offline (the daemon stores offline mail
// through it).
type timedStore struct {
	Store chatd.Store
	m     *metrics
	w     *writeHealth // nil: writes are not watched
}

var _ chatd.Store = timedStore{}

// timed runs one operation that returns a value, timed as op.
func timed[T any](t timedStore, op string, f func() (T, error)) (T, error) {
	defer t.m.dbOp(op)()
	v, err := f()
	t.watch(op, err)
	return v, err
}

// timedErr runs one operation that returns only an error, timed as op.
func timedErr(t timedStore, op string, f func() error) error {
	defer t.m.dbOp(op)()
	err := f()
	t.watch(op, err)
	return err
}

// watch reports the outcome of op to the health check, if it watches op.
func (t timedStore) watch(op string, err error) {
	if w, ok := watchedWrites[op]; ok && t.w != nil {
		t.w.note(w.what, err, w.changes)
	}
}

// chatd.AccountStore

func (t timedStore) CreateUser(ctx context.Context, name, passHash string, admin bool) (*chatd.User, error) {
	return timed(t, "create_user", func() (*chatd.User, error) { return t.Store.CreateUser(ctx, name, passHash, admin) })
}

func (t timedStore) UserByName(ctx context.Context, name string) (*chatd.User, error) {
	return timed(t, "user_by_name", func() (*chatd.User, error) { return t.Store.UserByName(ctx, name) })
}

func (t timedStore) Users(ctx context.Context) ([]*chatd.User, error) {
	return timed(t, "users", func() ([]*chatd.User, error) { return t.Store.Users(ctx) })
}

func (t timedStore) DeleteGuest(ctx context.Context, name string) (bool, error) {
	return timed(t, "delete_guest", func() (bool, error) { return t.Store.DeleteGuest(ctx, name) })
}

func (t timedStore) DeleteGuests(ctx context.Context) (int64, error) {
	return timed(t, "delete_guests", func() (int64, error) { return t.Store.DeleteGuests(ctx) })
}

func (t timedStore) SetPassword(ctx context.Context, name, passHash string) error {
	return timedErr(t, "set_password", func() error { return t.Store.SetPassword(ctx, name, passHash) })
}

func (t timedStore) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	return timedErr(t, "set_seen", func() error { return t.Store.SetSeen(ctx, seen) })
}

func (t timedStore) UsersSeenSince(ctx context.Context, since time.Time) ([]string, error) {
	return timed(t, "users_seen_since", func() ([]string, error) { return t.Store.UsersSeenSince(ctx, since) })
}

func (t timedStore) UsersActiveSince(ctx context.Context, since time.Time) ([]string, error) {
	return timed(t, "users_active_since", func() ([]string, error) { return t.Store.UsersActiveSince(ctx, since) })
}

// chatd.AttemptStore

func (t timedStore) RecordAttempt(ctx context.Context, name, addr string, at time.Time, success bool) error {
	return timedErr(t, "record_attempt", func() error { return t.Store.RecordAttempt(ctx, name, addr, at, success) })
}

func (t timedStore) Attempts(ctx context.Context, name, addr string, since time.Time) ([]chatd.LoginAttempt, error) {
	return timed(t, "attempts", func() ([]chatd.LoginAttempt, error) { return t.Store.Attempts(ctx, name, addr, since) })
}

func (t timedStore) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	return timed(t, "prune_attempts", func() (int64, error) { return t.Store.PruneAttempts(ctx, before) })
}

func (t timedStore) RecordRoomAttempt(ctx context.Context, room, user string, at time.Time, success bool) error {
	return timedErr(t, "record_room_attempt", func() error { return t.Store.RecordRoomAttempt(ctx, room, user, at, success) })
}

func (t timedStore) RoomAttempts(ctx context.Context, room, user string, since time.Time) ([]chatd.LoginAttempt, error) {
	return timed(t, "room_attempts", func() ([]chatd.LoginAttempt, error) { return t.Store.RoomAttempts(ctx, room, user, since) })
}

// chatd.BanStore

func (t timedStore) Ban(ctx context.Context, b chatd.Ban) error {
	return timedErr(t, "ban", func() error { return t.Store.Ban(ctx, b) })
}

func (t timedStore) Unban(ctx context.Context, name string) error {
	return timedErr(t, "unban", func() error { return t.Store.Unban(ctx, name) })
}

func (t timedStore) BanOf(ctx context.Context, name string) (*chatd.Ban, error) {
	return timed(t, "ban_of", func() (*chatd.Ban, error) { return t.Store.BanOf(ctx, name) })
}

func (t timedStore) Bans(ctx context.Context) ([]*chatd.Ban, error) {
	return timed(t, "bans", func() ([]*chatd.Ban, error) { return t.Store.Bans(ctx) })
}

// chatd.WatchStore

func (t timedStore) Watch(ctx context.Context, watcher, watched string) (bool, error) {
	return timed(t, "watch", func() (bool, error) { return t.Store.Watch(ctx, watcher, watched) })
}

func (t timedStore) Unwatch(ctx context.Context, watcher, watched string) (bool, error) {
	return timed(t, "unwatch", func() (bool, error) { return t.Store.Unwatch(ctx, watcher, watched) })
}

func (t timedStore) Watching(ctx context.Context, watcher string) ([]string, error) {
	return timed(t, "watching", func() ([]string, error) { return t.Store.Watching(ctx, watcher) })
}

// chatd.BlockStore

func (t timedStore) Block(ctx context.Context, blocker, blocked string) error {
	return timedErr(t, "block", func() error { return t.Store.Block(ctx, blocker, blocked) })
}

func (t timedStore) Unblock(ctx context.Context, blocker, blocked string) error {
	return timedErr(t, "unblock", func() error { return t.Store.Unblock(ctx, blocker, blocked) })
}

func (t timedStore) Blocked(ctx context.Context, blocker string) ([]string, error) {
	return timed(t, "blocked", func() ([]string, error) { return t.Store.Blocked(ctx, blocker) })
}

func (t timedStore) IsBlocked(ctx context.Context, blocker, blocked string) (bool, error) {
	return timed(t, "is_blocked", func() (bool, error) { return t.Store.IsBlocked(ctx, blocker, blocked) })
}

// chatd.MailStore

func (t timedStore) StoreOffline(ctx context.Context, to string, m chatd.OfflineMessage, limit int) error {
	return timedErr(t, "store_offline", func() error { return t.Store.StoreOffline(ctx, to, m, limit) })
}

func (t timedStore) StoreOfflineAll(ctx context.Context, to []string, m chatd.OfflineMessage, limit int) ([]error, error) {
	return timed(t, "store_offline", func() ([]error, error) { return t.Store.StoreOfflineAll(ctx, to, m, limit) })
}

func (t timedStore) OfflinePage(ctx context.Context, to string, after int64, n int) ([]chatd.OfflineMessage, error) {
	return timed(t, "offline_page", func() ([]chatd.OfflineMessage, error) { return t.Store.OfflinePage(ctx, to, after, n) })
}

func (t timedStore) OfflineCount(ctx context.Context, to string) (int, error) {
	return timed(t, "offline_count", func() (int, error) { return t.Store.OfflineCount(ctx, to) })
}

func (t timedStore) DeleteOffline(ctx context.Context, ids []int64) error {
	return timedErr(t, "delete_offline", func() error { return t.Store.DeleteOffline(ctx, ids) })
}

// chatd.RoomStore

func (t timedStore) CreateRoomLimited(ctx context.Context, r chatd.Room, maxPerOwner, maxTotal int) error {
	return timedErr(t, "create_room_limited", func() error { return t.Store.CreateRoomLimited(ctx, r, maxPerOwner, maxTotal) })
}

func (t timedStore) RoomByName(ctx context.Context, name string) (*chatd.Room, error) {
	return timed(t, "room_by_name", func() (*chatd.Room, error) { return t.Store.RoomByName(ctx, name) })
}

func (t timedStore) Rooms(ctx context.Context) ([]*chatd.Room, error) {
	return timed(t, "rooms", func() ([]*chatd.Room, error) { return t.Store.Rooms(ctx) })
}

func (t timedStore) DeleteRoom(ctx context.Context, name string) error {
	return timedErr(t, "delete_room", func() error { return t.Store.DeleteRoom(ctx, name) })
}

func (t timedStore) RenameRoom(ctx context.Context, name, to string) error {
	return timedErr(t, "rename_room", func() error { return t.Store.RenameRoom(ctx, name, to) })
}

func (t timedStore) SetRoomTopic(ctx context.Context, room, topic string) error {
	return timedErr(t, "set_room_topic", func() error { return t.Store.SetRoomTopic(ctx, room, topic) })
}

func (t timedStore) SetRoomTopicBy(ctx context.Context, room, topic, by string, at time.Time) error {
	return timedErr(t, "set_room_topic_by", func() error { return t.Store.SetRoomTopicBy(ctx, room, topic, by, at) })
}

func (t timedStore) SetRoomPassword(ctx context.Context, room, passHash string) error {
	return timedErr(t, "set_room_password", func() error { return t.Store.SetRoomPassword(ctx, room, passHash) })
}

func (t timedStore) SetRoomOwner(ctx context.Context, room, owner string) error {
	return timedErr(t, "set_room_owner", func() error { return t.Store.SetRoomOwner(ctx, room, owner) })
}

func (t timedStore) RoomBan(ctx context.Context, b chatd.RoomBan) error {
	return timedErr(t, "room_ban", func() error { return t.Store.RoomBan(ctx, b) })
}

func (t timedStore) RoomUnban(ctx context.Context, room, user string) error {
	return timedErr(t, "room_unban", func() error { return t.Store.RoomUnban(ctx, room, user) })
}

func (t timedStore) RoomBanOf(ctx context.Context, room, user string) (*chatd.RoomBan, error) {
	return timed(t, "room_ban_of", func() (*chatd.RoomBan, error) { return t.Store.RoomBanOf(ctx, room, user) })
}

func (t timedStore) Invite(ctx context.Context, room, user, by string, at time.Time) error {
	return timedErr(t, "invite", func() error { return t.Store.Invite(ctx, room, user, by, at) })
}

func (t timedStore) UseInvite(ctx context.Context, room, user string) (bool, error) {
	return timed(t, "use_invite", func() (bool, error) { return t.Store.UseInvite(ctx, room, user) })
}

func (t timedStore) InvitesOf(ctx context.Context, user string) ([]string, error) {
	return timed(t, "invites_of", func() ([]string, error) { return t.Store.InvitesOf(ctx, user) })
}

func (t timedStore) SetRoomModes(ctx context.Context, room, modes string, limit int) error {
	return timedErr(t, "set_room_modes", func() error { return t.Store.SetRoomModes(ctx, room, modes, limit) })
}

func (t timedStore) AddRoomMask(ctx context.Context, m chatd.RoomMask) error {
	return timedErr(t, "add_room_mask", func() error { return t.Store.AddRoomMask(ctx, m) })
}

func (t timedStore) RemoveRoomMask(ctx context.Context, room, kind, mask string) error {
	return timedErr(t, "remove_room_mask", func() error { return t.Store.RemoveRoomMask(ctx, room, kind, mask) })
}

func (t timedStore) RoomMasks(ctx context.Context, room string) ([]chatd.RoomMask, error) {
	return timed(t, "room_masks", func() ([]chatd.RoomMask, error) { return t.Store.RoomMasks(ctx, room) })
}

// chatd.MemberStore

func (t timedStore) AddMember(ctx context.Context, user, room string, at time.Time, max int) error {
	return timedErr(t, "add_member", func() error { return t.Store.AddMember(ctx, user, room, at, max) })
}

func (t timedStore) RemoveMember(ctx context.Context, user, room string) (bool, error) {
	return timed(t, "remove_member", func() (bool, error) { return t.Store.RemoveMember(ctx, user, room) })
}

func (t timedStore) AddMemberWithin(ctx context.Context, user, room string, at time.Time, max, limit int) error {
	return timedErr(t, "add_member_within", func() error { return t.Store.AddMemberWithin(ctx, user, room, at, max, limit) })
}

func (t timedStore) SetMemberRole(ctx context.Context, room, user, roles string) error {
	return timedErr(t, "set_member_role", func() error { return t.Store.SetMemberRole(ctx, room, user, roles) })
}

func (t timedStore) MemberRoles(ctx context.Context, room string) (map[string]string, error) {
	return timed(t, "member_roles", func() (map[string]string, error) { return t.Store.MemberRoles(ctx, room) })
}

func (t timedStore) MemberRooms(ctx context.Context, user string) ([]string, error) {
	return timed(t, "member_rooms", func() ([]string, error) { return t.Store.MemberRooms(ctx, user) })
}

// chatd.HistoryStore

func (t timedStore) AppendHistoryBatch(ctx context.Context, lines []chatd.RoomLine, keep int) error {
	return timedErr(t, "append_history_batch", func() error { return t.Store.AppendHistoryBatch(ctx, lines, keep) })
}

func (t timedStore) History(ctx context.Context, room string, n int) ([]chatd.HistoryLine, error) {
	return timed(t, "history", func() ([]chatd.HistoryLine, error) { return t.Store.History(ctx, room, n) })
}

func (t timedStore) RoomHistoryPage(ctx context.Context, room string, q chatd.PageQuery) (chatd.Page, error) {
	return timed(t, "room_history_page", func() (chatd.Page, error) { return t.Store.RoomHistoryPage(ctx, room, q) })
}

func (t timedStore) AppendPrivateBatch(ctx context.Context, lines []chatd.PrivateLine, keep int) error {
	return timedErr(t, "append_private_batch", func() error { return t.Store.AppendPrivateBatch(ctx, lines, keep) })
}

func (t timedStore) PrivateHistoryPage(ctx context.Context, user, other string, q chatd.PageQuery) (chatd.Page, error) {
	return timed(t, "private_history_page", func() (chatd.Page, error) { return t.Store.PrivateHistoryPage(ctx, user, other, q) })
}

func (t timedStore) SearchPrivate(ctx context.Context, user, other, query string, n, keep int) ([]chatd.HistoryLine, error) {
	return timed(t, "search_private", func() ([]chatd.HistoryLine, error) { return t.Store.SearchPrivate(ctx, user, other, query, n, keep) })
}

func (t timedStore) LastMessageID(ctx context.Context) (string, error) {
	return timed(t, "last_message_id", func() (string, error) { return t.Store.LastMessageID(ctx) })
}

func (t timedStore) SearchHistory(ctx context.Context, room, query string, n, keep int) ([]chatd.HistoryLine, error) {
	return timed(t, "search_history", func() ([]chatd.HistoryLine, error) { return t.Store.SearchHistory(ctx, room, query, n, keep) })
}

// chatd.SettingStore

func (t timedStore) Settings(ctx context.Context, user string) (map[string]string, error) {
	return timed(t, "settings", func() (map[string]string, error) { return t.Store.Settings(ctx, user) })
}

func (t timedStore) SetSetting(ctx context.Context, user, key, value string) error {
	return timedErr(t, "set_setting", func() error { return t.Store.SetSetting(ctx, user, key, value) })
}

// chatd.ActionStore

func (t timedStore) LastActionID(ctx context.Context) (int64, error) {
	return timed(t, "last_action_id", func() (int64, error) { return t.Store.LastActionID(ctx) })
}

func (t timedStore) ActionsAfter(ctx context.Context, after int64, limit int) ([]chatd.Action, error) {
	return timed(t, "actions_after", func() ([]chatd.Action, error) { return t.Store.ActionsAfter(ctx, after, limit) })
}

func (t timedStore) PruneActions(ctx context.Context, before time.Time) (int64, error) {
	return timed(t, "prune_actions", func() (int64, error) { return t.Store.PruneActions(ctx, before) })
}

// chatd.OnlineStore

func (t timedStore) SetOnline(ctx context.Context, sessions []chatd.OnlineSession) error {
	return timedErr(t, "set_online", func() error { return t.Store.SetOnline(ctx, sessions) })
}

func (t timedStore) UpdateOnline(ctx context.Context, gone []int64, put []chatd.OnlineSession) error {
	return timedErr(t, "update_online", func() error { return t.Store.UpdateOnline(ctx, gone, put) })
}

func (t timedStore) MarkOnlineSeen(ctx context.Context, at time.Time) error {
	return timedErr(t, "mark_online_seen", func() error { return t.Store.MarkOnlineSeen(ctx, at) })
}

// The database itself.

func (t timedStore) Ping(ctx context.Context) error {
	return timedErr(t, "ping", func() error { return t.Store.Ping(ctx) })
}

func (t timedStore) Close() error {
	return timedErr(t, "close", t.Store.Close)
}

// chatd.MarkerStore

func (t timedStore) SetReadMarker(ctx context.Context, user, conv, id string) (chatd.ReadMarker, bool, error) {
	defer t.m.dbOp("set_read_marker")()
	cur, moved, err := t.Store.SetReadMarker(ctx, user, conv, id)
	t.watch("set_read_marker", err)
	return cur, moved, err
}

func (t timedStore) SetReadMarkerAt(ctx context.Context, user, conv, id string, at time.Time) (chatd.ReadMarker, bool, error) {
	defer t.m.dbOp("set_read_marker_at")()
	cur, moved, err := t.Store.SetReadMarkerAt(ctx, user, conv, id, at)
	t.watch("set_read_marker_at", err)
	return cur, moved, err
}

func (t timedStore) ReadMarker(ctx context.Context, user, conv string) (chatd.ReadMarker, error) {
	return timed(t, "read_marker", func() (chatd.ReadMarker, error) { return t.Store.ReadMarker(ctx, user, conv) })
}

func (t timedStore) AdvanceMarkers(ctx context.Context, marks []chatd.ReadMarker) error {
	return timedErr(t, "advance_markers", func() error { return t.Store.AdvanceMarkers(ctx, marks) })
}

func (t timedStore) ReadMarkers(ctx context.Context, user string) (map[string]string, error) {
	return timed(t, "read_markers", func() (map[string]string, error) { return t.Store.ReadMarkers(ctx, user) })
}

func (t timedStore) RoomHasMessage(ctx context.Context, room, id string) (bool, error) {
	return timed(t, "room_has_message", func() (bool, error) { return t.Store.RoomHasMessage(ctx, room, id) })
}

func (t timedStore) PrivateConversations(ctx context.Context, user, after, before string, n int) ([]chatd.ConversationEnd, error) {
	return timed(t, "private_conversations", func() ([]chatd.ConversationEnd, error) {
		return t.Store.PrivateConversations(ctx, user, after, before, n)
	})
}

func (t timedStore) PrivateHasMessage(ctx context.Context, user, other, id string) (bool, error) {
	return timed(t, "private_has_message", func() (bool, error) { return t.Store.PrivateHasMessage(ctx, user, other, id) })
}

func (t timedStore) UnreadCounts(ctx context.Context, user string, convs []string) ([]chatd.Unread, error) {
	return timed(t, "unread_counts", func() ([]chatd.Unread, error) { return t.Store.UnreadCounts(ctx, user, convs) })
}

// chatd.MentionStore

func (t timedStore) MembersNamed(ctx context.Context, room string, names []string) ([]string, error) {
	return timed(t, "members_named", func() ([]string, error) { return t.Store.MembersNamed(ctx, room, names) })
}

func (t timedStore) Mentions(ctx context.Context, user, before string, n int) ([]chatd.Mention, bool, error) {
	defer t.m.dbOp("mentions")()
	lines, more, err := t.Store.Mentions(ctx, user, before, n)
	t.watch("mentions", err)
	return lines, more, err
}

func (t timedStore) UnreadMentions(ctx context.Context, user string) (int, error) {
	return timed(t, "unread_mentions", func() (int, error) { return t.Store.UnreadMentions(ctx, user) })
}

// chatd.MessageActionStore

func (t timedStore) FindMessage(ctx context.Context, user, id string) (chatd.StoredMessage, error) {
	return timed(t, "find_message", func() (chatd.StoredMessage, error) { return t.Store.FindMessage(ctx, user, id) })
}

func (t timedStore) LastMessage(ctx context.Context, room, user string) (chatd.StoredMessage, error) {
	return timed(t, "last_message", func() (chatd.StoredMessage, error) { return t.Store.LastMessage(ctx, room, user) })
}

func (t timedStore) EditMessage(ctx context.Context, ref chatd.MessageRef, by, text string, at time.Time) error {
	return timedErr(t, "edit_message", func() error { return t.Store.EditMessage(ctx, ref, by, text, at) })
}

func (t timedStore) DeleteMessage(ctx context.Context, ref chatd.MessageRef, by string, at time.Time) error {
	return timedErr(t, "delete_message", func() error { return t.Store.DeleteMessage(ctx, ref, by, at) })
}

func (t timedStore) React(ctx context.Context, ref chatd.MessageRef, user, reaction string, on bool, at time.Time) (bool, error) {
	return timed(t, "react", func() (bool, error) { return t.Store.React(ctx, ref, user, reaction, on, at) })
}

func (t timedStore) MessageEdits(ctx context.Context, ref chatd.MessageRef, n int) ([]chatd.MessageEdit, error) {
	return timed(t, "message_edits", func() ([]chatd.MessageEdit, error) { return t.Store.MessageEdits(ctx, ref, n) })
}

// chatd.KeyStore

func (t timedStore) AddKey(ctx context.Context, k chatd.SSHKey) error {
	return timedErr(t, "add_key", func() error { return t.Store.AddKey(ctx, k) })
}

func (t timedStore) DeleteKey(ctx context.Context, user, fingerprint string) error {
	return timedErr(t, "delete_key", func() error { return t.Store.DeleteKey(ctx, user, fingerprint) })
}

func (t timedStore) Keys(ctx context.Context, user string) ([]chatd.SSHKey, error) {
	return timed(t, "keys", func() ([]chatd.SSHKey, error) { return t.Store.Keys(ctx, user) })
}

// chatd.MetadataStore

func (t timedStore) Metadata(ctx context.Context, room bool, name string) ([]chatd.Meta, error) {
	return timed(t, "metadata", func() ([]chatd.Meta, error) { return t.Store.Metadata(ctx, room, name) })
}

func (t timedStore) SetMetadata(ctx context.Context, room bool, name string, m chatd.Meta) error {
	return timedErr(t, "set_metadata", func() error { return t.Store.SetMetadata(ctx, room, name, m) })
}

func (t timedStore) DeleteMetadata(ctx context.Context, room bool, name string, keys []string) ([]string, error) {
	return timed(t, "delete_metadata", func() ([]string, error) { return t.Store.DeleteMetadata(ctx, room, name, keys) })
}
