package db

import (
	"context"
	"fmt"
	"time"

	"chatd"
)

// act runs change and records a in one transaction, so the daemon sees the
// action exactly when the change is visible, and never one without the
// other. A zero a.Time means now.
func (db *DB) act(ctx context.Context, a chatd.Action, change func(tx *dbTx) error) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if change != nil {
		if err := change(tx); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO actions (kind, "user", text, "by", created) VALUES (?, ?, ?, ?, ?)`,
		string(a.Kind), a.User, a.Text, a.By, millis(db.orNow(a.Time)))
	if err != nil {
		return fmt.Errorf("record action %s %s: %w", a.Kind, a.User, err)
	}
	return commit(tx, fmt.Sprintf("%s %s", a.Kind, a.User))
}

// DeleteUserAction deletes name (see deleteUser) and records it as an
// action for the daemon.
func (db *DB) DeleteUserAction(ctx context.Context, name, by string) error {
	a := chatd.Action{Kind: chatd.ActionUserDel, User: name, By: by}
	return db.act(ctx, a, func(tx *dbTx) error { return deleteUser(ctx, tx, name) })
}

// SetPasswordAction is SetPassword, recorded as an action for the daemon.
func (db *DB) SetPasswordAction(ctx context.Context, name, passHash, by string) error {
	a := chatd.Action{Kind: chatd.ActionPasswd, User: name, By: by}
	return db.act(ctx, a, func(tx *dbTx) error { return setPassword(ctx, tx, name, passHash) })
}

// SetAdminAction grants or revokes the admin flag of name and records it
// as an action for the daemon.
func (db *DB) SetAdminAction(ctx context.Context, name string, admin bool, by string) error {
	text := "admin rights revoked"
	if admin {
		text = "admin rights granted"
	}
	a := chatd.Action{Kind: chatd.ActionUserMod, User: name, Text: text, By: by}
	return db.act(ctx, a, func(tx *dbTx) error { return setAdmin(ctx, tx, name, admin) })
}

// BanAction is Ban, recorded as an action for the daemon.
func (db *DB) BanAction(ctx context.Context, b chatd.Ban) error {
	b.Created = db.orNow(b.Created)
	a := chatd.Action{Kind: chatd.ActionBan, User: b.User, Text: b.Reason, By: b.By}
	return db.act(ctx, a, func(tx *dbTx) error { return upsertBan(ctx, tx, b) })
}

// UnbanAction is Unban, recorded as an action for the daemon.
func (db *DB) UnbanAction(ctx context.Context, name, by string) error {
	a := chatd.Action{Kind: chatd.ActionUnban, User: name, By: by}
	return db.act(ctx, a, func(tx *dbTx) error { return deleteBan(ctx, tx, name) })
}

// Kick asks the daemon to disconnect name, telling them reason. The account
// must exist.
func (db *DB) Kick(ctx context.Context, name, reason, by string) error {
	a := chatd.Action{Kind: chatd.ActionKick, User: name, Text: reason, By: by}
	return db.act(ctx, a, func(tx *dbTx) error {
		_, err := userID(ctx, tx, name)
		return err
	})
}

// Notice asks the daemon to tell every online user text.
func (db *DB) Notice(ctx context.Context, text, by string) error {
	return db.act(ctx, chatd.Action{Kind: chatd.ActionNotice, Text: text, By: by}, nil)
}

// LastActionID is the id of the newest action, 0 when there is none. The
// daemon starts reading after it: what happened before it started is
// already in the tables it reads at each login.
func (db *DB) LastActionID(ctx context.Context) (int64, error) {
	var id int64
	if err := db.reader.GetContext(ctx, &id, `SELECT coalesce(max(id), 0) FROM actions`); err != nil {
		return 0, fmt.Errorf("read last action: %w", err)
	}
	return id, nil
}

// ActionsAfter returns up to limit actions with an id above after, oldest
// first. It reads by primary key, so polling it is cheap.
func (db *DB) ActionsAfter(ctx context.Context, after int64, limit int) ([]chatd.Action, error) {
	var rows []struct {
		ID      int64  `db:"id"`
		Kind    string `db:"kind"`
		User    string `db:"user"`
		Text    string `db:"text"`
		By      string `db:"by"`
		Created int64  `db:"created"`
	}
	err := db.reader.SelectContext(ctx, &rows,
		`SELECT id, kind, "user", text, "by", created FROM actions WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read actions: %w", err)
	}
	out := make([]chatd.Action, len(rows))
	for i, r := range rows {
		out[i] = chatd.Action{ID: r.ID, Kind: chatd.ActionKind(r.Kind), User: r.User, Text: r.Text, By: r.By, Time: fromMillis(r.Created)}
	}
	return out, nil
}

// PruneActions deletes actions older than before; the daemon has long acted
// on them.
func (db *DB) PruneActions(ctx context.Context, before time.Time) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := rowsChanged(ctx, tx, `DELETE FROM actions WHERE created < ?`, millis(before))
	if err != nil {
		return 0, fmt.Errorf("prune actions: %w", err)
	}
	return n, commit(tx, "prune actions")
}
