package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// userRow is a users row as stored.
type userRow struct {
	ID         int64         `db:"id"`
	Name       string        `db:"name"`
	PassHash   string        `db:"pass_hash"`
	Admin      bool          `db:"admin"`
	Created    int64         `db:"created"`
	LastLogin  sql.NullInt64 `db:"last_login"`
	LastSeen   sql.NullInt64 `db:"last_seen"`
	LastActive sql.NullInt64 `db:"last_active"`
}

const userColumns = `id, name, pass_hash, admin, created, last_login, last_seen, last_active`

func (r *userRow) user() *chatd.User {
	return &chatd.User{
		ID:         r.ID,
		Name:       r.Name,
		PassHash:   r.PassHash,
		Admin:      r.Admin,
		Created:    fromMillis(r.Created),
		LastLogin:  fromNullMillis(r.LastLogin),
		LastSeen:   fromNullMillis(r.LastSeen),
		LastActive: fromNullMillis(r.LastActive),
	}
}

// CreateUser registers name. It fails with EUserExists when the name is
// taken in any spelling.
func (db *DB) CreateUser(ctx context.Context, name, passHash string, admin bool) (*chatd.User, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	u := &chatd.User{Name: name, PassHash: passHash, Admin: admin, Created: db.now()}
	if err := insertUser(ctx, tx, u); err != nil {
		return nil, err
	}
	// A new account starts as a member of the lobby (PROTOCOL.md 9.3).
	if lobby, err := roomID(ctx, tx, chatd.Lobby); err != nil {
		return nil, err
	} else if err := addMember(ctx, tx, u.ID, lobby, u.Created); err != nil {
		return nil, fmt.Errorf("create user %s: join the %s: %w", name, chatd.Lobby, err)
	}
	if err := commit(tx, "create user "+name); err != nil {
		return nil, err
	}
	return u, nil
}

// insertUser stores u and sets u.ID.
func insertUser(ctx context.Context, tx *dbTx, u *chatd.User) error {
	// RETURNING rather than LastInsertId, which PostgreSQL's driver lacks.
	err := tx.GetContext(ctx, &u.ID,
		`INSERT INTO users (name, name_key, pass_hash, admin, created) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		u.Name, chatd.Key(u.Name), u.PassHash, u.Admin, millis(u.Created))
	if isDuplicate(err) {
		return chatd.Errorf(chatd.EUserExists, "the name %s is already taken", u.Name)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

const sqlUserByName = `SELECT ` + userColumns + ` FROM users WHERE name_key = ?`

// UserByName returns the user called name in any spelling, or ENoSuchUser.
func (db *DB) UserByName(ctx context.Context, name string) (*chatd.User, error) {
	var r userRow
	err := sqlx.GetContext(ctx, db.read(), &r, sqlUserByName, chatd.Key(name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noSuchUser(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", name, err)
	}
	return r.user(), nil
}

// Users returns every user, sorted by name regardless of case.
func (db *DB) Users(ctx context.Context) ([]*chatd.User, error) {
	var rows []userRow
	if err := db.reader.SelectContext(ctx, &rows, `SELECT `+userColumns+` FROM users ORDER BY name_key, id`); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users := make([]*chatd.User, len(rows))
	for i := range rows {
		users[i] = rows[i].user()
	}
	return users, nil
}

// deleteUser removes name together with its ban, its blocks in both
// directions, its offline mailbox and the rooms it owns (otherwise whoever
// registered the name next would inherit them). Its login attempts stay,
// since those are kept for names that do not exist as well.
func deleteUser(ctx context.Context, tx *dbTx, name string) error {
	tx.usersChanged()
	if err := updateUser(ctx, tx, name, `DELETE FROM users WHERE name_key = ?`, chatd.Key(name)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM rooms WHERE owner_key = ?`, chatd.Key(name)); err != nil {
		return fmt.Errorf("delete rooms of %s: %w", name, err)
	}
	return nil
}

// SetPassword replaces the password hash of name.
func (db *DB) SetPassword(ctx context.Context, name, passHash string) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := setPassword(ctx, tx, name, passHash); err != nil {
		return err
	}
	return commit(tx, "set password of "+name)
}

