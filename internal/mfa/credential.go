package mfa

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Credential is one registered security key, as a person's key list and an
// audit record show it. The public key stays inside the package.
type Credential struct {
	// ID is the credential ID in unpadded base64url, as the browser sees it.
	ID       string `json:"id"`
	PersonID string `json:"person_id"`
	// Name is what the person called the key ("blue YubiKey").
	Name string `json:"name"`
	// RPID is the host the key was registered for.
	RPID string `json:"rp_id"`
	// AAGUID names the authenticator model (all zeros when it keeps that
	// private, as most do without attestation).
	AAGUID            string   `json:"aaguid"`
	AttestationType   string   `json:"attestation_type,omitempty"`
	AttestationFormat string   `json:"attestation_format,omitempty"`
	Transports        []string `json:"transports,omitempty"`
	Attachment        string   `json:"attachment,omitempty"`
	SignCount         uint32   `json:"sign_count"`
	UserVerified      bool     `json:"user_verified"`
	// BackupEligible and BackupState tell a synced passkey (which may live
	// on several devices) from a key bound to one device.
	BackupEligible bool `json:"backup_eligible"`
	BackupState    bool `json:"backup_state"`
	// CloneWarning is set once the key's counter failed to go up; the key
	// is refused until it is removed and registered again.
	CloneWarning bool       `json:"clone_warning"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsedAt   *time.Time `json:"last_used_at,omitempty"`
}

// record is a stored credential: what the person sees and what
// go-webauthn needs to check an assertion.
type record struct {
	Credential
	rawID     []byte
	publicKey []byte
	aaguid    []byte
	flags     protocol.AuthenticatorFlags
}

// webauthn rebuilds the library's view of the stored credential.
func (r record) webauthn() webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(r.Transports))
	for i, t := range r.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:                r.rawID,
		PublicKey:         r.publicKey,
		AttestationType:   r.AttestationType,
		AttestationFormat: r.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(r.flags),
		Authenticator: webauthn.Authenticator{
			AAGUID:       r.aaguid,
			SignCount:    r.SignCount,
			CloneWarning: r.CloneWarning,
			Attachment:   protocol.AuthenticatorAttachment(r.Attachment),
		},
	}
}

func encodeID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// decodeID reads a credential ID as the browser and Credential.ID give it.
func decodeID(id string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil || len(raw) == 0 || len(raw) > 1023 {
		return nil, fault.InvalidField("credential_id", "%q is not a security key's credential ID (unpadded base64url, 1 to 1023 bytes)", id)
	}
	return raw, nil
}

// formatAAGUID writes 16 bytes in the usual UUID form.
func formatAAGUID(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

//nolint:gosec // G101: a list of column names, no credential
const credentialColumns = `id, person_id, rp_id, name, public_key, attestation_type, attestation_format, aaguid,
	sign_count, clone_warning, flags, user_verified, backup_eligible, backup_state, transports, attachment,
	created_at, last_used_at`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(s scanner) (record, error) {
	var (
		r          record
		signCount  int64
		flags      int64
		transports string
		lastUsed   sql.NullTime
	)
	err := s.Scan(&r.rawID, &r.PersonID, &r.RPID, &r.Name, &r.publicKey, &r.AttestationType, &r.AttestationFormat,
		&r.aaguid, &signCount, &r.CloneWarning, &flags, &r.UserVerified, &r.BackupEligible, &r.BackupState,
		&transports, &r.Attachment, &r.CreatedAt, &lastUsed)
	if err != nil {
		return record{}, err
	}
	if signCount < 0 || signCount > 1<<32-1 || flags < 0 || flags > 0xff {
		return record{}, fmt.Errorf("credential %s: stored sign count %d or flags %d out of range", encodeID(r.rawID), signCount, flags)
	}
	r.ID = encodeID(r.rawID)
	r.SignCount = uint32(signCount)
	r.flags = protocol.AuthenticatorFlags(flags)
	r.AAGUID = formatAAGUID(r.aaguid)
	if transports != "" {
		r.Transports = strings.Split(transports, ",")
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if lastUsed.Valid {
		t := lastUsed.Time.UTC()
		r.LastUsedAt = &t
	}
	return r, nil
}

// records lists a person's stored keys, oldest first.
func records(ctx context.Context, q store.Querier, personID string) ([]record, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+credentialColumns+` FROM webauthn_credentials
		WHERE person_id = $1 ORDER BY created_at, id`, personID)
	if err != nil {
		return nil, fmt.Errorf("list security keys of %s: %w", personID, err)
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list security keys of %s: %w", personID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list security keys of %s: %w", personID, err)
	}
	return out, nil
}

func recordByID(ctx context.Context, q store.Querier, personID string, rawID []byte) (record, error) {
	r, err := scanRecord(q.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM webauthn_credentials
		WHERE id = $1 AND person_id = $2`, rawID, personID))
	if errors.Is(err, sql.ErrNoRows) {
		return record{}, &fault.Error{Kind: fault.NotFound, Err: ErrNoCredential,
			Message: fmt.Sprintf("%s has no security key with ID %s; it may have been removed", personID, encodeID(rawID))}
	}
	if err != nil {
		return record{}, fmt.Errorf("read security key %s of %s: %w", encodeID(rawID), personID, err)
	}
	return r, nil
}

