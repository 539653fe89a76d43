// Package identity knows who people are: the people themselves, the
// invitations that bind a smart card's certificate to a person, console
// sessions and short-lived API tokens. It turns a verified certificate or a
// presented secret into an authz.Principal; what that principal may do is
// package authz's business.
//
// No user secret lives long: sessions end after a working day, API tokens
// after minutes, invitations after days, and the database holds only SHA-256
// hashes of each, so a copy of it logs nobody in.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// PersonState is where a person is in their life cycle.
type PersonState string

const (
	Invited  PersonState = "invited"  // invitation sent, no certificate bound yet
	Active   PersonState = "active"   // may sign in
	Disabled PersonState = "disabled" // may not sign in; history kept
)

// Person is someone who signs in.
type Person struct {
	ID          string      `json:"id"`
	OrgID       string      `json:"org_id,omitempty"`
	Role        authz.Role  `json:"role"`
	DisplayName string      `json:"display_name"`
	Email       string      `json:"email,omitempty"`
	State       PersonState `json:"state"`
	InvitedBy   string      `json:"invited_by,omitempty"`
	// KeyOwner: this tenant administrator controls the organisation's
	// keys in the key service (docs/keys.md).
	KeyOwner  bool      `json:"key_owner"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Certificate is what identity keeps of a verified client certificate: a
// card's authentication certificate may carry no name, so issuer and serial
// name it and the public key's hash pins it.
type Certificate struct {
	IssuerDN   string
	Serial     string
	SPKISHA256 [32]byte
	SubjectDN  string
	NotAfter   time.Time
}

// SessionKind tells console sessions from API tokens.
type SessionKind string

const (
	ConsoleSession SessionKind = "console"
	APIToken       SessionKind = "token"
)

// Session is a signed-in console session or an API token.
type Session struct {
	Kind           SessionKind
	PersonID       string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	SecondFactorAt time.Time
	// CertIssuerDN and CertSerial name the certificate the session was
	// opened with; the console refuses the session on a connection that
	// presents another.
	CertIssuerDN string
	CertSerial   string
}

// Options are the lifetimes of identity's secrets.
type Options struct {
	SessionTTL    time.Duration
	TokenTTL      time.Duration
	InvitationTTL time.Duration
	ChallengeTTL  time.Duration
}

// Service is the identity capability.
type Service struct {
	db   *store.DB
	opts Options
	now  func() time.Time
}

// New returns the identity service. Every change it makes is appended to
// the audit log in the change's own transaction.
func New(db *store.DB, opts Options, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if opts.ChallengeTTL == 0 {
		opts.ChallengeTTL = 2 * time.Minute
	}
	return &Service{db: db, opts: opts, now: now}
}

// newSecret returns a random secret with a readable prefix, so a leaked one
// is recognisable in a scanner, and its hash for storage.
func newSecret(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("random secret: %w", err)
	}
	s := prefix + base64.RawURLEncoding.EncodeToString(b)
	return s, hashSecret(s), nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Invitation asks a person to bind their card to hatoba.
type Invitation struct {
	OrgID       string
	Role        authz.Role
	DisplayName string
	Email       string
}

func (inv Invitation) validate() error {
	if !inv.Role.Valid() {
		return fault.InvalidField("role", "role must be one of central-operator, central-auditor, tenant-admin, tenant-member, not %q", inv.Role)
	}
	if inv.Role.Central() && inv.OrgID != "" {
		return fault.InvalidField("org_id", "%s is a central role: it belongs to no organisation, so leave org_id empty", inv.Role)
	}
	if !inv.Role.Central() && inv.OrgID == "" {
		return fault.InvalidField("org_id", "%s needs the organisation the person works for", inv.Role)
	}
	name := strings.TrimSpace(inv.DisplayName)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return fault.InvalidField("display_name", "display_name must be 1 to 100 characters")
	}
	if inv.Email != "" {
		if a, err := mail.ParseAddress(inv.Email); err != nil || a.Address != inv.Email {
			return fault.InvalidField("email", "email %q is not an address like name@example.go.jp", inv.Email)
		}
	}
	return nil
}

// mayInvite says which roles a role may invite: tenant admins their own
// people; central operators their colleagues and each organisation's
// first administrator — but never a tenant's members, which is the
// tenant's business.
func mayInvite(inviter, invitee authz.Role) bool {
	switch inviter {
	case authz.CentralOperator:
		return invitee != authz.TenantMember
	case authz.TenantAdmin:
		return invitee == authz.TenantAdmin || invitee == authz.TenantMember
	}
	return false
}

// Invite records a new person as invited and returns the invitation's
// one-time token, which the caller hands to the person (the link opens
// /invitations/{token}). The caller has already authorized by for the
// invitation's organisation.
func (s *Service) Invite(ctx context.Context, by authz.Principal, grantID string, inv Invitation) (Person, string, error) {
	if err := inv.validate(); err != nil {
		return Person{}, "", err
	}
	if !mayInvite(by.Role, inv.Role) {
		return Person{}, "", fault.Forbiddenf("a %s may not invite a %s", by.Role, inv.Role)
	}
	return s.invite(ctx, by.PersonID, grantID, inv)
}

// Bootstrap invites a person from the command line of the server's own
// machine, where whoever holds the database already holds everything: it
// is how the first central operator comes to be.
func (s *Service) Bootstrap(ctx context.Context, inv Invitation) (Person, string, error) {
	if err := inv.validate(); err != nil {
		return Person{}, "", err
	}
	return s.invite(ctx, "system:cli", "", inv)
}

// BootstrapBound is Bootstrap with the person's certificate bound at once
// (hatoba person invite --cert), in one transaction: a certificate that
// cannot be bound (already another person's) leaves no invitation behind.
func (s *Service) BootstrapBound(ctx context.Context, inv Invitation, cert Certificate) (Person, error) {
	if err := inv.validate(); err != nil {
		return Person{}, err
	}
	var p Person
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		_, token, err := s.inviteIn(ctx, tx, "system:cli", "", inv)
		if err != nil {
			return err
		}
		p, err = s.acceptIn(ctx, tx, token, cert)
		return err
	})
	if err != nil {
		return Person{}, fmt.Errorf("add %s: %w", inv.DisplayName, err)
	}
	return p, nil
}

func (s *Service) invite(ctx context.Context, by, grantID string, inv Invitation) (Person, string, error) {
	var p Person
	var token string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		p, token, err = s.inviteIn(ctx, tx, by, grantID, inv)
		return err
	})
	if err != nil {
		return Person{}, "", fmt.Errorf("invite %s: %w", inv.DisplayName, err)
	}
	return p, token, nil
}

// inviteIn adds the invited person and their invitation within tx.
func (s *Service) inviteIn(ctx context.Context, tx *store.Tx, by, grantID string, inv Invitation) (Person, string, error) {
	id := store.NewID("p")
	invID := store.NewID("i")
	token, hash, err := newSecret("hbi_")
	if err != nil {
		return Person{}, "", err
	}
	now := s.now().UTC()
	p := Person{ID: id, OrgID: inv.OrgID, Role: inv.Role, DisplayName: strings.TrimSpace(inv.DisplayName),
		Email: inv.Email, State: Invited, InvitedBy: by, CreatedAt: now, UpdatedAt: now}
	err = func() error {
		if p.OrgID != "" {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM organizations WHERE id = $1`, p.OrgID).Scan(&one); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return fault.InvalidField("org_id", "no organisation %s", p.OrgID)
				}
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, org_id, role, display_name, email, state, invited_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, p.ID, nullable(p.OrgID), string(p.Role), p.DisplayName, p.Email, string(p.State), by, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (id, token_hash, person_id, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, invID, hash, p.ID, by, now, now.Add(s.opts.InvitationTTL)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by, Action: "person.invite", OrgID: p.OrgID, Target: p.ID, GrantID: grantID,
			Details: map[string]any{"role": p.Role, "display_name": p.DisplayName, "invitation": invID}})
	}()
	if err != nil {
		return Person{}, "", err
	}
	return p, token, nil
}

