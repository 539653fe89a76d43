package baseline

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Deploying is the tenant's act, with the tenant's authority: a tenant
// administrator starts a deploy session for one environment (confirmed
// with a fresh security-key assertion or the card), which lasts
// SessionTTL and names the environment's Administrator permission set;
// each deployment within it runs under that set in the environment's
// account. Nothing here deploys on anyone else's behalf: the session is
// the person's own and the decision point lets no central role start one.

// AdministratorSet is the permission set a deployment runs with.
const AdministratorSet = "Administrator"

// Session is a tenant administrator's short-lived authority to deploy
// into one environment.
type Session struct {
	ID            string    `json:"id"`
	EnvID         string    `json:"env_id"`
	OrgID         string    `json:"org_id"`
	PersonID      string    `json:"person_id"`
	PermissionSet string    `json:"permission_set"`
	ConfirmedBy   string    `json:"confirmed_by"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
}

// Deployment states.
const (
	InProgress = "in_progress"
	Succeeded  = "succeeded"
	Failed     = "failed"
)

// Deployment is one deployment of a release into an environment.
type Deployment struct {
	ID             string                `json:"id"`
	EnvID          string                `json:"env_id"`
	OrgID          string                `json:"org_id"`
	Product        string                `json:"product"`
	Version        string                `json:"version"`
	TemplateSHA256 string                `json:"template_sha256"`
	StackName      string                `json:"stack_name"`
	StackID        string                `json:"stack_id"`
	Operation      string                `json:"operation"`
	State          string                `json:"state"`
	StackStatus    string                `json:"stack_status"`
	Reason         string                `json:"reason"`
	SessionID      string                `json:"session_id"`
	DeployedBy     string                `json:"deployed_by"`
	StartedAt      time.Time             `json:"started_at"`
	FinishedAt     *time.Time            `json:"finished_at,omitempty"`
	Events         []provider.StackEvent `json:"events,omitempty"`
}

// Confirmations a session may be started with.
const (
	ConfirmedWebAuthn = "webauthn"
	ConfirmedCard     = "card"
)

// HoldsAdministrator reports whether a person holds an environment's
// Administrator permission set (envaccess, applied); nil in Options lets
// every tenant administrator the decision point admits start a session.
type HoldsAdministrator func(ctx context.Context, envID, personID string) (bool, error)

// readyEnv loads an environment that can take a deployment.
func (s *Service) readyEnv(ctx context.Context, envID string) (env.Environment, error) {
	en, err := s.envs.Get(ctx, s.db, envID)
	if err != nil {
		return env.Environment{}, err
	}
	if en.State != env.Ready || en.AccountID == "" {
		return env.Environment{}, fault.Conflictf("environment %s is %s; a baseline is deployed into a ready environment", en.ID, en.State)
	}
	return en, nil
}

// StartSession starts personID's deploy session for envID. The caller has
// authorized a tenant administrator of the environment's organisation
// with a fresh second factor, confirmedBy says which.
func (s *Service) StartSession(ctx context.Context, personID, envID, confirmedBy string, holds HoldsAdministrator) (Session, error) {
	if confirmedBy != ConfirmedWebAuthn && confirmedBy != ConfirmedCard {
		return Session{}, fault.Forbiddenf("a deploy session is confirmed with your security key or your card")
	}
	en, err := s.readyEnv(ctx, envID)
	if err != nil {
		return Session{}, err
	}
	if holds != nil {
		ok, err := holds(ctx, envID, personID)
		if err != nil {
			return Session{}, fmt.Errorf("deploy session %s: %w", envID, err)
		}
		if !ok {
			return Session{}, fault.Forbiddenf("you do not hold environment %s's Administrator permission set; its administrators assign it (Access page)", envID)
		}
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	ss := Session{ID: store.NewID("bls"), EnvID: en.ID, OrgID: en.OrgID, PersonID: personID, PermissionSet: AdministratorSet,
		ConfirmedBy: confirmedBy, CreatedAt: now, ExpiresAt: now.Add(s.opts.SessionTTL)}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO baseline_sessions (id, env_id, org_id, person_id, permission_set, confirmed_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ss.ID, ss.EnvID, ss.OrgID, ss.PersonID, ss.PermissionSet, ss.ConfirmedBy, ss.CreatedAt, ss.ExpiresAt); err != nil {
			return fmt.Errorf("deploy session %s: %w", envID, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: personID, Action: "baseline.session.start", OrgID: en.OrgID, Target: en.ID,
			Details: map[string]any{"session": ss.ID, "permission_set": ss.PermissionSet, "confirmed_by": confirmedBy,
				"expires_at": ss.ExpiresAt.Format(time.RFC3339)}})
	})
	return ss, err
}

// session returns personID's live session id for envID.
func (s *Service) session(ctx context.Context, id, personID, envID string) (Session, error) {
	var ss Session
	err := s.db.QueryRowContext(ctx, `SELECT id, env_id, org_id, person_id, permission_set, confirmed_by, created_at, expires_at
		FROM baseline_sessions WHERE id = $1`, id).Scan(&ss.ID, &ss.EnvID, &ss.OrgID, &ss.PersonID, &ss.PermissionSet, &ss.ConfirmedBy, &ss.CreatedAt, &ss.ExpiresAt)
	refuse := fault.Forbiddenf("no live deploy session %s of yours for environment %s: start one (it lasts %s)", clip(id), envID, s.opts.SessionTTL)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, refuse
	}
	if err != nil {
		return Session{}, fmt.Errorf("deploy session %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare([]byte(ss.PersonID), []byte(personID)) != 1 || ss.EnvID != envID || !s.opts.Now().Before(ss.ExpiresAt) {
		return Session{}, refuse
	}
	return ss, nil
}

// DeployRequest names the release to deploy and the session to deploy in.
type DeployRequest struct {
	SessionID string `json:"session_id"`
	Product   string `json:"product"`
	Version   string `json:"version"`
}

// StackName is the stack a product becomes in an environment.
func StackName(product string) string { return "hatoba-baseline-" + product }

// Deploy deploys a release into envID within personID's deploy session:
// the stack is created, or updated when the environment runs another
// version. The deployment is recorded before the provider is called, and
// its outcome after; it ends when the provider says the stack settled
// (Refresh).
func (s *Service) Deploy(ctx context.Context, personID, envID string, req DeployRequest) (Deployment, error) {
	en, err := s.readyEnv(ctx, envID)
	if err != nil {
		return Deployment{}, err
	}
	ss, err := s.session(ctx, req.SessionID, personID, envID)
	if err != nil {
		return Deployment{}, err
	}
	rel, err := s.Release(ctx, req.Product, req.Version)
	if err != nil {
		return Deployment{}, err
	}
	if rel.Format != CloudFormation {
		return Deployment{}, fault.Invalidf("%s %s is a %s release: only CloudFormation releases can be deployed now", rel.Product, rel.Version, rel.Format)
	}
	stacks, err := s.stacksOf(en)
	if err != nil {
		return Deployment{}, err
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	d := Deployment{ID: store.NewID("bld"), EnvID: en.ID, OrgID: en.OrgID, Product: rel.Product, Version: rel.Version,
		TemplateSHA256: rel.TemplateSHA256, StackName: StackName(rel.Product), Operation: "create", State: InProgress,
		SessionID: ss.ID, DeployedBy: personID, StartedAt: now}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.LockRow(ctx, "environments", en.ID); err != nil {
			return err
		}
		var running int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM baseline_deployments WHERE env_id = $1 AND product = $2 AND state = $3`,
			en.ID, rel.Product, InProgress).Scan(&running); err != nil {
			return fmt.Errorf("deploy %s: %w", en.ID, err)
		}
		if running > 0 {
			return fault.Conflictf("a deployment of %s into environment %s is still in progress; wait for it to finish", rel.Product, en.ID)
		}
		err := tx.QueryRowContext(ctx, `SELECT stack_id FROM baseline_adoptions WHERE env_id = $1 AND product = $2`, en.ID, rel.Product).Scan(&d.StackID)
		switch {
		case err == nil:
			d.Operation = "update"
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("deploy %s: %w", en.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO baseline_deployments (id, env_id, org_id, product, version, template_sha256, stack_name, stack_id,
			operation, state, stack_status, reason, session_id, deployed_by, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '', $11, $12, $13)`,
			d.ID, d.EnvID, d.OrgID, d.Product, d.Version, d.TemplateSHA256, d.StackName, d.StackID, d.Operation, d.State, d.SessionID, d.DeployedBy, d.StartedAt); err != nil {
			return fmt.Errorf("deploy %s: %w", en.ID, err)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: personID, Action: "baseline.deploy", OrgID: en.OrgID, Target: en.ID,
			Details: map[string]any{"deployment": d.ID, "product": d.Product, "version": d.Version, "template_sha256": d.TemplateSHA256,
				"session": ss.ID, "permission_set": ss.PermissionSet, "operation": d.Operation}})
	})
	if err != nil {
		return Deployment{}, err
	}
	st, err := stacks.DeployStack(ctx, en.AccountID, provider.StackSpec{Name: d.StackName, StackID: d.StackID, Template: rel.Template, PermissionSet: ss.PermissionSet, Token: d.ID,
		Tags: map[string]string{"hatoba:baseline": rel.Product, "hatoba:version": rel.Version, "hatoba:environment": en.ID,
			"hatoba:deployed-by": personID, "hatoba:deploy-session": ss.ID}})
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "baseline deploy failed", "deployment", d.ID, "env", en.ID, "err", err)
		reason := "the provider refused the deployment: " + providerReason(err)
		if ferr := s.finish(ctx, &d, provider.StackStatus{}, Failed, reason); ferr != nil {
			return Deployment{}, ferr
		}
		return d, nil
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE baseline_deployments SET stack_id = $1, stack_status = $2 WHERE id = $3`, st.ID, st.Status, d.ID); err != nil {
		return Deployment{}, fmt.Errorf("deploy %s: %w", en.ID, err)
	}
	d.StackID, d.StackStatus = st.ID, st.Status
	return s.Refresh(ctx, d.ID)
}

