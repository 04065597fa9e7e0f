package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// banRow is a bans row joined with the name of the banned user.
type banRow struct {
	User    string        `db:"name"`
	Reason  string        `db:"reason"`
	By      string        `db:"by"`
	Created int64         `db:"created"`
	Expires sql.NullInt64 `db:"expires"`
}

// "by" is an SQL keyword, hence the quotes.
const banSelect = `SELECT u.name, b.reason, b."by", b.created, b.expires
	FROM bans b JOIN users u ON u.id = b.user_id`

const sqlBanOf = banSelect + ` WHERE b.user_id = ?`

func (r *banRow) ban() *chatd.Ban {
	return &chatd.Ban{
		User:    r.User,
		Reason:  r.Reason,
		By:      r.By,
		Created: fromMillis(r.Created),
		Expires: fromNullMillis(r.Expires),
	}
}

// Ban bans b.User, replacing any ban already in place. A zero b.Created
// means now; a zero b.Expires makes the ban permanent.
func (db *DB) Ban(ctx context.Context, b chatd.Ban) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	b.Created = db.orNow(b.Created)
	if err := upsertBan(ctx, tx, b); err != nil {
		return err
	}
	return commit(tx, "ban "+b.User)
}

func upsertBan(ctx context.Context, tx *dbTx, b chatd.Ban) error {
	id, err := userID(ctx, tx, b.User)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO bans (user_id, reason, "by", created, expires) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (user_id) DO UPDATE SET
		   reason = excluded.reason, "by" = excluded."by",
		   created = excluded.created, expires = excluded.expires`,
		id, b.Reason, b.By, millis(b.Created), nullMillis(b.Expires))
	if err != nil {
		return fmt.Errorf("ban %s: %w", b.User, err)
	}
	return nil
}

// Unban lifts the ban on name. It fails with EBadArgs when name is not
// banned, expired bans included (those are still there to lift).
func (db *DB) Unban(ctx context.Context, name string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteBan(ctx, tx, name); err != nil {
		return err
	}
	return commit(tx, "unban "+name)
}

func deleteBan(ctx context.Context, tx *dbTx, name string) error {
	id, err := userID(ctx, tx, name)
	if err != nil {
		return err
	}
	n, err := rowsChanged(ctx, tx, `DELETE FROM bans WHERE user_id = ?`, id)
	if err != nil {
		return fmt.Errorf("unban %s: %w", name, err)
	}
	if n == 0 {
		return chatd.Errorf(chatd.EBadArgs, "%s is not banned", name)
	}
	return nil
}

// BanOf returns the ban on name, expired or not, or nil when there is none.
// It fails with ENoSuchUser when name is not registered.
func (db *DB) BanOf(ctx context.Context, name string) (*chatd.Ban, error) {
	id, err := userID(ctx, db.read(), name)
	if err != nil {
		return nil, err
	}
	var r banRow
	err = sqlx.GetContext(ctx, db.read(), &r, sqlBanOf, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ban of %s: %w", name, err)
	}
	return r.ban(), nil
}

// Bans returns every ban, expired ones included, sorted by user name.
func (db *DB) Bans(ctx context.Context) ([]*chatd.Ban, error) {
	var rows []banRow
	if err := db.reader.SelectContext(ctx, &rows, banSelect+` ORDER BY u.name_key`); err != nil {
		return nil, fmt.Errorf("list bans: %w", err)
	}
	bans := make([]*chatd.Ban, len(rows))
	for i := range rows {
		bans[i] = rows[i].ban()
	}
	return bans, nil
}