// InvitationFor returns the person an open invitation token names, for the
// acceptance page; it changes nothing.
func (s *Service) InvitationFor(ctx context.Context, token string) (Person, error) {
	var personID string
	var expires time.Time
	var accepted sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT person_id, expires_at, accepted_at FROM invitations WHERE token_hash = $1`,
		hashSecret(token)).Scan(&personID, &expires, &accepted)
	if errors.Is(err, sql.ErrNoRows) {
		return Person{}, fault.NotFoundf("this invitation link is not valid; ask your administrator for a new one")
	}
	if err != nil {
		return Person{}, fmt.Errorf("invitation: %w", err)
	}
	if accepted.Valid {
		return Person{}, fault.Conflictf("this invitation was already accepted; sign in with your card instead")
	}
	if !s.now().Before(expires) {
		return Person{}, fault.Conflictf("this invitation expired on %s; ask your administrator for a new one", expires.UTC().Format(time.RFC3339))
	}
	return s.Person(ctx, personID)
}

// Accept binds cert to the invitation's person and activates them. A
// certificate already bound to someone is refused: one card, one person.
func (s *Service) Accept(ctx context.Context, token string, cert Certificate) (Person, error) {
	var p Person
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		p, err = s.acceptIn(ctx, tx, token, cert)
		return err
	})
	if err != nil {
		return Person{}, fmt.Errorf("accept invitation: %w", err)
	}
	return p, nil
}

// acceptIn binds cert to the person of the invitation token within tx.
func (s *Service) acceptIn(ctx context.Context, tx *store.Tx, token string, cert Certificate) (Person, error) {
	var p Person
	err := func() error {
		var invID, personID string
		var expires time.Time
		var accepted sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT id, person_id, expires_at, accepted_at FROM invitations WHERE token_hash = $1`,
			hashSecret(token)).Scan(&invID, &personID, &expires, &accepted)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("this invitation link is not valid; ask your administrator for a new one")
		}
		if err != nil {
			return err
		}
		now := s.now().UTC()
		switch {
		case accepted.Valid:
			return fault.Conflictf("this invitation was already accepted; sign in with your card instead")
		case !now.Before(expires):
			return fault.Conflictf("this invitation expired; ask your administrator for a new one")
		}
		var owner string
		err = tx.QueryRowContext(ctx, `SELECT person_id FROM person_certificates WHERE issuer_dn = $1 AND serial = $2`,
			cert.IssuerDN, cert.Serial).Scan(&owner)
		if err == nil {
			return fault.Conflictf("this card's certificate is already registered to another person; each card belongs to one person")
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if p, err = personIn(ctx, tx, personID); err != nil {
			return err
		}
		if p.State == Disabled {
			return fault.Forbiddenf("this person is disabled; ask your administrator")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET accepted_at = $1 WHERE id = $2`, now, invID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO person_certificates (issuer_dn, serial, spki_sha256, person_id, subject_dn, not_after, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, cert.IssuerDN, cert.Serial, cert.SPKISHA256[:], personID, cert.SubjectDN, cert.NotAfter.UTC(), now); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.Conflictf("this card's certificate is already registered to another person")
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET state = $1, updated_at = $2 WHERE id = $3`, string(Active), now, personID); err != nil {
			return err
		}
		p.State, p.UpdatedAt = Active, now
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: personID, Action: "person.certificate.bind", OrgID: p.OrgID, Target: personID,
			Details: map[string]any{"issuer": cert.IssuerDN, "serial": cert.Serial, "invitation": invID}})
	}()
	return p, err
}