// providerReason is a provider error as a person may read it: its code
// and message, without the SDK's request plumbing.
func providerReason(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if i := strings.LastIndex(msg, "api error "); i >= 0 {
			msg = msg[i+len("api error "):]
		}
		return msg
	}
	return err.Error()
}

func (s *Service) stacksOf(en env.Environment) (provider.Stacks, error) {
	if s.opts.Stacks == nil {
		return nil, fault.Conflictf("this server deploys no baselines (no provider connections)")
	}
	st, supported, ok := s.opts.Stacks(en.Provider)
	if !ok {
		return nil, fault.Conflictf("environment %s is on provider %q, which this server has no connection to", en.ID, en.Provider)
	}
	if !supported {
		return nil, fault.Invalidf("provider %s does not support deploying baselines: it cannot run CloudFormation stacks (only AWS can now)", en.Provider)
	}
	return st, nil
}

// terminal maps a CloudFormation stack status to a deployment state.
func terminal(status string) string {
	switch {
	case status == "CREATE_COMPLETE" || status == "UPDATE_COMPLETE":
		return Succeeded
	case strings.HasSuffix(status, "_IN_PROGRESS"):
		return InProgress
	case status == "":
		return InProgress
	}
	return Failed // ROLLBACK_COMPLETE, CREATE_FAILED, UPDATE_ROLLBACK_COMPLETE, DELETE_COMPLETE …
}

