-- chatd schema, version 19 (PRAGMA user_version = 19).
-- Times are stored as INTEGER Unix milliseconds (UTC). Names are kept in their
-- registered spelling; every lookup and comparison goes through name_key,
-- chatd.Key(name) (NFKC, then Unicode case folding), which is unique.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    pass_hash   TEXT    NOT NULL,          -- argon2id PHC string
    admin       INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    last_login  INTEGER,                   -- NULL: never logged in
    last_seen   INTEGER,                   -- last moment the user was online
    last_active INTEGER,                   -- last command received
    name_key    TEXT    NOT NULL DEFAULT '' -- chatd.Key(name)
);
CREATE UNIQUE INDEX users_name_key ON users(name_key);

-- blocker no longer receives private messages (and, by config, chat) from blocked.
CREATE TABLE blocks (
    blocker INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;

-- watcher hears of watched's logins, logouts and away changes however many
-- users are online (PROTOCOL.md 13); at most chatd.MaxWatching per watcher.
CREATE TABLE watchers (
    watcher INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    watched INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    PRIMARY KEY (watcher, watched)
) WITHOUT ROWID;
CREATE INDEX watchers_watched ON watchers(watched);

-- At most one ban per user; expires NULL means permanent.
CREATE TABLE bans (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    reason  TEXT    NOT NULL DEFAULT '',
    by      TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    expires INTEGER
);

-- Every login attempt, including attempts for names that do not exist, so a
-- lockout survives restarts and does not reveal which names are registered.
CREATE TABLE login_attempts (
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL COLLATE NOCASE,
    addr     TEXT    NOT NULL,
    ts       INTEGER NOT NULL,
    success  INTEGER NOT NULL,
    name_key TEXT    NOT NULL DEFAULT ''   -- chatd.Key(name)
);
CREATE INDEX login_attempts_key_ts ON login_attempts(name_key, ts);

-- A private message for users who were offline, stored once however many
-- recipients it waits for; deleted with its last offline_messages row.
CREATE TABLE letters (
    id         INTEGER PRIMARY KEY,
    sender     TEXT    NOT NULL,
    recipients TEXT    NOT NULL DEFAULT '', -- space-separated list the message was sent to
    body       TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    mid        TEXT    NOT NULL DEFAULT '' -- the message's id (chatd.FormatID)
);

-- One row per recipient still to receive a letter. Deleted once written to
-- the recipient's connection.
--
-- The index by recipient holds only the rows with sorted = 1. New rows come
-- in with sorted = 0 (the default, whoever inserts them), always above every
-- sorted row's id, and the mailer sorts them in (sets sorted = 1) a thousand
-- or so at a time: an entry per message in an index ordered by recipient
-- would change a page of it per mailbox in every commit. A mailbox is read
-- as its sorted rows (the index) plus its unsorted ones (the rows past the
-- last sorted id).
CREATE TABLE offline_messages (
    id        INTEGER PRIMARY KEY,
    recipient INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    letter    INTEGER NOT NULL REFERENCES letters(id),
    sorted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX offline_messages_recipient ON offline_messages(recipient, id) WHERE sorted = 1;
CREATE INDEX offline_messages_letter ON offline_messages(letter);
CREATE TRIGGER offline_messages_last AFTER DELETE ON offline_messages
WHEN NOT EXISTS (SELECT 1 FROM offline_messages WHERE letter = OLD.letter)
BEGIN
    DELETE FROM letters WHERE id = OLD.letter;
END;

CREATE TABLE rooms (
    id        INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    owner     TEXT    NOT NULL DEFAULT '', -- '' for lobby
    pass_hash TEXT    NOT NULL DEFAULT '', -- '' means no password
    created   INTEGER NOT NULL,
    name_key  TEXT    NOT NULL DEFAULT '', -- chatd.Key(name)
    owner_key TEXT    NOT NULL DEFAULT '', -- chatd.Key(owner)
    topic     TEXT    NOT NULL DEFAULT '', -- '' means no topic
    modes     TEXT    NOT NULL DEFAULT 'nt', -- flags, chatd.RoomFlags letters
    member_limit INTEGER NOT NULL DEFAULT 0, -- +l; 0 means none
    topic_by  TEXT    NOT NULL DEFAULT '', -- who set the topic ('' not known)
    topic_at  INTEGER NOT NULL DEFAULT 0   -- when (0 not known)
);
CREATE UNIQUE INDEX rooms_name_key ON rooms(name_key);
CREATE INDEX rooms_owner_key ON rooms(owner_key);

-- Wrong (and right) room passwords, per room and user, so that guessing a
-- room's password is limited like guessing a login.
CREATE TABLE room_attempts (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ts      INTEGER NOT NULL,
    success INTEGER NOT NULL
);
CREATE INDEX room_attempts_room_user ON room_attempts(room_id, user_id, ts);

CREATE TABLE room_history (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    sender  TEXT    NOT NULL,
    body    TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    action  INTEGER NOT NULL DEFAULT 0, -- 1: an action line (the me command)
    mid     TEXT    NOT NULL DEFAULT '', -- the line's id (chatd.FormatID)
    mentions TEXT   NOT NULL DEFAULT ''  -- space-separated users the line marks (@name)
);
CREATE INDEX room_history_room ON room_history(room_id, id);
CREATE UNIQUE INDEX room_history_mid ON room_history(room_id, mid);

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

-- Full-text index of room_history, kept in step by the triggers below, so
-- search is an index lookup rather than a scan of every stored line. It
-- keeps no table of each row's size (columnsize = 0), which only ranking
-- (bm25) reads: search orders by id.
CREATE VIRTUAL TABLE room_history_fts USING fts5(
    body, content = 'room_history', content_rowid = 'id', detail = 'none', columnsize = 0
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

-- Room bans by IRC mask (nick!user@host globs, a:account, m:mask), kept
-- as given; kind is the list: b bans, e ban exceptions, I invite
-- exceptions.
CREATE TABLE room_masks (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    mask    TEXT    NOT NULL,
    "by"    TEXT    NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    kind    TEXT    NOT NULL DEFAULT 'b'
);
CREATE UNIQUE INDEX room_masks_room_kind_mask ON room_masks(room_id, kind, mask);

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

-- Private messages kept as history, one row per pair conversation: a message
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
    body, content = 'private_history', content_rowid = 'id', detail = 'none', columnsize = 0
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

-- Read markers (PROTOCOL.md 9.5): where each user has read each
-- conversation up to. conv is "#room" or "@user" in registered spelling;
-- mid the id of the newest message read ('' for none), which only ever
-- grows; ts the time (Unix ms) a client marked it read up to (IRC's
-- MARKREAD), 0 for none, which only ever grows too.
CREATE TABLE read_markers (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    conv    TEXT    NOT NULL,
    mid     TEXT    NOT NULL,
    ts      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, conv)
) WITHOUT ROWID;

-- The rooms each account is a member of (PROTOCOL.md 9.3): a login enters
-- every one of them, and the one joined last is the current room. A new
-- account starts in the lobby. The rows go with the account and the room.
CREATE TABLE room_members (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    room_id   INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    joined_at INTEGER NOT NULL,
    role      TEXT    NOT NULL DEFAULT '' -- 'o' operator, 'v' voice, both, or ''
);
CREATE UNIQUE INDEX room_members_user_room ON room_members(user_id, room_id);
CREATE INDEX room_members_room ON room_members(room_id);

-- Who each room line marks (PROTOCOL.md 10, mentions): one row per marked
-- user, for the mentions command and the welcome's unread count. The rows
-- go with the line (trimmed history, closed room) and with the user.
CREATE TABLE room_mentions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    line_id INTEGER NOT NULL REFERENCES room_history(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, line_id)
) WITHOUT ROWID;
CREATE INDEX room_mentions_line ON room_mentions(line_id);
-- Message actions (PROTOCOL.md 10, docs/protocol.md "Message actions"): a
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
-- kind: '' for a line, else an event kept for IRC's event-playback
-- (chatd.HistoryLine.Kind): 'topic' (body: the new topic) or 'tagmsg'
-- (body: the client-only tags). Only CHATHISTORY of a client that asks
-- for events reads them; every other reader of history takes lines only.
ALTER TABLE room_history ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE private_history ADD COLUMN kind TEXT NOT NULL DEFAULT '';
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
-- SSH public keys (PROTOCOL.md section 12): an account logs in over SSH
-- with any of its keys, at most chatd.MaxSSHKeys. public_key is the key in
-- authorized_keys form, fingerprint its SHA256 fingerprint as ssh-keygen
-- -l shows it.
CREATE TABLE keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_type    TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    comment     TEXT    NOT NULL DEFAULT '',
    added       INTEGER NOT NULL
);
CREATE UNIQUE INDEX keys_user_fingerprint ON keys(user_id, fingerprint);
-- Metadata (IRCv3 draft/metadata-3, metadata.go): the keys set on an
-- account (user_id) or on a room (room_id), exactly one of the two; they go
-- with their account or room. visibility is '*' (everyone may read).
CREATE TABLE metadata (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    room_id    INTEGER REFERENCES rooms(id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    visibility TEXT    NOT NULL DEFAULT '*',
    updated    INTEGER NOT NULL
);
CREATE UNIQUE INDEX metadata_user ON metadata(user_id, key);
CREATE UNIQUE INDEX metadata_room ON metadata(room_id, key);
