package simcloud

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"
)

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s3_buckets (
	name TEXT PRIMARY KEY, region TEXT NOT NULL, lock_enabled INTEGER NOT NULL, lock_mode TEXT NOT NULL DEFAULT '',
	lock_days INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS s3_objects (
	bucket TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL, modified_at INTEGER NOT NULL,
	retain_until INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (bucket, key, version));
CREATE TABLE IF NOT EXISTS swift_containers (
	account TEXT NOT NULL, name TEXT NOT NULL, region TEXT NOT NULL, meta TEXT NOT NULL, created_at INTEGER NOT NULL,
	PRIMARY KEY (account, name));
CREATE TABLE IF NOT EXISTS create_requests (
	id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
	requested_at INTEGER NOT NULL, completes_at INTEGER NOT NULL,
	state TEXT NOT NULL, account_id TEXT, failure_reason TEXT, completed_at INTEGER);
CREATE INDEX IF NOT EXISTS create_requests_pending ON create_requests (state, completes_at);
CREATE TABLE IF NOT EXISTS accounts (
	id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
	status TEXT NOT NULL, parent_id TEXT NOT NULL, joined_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS units (
	id TEXT PRIMARY KEY, parent_id TEXT NOT NULL, name TEXT NOT NULL, UNIQUE (parent_id, name));
CREATE TABLE IF NOT EXISTS policies (
	id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policy_attachments (
	policy_id TEXT NOT NULL, target_id TEXT NOT NULL, PRIMARY KEY (policy_id, target_id));
CREATE TABLE IF NOT EXISTS tags (
	resource_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (resource_id, key));
CREATE TABLE IF NOT EXISTS permission_sets (
	arn TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL,
	session_duration TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
	id TEXT PRIMARY KEY, display_name TEXT NOT NULL UNIQUE, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
	id TEXT PRIMARY KEY, user_name TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
	family_name TEXT NOT NULL, given_name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS group_memberships (
	id TEXT PRIMARY KEY, group_id TEXT NOT NULL, user_id TEXT NOT NULL, UNIQUE (group_id, user_id));
CREATE TABLE IF NOT EXISTS assignments (
	account_id TEXT NOT NULL, permission_set_arn TEXT NOT NULL, principal_type TEXT NOT NULL, principal_id TEXT NOT NULL,
	PRIMARY KEY (account_id, permission_set_arn, principal_type, principal_id));
CREATE TABLE IF NOT EXISTS assignment_operations (
	id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, failure_reason TEXT NOT NULL,
	account_id TEXT NOT NULL, permission_set_arn TEXT NOT NULL, principal_type TEXT NOT NULL, principal_id TEXT NOT NULL,
	created_at INTEGER NOT NULL, completes_at INTEGER NOT NULL, fails INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS assignment_operations_pending ON assignment_operations (status, completes_at);
CREATE TABLE IF NOT EXISTS permission_set_policies (
	arn TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, kind, value));
CREATE TABLE IF NOT EXISTS permission_set_revisions (arn TEXT PRIMARY KEY, revision INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS permission_set_provisioned (
	account_id TEXT NOT NULL, arn TEXT NOT NULL, revision INTEGER NOT NULL, PRIMARY KEY (account_id, arn));
CREATE TABLE IF NOT EXISTS provisioning_operations (
	id TEXT PRIMARY KEY, arn TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL, status TEXT NOT NULL,
	created_at INTEGER NOT NULL, completes_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
	account_id TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL, title TEXT NOT NULL,
	email TEXT NOT NULL, phone TEXT NOT NULL, PRIMARY KEY (account_id, type));
CREATE TABLE IF NOT EXISTS kms_key_stores (
	id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, connectivity TEXT NOT NULL,
	uri_endpoint TEXT NOT NULL, uri_path TEXT NOT NULL, access_key_id TEXT NOT NULL, secret TEXT NOT NULL,
	state TEXT NOT NULL, error_code TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (uri_endpoint, uri_path));
CREATE TABLE IF NOT EXISTS kms_keys (
	id TEXT PRIMARY KEY, store_id TEXT NOT NULL, xks_key_id TEXT NOT NULL, description TEXT NOT NULL,
	created_at INTEGER NOT NULL, UNIQUE (store_id, xks_key_id));
CREATE TABLE IF NOT EXISTS create_failures (request_id TEXT PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS closures (account_id TEXT PRIMARY KEY, requested_at INTEGER NOT NULL, suspends_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inventory_overrides (
	account_id TEXT NOT NULL, resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, item TEXT NOT NULL,
	PRIMARY KEY (account_id, resource_type, resource_id));
`

// init creates the schema and, on first use, the organisation's root and
// the Identity Center instance, whose ids then stay fixed for this database.
func (s *Server) init(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, schema+cfnSchema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	fixed := map[string]*string{"root_id": &s.rootID, "instance_arn": &s.instanceARN, "identity_store_id": &s.identityStoreID}
	fresh := map[string]string{
		"root_id":           "r-" + randomID(lowerAlnum, 4),
		"instance_arn":      "arn:aws:sso:::instance/ssoins-" + randomID(hexDigits, 16),
		"identity_store_id": "d-" + randomID(hexDigits, 10),
	}
	// AWS's own SCP, attached to the root and to every account and unit
	// created while SCPs are enabled: it holds one of each target's five
	// slots.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO policies (id, name, description, type, content) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		fullAWSAccessID, "FullAWSAccess", "Allows access to every operation", "SERVICE_CONTROL_POLICY",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`); err != nil {
		return fmt.Errorf("init FullAWSAccess: %w", err)
	}
	for key, dst := range fixed {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, fresh[key]); err != nil {
			return fmt.Errorf("init %s: %w", key, err)
		}
		if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(dst); err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO policy_attachments (policy_id, target_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, fullAWSAccessID, s.rootID); err != nil {
		return fmt.Errorf("init FullAWSAccess: %w", err)
	}
	return nil
}

// fullAWSAccessID is the id AWS gives its FullAWSAccess SCP in every
// organisation.
const fullAWSAccessID = "p-FullAWSAccess"

// settle completes every account creation whose latency has passed. Time,
// not a background goroutine, drives creation, so a stopped and restarted
// simulated cloud continues exactly where it was.
func (s *Server) settle(ctx context.Context, tx *sql.Tx) error {
	now := s.cfg.Now().UnixNano()
	// In completion order, and among equal times in the order the requests
	// arrived: of two creations with one e-mail, the earlier wins.
	type due struct {
		id, name, email string
		at              int64
	}
	dues, err := queryAll(ctx, tx, func(rows *sql.Rows) (due, error) {
		var d due
		return d, rows.Scan(&d.id, &d.name, &d.email, &d.at)
	}, `SELECT id, name, email, completes_at FROM create_requests
		WHERE state = 'IN_PROGRESS' AND completes_at <= ? ORDER BY completes_at, rowid`, now)
	if err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	for _, d := range dues {
		var injected sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT reason FROM create_failures WHERE request_id = ?`, d.id).Scan(&injected); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("settle %s: %w", d.id, err)
		}
		if injected.Valid {
			if _, err := tx.ExecContext(ctx, `UPDATE create_requests SET state = 'FAILED', failure_reason = ?, completed_at = ? WHERE id = ?`, injected.String, d.at, d.id); err != nil {
				return fmt.Errorf("settle %s: %w", d.id, err)
			}
			continue
		}
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE email = ?`, d.email).Scan(&taken); err != nil {
			return fmt.Errorf("settle %s: %w", d.id, err)
		}
		if taken > 0 {
			// AWS checks the e-mail asynchronously: the request is accepted
			// and fails later, as here.
			if _, err := tx.ExecContext(ctx, `UPDATE create_requests SET state = 'FAILED', failure_reason = 'EMAIL_ALREADY_EXISTS', completed_at = ? WHERE id = ?`, d.at, d.id); err != nil {
				return fmt.Errorf("settle %s: %w", d.id, err)
			}
			continue
		}
		accountID, err := s.newAccountID(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, name, email, status, parent_id, joined_at) VALUES (?, ?, ?, 'ACTIVE', ?, ?)`,
			accountID, d.name, d.email, s.rootID, d.at); err != nil {
			return fmt.Errorf("settle %s: %w", d.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE create_requests SET state = 'SUCCEEDED', account_id = ?, completed_at = ? WHERE id = ?`, accountID, d.at, d.id); err != nil {
			return fmt.Errorf("settle %s: %w", d.id, err)
		}
		// Tags given to CreateAccount move to the account.
		if _, err := tx.ExecContext(ctx, `UPDATE tags SET resource_id = ? WHERE resource_id = ?`, accountID, d.id); err != nil {
			return fmt.Errorf("settle %s: %w", d.id, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO policy_attachments (policy_id, target_id) VALUES (?, ?)`, fullAWSAccessID, accountID); err != nil {
			return fmt.Errorf("settle %s: %w", d.id, err)
		}
	}
	// Closed accounts leave PENDING_CLOSURE for SUSPENDED.
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET status = 'SUSPENDED' WHERE status = 'PENDING_CLOSURE'
		AND id IN (SELECT account_id FROM closures WHERE suspends_at <= ?)`, now); err != nil {
		return fmt.Errorf("settle closures: %w", err)
	}
	if err := s.settleStacks(ctx, tx); err != nil {
		return err
	}
	return s.settleIdentityCenter(ctx, tx)
}

func (s *Server) newAccountID(ctx context.Context, tx *sql.Tx) (string, error) {
	for {
		id := randomID(digits, 12)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, id).Scan(&n); err != nil {
			return "", fmt.Errorf("new account id: %w", err)
		}
		if n == 0 {
			return id, nil
		}
	}
}

// page is offset pagination with AWS-style opaque NextToken values.
type page struct {
	offset, limit int
}

func parsePage(token *string, maxResults *int, defaultLimit, maxLimit int, invalid func(string) error) (page, error) {
	p := page{limit: defaultLimit}
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > maxLimit {
			return p, invalid(fmt.Sprintf("MaxResults must be between 1 and %d", maxLimit))
		}
		p.limit = *maxResults
	}
	if token != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*token)
		n, convErr := strconv.Atoi(string(raw))
		if err != nil || convErr != nil || n < 0 {
			return p, invalid("the NextToken is not one this service issued")
		}
		p.offset = n
	}
	return p, nil
}

// next returns the token for the page after this one, or nil when the
// query returned no more than a page (queries fetch limit+1 rows).
func (p page) next(fetched int) *string {
	if fetched <= p.limit {
		return nil
	}
	t := base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(p.offset + p.limit)))
	return &t
}

