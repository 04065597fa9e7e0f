package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"chatd"
)

// migrations[i] turns a database at version i+1 into version i+2. A new, empty
// database never runs them: chatd.Schema creates the newest version in one
// go. To add version 2, change schema.sql to the new shape, bump
// chatd.SchemaVersion, and append here the statements that bring a version 1
// file to that same shape.
var migrations = []string{
	// 1 -> 2 (issue 10): name keys, room password attempts, offline
	// letters stored once. The key columns are filled by fillNameKeys.
	`
ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE login_attempts ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
DROP INDEX login_attempts_name_ts;
CREATE INDEX login_attempts_key_ts ON login_attempts(name_key, ts);
ALTER TABLE rooms ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE rooms ADD COLUMN owner_key TEXT NOT NULL DEFAULT '';
CREATE INDEX rooms_owner_key ON rooms(owner_key);

CREATE TABLE room_attempts (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ts      INTEGER NOT NULL,
    success INTEGER NOT NULL
);
CREATE INDEX room_attempts_room_user ON room_attempts(room_id, user_id, ts);

CREATE TABLE letters (
    id         INTEGER PRIMARY KEY,
    sender     TEXT    NOT NULL,
    recipients TEXT    NOT NULL DEFAULT '',
    body       TEXT    NOT NULL,
    ts         INTEGER NOT NULL
);
INSERT INTO letters (id, sender, recipients, body, ts)
    SELECT id, sender, recipients, body, ts FROM offline_messages;
CREATE TABLE offline_messages_v2 (
    id        INTEGER PRIMARY KEY,
    recipient INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    letter    INTEGER NOT NULL REFERENCES letters(id)
);
INSERT INTO offline_messages_v2 (id, recipient, letter)
    SELECT id, recipient, id FROM offline_messages;
DROP TABLE offline_messages;
ALTER TABLE offline_messages_v2 RENAME TO offline_messages;
CREATE INDEX offline_messages_recipient ON offline_messages(recipient, id);
CREATE INDEX offline_messages_letter ON offline_messages(letter);
CREATE TRIGGER offline_messages_last AFTER DELETE ON offline_messages
WHEN NOT EXISTS (SELECT 1 FROM offline_messages WHERE letter = OLD.letter)
BEGIN
    DELETE FROM letters WHERE id = OLD.letter;
END;
`,
	// 2 -> 3 (issue 7): admin actions for the running daemon, and who
	// is online.
	`
-- Admin changes made outside the daemon (chatd userdel, ban, kick, ...),
-- written in the same transaction as the change. The daemon reads the rows
-- past the last id it has seen and acts on them.
CREATE TABLE actions (
    id      INTEGER PRIMARY KEY,
    kind    TEXT    NOT NULL,            -- userdel, usermod, passwd, ban, unban, kick, notice
    user    TEXT    NOT NULL DEFAULT '', -- the account acted on; '' for notice
    text    TEXT    NOT NULL DEFAULT '', -- reason, notice text or what changed
    "by"    TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL
);

-- Who is online, written by the running daemon for chatd who; emptied when
-- the daemon starts and stops.
CREATE TABLE online_sessions (
    id          INTEGER PRIMARY KEY,
    user        TEXT    NOT NULL,
    room        TEXT    NOT NULL,
    addr        TEXT    NOT NULL,
    listener    TEXT    NOT NULL DEFAULT '',
    since       INTEGER NOT NULL,
    last_active INTEGER NOT NULL
);
`,
	// 3 -> 4 (issue 8): room topics, action lines, room bans,
	// invitations, user settings, and the full-text index of room
	// history (filled from the lines already kept).
	`ALTER TABLE rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE room_history ADD COLUMN action INTEGER NOT NULL DEFAULT 0;
-- Full-text index of room_history, kept in step by the triggers below, so
-- search is an index lookup rather than a scan of every stored line.
CREATE VIRTUAL TABLE room_history_fts USING fts5(
    body, content = 'room_history', content_rowid = 'id', detail = 'none'
);
CREATE TRIGGER room_history_fts_insert AFTER INSERT ON room_history BEGIN
    INSERT INTO room_history_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER room_history_fts_delete AFTER DELETE ON room_history BEGIN
    INSERT INTO room_history_fts (room_history_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER room_history_fts_update AFTER UPDATE ON room_history BEGIN
    INSERT INTO room_history_fts (room_history_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO room_history_fts (rowid, body) VALUES (new.id, new.body);
END;

-- Users a room's owner (or an admin) keeps out of the room; expires NULL
-- means for good.
CREATE TABLE room_bans (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    "by"    TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    expires INTEGER,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

-- One-time permission to join a locked room without its password.
CREATE TABLE room_invites (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    "by"    TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

-- Per-user settings (the set command): timestamps, timezone.
CREATE TABLE user_settings (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
INSERT INTO room_history_fts (room_history_fts) VALUES ('rebuild');
`,
	// 4 -> 5 (issue 11): offline_messages' recipient index takes new rows
	// in sorted batches (schema.sql says why); the rows already there
	// are sorted.
	`ALTER TABLE offline_messages ADD COLUMN sorted INTEGER NOT NULL DEFAULT 0;
UPDATE offline_messages SET sorted = 1;
DROP INDEX offline_messages_recipient;
CREATE INDEX offline_messages_recipient ON offline_messages(recipient, id) WHERE sorted = 1;
`,
	// 5 -> 6 (issue 20): message ids. A line or letter stored before
	// had none: it gets its time in milliseconds and the low 15 bits of
	// its row id (the 16th bit set for letters, so the two tables never
	// give the same id), which keeps a room's old lines in order and
	// below every id given from now on.
	`ALTER TABLE room_history ADD COLUMN mid TEXT NOT NULL DEFAULT '';
UPDATE room_history SET mid = printf('%016x', (ts << 16) | (id & 32767));
CREATE UNIQUE INDEX room_history_mid ON room_history(room_id, mid);
ALTER TABLE letters ADD COLUMN mid TEXT NOT NULL DEFAULT '';
UPDATE letters SET mid = printf('%016x', (ts << 16) | 32768 | (id & 32767));
`,
	// 6 -> 7 (issue 20): private messages kept as history (schema.sql,
	// private_history). Messages sent before were not kept.
	`-- Private messages kept as history, one row per pair conversation: a message
-- to several users is a row in each sender-recipient pair's conversation.
-- user_lo and user_hi are the two users' ids, the lower first; a page of a
-- conversation is a walk of private_history_pair in message id order.
CREATE TABLE private_history (
    id         INTEGER PRIMARY KEY,
    user_lo    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_hi    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender     TEXT    NOT NULL,
    recipients TEXT    NOT NULL DEFAULT '', -- space-separated list the message was sent to
    body       TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    mid        TEXT    NOT NULL            -- the message's id (chatd.FormatID)
);
CREATE UNIQUE INDEX private_history_pair ON private_history(user_lo, user_hi, mid);
CREATE INDEX private_history_hi ON private_history(user_hi);

-- Full-text index of private_history, as room_history_fts is of room_history.
CREATE VIRTUAL TABLE private_history_fts USING fts5(
    body, content = 'private_history', content_rowid = 'id', detail = 'none'
);
CREATE TRIGGER private_history_fts_insert AFTER INSERT ON private_history BEGIN
    INSERT INTO private_history_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER private_history_fts_delete AFTER DELETE ON private_history BEGIN
    INSERT INTO private_history_fts (private_history_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER private_history_fts_update AFTER UPDATE ON private_history BEGIN
    INSERT INTO private_history_fts (private_history_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO private_history_fts (rowid, body) VALUES (new.id, new.body);
END;
`,
	// 7 -> 8 (issue 20): read markers.
	`CREATE TABLE read_markers (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conv    TEXT    NOT NULL,
    mid     TEXT    NOT NULL,
    PRIMARY KEY (user_id, conv)
) WITHOUT ROWID;`,
	// 8 -> 9 (issue 20, PROTOCOL.md 9.3): room membership. Every account
	// so far was in the lobby at each login: it becomes a member of it.
	`CREATE TABLE room_members (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    room_id   INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX room_members_user_room ON room_members(user_id, room_id);
CREATE INDEX room_members_room ON room_members(room_id);
INSERT INTO room_members (user_id, room_id, joined_at)
    SELECT users.id, rooms.id, users.created FROM users, rooms WHERE rooms.name_key = 'lobby' ORDER BY users.id;
`,
	// 9 -> 10 (issue 21): mentions. Lines stored before mark nobody.
	`
ALTER TABLE room_history ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
CREATE TABLE room_mentions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    line_id INTEGER NOT NULL REFERENCES room_history(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, line_id)
) WITHOUT ROWID;
CREATE INDEX room_mentions_line ON room_mentions(line_id);
`,
	// 10 -> 11 (issue 21): message actions: replies, edits and deletions
	// of stored lines, the edit log, reactions.
	`-- Message actions (PROTOCOL.md 10, docs/protocol.md "Message actions"): a
-- stored line may answer another (reply_to, a message id), be edited
-- (edited: when, last) or deleted (deleted = 1, body ''). message_edits
-- keeps every edit's old and new text, and a deletion's last text, for the
-- review of history CONV edits; message_reactions each user's reactions.
-- Both go with their line (trim, closed room, deleted account).
ALTER TABLE room_history ADD COLUMN reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE room_history ADD COLUMN edited INTEGER;
ALTER TABLE room_history ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX room_history_by_mid ON room_history(mid);
ALTER TABLE private_history ADD COLUMN reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE private_history ADD COLUMN edited INTEGER;
ALTER TABLE private_history ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX private_history_by_mid ON private_history(mid);
CREATE INDEX letters_mid ON letters(mid);
CREATE TABLE message_edits (
    id           INTEGER PRIMARY KEY,
    room_line    INTEGER REFERENCES room_history(id) ON DELETE CASCADE,
    private_line INTEGER REFERENCES private_history(id) ON DELETE CASCADE,
    editor       TEXT    NOT NULL,
    old_body     TEXT    NOT NULL,
    new_body     TEXT    NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    ts           INTEGER NOT NULL
);
CREATE INDEX message_edits_room_line ON message_edits(room_line);
CREATE INDEX message_edits_private_line ON message_edits(private_line);
CREATE TABLE message_reactions (
    id           INTEGER PRIMARY KEY,
    room_line    INTEGER REFERENCES room_history(id) ON DELETE CASCADE,
    private_line INTEGER REFERENCES private_history(id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reaction     TEXT    NOT NULL,
    created      INTEGER NOT NULL
);
CREATE UNIQUE INDEX message_reactions_room ON message_reactions(room_line, user_id, reaction);
CREATE UNIQUE INDEX message_reactions_private ON message_reactions(private_line, user_id, reaction);
CREATE INDEX message_reactions_user ON message_reactions(user_id);
`,
	// 11 -> 12 (issue 22, PROTOCOL.md 12): SSH public keys. IF NOT
	// EXISTS, as the tests that go back to older versions keep the table.
	`CREATE TABLE IF NOT EXISTS keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_type    TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    added       INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS keys_user_fingerprint ON keys(user_id, fingerprint);`,
	// 12 -> 13 (issue 23, PROTOCOL.md 13): watchers (IF NOT EXISTS, as
	// keys).
	`CREATE TABLE IF NOT EXISTS watchers (
    watcher INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    watched INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    PRIMARY KEY (watcher, watched)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS watchers_watched ON watchers(watched);
`,
	// 13 -> 14 (issue 22, docs/irc.md "Read markers"): the time a client
	// marked a conversation read up to. Markers stored before have none.
	`ALTER TABLE read_markers ADD COLUMN ts INTEGER NOT NULL DEFAULT 0;`,
	// 14 -> 15 (issue 22, draft/metadata-3): the metadata of accounts and
	// rooms (IF NOT EXISTS, as keys).
	`-- Metadata (IRCv3 draft/metadata-3, metadata.go): the keys set on an
-- account (user_id) or on a room (room_id), exactly one of the two; they go
-- with their account or room. visibility is '*' (everyone may read).
CREATE TABLE IF NOT EXISTS metadata (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    room_id    INTEGER REFERENCES rooms(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    visibility TEXT    NOT NULL DEFAULT '*',
    updated    INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS metadata_user ON metadata(user_id, key);
CREATE UNIQUE INDEX IF NOT EXISTS metadata_room ON metadata(room_id, key);
`,
	// 15 -> 16 (issue 22, roommode): room bans by mask (IF NOT EXISTS,
	// as keys); the columns for room flags and member limit, for member
	// roles and for who set a topic when are added by addRoomModeColumns.
	`CREATE TABLE IF NOT EXISTS room_masks (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    mask    TEXT    NOT NULL,
    "by"    TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS room_masks_room_mask ON room_masks(room_id, mask);
`,
	// 16 -> 17 (issue 22, ban and invite exceptions): a room mask's list
	// (kind: b bans, e ban exceptions, I invite exceptions); the column
	// and its index are added by addRoomMaskKind.
	`DROP INDEX IF EXISTS room_masks_room_mask;`,
	// 17 -> 18 (issue 22, draft/event-playback): the kind of a history
	// entry, '' (a line) for every row stored before; the columns are
	// added by addHistoryKind.
	`SELECT 1;`,
	// 18 -> 19 (issue 23): the full-text indexes without their table of
	// each row's size (columnsize = 0), a row more per stored line that
	// only ranking reads; search orders by id. FTS5 cannot drop the
	// option in place, so each index is made again and filled from the
	// rows it indexes (their text as it is now, as the triggers kept it).
	// The triggers name the index, not its options: they stay.
	`DROP TABLE private_history_fts;
CREATE VIRTUAL TABLE private_history_fts USING fts5(
    body, content = 'private_history', content_rowid = 'id', detail = 'none', columnsize = 0
);
INSERT INTO private_history_fts (private_history_fts) VALUES ('rebuild');
DROP TABLE room_history_fts;
CREATE VIRTUAL TABLE room_history_fts USING fts5(
    body, content = 'room_history', content_rowid = 'id', detail = 'none', columnsize = 0
);
INSERT INTO room_history_fts (room_history_fts) VALUES ('rebuild');
`,
}