const deploymentColumns = `id, env_id, org_id, product, version, template_sha256, stack_name, stack_id, operation, state, stack_status, reason,
	session_id, deployed_by, started_at, finished_at`

func scanDeployment(row interface{ Scan(...any) error }) (Deployment, error) {
	var d Deployment
	var fin sql.NullTime
	if err := row.Scan(&d.ID, &d.EnvID, &d.OrgID, &d.Product, &d.Version, &d.TemplateSHA256, &d.StackName, &d.StackID, &d.Operation, &d.State,
		&d.StackStatus, &d.Reason, &d.SessionID, &d.DeployedBy, &d.StartedAt, &fin); err != nil {
		return Deployment{}, err
	}
	d.StartedAt = d.StartedAt.UTC()
	if fin.Valid {
		t := fin.Time.UTC()
		d.FinishedAt = &t
	}
	return d, nil
}

// Deployment returns one deployment of envID.
func (s *Service) Deployment(ctx context.Context, envID, id string) (Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM baseline_deployments WHERE id = $1 AND env_id = $2`, id, envID))
	if errors.Is(err, sql.ErrNoRows) {
		return Deployment{}, fault.NotFoundf("no baseline deployment %s in environment %s", clip(id), envID)
	}
	if err != nil {
		return Deployment{}, fmt.Errorf("deployment %s: %w", id, err)
	}
	return d, nil
}

// Refresh asks the provider how an unfinished deployment stands, records
// its end when the stack settled, and returns it with the stack's events.
func (s *Service) Refresh(ctx context.Context, id string) (Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM baseline_deployments WHERE id = $1`, id))
	if err != nil {
		return Deployment{}, fmt.Errorf("deployment %s: %w", id, err)
	}
	en, err := s.envs.Get(ctx, s.db, d.EnvID)
	if err != nil {
		return Deployment{}, err
	}
	stacks, err := s.stacksOf(en)
	if err != nil || en.AccountID == "" {
		return d, nil //nolint:nilerr // the deployment is shown as recorded when its provider cannot be asked
	}
	if d.State == InProgress && d.StackID != "" {
		st, found, err := stacks.DescribeStack(ctx, en.AccountID, d.StackID)
		switch {
		case err != nil:
			s.opts.Logger.WarnContext(ctx, "baseline deployment status unknown", "deployment", d.ID, "err", err)
		case !found:
			if err := s.finish(ctx, &d, st, Failed, "the stack no longer exists"); err != nil {
				return Deployment{}, err
			}
		case terminal(st.Status) != InProgress:
			if err := s.finish(ctx, &d, st, terminal(st.Status), st.Reason); err != nil {
				return Deployment{}, err
			}
		default:
			d.StackStatus = st.Status
		}
	}
	if d.StackID != "" {
		evs, err := stacks.StackEvents(ctx, en.AccountID, d.StackID)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "baseline stack events unavailable", "deployment", d.ID, "err", err)
		}
		for _, ev := range evs {
			if !ev.At.Before(d.StartedAt.Add(-time.Second)) {
				d.Events = append(d.Events, ev)
			}
		}
	}
	return d, nil
}

