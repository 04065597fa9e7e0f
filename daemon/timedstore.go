package daemon

import (
	"context"
	"time"

	"chatd"
)

// timedStore is the store as the server uses it: every operation is timed
// into chatd_db_operation_seconds{op}. Methods it does not list go to the
// store untimed.
type timedStore struct {
	chatd.Store
	m *metrics
}

func (t timedStore) CreateUser(ctx context.Context, name string, passHash string, admin bool) (*chatd.User, error) {
	defer t.m.dbOp("create_user")()
	return t.Store.CreateUser(ctx, name, passHash, admin)
}

func (t timedStore) UserByName(ctx context.Context, name string) (*chatd.User, error) {
	defer t.m.dbOp("user_by_name")()
	return t.Store.UserByName(ctx, name)
}

func (t timedStore) Users(ctx context.Context) ([]*chatd.User, error) {
	defer t.m.dbOp("users")()
	return t.Store.Users(ctx)
}

func (t timedStore) DeleteUser(ctx context.Context, name string) error {
	defer t.m.dbOp("delete_user")()
	return t.Store.DeleteUser(ctx, name)
}

func (t timedStore) SetPassword(ctx context.Context, name string, passHash string) error {
	defer t.m.dbOp("set_password")()
	return t.Store.SetPassword(ctx, name, passHash)
}

func (t timedStore) SetAdmin(ctx context.Context, name string, admin bool) error {
	defer t.m.dbOp("set_admin")()
	return t.Store.SetAdmin(ctx, name, admin)
}

func (t timedStore) RecordLogin(ctx context.Context, name string, at time.Time) error {
	defer t.m.dbOp("record_login")()
	return t.Store.RecordLogin(ctx, name, at)
}

func (t timedStore) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	defer t.m.dbOp("set_seen")()
	return t.Store.SetSeen(ctx, seen)
}

func (t timedStore) UsersSeenSince(ctx context.Context, since time.Time) ([]string, error) {
	defer t.m.dbOp("users_seen_since")()
	return t.Store.UsersSeenSince(ctx, since)
}

func (t timedStore) UsersActiveSince(ctx context.Context, since time.Time) ([]string, error) {
	defer t.m.dbOp("users_active_since")()
	return t.Store.UsersActiveSince(ctx, since)
}

func (t timedStore) RecordAttempt(ctx context.Context, name string, addr string, at time.Time, success bool) error {
	defer t.m.dbOp("record_attempt")()
	return t.Store.RecordAttempt(ctx, name, addr, at, success)
}

func (t timedStore) Attempts(ctx context.Context, name string, addr string, since time.Time) ([]chatd.LoginAttempt, error) {
	defer t.m.dbOp("attempts")()
	return t.Store.Attempts(ctx, name, addr, since)
}

func (t timedStore) PruneAttempts(ctx context.Context, before time.Time) (int64, error) {
	defer t.m.dbOp("prune_attempts")()
	return t.Store.PruneAttempts(ctx, before)
}

func (t timedStore) RecordRoomAttempt(ctx context.Context, room string, user string, at time.Time, success bool) error {
	defer t.m.dbOp("record_room_attempt")()
	return t.Store.RecordRoomAttempt(ctx, room, user, at, success)
}

func (t timedStore) RoomAttempts(ctx context.Context, room string, user string, since time.Time) ([]chatd.LoginAttempt, error) {
	defer t.m.dbOp("room_attempts")()
	return t.Store.RoomAttempts(ctx, room, user, since)
}

func (t timedStore) Ban(ctx context.Context, b chatd.Ban) error {
	defer t.m.dbOp("ban")()
	return t.Store.Ban(ctx, b)
}

func (t timedStore) Unban(ctx context.Context, name string) error {
	defer t.m.dbOp("unban")()
	return t.Store.Unban(ctx, name)
}

func (t timedStore) BanOf(ctx context.Context, name string) (*chatd.Ban, error) {
	defer t.m.dbOp("ban_of")()
	return t.Store.BanOf(ctx, name)
}

func (t timedStore) Bans(ctx context.Context) ([]*chatd.Ban, error) {
	defer t.m.dbOp("bans")()
	return t.Store.Bans(ctx)
}

func (t timedStore) Block(ctx context.Context, blocker string, blocked string) error {
	defer t.m.dbOp("block")()
	return t.Store.Block(ctx, blocker, blocked)
}

func (t timedStore) Unblock(ctx context.Context, blocker string, blocked string) error {
	defer t.m.dbOp("unblock")()
	return t.Store.Unblock(ctx, blocker, blocked)
}