// SignIn opens a session (console) or issues a token (API, CLI) for the
// person cert is bound to. The certificate has been verified (chain,
// validity, usage, revocation) by the caller.
func (s *Service) SignIn(ctx context.Context, cert Certificate, kind SessionKind, via string) (Person, string, Session, error) {
	var p Person
	var secret string
	var sess Session
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var personID string
		var spki []byte
		err := tx.QueryRowContext(ctx, `SELECT person_id, spki_sha256 FROM person_certificates WHERE issuer_dn = $1 AND serial = $2`,
			cert.IssuerDN, cert.Serial).Scan(&personID, &spki)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.Forbiddenf("this card is not registered with hatoba; open the invitation link your administrator sent you while your card is in the reader")
		}
		if err != nil {
			return err
		}
		// Same issuer and serial with another key is a forged or
		// mis-issued certificate, not this person's card.
		if subtle.ConstantTimeCompare(spki, cert.SPKISHA256[:]) != 1 {
			return fault.Forbiddenf("this certificate's key is not the one registered for it; sign-in refused")
		}
		if p, err = personIn(ctx, tx, personID); err != nil {
			return err
		}
		if p.State != Active {
			return fault.Forbiddenf("this person is %s and may not sign in", p.State)
		}
		var hash []byte
		prefix, ttl := "hbs_", s.opts.SessionTTL
		if kind == APIToken {
			prefix, ttl = "hbt_", s.opts.TokenTTL
		}
		if secret, hash, err = newSecret(prefix); err != nil {
			return err
		}
		now := s.now().UTC()
		sess = Session{Kind: kind, PersonID: personID, CreatedAt: now, ExpiresAt: now.Add(ttl), CertIssuerDN: cert.IssuerDN, CertSerial: cert.Serial}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, person_id, kind, created_at, expires_at, cert_issuer_dn, cert_serial)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, hash, personID, string(kind), now, sess.ExpiresAt, cert.IssuerDN, cert.Serial); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: personID, Action: "session.login", OrgID: p.OrgID, Target: personID,
			Details: map[string]any{"kind": kind, "via": via, "serial": cert.Serial, "expires_at": sess.ExpiresAt}})
	})
	if err != nil {
		return Person{}, "", Session{}, fmt.Errorf("sign in: %w", err)
	}
	return p, secret, sess, nil
}

