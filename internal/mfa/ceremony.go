package mfa

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The two kinds of ceremony, as stored.
const (
	kindRegistration = "registration"
	kindLogin        = "login"
)

// maxCredentials bounds a person's keys: a main key and spares, not a
// collection.
const maxCredentials = 10

// maxPending bounds one person's unfinished ceremonies (several tabs, a
// retry); older ones are dropped when a new one begins.
const maxPending = 8

// MaxResponseBytes bounds the browser's answer. Real ones are a few KB; a
// TPM attestation with its certificate chain stays well under this.
const MaxResponseBytes = 64 << 10

// BeginRegistration starts registering a new key for p. It returns the
// ceremony's id, which the browser sends back to FinishRegistration, and
// the options for navigator.credentials.create as JSON ({"publicKey": …}).
// Keys p already has are excluded, so the browser refuses to register the
// same key twice.
func (s *Service) BeginRegistration(ctx context.Context, p Person) (string, json.RawMessage, error) {
	if err := checkPerson(p); err != nil {
		return "", nil, err
	}
	rs, err := records(ctx, s.db, p.ID)
	if err != nil {
		return "", nil, err
	}
	if len(rs) >= maxCredentials {
		return "", nil, fault.Conflictf("%s already has %d security keys, the most allowed; remove one before adding another", p.ID, len(rs))
	}
	var exclude []protocol.CredentialDescriptor
	for _, r := range rs {
		if r.RPID == s.rpID {
			wc := r.webauthn()
			exclude = append(exclude, wc.Descriptor())
		}
	}
	creation, session, err := s.wa.BeginRegistration(user{p: p}, webauthn.WithExclusions(exclude))
	if err != nil {
		return "", nil, fmt.Errorf("begin key registration for %s: %w", p.ID, err)
	}
	return s.beginCeremony(ctx, p.ID, kindRegistration, "", creation, session)
}

// BeginAssertion starts checking that p holds one of their keys, to finish
// signing in. It returns the ceremony's id and the options for
// navigator.credentials.get as JSON. A person without a usable key gets an
// error wrapping ErrNoCredential (kind NotFound), or ErrPossibleClone
// (Forbidden) when every key they have is blocked.
func (s *Service) BeginAssertion(ctx context.Context, p Person) (string, json.RawMessage, error) {
	return s.BeginAssertionFor(ctx, p, "")
}

// BeginAssertionFor is BeginAssertion for one sensitive action: the
// ceremony only finishes through FinishAssertionFor with the same purpose
// (say "break-glass/approve/ar-123"), so a touch given to confirm one action
// cannot be spent on another.
func (s *Service) BeginAssertionFor(ctx context.Context, p Person, purpose string) (string, json.RawMessage, error) {
	if err := checkPurpose(purpose); err != nil {
		return "", nil, err
	}
	if err := checkPerson(p); err != nil {
		return "", nil, err
	}
	rs, err := records(ctx, s.db, p.ID)
	if err != nil {
		return "", nil, err
	}
	var usable []webauthn.Credential
	blocked, elsewhere := 0, 0
	for _, r := range rs {
		switch {
		case r.RPID != s.rpID:
			elsewhere++
		case r.CloneWarning:
			blocked++
		default:
			usable = append(usable, r.webauthn())
		}
	}
	switch {
	case len(usable) > 0:
	case blocked > 0:
		return "", nil, &fault.Error{Kind: fault.Forbidden, Err: ErrPossibleClone,
			Message: fmt.Sprintf("every security key of %s is blocked because it may have been cloned; an operator must remove the blocked keys before a new one can be registered", p.ID)}
	case elsewhere > 0:
		return "", nil, &fault.Error{Kind: fault.NotFound, Err: ErrNoCredential,
			Message: fmt.Sprintf("the security keys of %s were registered for another address of the console, not %s; an operator must remove them before a new key can be registered", p.ID, s.rpID)}
	default:
		return "", nil, &fault.Error{Kind: fault.NotFound, Err: ErrNoCredential,
			Message: fmt.Sprintf("%s has no security key registered; register one first", p.ID)}
	}
	assertion, session, err := s.wa.BeginLogin(user{p: p, creds: usable})
	if err != nil {
		return "", nil, fmt.Errorf("begin key assertion for %s: %w", p.ID, err)
	}
	return s.beginCeremony(ctx, p.ID, kindLogin, purpose, assertion, session)
}