func setPassword(ctx context.Context, tx *dbTx, name, passHash string) error {
	return updateUser(ctx, tx, name, `UPDATE users SET pass_hash = ? WHERE name_key = ?`, passHash, chatd.Key(name))
}

func setAdmin(ctx context.Context, tx *dbTx, name string, admin bool) error {
	return updateUser(ctx, tx, name, `UPDATE users SET admin = ? WHERE name_key = ?`, admin, chatd.Key(name))
}

// updateUser runs a statement that changes the row of one user, in a
// transaction (the transaction itself, or its prepared statements), and
// turns "no row changed" into ENoSuchUser.
func updateUser(ctx context.Context, q sqlx.ExecerContext, name, query string, args ...any) error {
	n, err := rowsChanged(ctx, q, query, args...)
	if err != nil {
		return fmt.Errorf("update user %s: %w", name, err)
	}
	if n == 0 {
		return noSuchUser(name)
	}
	return nil
}

// SetSeen writes the presence times of every entry in one transaction. A
// zero time leaves that column as it was. Names that no longer exist (an
// admin deleted the account while it was online) are skipped, so that one of
// them does not cost everyone else their times. The daemon gathers the
// logins and logouts of a storm into few calls (daemon/seen.go).
func (db *DB) SetSeen(ctx context.Context, seen []chatd.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := setSeen(ctx, db.write(tx), seen); err != nil {
		return err
	}
	return commit(tx, "write last seen times")
}

func setSeen(ctx context.Context, q sqlx.ExecerContext, seen []chatd.Seen) error {
	for _, s := range seen {
		if _, err := q.ExecContext(ctx, sqlSetSeen, nullMillis(s.LastLogin), nullMillis(s.LastSeen),
			nullMillis(s.LastActive), chatd.Key(s.Name)); err != nil {
			return fmt.Errorf("write last seen time of %s: %w", s.Name, err)
		}
	}
	return nil
}

const sqlSetSeen = `UPDATE users SET last_login = coalesce(?, last_login), last_seen = coalesce(?, last_seen),
	last_active = coalesce(?, last_active) WHERE name_key = ?`

// UsersSeenSince lists, sorted, the users whose last_seen is at or after
// since.
func (db *DB) UsersSeenSince(ctx context.Context, since time.Time) ([]string, error) {
	var names []string
	err := db.reader.SelectContext(ctx, &names,
		`SELECT name FROM users WHERE last_seen >= ? ORDER BY name_key`, millis(since))
	if err != nil {
		return nil, fmt.Errorf("list users seen since %s: %w", since, err)
	}
	return names, nil
}

// UsersActiveSince lists, sorted, the users whose last_active is at or after
// since.
func (db *DB) UsersActiveSince(ctx context.Context, since time.Time) ([]string, error) {
	var names []string
	err := db.reader.SelectContext(ctx, &names,
		`SELECT name FROM users WHERE last_active >= ? ORDER BY name_key`, millis(since))
	if err != nil {
		return nil, fmt.Errorf("list users active since %s: %w", since, err)
	}
	return names, nil
}

// DeleteGuest deletes name (see deleteUser) if its password hash is
// chatd.GuestPassHash: an IRC guest, which no password can log in as.
func (db *DB) DeleteGuest(ctx context.Context, name string) (bool, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var hash string
	err = tx.QueryRowxContext(ctx, `SELECT pass_hash FROM users WHERE name_key = ?`, chatd.Key(name)).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read user %s: %w", name, err)
	}
	if hash != chatd.GuestPassHash {
		return false, nil
	}
	if err := deleteUser(ctx, tx, name); err != nil {
		return false, err
	}
	return true, commit(tx, "delete guest "+name)
}

// DeleteGuests deletes every account whose password hash is
// chatd.GuestPassHash: the IRC guests a run of the daemon left behind when
// it did not end cleanly.
func (db *DB) DeleteGuests(ctx context.Context) (int64, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name FROM users WHERE pass_hash = ?`, chatd.GuestPassHash)
	if err != nil {
		return 0, fmt.Errorf("list guests: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list guests: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("list guests: %w", err)
	}
	for _, n := range names {
		if err := deleteUser(ctx, tx, n); err != nil {
			return 0, err
		}
	}
	return int64(len(names)), commit(tx, "delete guests")
}