// migrationFills[v] runs after the statements that bring a file to
// version v, in the same transaction, for what SQL alone cannot compute.
var migrationFills = map[int]func(ctx context.Context, tx *dbTx) error{
	2:  fillNameKeys,
	16: addRoomModeColumns,
	17: addRoomMaskKind,
	18: addHistoryKind,
}

// addHistoryKind adds the kind of a history entry (version 18) where the
// file lacks it.
func addHistoryKind(ctx context.Context, tx *dbTx) error {
	return addColumns(ctx, tx, []newColumn{
		{"room_history", "kind", "TEXT NOT NULL DEFAULT ''"},
		{"private_history", "kind", "TEXT NOT NULL DEFAULT ''"},
	})
}

// addRoomMaskKind adds room_masks.kind (version 17) when the file lacks
// it, and the unique index over a room's lists.
func addRoomMaskKind(ctx context.Context, tx *dbTx) error {
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM pragma_table_info('room_masks') WHERE name = 'kind'`); err != nil {
		return fmt.Errorf("read the columns of room_masks: %w", err)
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE room_masks ADD COLUMN kind TEXT NOT NULL DEFAULT 'b'`); err != nil {
			return fmt.Errorf("add room_masks.kind: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE UNIQUE INDEX IF NOT EXISTS room_masks_room_kind_mask ON room_masks(room_id, kind, mask)`); err != nil {
		return fmt.Errorf("index room_masks by kind: %w", err)
	}
	return nil
}

