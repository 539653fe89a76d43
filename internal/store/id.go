package store

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a new row id: prefix, "-", and 16 lower-case base32
// characters of 80 random bits ("as-7k2m…"). It lives here because every
// id it makes is the primary key of a stored row and every capability that
// stores rows already imports store. Ids that must sort by age build their
// own (env.NewID, notify's event ids).
func NewID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+): it crashes the program instead
	return prefix + "-" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}