// finish records a deployment's end once (a replica that raced records
// nothing more) and, when it succeeded, the environment's adoption.
func (s *Service) finish(ctx context.Context, d *Deployment, st provider.StackStatus, state, reason string) error {
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	if len(reason) > 2000 {
		reason = reason[:2000]
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE baseline_deployments SET state = $1, stack_status = $2, reason = $3, finished_at = $4
			WHERE id = $5 AND state = $6`, state, st.Status, reason, now, d.ID, InProgress)
		if err != nil {
			return fmt.Errorf("deployment %s: %w", d.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			got, err := scanDeployment(tx.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM baseline_deployments WHERE id = $1`, d.ID))
			if err == nil {
				*d = got
			}
			return err
		}
		d.State, d.StackStatus, d.Reason, d.FinishedAt = state, st.Status, reason, &now
		if state == Succeeded {
			if _, err := tx.ExecContext(ctx, `INSERT INTO baseline_adoptions (env_id, product, org_id, version, template_sha256, stack_name, stack_id,
				deployment_id, deployed_by, deployed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (env_id, product) DO UPDATE SET version = excluded.version, template_sha256 = excluded.template_sha256,
				stack_name = excluded.stack_name, stack_id = excluded.stack_id, deployment_id = excluded.deployment_id,
				deployed_by = excluded.deployed_by, deployed_at = excluded.deployed_at`,
				d.EnvID, d.Product, d.OrgID, d.Version, d.TemplateSHA256, d.StackName, d.StackID, d.ID, d.DeployedBy, now); err != nil {
				return fmt.Errorf("adoption %s %s: %w", d.EnvID, d.Product, err)
			}
		}
		// The outcome of the person's deployment is theirs: it is recorded
		// with them as actor.
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: d.DeployedBy, Action: "baseline.deploy." + state, OrgID: d.OrgID, Target: d.EnvID,
			Details: map[string]any{"deployment": d.ID, "product": d.Product, "version": d.Version, "stack_status": st.Status, "reason": reason}})
	})
}

// Drift states of an adopted baseline.
const (
	InSync  = "in_sync"
	Drifted = "drifted"
	Missing = "missing"
	Unknown = "unknown"
)

// Adoption is the version of a product an environment runs.
type Adoption struct {
	Product         string    `json:"product"`
	Version         string    `json:"version"`
	Latest          string    `json:"latest"`
	UpdateAvailable bool      `json:"update_available"`
	TemplateSHA256  string    `json:"template_sha256"`
	StackName       string    `json:"stack_name"`
	StackID         string    `json:"stack_id"`
	StackStatus     string    `json:"stack_status"`
	DeployedBy      string    `json:"deployed_by"`
	DeployedAt      time.Time `json:"deployed_at"`
	// Drift compares the template the stack runs now with the release's.
	Drift          string `json:"drift"`
	DeployedSHA256 string `json:"deployed_sha256,omitempty"`
	DriftReason    string `json:"drift_reason,omitempty"`
}

