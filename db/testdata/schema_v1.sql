-- chatd schema, version 1 (PRAGMA user_version = 1).
-- Times are stored as INTEGER Unix milliseconds (UTC). Names are kept in their
-- registered spelling and compared case-insensitively (COLLATE NOCASE).

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    pass_hash   TEXT    NOT NULL,          -- argon2id PHC string
    admin       INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL,
    last_login  INTEGER,                   -- NULL: never logged in
    last_seen   INTEGER,                   -- last moment the user was online
    last_active INTEGER                    -- last command received
);

-- blocker no longer receives private messages (and, by config, chat) from blocked.
CREATE TABLE blocks (
    blocker INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;

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
    id      INTEGER PRIMARY KEY,
    name    TEXT    NOT NULL COLLATE NOCASE,
    addr    TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    success INTEGER NOT NULL
);
CREATE INDEX login_attempts_name_ts ON login_attempts(name, ts);

-- Private messages for users who were offline. Deleted once written to the
-- recipient's connection.
CREATE TABLE offline_messages (
    id        INTEGER PRIMARY KEY,
    recipient INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sender    TEXT    NOT NULL,
    recipients TEXT   NOT NULL DEFAULT '', -- space-separated list the message was sent to
    body      TEXT    NOT NULL,
    ts        INTEGER NOT NULL
);
CREATE INDEX offline_messages_recipient ON offline_messages(recipient, id);

CREATE TABLE rooms (
    id        INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    owner     TEXT    NOT NULL DEFAULT '', -- '' for lobby
    pass_hash TEXT    NOT NULL DEFAULT '', -- '' means no password
    created   INTEGER NOT NULL
);

CREATE TABLE room_history (
    id      INTEGER PRIMARY KEY,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    sender  TEXT    NOT NULL,
    body    TEXT    NOT NULL,
    ts      INTEGER NOT NULL
);
CREATE INDEX room_history_room ON room_history(room_id, id);