// addRoomModeColumns adds the room mode columns (version 16) that a file
// lacks: SQLite has no ADD COLUMN IF NOT EXISTS.
func addRoomModeColumns(ctx context.Context, tx *dbTx) error {
	return addColumns(ctx, tx, []newColumn{
		{"rooms", "modes", "TEXT NOT NULL DEFAULT 'nt'"},
		{"rooms", "member_limit", "INTEGER NOT NULL DEFAULT 0"},
		{"room_members", "role", "TEXT NOT NULL DEFAULT ''"},
		{"rooms", "topic_by", "TEXT NOT NULL DEFAULT ''"},
		{"rooms", "topic_at", "INTEGER NOT NULL DEFAULT 0"},
	})
}

// newColumn is a column a migration adds: its table, name and definition.
type newColumn struct{ table, column, def string }

// addColumns adds each of cols that its table lacks: SQLite has no ADD
// COLUMN IF NOT EXISTS.
func addColumns(ctx context.Context, tx *dbTx, cols []newColumn) error {
	for _, c := range cols {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.column); err != nil {
			return fmt.Errorf("read the columns of %s: %w", c.table, err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE `+c.table+` ADD COLUMN `+c.column+` `+c.def); err != nil {
			return fmt.Errorf("add %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

// fillNameKeys computes chatd.Key for every stored name and then makes the
// key columns unique. Version 1 compared names with NOCASE, which folds
// ASCII only, so two accounts (or rooms) may fold to the same key: the
// oldest keeps it, and each later one gets a key no typed name can ever
// fold to (NUL, then its id), so it can no longer be reached by name. That
// is the account the issue 10 attack created.
func fillNameKeys(ctx context.Context, tx *dbTx) error {
	for _, table := range []string{"users", "rooms"} {
		var rows []struct {
			ID   int64  `db:"id"`
			Name string `db:"name"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, name FROM `+table+` ORDER BY id`); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		taken := map[string]bool{}
		for _, r := range rows {
			k := chatd.Key(r.Name)
			if taken[k] {
				k = fmt.Sprintf("\x00%d", r.ID)
			}
			taken[k] = true
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET name_key = ? WHERE id = ?`, k, r.ID); err != nil {
				return fmt.Errorf("fill %s.name_key: %w", table, err)
			}
		}
	}
	for _, q := range []struct{ col, key, table string }{
		{"owner", "owner_key", "rooms"},
		{"name", "name_key", "login_attempts"},
	} {
		var names []string
		if err := tx.SelectContext(ctx, &names, `SELECT DISTINCT `+q.col+` FROM `+q.table); err != nil {
			return fmt.Errorf("read %s.%s: %w", q.table, q.col, err)
		}
		for _, n := range names {
			// = on a NOCASE column matches every ASCII case variant;
			// they all have the same key.
			if _, err := tx.ExecContext(ctx, `UPDATE `+q.table+` SET `+q.key+` = ? WHERE `+q.col+` = ?`, chatd.Key(n), n); err != nil {
				return fmt.Errorf("fill %s.%s: %w", q.table, q.key, err)
			}
		}
	}
	_, err := tx.ExecContext(ctx, `
CREATE UNIQUE INDEX users_name_key ON users(name_key);
CREATE UNIQUE INDEX rooms_name_key ON rooms(name_key);`)
	if err != nil {
		return fmt.Errorf("index name keys: %w", err)
	}
	return nil
}