// Authenticate returns the principal a session secret or token stands for.
// Every failure reads the same to the caller: a probe learns nothing about
// which secrets once existed.
func (s *Service) Authenticate(ctx context.Context, secret string) (authz.Principal, Session, error) {
	denied := fault.Unauthenticatedf("not signed in, or the session expired; sign in again")
	if secret == "" || len(secret) > 200 {
		return authz.Principal{}, Session{}, denied
	}
	var sess Session
	var p Person
	var org sql.NullString
	var second sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT s.kind, s.person_id, s.created_at, s.expires_at, s.second_factor_at, s.cert_issuer_dn, s.cert_serial,
			p.role, p.org_id, p.state, p.key_owner
		FROM sessions s JOIN people p ON p.id = s.person_id WHERE s.id_hash = $1`, hashSecret(secret)).
		Scan(&sess.Kind, &sess.PersonID, &sess.CreatedAt, &sess.ExpiresAt, &second, &sess.CertIssuerDN, &sess.CertSerial,
			&p.Role, &org, &p.State, &p.KeyOwner)
	if errors.Is(err, sql.ErrNoRows) {
		return authz.Principal{}, Session{}, denied
	}
	if err != nil {
		return authz.Principal{}, Session{}, fmt.Errorf("authenticate: %w", err)
	}
	if !s.now().Before(sess.ExpiresAt) || p.State != Active {
		return authz.Principal{}, Session{}, denied
	}
	if second.Valid {
		sess.SecondFactorAt = second.Time
	}
	return authz.Principal{PersonID: sess.PersonID, Role: p.Role, OrgID: org.String, SecondFactorAt: sess.SecondFactorAt,
		KeyOwner: p.KeyOwner && p.Role == authz.TenantAdmin}, sess, nil
}

// ConfirmSecondFactor records that the session's person just passed a
// WebAuthn assertion.
func (s *Service) ConfirmSecondFactor(ctx context.Context, secret string) error {
	now := s.now().UTC()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		personID, orgID, err := sessionOwner(ctx, tx, secret)
		if err != nil {
			return fmt.Errorf("confirm second factor: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET second_factor_at = $1 WHERE id_hash = $2`, now, hashSecret(secret)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: personID, Action: "session.second_factor", OrgID: orgID, Target: personID})
	})
}

// SignOut ends a session or revokes a token.
func (s *Service) SignOut(ctx context.Context, secret string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		personID, orgID, err := sessionOwner(ctx, tx, secret)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // already gone: signing out twice is fine
		}
		if err != nil {
			return fmt.Errorf("sign out: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hashSecret(secret)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: s.now(), Actor: personID, Action: "session.logout", OrgID: orgID, Target: personID})
	})
}

// sessionOwner returns the person a session secret belongs to and their
// organisation, for the session's audit entries.
func sessionOwner(ctx context.Context, tx *store.Tx, secret string) (personID, orgID string, err error) {
	var org sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT s.person_id, p.org_id FROM sessions s JOIN people p ON p.id = s.person_id WHERE s.id_hash = $1`,
		hashSecret(secret)).Scan(&personID, &org)
	return personID, org.String, err
}

// PurgeExpired deletes sessions and challenges past their expiry.
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_challenges WHERE expires_at <= $1`, now); err != nil {
		return n, fmt.Errorf("purge challenges: %w", err)
	}
	return n, nil
}

const personColumns = `id, org_id, role, display_name, email, state, invited_by, key_owner, created_at, updated_at`

func scanPerson(row interface{ Scan(...any) error }) (Person, error) {
	var p Person
	var org sql.NullString
	err := row.Scan(&p.ID, &org, &p.Role, &p.DisplayName, &p.Email, &p.State, &p.InvitedBy, &p.KeyOwner, &p.CreatedAt, &p.UpdatedAt)
	p.OrgID = org.String
	return p, err
}