func insertRecord(ctx context.Context, tx *store.Tx, r record) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO webauthn_credentials (`+credentialColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		r.rawID, r.PersonID, r.RPID, r.Name, r.publicKey, r.AttestationType, r.AttestationFormat, r.aaguid,
		int64(r.SignCount), r.CloneWarning, int64(r.flags), r.UserVerified, r.BackupEligible, r.BackupState,
		strings.Join(r.Transports, ","), r.Attachment, r.CreatedAt, nullTime(r.LastUsedAt))
	if store.IsUniqueViolation(err) {
		return fault.Conflictf("this security key's credential is already registered; register the key again to get a new one")
	}
	if err != nil {
		return fmt.Errorf("store security key of %s: %w", r.PersonID, err)
	}
	return nil
}

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}

// Credentials lists a person's security keys, oldest first, blocked ones
// included so the person sees why a key stopped working.
func (s *Service) Credentials(ctx context.Context, personID string) ([]Credential, error) {
	rs, err := records(ctx, s.db, personID)
	if err != nil {
		return nil, err
	}
	out := make([]Credential, len(rs))
	for i, r := range rs {
		out[i] = r.Credential
	}
	return out, nil
}

// HasCredential reports whether the person has registered any security key,
// usable or blocked. Blocked keys count: a person whose only key was
// flagged as possibly cloned must not be able to enrol a fresh one with
// the card alone; an operator removes the blocked key first.
func (s *Service) HasCredential(ctx context.Context, personID string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webauthn_credentials WHERE person_id = $1`, personID).Scan(&n); err != nil {
		return false, fmt.Errorf("count security keys of %s: %w", personID, err)
	}
	return n > 0, nil
}

// Remove deletes one of the person's keys; also (may be nil) runs in the
// same transaction with the removed key. Removing the last key leaves the
// person without a second factor: whether that is allowed, and whether a
// fresh assertion is needed first, is the caller's policy.
func (s *Service) Remove(ctx context.Context, personID, credentialID string, also Also) error {
	rawID, err := decodeID(credentialID)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		r, err := recordByID(ctx, tx, personID, rawID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webauthn_credentials WHERE id = $1 AND person_id = $2`, rawID, personID)
		if err != nil {
			return fmt.Errorf("remove security key %s of %s: %w", r.ID, personID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("remove security key %s of %s: %d rows removed (%v)", r.ID, personID, n, err) //nolint:errorlint // err is often nil here: %w would print %!w(<nil>)
		}
		if also != nil {
			return also(tx, r.Credential)
		}
		return nil
	})
}

// maxName bounds a key's name in characters.
const maxName = 64

// keyName checks the name a person gave a key; an empty one becomes
// "Security key" and the date.
func keyName(name string, now time.Time) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Security key " + now.Format("2006-01-02"), nil
	}
	if !utf8.ValidString(name) {
		return "", fault.InvalidField("name", "the key's name is not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", fault.InvalidField("name", "the key's name contains a control character (%U)", r)
		}
	}
	if n := utf8.RuneCountInString(name); n > maxName {
		return "", fault.InvalidField("name", "the key's name is %d characters long; at most %d are allowed", n, maxName)
	}
	return name, nil
}