// migrate brings the file to chatd.SchemaVersion, one version per
// transaction, and then makes sure the lobby exists. The version is read
// inside each write transaction, so two processes opening a new file at once
// do not both create the schema.
func (db *DB) migrate(ctx context.Context) error {
	if len(migrations)+1 != chatd.SchemaVersion {
		return fmt.Errorf("migrate db %s: this build has %d migrations for schema version %d", db.path, len(migrations), chatd.SchemaVersion)
	}
	return db.migrateWith(ctx, db.migrateStep)
}

// migrateWith runs step until it reports the schema current, then makes
// sure the lobby exists: the part of migrating both backends share.
func (db *DB) migrateWith(ctx context.Context, step func(context.Context) (bool, error)) error {
	for {
		done, err := step(ctx)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	defer tx.Rollback()
	if err := ensureLobby(ctx, tx, db.now()); err != nil {
		return fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	return commit(tx, "migrate db "+db.path)
}

// migrateStep moves the file one version forward. It reports done when the
// file already is at chatd.SchemaVersion.
func (db *DB) migrateStep(ctx context.Context) (done bool, err error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	defer tx.Rollback()

	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("migrate db %s: %w", db.path, err)
	}
	var next int
	switch {
	case v == chatd.SchemaVersion:
		return true, nil
	case v > chatd.SchemaVersion:
		return false, fmt.Errorf("database %s has schema version %d, this chatd understands up to %d; upgrade chatd",
			db.path, v, chatd.SchemaVersion)
	case v < 0:
		return false, fmt.Errorf("database %s has schema version %d, which no chatd ever wrote", db.path, v)
	case v == 0:
		if err := createSchema(ctx, tx); err != nil {
			return false, fmt.Errorf("migrate db %s: %w", db.path, err)
		}
		next = chatd.SchemaVersion
	default:
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return false, fmt.Errorf("migrate db %s from version %d to %d: %w", db.path, v, v+1, err)
		}
		next = v + 1
		if fill := migrationFills[next]; fill != nil {
			if err := fill(ctx, tx); err != nil {
				return false, fmt.Errorf("migrate db %s from version %d to %d: %w", db.path, v, next, err)
			}
		}
	}
	// PRAGMA takes no bound parameters; next is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", next)); err != nil {
		return false, fmt.Errorf("migrate db %s: set version %d: %w", db.path, next, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate db %s to version %d: %w", db.path, next, err)
	}
	return false, nil
}

func schemaVersion(ctx context.Context, q sqlx.QueryerContext) (int, error) {
	var v int
	if err := sqlx.GetContext(ctx, q, &v, `PRAGMA user_version`); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// createSchema fills a version 0 file with chatd.Schema. A version 0 file
// that already has tables belongs to something else; it is left alone.
func createSchema(ctx context.Context, tx *dbTx) error {
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM sqlite_schema`); err != nil {
		return fmt.Errorf("inspect schema: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("the file has %d schema objects but no chatd schema version; it is not a chatd database", n)
	}
	if _, err := tx.ExecContext(ctx, chatd.Schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

// ensureLobby creates the lobby unless it exists.
func ensureLobby(ctx context.Context, tx *dbTx, now time.Time) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO rooms (name, name_key, owner, owner_key, pass_hash, created) VALUES (?, ?, '', '', '', ?)
		 ON CONFLICT DO NOTHING`,
		chatd.Lobby, chatd.Key(chatd.Lobby), millis(now))
	if err != nil {
		return fmt.Errorf("create the lobby: %w", err)
	}
	return nil
}