func personIn(ctx context.Context, q store.Querier, id string) (Person, error) {
	p, err := scanPerson(q.QueryRowContext(ctx, `SELECT `+personColumns+` FROM people WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Person{}, fault.NotFoundf("no person %s", id)
	}
	if err != nil {
		return Person{}, fmt.Errorf("person %s: %w", id, err)
	}
	return p, nil
}

// Person returns one person.
func (s *Service) Person(ctx context.Context, id string) (Person, error) {
	return personIn(ctx, s.db, id)
}

// People lists people: the central staff when central is set, and those of
// the given organisations.
func (s *Service) People(ctx context.Context, central bool, orgIDs []string, all bool) ([]Person, error) {
	q := `SELECT ` + personColumns + ` FROM people`
	var args []any
	if !all {
		var conds []string
		if central {
			conds = append(conds, "org_id IS NULL")
		}
		if len(orgIDs) > 0 {
			conds = append(conds, "org_id IN ("+store.In(&args, orgIDs)+")")
		}
		if len(conds) == 0 {
			return nil, nil
		}
		q += " WHERE " + strings.Join(conds, " OR ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("people: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		p, err := scanPerson(rows)
		if err != nil {
			return nil, fmt.Errorf("people: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// SetDisabled disables a person — their sessions and tokens end at once and
// they cannot sign in — or enables them again. The caller has authorized by
// for the person's organisation; here the rule is who may manage whom (the
// same as who may invite whom), and that nobody disables themselves.
func (s *Service) SetDisabled(ctx context.Context, by authz.Principal, grantID, personID string, disabled bool) (Person, error) {
	var p Person
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = personIn(ctx, tx, personID); err != nil {
			return err
		}
		if !mayInvite(by.Role, p.Role) {
			return fault.Forbiddenf("a %s may not manage a %s", by.Role, p.Role)
		}
		if p.ID == by.PersonID {
			return fault.Forbiddenf("you cannot disable or enable yourself; ask another administrator")
		}
		next, action := Disabled, "person.disable"
		if !disabled {
			action = "person.enable"
			var bound int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM person_certificates WHERE person_id = $1`, p.ID).Scan(&bound); err != nil {
				return err
			}
			next = Invited
			if bound > 0 {
				next = Active
			}
		}
		if p.State == next || disabled && p.State == Disabled {
			return nil // already so: nothing to record
		}
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE people SET state = $1, updated_at = $2 WHERE id = $3`, string(next), now, p.ID); err != nil {
			return err
		}
		if disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE person_id = $1`, p.ID); err != nil {
				return err
			}
		}
		p.State, p.UpdatedAt = next, now
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: action, OrgID: p.OrgID, Target: p.ID, GrantID: grantID})
	})
	if err != nil {
		return Person{}, fmt.Errorf("set person %s disabled=%v: %w", personID, disabled, err)
	}
	return p, nil
}

// SetKeyOwner designates a tenant administrator key owner of its
// organisation, or takes the designation away. The caller has authorized by
// (authz.AssignKeyOwner, which no central role holds) for the person's
// organisation. Nobody designates themselves — another administrator must —
// except the first key owner of an organisation that has none, so a tenant
// with a single administrator can start.
func (s *Service) SetKeyOwner(ctx context.Context, by authz.Principal, personID string, owner bool) (Person, error) {
	var p Person
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = personIn(ctx, tx, personID); err != nil {
			return err
		}
		if p.Role != authz.TenantAdmin {
			return fault.InvalidField("key_owner", "only a tenant administrator can be key owner; %s is a %s", p.ID, p.Role)
		}
		if owner && p.State == Disabled {
			return fault.Conflictf("%s is disabled; enable them first", p.ID)
		}
		if p.KeyOwner == owner {
			return nil // already so: nothing to record
		}
		if p.ID == by.PersonID {
			var owners int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM people WHERE org_id = $1 AND key_owner AND state <> $2`,
				p.OrgID, string(Disabled)).Scan(&owners); err != nil {
				return err
			}
			if !owner || owners > 0 {
				return fault.Forbiddenf("you cannot change your own key owner designation; ask another administrator")
			}
		}
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE people SET key_owner = $1, updated_at = $2 WHERE id = $3`, owner, now, p.ID); err != nil {
			return err
		}
		p.KeyOwner, p.UpdatedAt = owner, now
		action := "person.key_owner.grant"
		if !owner {
			action = "person.key_owner.revoke"
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by.PersonID, Action: action, OrgID: p.OrgID, Target: p.ID})
	})
	if err != nil {
		return Person{}, fmt.Errorf("set person %s key owner=%v: %w", personID, owner, err)
	}
	return p, nil
}