// beginCeremony stores the session and returns the ceremony's id and the
// browser's options.
func (s *Service) beginCeremony(ctx context.Context, personID, kind, purpose string, options any, session *webauthn.SessionData) (string, json.RawMessage, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return "", nil, fmt.Errorf("begin %s for %s: encode options: %w", kind, personID, err)
	}
	sess, err := json.Marshal(session)
	if err != nil {
		return "", nil, fmt.Errorf("begin %s for %s: encode session: %w", kind, personID, err)
	}
	id, err := newCeremonyID()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM people WHERE id = $1`, personID).Scan(&exists)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("no person %q", personID)
		}
		if err != nil {
			return fmt.Errorf("look up person %s: %w", personID, err)
		}
		// Expired ceremonies are swept here rather than by a job: begins
		// are rare, and an expired row is refused at finish anyway.
		if _, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at < $1`, now); err != nil {
			return fmt.Errorf("sweep expired ceremonies: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (id, person_id, kind, purpose, session, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, personID, kind, purpose, string(sess), now, now.Add(s.timeout+ceremonyGrace)); err != nil {
			return fmt.Errorf("store ceremony: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE person_id = $1 AND id NOT IN
			(SELECT id FROM webauthn_ceremonies WHERE person_id = $1 ORDER BY created_at DESC, id LIMIT $2)`, personID, maxPending); err != nil {
			return fmt.Errorf("drop old ceremonies: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("begin %s for %s: %w", kind, personID, err)
	}
	return id, opts, nil
}

func newCeremonyID() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ceremony id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// consume takes the person's pending ceremony of the kind and purpose out
// of the database, in its own transaction: it is gone whether or not the
// answer then checks out, so each challenge is answered at most once.
func (s *Service) consume(ctx context.Context, personID, kind, purpose, id string) (webauthn.SessionData, error) {
	var (
		sess    string
		expires time.Time
	)
	notFound := &fault.Error{Kind: fault.NotFound, Err: ErrNoCeremony,
		Message: "this security-key request is unknown or was already used; start again"}
	if id == "" || len(id) > 64 {
		return webauthn.SessionData{}, notFound
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT session, expires_at FROM webauthn_ceremonies
			WHERE id = $1 AND person_id = $2 AND kind = $3 AND purpose = $4`, id, personID, kind, purpose).Scan(&sess, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound
		}
		if err != nil {
			return fmt.Errorf("read ceremony: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("use ceremony: %w", err)
		}
		// Another replica finishing the same ceremony at the same moment
		// deleted it first.
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("use ceremony: %w", err)
		} else if n != 1 {
			return notFound
		}
		return nil
	})
	if err != nil {
		return webauthn.SessionData{}, err
	}
	if now := s.now(); now.After(expires) {
		return webauthn.SessionData{}, &fault.Error{Kind: fault.Conflict, Err: ErrCeremonyExpired,
			Message: fmt.Sprintf("this security-key request expired %s ago (it lasts %s); start again", now.Sub(expires).Round(time.Second), s.timeout)}
	}
	var session webauthn.SessionData
	if err := json.Unmarshal([]byte(sess), &session); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("decode ceremony %s: %w", id, err)
	}
	return session, nil
}

// maxPurpose bounds a ceremony's purpose: an action and an id, not a text.
const maxPurpose = 200

func checkPurpose(purpose string) error {
	if len(purpose) > maxPurpose {
		return fault.InvalidField("purpose", "the purpose of a security-key check is %d bytes; at most %d are allowed", len(purpose), maxPurpose)
	}
	return nil
}