// EnvStatus is an environment's baselines: what it adopted, and its
// deployments, newest first.
type EnvStatus struct {
	EnvID       string       `json:"env_id"`
	OrgID       string       `json:"org_id"`
	Adoptions   []Adoption   `json:"adoptions"`
	Deployments []Deployment `json:"deployments"`
	CheckedAt   time.Time    `json:"checked_at"`
}

// maxHistory bounds the deployments EnvStatus lists.
const maxHistory = 100

// Status reports envID's baselines, settling unfinished deployments and
// checking each adopted stack's template against its release.
func (s *Service) Status(ctx context.Context, envID string) (EnvStatus, error) {
	en, err := s.envs.Get(ctx, s.db, envID)
	if err != nil {
		return EnvStatus{}, err
	}
	out := EnvStatus{EnvID: en.ID, OrgID: en.OrgID, Adoptions: []Adoption{}, Deployments: []Deployment{}, CheckedAt: s.opts.Now().UTC()}
	pending, err := s.deployments(ctx, `env_id = $1 AND state = $2`, en.ID, InProgress)
	if err != nil {
		return EnvStatus{}, err
	}
	for _, d := range pending {
		if _, err := s.Refresh(ctx, d.ID); err != nil {
			return EnvStatus{}, err
		}
	}
	if out.Deployments, err = s.deployments(ctx, `env_id = $1`, en.ID); err != nil {
		return EnvStatus{}, err
	}
	products, err := s.Products(ctx)
	if err != nil {
		return EnvStatus{}, err
	}
	latestOf := map[string]string{}
	for _, p := range products {
		latestOf[p.Name] = p.Latest
	}
	rows, err := s.db.QueryContext(ctx, `SELECT product, version, template_sha256, stack_name, stack_id, deployed_by, deployed_at
		FROM baseline_adoptions WHERE env_id = $1 ORDER BY product`, en.ID)
	if err != nil {
		return EnvStatus{}, fmt.Errorf("adoptions of %s: %w", en.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Adoption
		if err := rows.Scan(&a.Product, &a.Version, &a.TemplateSHA256, &a.StackName, &a.StackID, &a.DeployedBy, &a.DeployedAt); err != nil {
			return EnvStatus{}, fmt.Errorf("adoptions of %s: %w", en.ID, err)
		}
		a.DeployedAt = a.DeployedAt.UTC()
		a.Latest = latestOf[a.Product]
		if lv, err := ParseVersion(a.Latest); err == nil {
			if av, err := ParseVersion(a.Version); err == nil {
				a.UpdateAvailable = lv.Compare(av) > 0
			}
		}
		out.Adoptions = append(out.Adoptions, a)
	}
	if err := rows.Err(); err != nil {
		return EnvStatus{}, fmt.Errorf("adoptions of %s: %w", en.ID, err)
	}
	rows.Close()
	for i := range out.Adoptions {
		s.checkDrift(ctx, en, &out.Adoptions[i])
	}
	return out, nil
}

// checkDrift asks the provider for the template the stack runs now.
func (s *Service) checkDrift(ctx context.Context, en env.Environment, a *Adoption) {
	a.Drift = Unknown
	stacks, err := s.stacksOf(en)
	if err != nil {
		a.DriftReason = err.Error()
		return
	}
	st, found, err := stacks.DescribeStack(ctx, en.AccountID, a.StackID)
	if err != nil {
		a.DriftReason = "the provider cannot be asked now: " + providerReason(err)
		return
	}
	if !found {
		a.Drift, a.DriftReason = Missing, "the stack no longer exists in the account"
		return
	}
	a.StackStatus = st.Status
	tmpl, err := stacks.StackTemplate(ctx, en.AccountID, a.StackID)
	if err != nil {
		a.DriftReason = "the provider cannot be asked now: " + providerReason(err)
		return
	}
	a.DeployedSHA256 = sum(tmpl)
	if a.DeployedSHA256 == a.TemplateSHA256 {
		a.Drift = InSync
		return
	}
	a.Drift, a.DriftReason = Drifted, "the stack runs a template other than the release's: it was changed outside hatoba"
}

func (s *Service) deployments(ctx context.Context, where string, args ...any) ([]Deployment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deploymentColumns+` FROM baseline_deployments WHERE `+where+
		fmt.Sprintf(` ORDER BY started_at DESC, id DESC LIMIT %d`, maxHistory), args...)
	if err != nil {
		return nil, fmt.Errorf("deployments: %w", err)
	}
	defer rows.Close()
	out := []Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("deployments: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
