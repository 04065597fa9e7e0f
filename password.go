package chatd

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hasher hashes passwords with argon2id into PHC strings
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
type Hasher struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// NewHasher returns a Hasher with the configured cost.
func NewHasher(c Argon2Config) Hasher {
	return Hasher{MemoryKiB: c.MemoryKiB, Iterations: c.Iterations, Parallelism: c.Parallelism}
}

const (
	saltLen = 16
	keyLen  = 32
)

// Hash returns the PHC string for password with a fresh random salt.
func (h Hasher) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.Iterations, h.MemoryKiB, h.Parallelism, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.MemoryKiB, h.Iterations, h.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string, using the cost
// recorded in the string, not the Hasher's.
func Verify(phc, password string) (bool, error) {
	parts, err := phcParts(phc)
	if err != nil {
		return false, err
	}
	cost, err := phcCost(parts)
	if err != nil {
		return false, err
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("bad salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("bad key")
	}
	got := argon2.IDKey([]byte(password), salt, cost.Iterations, cost.MemoryKiB, cost.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// CostOf returns the cost recorded in a PHC string: what Verify will
// spend on it.
func CostOf(phc string) (Hasher, error) {
	parts, err := phcParts(phc)
	if err != nil {
		return Hasher{}, err
	}
	return phcCost(parts)
}

// phcParts splits a PHC string into "", "argon2id", "v=19",
// "m=..,t=..,p=..", salt and key, checking the algorithm and version.
func phcParts(phc string) ([]string, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return nil, fmt.Errorf("not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	return parts, nil
}

// phcCost reads the cost of split PHC parts (phcParts).
func phcCost(parts []string) (Hasher, error) {
	var h Hasher
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.MemoryKiB, &h.Iterations, &h.Parallelism); err != nil {
		return Hasher{}, fmt.Errorf("bad argon2 parameters %q: %w", parts[3], err)
	}
	return h, nil
}
