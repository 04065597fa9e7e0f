package chatd

import (
	"context"
	"unicode/utf8"
)

// Metadata (IRCv3 draft/metadata-3, docs/irc.md "Metadata") is a small
// key/value store on each account and each room: a display name, an
// avatar, a colour. It is kept by the store, so it survives a restart.
// These limits hold for every target and are what the IRC capability
// advertises.
const (
	MaxMetadataKeys       = 20  // keys set on one account or one room
	MaxMetadataKeyBytes   = 64  // bytes of a key name
	MaxMetadataValueBytes = 300 // bytes of a value
	MaxMetadataSubs       = 50  // keys one connection may subscribe to
)

// MetaPublic is the visibility of a key everyone may read, the only one
// chatd sets today.
const MetaPublic = "*"

// Meta is one key set on an account or a room.
type Meta struct {
	Key        string
	Value      string
	Visibility string // MetaPublic
}

// ValidMetaKey reports whether key is a metadata key name: 1 to
// MaxMetadataKeyBytes of a-z, 0-9 and _ . / - (draft/metadata-3).
func ValidMetaKey(key string) bool {
	if key == "" || len(key) > MaxMetadataKeyBytes {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '/' || c == '-') {
			return false
		}
	}
	return true
}

// CheckMetaValue checks a value to set: UTF-8 (EBadEncoding), not empty
// and at most MaxMetadataValueBytes (EBadArgs), with no control
// characters (EBadArgs).
func CheckMetaValue(v string) error {
	if !utf8.ValidString(v) {
		return Errorf(EBadEncoding, "a metadata value must be UTF-8")
	}
	if v == "" || len(v) > MaxMetadataValueBytes {
		return Errorf(EBadArgs, "a metadata value holds 1 to %d bytes", MaxMetadataValueBytes)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return Errorf(EBadArgs, "a metadata value holds no control characters")
		}
	}
	return nil
}

// MetadataStore holds the metadata of accounts and rooms. A target is a
// room when room is true, else an account; an unknown one is
// ENoSuchRoom or ENoSuchUser. A target's metadata goes with it when it is
// deleted.
type MetadataStore interface {
	// Metadata lists the keys set on a target, sorted by key.
	Metadata(ctx context.Context, room bool, name string) ([]Meta, error)
	// SetMetadata sets m.Key to m.Value on a target, replacing its value;
	// a new key beyond MaxMetadataKeys is ETooManyKeys.
	SetMetadata(ctx context.Context, room bool, name string, m Meta) error
	// DeleteMetadata removes keys from a target, or every key when none
	// is given, and returns those that were set, sorted.
	DeleteMetadata(ctx context.Context, room bool, name string, keys []string) ([]string, error)
}