// queryAll runs a query in tx and scans every row with scan. The result is
// never nil, so an empty list encodes as [] as AWS answers.
func queryAll[T any](ctx context.Context, tx *sql.Tx, scan func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanString(rows *sql.Rows) (string, error) {
	var s string
	err := rows.Scan(&s)
	return s, err
}

// trimPage cuts the extra row a query fetched to learn whether another
// page follows, and returns the token for it.
func trimPage[T any](p page, items []T) ([]T, *string) {
	next := p.next(len(items))
	if len(items) > p.limit {
		items = items[:p.limit]
	}
	return items, next
}

// field validation shared by the services, each reporting in its
// service's own error shape through the invalid callback.

type validator struct {
	invalid func(field, reason, msg string) error
	err     error
}

func (v *validator) required(field string, val *string) bool {
	if v.err != nil {
		return false
	}
	if val == nil || *val == "" {
		v.err = v.invalid(field, "INPUT_REQUIRED", field+" is required")
		return false
	}
	return true
}

func (v *validator) length(field string, val *string, lo, hi int) {
	if v.err != nil || val == nil {
		return
	}
	n := utf8.RuneCountInString(*val)
	switch {
	case n < lo:
		v.err = v.invalid(field, "MIN_LENGTH_EXCEEDED", fmt.Sprintf("%s must be at least %d characters", field, lo))
	case n > hi:
		v.err = v.invalid(field, "MAX_LENGTH_EXCEEDED", fmt.Sprintf("%s must be at most %d characters", field, hi))
	}
}

func (v *validator) pattern(field string, val *string, re *regexp.Regexp) {
	if v.err != nil || val == nil {
		return
	}
	if !re.MatchString(*val) {
		v.err = v.invalid(field, "INVALID_PATTERN", fmt.Sprintf("%s %q does not match %s", field, *val, re))
	}
}

func (v *validator) oneOf(field string, val *string, allowed ...string) {
	if v.err != nil || val == nil {
		return
	}
	for _, a := range allowed {
		if *val == a {
			return
		}
	}
	v.err = v.invalid(field, "INVALID_ENUM", fmt.Sprintf("%s %q is not one of %v", field, *val, allowed))
}

func exists(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	return n > 0, nil
}