func checkBody(body []byte) error {
	if len(body) == 0 {
		return fault.InvalidField("credential", "the browser sent no answer from the security key")
	}
	if len(body) > MaxResponseBytes {
		return fault.InvalidField("credential", "the browser's answer is %d bytes; at most %d are accepted", len(body), MaxResponseBytes)
	}
	return nil
}

// FinishRegistration checks the browser's answer (the JSON of the
// PublicKeyCredential navigator.credentials.create returned) to the
// ceremony and stores the new key under name (a default when empty). also
// (may be nil) runs in the transaction that stores it.
func (s *Service) FinishRegistration(ctx context.Context, p Person, ceremonyID string, body []byte, name string, also Also) (Credential, error) {
	if err := checkPerson(p); err != nil {
		return Credential{}, err
	}
	now := s.now()
	// Input a person can correct is checked before the ceremony is used
	// up, so fixing it does not mean touching the key again.
	name, err := keyName(name, now)
	if err != nil {
		return Credential{}, err
	}
	if err := checkBody(body); err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return Credential{}, verifyFailure(fault.Invalid, "registration", err)
	}
	session, err := s.consume(ctx, p.ID, kindRegistration, "", ceremonyID)
	if err != nil {
		return Credential{}, err
	}
	wc, err := s.wa.CreateCredential(user{p: p}, session, parsed)
	if err != nil {
		return Credential{}, verifyFailure(fault.Invalid, "registration", err)
	}
	r := record{
		Credential: Credential{
			ID: encodeID(wc.ID), PersonID: p.ID, Name: name, RPID: s.rpID,
			AAGUID: formatAAGUID(wc.Authenticator.AAGUID), AttestationType: wc.AttestationType,
			AttestationFormat: wc.AttestationFormat, Attachment: string(wc.Authenticator.Attachment),
			SignCount: wc.Authenticator.SignCount, UserVerified: wc.Flags.UserVerified,
			BackupEligible: wc.Flags.BackupEligible, BackupState: wc.Flags.BackupState, CreatedAt: now,
		},
		rawID: wc.ID, publicKey: wc.PublicKey, aaguid: wc.Authenticator.AAGUID, flags: wc.Flags.ProtocolValue(),
	}
	if r.aaguid == nil {
		r.aaguid = []byte{}
	}
	for _, t := range wc.Transport {
		r.Transports = append(r.Transports, string(t))
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM webauthn_credentials WHERE person_id = $1`, p.ID).Scan(&n); err != nil {
			return fmt.Errorf("count security keys: %w", err)
		}
		if n >= maxCredentials {
			return fault.Conflictf("%s already has %d security keys, the most allowed; remove one before adding another", p.ID, n)
		}
		if err := insertRecord(ctx, tx, r); err != nil {
			return err
		}
		if also != nil {
			return also(tx, r.Credential)
		}
		return nil
	})
	if err != nil {
		return Credential{}, fmt.Errorf("register security key for %s: %w", p.ID, err)
	}
	return r.Credential, nil
}

// FinishAssertion checks the browser's answer (the JSON of the
// PublicKeyCredential navigator.credentials.get returned) to a ceremony
// BeginAssertion began, and on success records the key's new signature
// counter and the time. also (may be nil) runs in that transaction: a
// second factor whose audit record cannot be written does not count, and
// the caller can mark its session's second factor there too.
//
// A counter that did not go up means a copy of the key may be in someone
// else's hands: the key is then blocked for good and the error wraps
// ErrPossibleClone (kind Forbidden).
func (s *Service) FinishAssertion(ctx context.Context, p Person, ceremonyID string, body []byte, also Also) (Credential, error) {
	return s.FinishAssertionFor(ctx, p, "", ceremonyID, body, also)
}

// FinishAssertionFor is FinishAssertion for a ceremony BeginAssertionFor
// began with the same purpose; any other ceremony is refused as unknown.
func (s *Service) FinishAssertionFor(ctx context.Context, p Person, purpose, ceremonyID string, body []byte, also Also) (Credential, error) {
	if err := checkPurpose(purpose); err != nil {
		return Credential{}, err
	}
	if err := checkPerson(p); err != nil {
		return Credential{}, err
	}
	if err := checkBody(body); err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return Credential{}, verifyFailure(fault.Invalid, "answer", err)
	}
	session, err := s.consume(ctx, p.ID, kindLogin, purpose, ceremonyID)
	if err != nil {
		return Credential{}, err
	}
	rs, err := records(ctx, s.db, p.ID)
	if err != nil {
		return Credential{}, err
	}
	creds := make([]webauthn.Credential, len(rs))
	for i, r := range rs {
		creds[i] = r.webauthn()
	}
	wc, err := s.wa.ValidateLogin(user{p: p, creds: creds}, session, parsed)
	if err != nil {
		return Credential{}, verifyFailure(fault.Forbidden, "answer", err)
	}
	var stored record
	for _, r := range rs {
		if string(r.rawID) == string(wc.ID) {
			stored = r
		}
	}
	if stored.rawID == nil {
		return Credential{}, fmt.Errorf("finish assertion for %s: validated key %s is not among the stored ones", p.ID, encodeID(wc.ID))
	}
	presented := parsed.Response.AuthenticatorData.Counter
	if stored.CloneWarning {
		return Credential{}, &fault.Error{Kind: fault.Forbidden, Err: ErrPossibleClone,
			Message: fmt.Sprintf("security key %q is blocked because it may have been cloned; remove it, register the key again, and report it as possibly compromised", stored.Name)}
	}
	if wc.Authenticator.CloneWarning {
		return Credential{}, s.block(ctx, stored, presented)
	}
	now := s.now()
	updated := stored
	updated.SignCount = wc.Authenticator.SignCount
	updated.flags = wc.Flags.ProtocolValue()
	updated.UserVerified = wc.Flags.UserVerified
	updated.BackupState = wc.Flags.BackupState
	updated.LastUsedAt = &now
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// The counter only moves forward, checked in the statement itself
		// so two replicas cannot both accept answers with the same count.
		// Keys without a counter always answer 0.
		cond := `sign_count < $1`
		if updated.SignCount == 0 {
			cond = `sign_count = $1`
		}
		res, err := tx.ExecContext(ctx, `UPDATE webauthn_credentials
			SET sign_count = $1, flags = $2, user_verified = $3, backup_state = $4, last_used_at = $5
			WHERE id = $6 AND person_id = $7 AND NOT clone_warning AND `+cond,
			int64(updated.SignCount), int64(updated.flags), updated.UserVerified, updated.BackupState, now, stored.rawID, p.ID)
		if err != nil {
			return fmt.Errorf("record use of security key: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("record use of security key: %w", err)
		}
		if n != 1 {
			return fault.Conflictf("security key %q was removed, blocked or used by another sign-in at the same moment; start again", stored.Name)
		}
		if also != nil {
			return also(tx, updated.Credential)
		}
		return nil
	})
	if err != nil {
		return Credential{}, fmt.Errorf("finish assertion for %s: %w", p.ID, err)
	}
	return updated.Credential, nil
}

// block marks a key whose counter did not go up, and returns the error
// that tells the person.
func (s *Service) block(ctx context.Context, r record, presented uint32) error {
	refused := &fault.Error{Kind: fault.Forbidden, Err: ErrPossibleClone,
		Message: fmt.Sprintf("security key %q answered with signature counter %d, but %d was already seen: it may have been cloned, so it is now blocked; "+
			"remove it, register the key again, and report it as possibly compromised", r.Name, presented, r.SignCount)}
	_, err := s.db.ExecContext(ctx, `UPDATE webauthn_credentials SET clone_warning = TRUE WHERE id = $1 AND person_id = $2`, r.rawID, r.PersonID)
	if err != nil {
		// Refused either way; as an internal error it reaches the log, and
		// the next attempt sees the same counter and tries again.
		return fmt.Errorf("security key %s of %s answered counter %d after %d and could not be blocked: %w",
			r.ID, r.PersonID, presented, r.SignCount, err)
	}
	return refused
}