func (t timedStore) Blocked(ctx context.Context, blocker string) ([]string, error) {
	defer t.m.dbOp("blocked")()
	return t.Store.Blocked(ctx, blocker)
}

func (t timedStore) IsBlocked(ctx context.Context, blocker string, blocked string) (bool, error) {
	defer t.m.dbOp("is_blocked")()
	return t.Store.IsBlocked(ctx, blocker, blocked)
}

func (t timedStore) StoreOffline(ctx context.Context, to string, m chatd.OfflineMessage, limit int) error {
	defer t.m.dbOp("store_offline")()
	return t.Store.StoreOffline(ctx, to, m, limit)
}

func (t timedStore) StoreOfflineAll(ctx context.Context, to []string, m chatd.OfflineMessage, limit int) (errs []error, err error) {
	defer t.m.dbOp("store_offline")() // the daemon stores offline mail through this one
	return t.Store.StoreOfflineAll(ctx, to, m, limit)
}

func (t timedStore) OfflinePage(ctx context.Context, to string, after int64, n int) ([]chatd.OfflineMessage, error) {
	defer t.m.dbOp("offline_page")()
	return t.Store.OfflinePage(ctx, to, after, n)
}

func (t timedStore) OfflineCount(ctx context.Context, to string) (int, error) {
	defer t.m.dbOp("offline_count")()
	return t.Store.OfflineCount(ctx, to)
}

func (t timedStore) OfflineMessages(ctx context.Context, to string) ([]chatd.OfflineMessage, error) {
	defer t.m.dbOp("offline_messages")()
	return t.Store.OfflineMessages(ctx, to)
}

func (t timedStore) DeleteOffline(ctx context.Context, ids []int64) error {
	defer t.m.dbOp("delete_offline")()
	return t.Store.DeleteOffline(ctx, ids)
}

func (t timedStore) CreateRoom(ctx context.Context, r chatd.Room) error {
	defer t.m.dbOp("create_room")()
	return t.Store.CreateRoom(ctx, r)
}

func (t timedStore) CreateRoomLimited(ctx context.Context, r chatd.Room, maxPerOwner int, maxTotal int) error {
	defer t.m.dbOp("create_room_limited")()
	return t.Store.CreateRoomLimited(ctx, r, maxPerOwner, maxTotal)
}

func (t timedStore) RoomByName(ctx context.Context, name string) (*chatd.Room, error) {
	defer t.m.dbOp("room_by_name")()
	return t.Store.RoomByName(ctx, name)
}

func (t timedStore) Rooms(ctx context.Context) ([]*chatd.Room, error) {
	defer t.m.dbOp("rooms")()
	return t.Store.Rooms(ctx)
}

func (t timedStore) DeleteRoom(ctx context.Context, name string) error {
	defer t.m.dbOp("delete_room")()
	return t.Store.DeleteRoom(ctx, name)
}

func (t timedStore) AppendHistory(ctx context.Context, room string, l chatd.HistoryLine, keep int) error {
	defer t.m.dbOp("append_history")()
	return t.Store.AppendHistory(ctx, room, l, keep)
}

func (t timedStore) AppendHistoryBatch(ctx context.Context, lines []chatd.RoomLine, keep int) error {
	defer t.m.dbOp("append_history_batch")()
	return t.Store.AppendHistoryBatch(ctx, lines, keep)
}

func (t timedStore) History(ctx context.Context, room string, n int) ([]chatd.HistoryLine, error) {
	defer t.m.dbOp("history")()
	return t.Store.History(ctx, room, n)
}

func (t timedStore) LastActionID(ctx context.Context) (int64, error) {
	defer t.m.dbOp("last_action_id")()
	return t.Store.LastActionID(ctx)
}

func (t timedStore) ActionsAfter(ctx context.Context, after int64, limit int) ([]chatd.Action, error) {
	defer t.m.dbOp("actions_after")()
	return t.Store.ActionsAfter(ctx, after, limit)
}

func (t timedStore) PruneActions(ctx context.Context, before time.Time) (int64, error) {
	defer t.m.dbOp("prune_actions")()
	return t.Store.PruneActions(ctx, before)
}

func (t timedStore) SetOnline(ctx context.Context, sessions []chatd.OnlineSession) error {
	defer t.m.dbOp("set_online")()
	return t.Store.SetOnline(ctx, sessions)
}

func (t timedStore) Ping(ctx context.Context) error {
	defer t.m.dbOp("ping")()
	return t.Store.Ping(ctx)
}

func (t timedStore) Backup(ctx context.Context, path string) error {
	defer t.m.dbOp("backup")()
	return t.Store.Backup(ctx, path)
}
