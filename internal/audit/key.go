package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key is the log's signing key, loaded from its file.
type Key struct {
	Signer note.Signer
	// VerifierKey is the public key in note form, "<name>+<hash>+<key>":
	// what auditors and tenants need to check checkpoints and bundles.
	VerifierKey string
	// Verifier checks signatures made with Signer.
	Verifier note.Verifier
}

// LoadKey reads the log's signing key: one line
// "PRIVATE+KEY+<name>+<hash>+<key>" as note.GenerateKey writes it. The file
// must not be readable by group or others, and the key's name must be the
// log's origin (a checkpoint's first line is the name of the key that signs
// it).
func LoadKey(path, origin string) (Key, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("audit key: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("audit key %s: mode %04o lets others read the log's signing key; chmod 600 it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("audit key: %w", err)
	}
	k, err := parseKey(strings.TrimSpace(string(data)))
	if err != nil {
		return Key{}, fmt.Errorf("audit key %s: %w", path, err)
	}
	if k.Signer.Name() != origin {
		return Key{}, fmt.Errorf("audit key %s is for origin %q, but the configured origin is %q", path, k.Signer.Name(), origin)
	}
	return k, nil
}

// LoadOrCreateKey loads the key at path, or creates a new one named origin
// with mode 0600 when there is no file. Every replica must load the same
// key: create it once and distribute it like any other secret.
func LoadOrCreateKey(path, origin string) (k Key, created bool, err error) {
	k, err = LoadKey(path, origin)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return Key{}, false, fmt.Errorf("audit key: generate for origin %q: %w", origin, err)
	}
	// Write a temporary file and link it into place: a reader never sees a
	// half-written key, and a key another process created meanwhile wins.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return Key{}, false, fmt.Errorf("audit key: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename; this removes it on the error paths
	_, werr := tmp.WriteString(skey + "\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return Key{}, false, fmt.Errorf("audit key: write %s: %w", path, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return Key{}, false, fmt.Errorf("audit key: create %s: %w", path, err)
	} else if err == nil {
		created = true
	}
	k, err = LoadKey(path, origin)
	return k, created, err
}

// ParseVerifierKey reads a public key "<name>+<hash>+<key>".
func ParseVerifierKey(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("audit verifier key %q: %w", clip(vkey), err)
	}
	return v, nil
}

// parseKey reads a signer key and derives its public key, which the note
// package does not expose.
func parseKey(skey string) (Key, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return Key{}, fmt.Errorf("not a signing key (want PRIVATE+KEY+<name>+<hash>+<key>): %w", err)
	}
	// NewSigner checked the shape: the last field is base64 of the
	// algorithm byte (1, Ed25519) and the 32-byte seed.
	// Split into the five fields: the base64 key itself may contain '+'.
	fields := strings.SplitN(skey, "+", 5)
	if len(fields) != 5 {
		return Key{}, errors.New("not an Ed25519 signing key")
	}
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return Key{}, errors.New("not an Ed25519 signing key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return Key{}, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Key{}, err
	}
	return Key{Signer: signer, VerifierKey: vkey, Verifier: v}, nil
}
