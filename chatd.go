// Package chatd is the vocabulary of the chat daemon: users, rooms, messages,
// bans, error codes, configuration and the Store interface that the db package
// implements. It depends on nothing else in this module.
package chatd

import (
	_ "embed"
)

// Schema is the SQL that creates the current database version. It lives at the
// module root so operators can read it; the db package applies it.
//
//go:embed schema.sql
var Schema string

// SchemaVersion is the PRAGMA user_version that Schema creates.
const SchemaVersion = 19

// Version is the release of this build; overridden with -ldflags at build time.
var Version = "0.1.0-dev"

// Lobby is the room that always exists, has no owner and cannot be closed.
const Lobby = "lobby"
