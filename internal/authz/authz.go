// Package authz is hatoba's one authorization decision point. Every API and
// console handler asks it before it reads or changes anything: who (a
// Principal) may do what (an Action) to what (a Resource, owned by an
// organisation). It denies by default: an action without a rule, a role
// without a permit, an organisation outside the caller's subtree or an
// expired break-glass grant all end in a refusal.
//
// Central staff have no standing access to a tenant's scope: where a
// central operator may act on a tenant's behalf at all, it is only under an
// active break-glass grant that the tenant approved, and the decision names
// that grant so the action's audit entry carries it.
package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Role is a platform role. A person holds exactly one.
type Role string

const (
	// CentralOperator runs the platform: organisations, the approval
	// queue, operations. No standing access to any tenant's scope.
	CentralOperator Role = "central-operator"
	// CentralAuditor reads everything, changes nothing.
	CentralAuditor Role = "central-auditor"
	// TenantAdmin administers its organisation's subtree: environments,
	// people and their permission sets, break-glass approvals.
	TenantAdmin Role = "tenant-admin"
	// TenantMember works in its organisation's environments.
	TenantMember Role = "tenant-member"
)

// Roles lists every role, central first.
var Roles = []Role{CentralOperator, CentralAuditor, TenantAdmin, TenantMember}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Central reports whether r belongs to the platform's own staff, who have
// no home organisation.
func (r Role) Central() bool { return r == CentralOperator || r == CentralAuditor }

// NeedsSecondFactor reports whether every session of r must be confirmed
// with a WebAuthn authenticator before it may do anything: every
// administrator, and the auditors who see everything.
func (r Role) NeedsSecondFactor() bool { return r != TenantMember }

// TakesGrants reports whether any permit reaches r's holders through a
// break-glass grant; for other roles grants change nothing, so they need
// no loading on a request.
func (r Role) TakesGrants() bool {
	for _, rl := range policy {
		for _, pm := range rl.permits {
			if pm.role == r && pm.reach == underGrant {
				return true
			}
		}
	}
	return false
}

// Principal is who makes a request, as authentication established it.
type Principal struct {
	PersonID string
	Role     Role
	// OrgID is a tenant person's home organisation; empty for central staff.
	OrgID string
	// SecondFactorAt is when this session last passed a WebAuthn assertion;
	// zero when it has not.
	SecondFactorAt time.Time
	// Grants are the caller's active break-glass grants.
	Grants []Grant
	// KeyOwner: a tenant administrator designated its organisation's key
	// owner, the one who controls the tenant's keys (docs/keys.md).
	KeyOwner bool
	// CardConfirmation is the hash of the card-signed statement that
	// confirms this one request (docs/keys.md), set by the API after
	// checking it; it stands in for a recent second factor for this
	// request only.
	CardConfirmation string
}

// Grant is an approved, time-boxed break-glass access to one organisation's
// subtree.
type Grant struct {
	ID     string
	OrgID  string
	Expiry time.Time
}

// Action is something a principal may do.
type Action string

// The actions. Each has exactly one rule in policy.
const (
	Public Action = "public" // needs no principal: the OpenAPI document, login
	// IngestToken needs no principal either: the handler authenticates an
	// organisation's ingestion token (Security Hub's findings through
	// EventBridge, OCSF producers), and the handler alone decides.
	IngestToken Action = "ingest-token"

	ReadSystem Action = "system.read"
	// WritePlacement changes the placement policy: which providers each
	// classification may be placed on (docs/providers.md#placement).
	WritePlacement Action = "placement.write"

	ReadOrgs     Action = "org.read"
	WriteOrgs    Action = "org.write" // create and import organisations
	WriteBilling Action = "org.billing"

	ReadEnvs     Action = "env.read"
	RequestEnv   Action = "env.request"
	DecideEnv    Action = "env.decide" // approve or reject a request
	RetryEnv     Action = "env.retry"
	TransferEnv  Action = "env.transfer"
	CloseEnv     Action = "env.close"
	ReadApproval Action = "approval.read"
	// SubmitRestoreTest records restore-test evidence of an environment's
	// backups, signed with the person's card (docs/backup.md).
	SubmitRestoreTest Action = "env.restore_test.submit"

	ReadPeople   Action = "people.read"
	InvitePeople Action = "people.invite"
	ManagePeople Action = "people.manage"     // disable and enable
	AssignAccess Action = "env.access.assign" // give people an environment's permission sets

	ReadAudit Action = "audit.read"

	// The tenant's keys in the key service (docs/keys.md). Reading shows
	// metadata and the usage record, never material.
	ReadKeys       Action = "key.read"
	ManageKeys     Action = "key.manage"       // create, usage, rotate, disable, kill switch, XKS credentials
	AssignKeyOwner Action = "key.owner.assign" // designate a tenant administrator key owner
	SealKeys       Action = "key.seal"         // seal the whole key service at once

	// The control catalog, its assignments and exceptions.
	ReadControls     Action = "control.read"
	AssignControls   Action = "control.assign" // assign, promote to enforce, unassign
	WriteControls    Action = "control.write"  // add and delete custom controls
	RequestException Action = "control.exception.request"
	DecideException  Action = "control.exception.decide"
	ReadExceptions   Action = "control.exception.read"

	// Controls' findings. ReadPosture is the summary central staff get —
	// scores and critical findings with their resource ids, what the
	// source system's central report holds; ReadPostureDetail is the rest
	// (every finding, the resource inventory), which is the tenant's.
	ReadPosture       Action = "posture.read"
	ReadPostureDetail Action = "posture.detail.read"
	CollectPosture    Action = "posture.collect" // collect an environment's inventory now

	// Sovereignty (docs/sovereignty.md): scores and floor breaches reach
	// central staff everywhere; an environment's exposure report (its
	// people, the parties) is its tenant's. Profiles are the platform's.
	ReadSovereignty       Action = "sovereignty.read"
	ReadSovereigntyDetail Action = "sovereignty.detail.read"
	// ReadSovereigntyHistory: the country's concentration over time, kept
	// for the whole country only — central's figure, not a tenant's.
	ReadSovereigntyHistory Action = "sovereignty.history.read"
	WriteSovereignty       Action = "sovereignty.profile.write"

	// hatoba's own secrets (provider credentials), stored encrypted
	// through the key service; their values are never read back out.
	ReadSecrets  Action = "secret.read" // names only
	WriteSecrets Action = "secret.write"

	// Notifications (docs/notifications.md). A tenant's channels,
	// deliveries, events and suppressions are its own; central has its own
	// channels, the critical digest, and notices about critical events.
	ReadNotify          Action = "notify.read"           // channels, deliveries, events, suppressions
	ManageNotify        Action = "notify.manage"         // channels, test sends, redelivery, the ingestion token
	SuppressNotify      Action = "notify.suppress"       // suppress and lift, with a reason and an expiry
	ReadNotices         Action = "notify.notice.read"    // a tenant's inbox of central's notices
	AnswerNotice        Action = "notify.notice.answer"  // acknowledge, report the fix
	SendNotice          Action = "notify.notice.send"    // central: a notice about a critical event
	ReadDigest          Action = "notify.digest.read"    // central's signed digests
	ManageCentralNotify Action = "notify.central.manage" // central's channels, settings, a digest now

	// The secure baseline as a product tenants pull (docs/baselines.md).
	ReadBaselines      Action = "baseline.read"    // the catalogue, releases, diffs
	PublishBaseline    Action = "baseline.publish" // central: a new signed release
	ReadEnvBaseline    Action = "baseline.env.read"
	StartDeploySession Action = "baseline.session" // a tenant administrator's short-lived deploy authority
	DeployBaseline     Action = "baseline.deploy"

	ReadAccess    Action = "access.read"
	RequestAccess Action = "access.request"
	ApproveAccess Action = "access.approve"
	RevokeAccess  Action = "access.revoke"

	// Self covers what every signed-in person may do about itself: see
	// who it is, enrol a security key, sign out.
	Self Action = "self"
)

// reach is how far a permit extends.
type reach int

const (
	everywhere reach = iota + 1 // every organisation and the platform itself
	platform                    // the platform's own resources, no tenant's
	ownSubtree                  // the principal's organisation and everything under it
	underGrant                  // only organisations an active break-glass grant covers
)

type permit struct {
	role  Role
	reach reach
	// keyOwner limits the permit to the role's key owners.
	keyOwner bool
}

type rule struct {
	permits []permit
	// secondFactor asks for a WebAuthn assertion within the configured
	// time, on top of the session's own.
	secondFactor bool
}

var (
	op       = func(r reach) permit { return permit{role: CentralOperator, reach: r} }
	audit    = permit{role: CentralAuditor, reach: everywhere}
	admin    = permit{role: TenantAdmin, reach: ownSubtree}
	member   = permit{role: TenantMember, reach: ownSubtree}
	keyOwner = permit{role: TenantAdmin, reach: ownSubtree, keyOwner: true}
)

// policy is the whole rule book, one line per action. Reading it answers
// "who may do this?"; TestPolicyCoversEveryAction keeps it complete.
var policy = map[Action]rule{
	ReadSystem:     {permits: []permit{op(everywhere), audit, admin, member}},
	WritePlacement: {permits: []permit{op(platform)}},

	ReadOrgs:     {permits: []permit{op(everywhere), audit, admin, member}},
	WriteOrgs:    {permits: []permit{op(platform)}},
	WriteBilling: {permits: []permit{admin, op(underGrant)}},

	// Operators see environments' metadata: the approval queue and
	// operations need it; inside an environment they have no access.
	ReadEnvs:     {permits: []permit{op(everywhere), audit, admin, member}},
	RequestEnv:   {permits: []permit{admin, op(underGrant)}},
	DecideEnv:    {permits: []permit{op(everywhere)}},
	RetryEnv:     {permits: []permit{op(everywhere), admin}},
	TransferEnv:  {permits: []permit{op(everywhere)}},
	CloseEnv:     {permits: []permit{admin, op(underGrant)}},
	ReadApproval: {permits: []permit{op(platform), audit}},
	// Restore tests are the tenant's own evidence: its administrators
	// (key owners are administrators) sign them; no central role may.
	SubmitRestoreTest: {permits: []permit{admin}, secondFactor: true},

	ReadPeople:   {permits: []permit{op(everywhere), audit, admin}},
	InvitePeople: {permits: []permit{op(everywhere), admin}},
	ManagePeople: {permits: []permit{op(everywhere), admin}},
	AssignAccess: {permits: []permit{admin, op(underGrant)}},

	ReadAudit: {permits: []permit{audit, admin, member, op(platform)}},

	ReadAccess:    {permits: []permit{op(everywhere), audit, admin}},
	RequestAccess: {permits: []permit{op(everywhere)}},
	ApproveAccess: {permits: []permit{op(everywhere), admin}, secondFactor: true},
	RevokeAccess:  {permits: []permit{op(everywhere), admin}},

	// A tenant's keys are its own: no central role may change them, not
	// even under a break-glass grant. Sealing stops every tenant at once
	// and harms no data, so an operator may do it in an emergency — from
	// the command line too, without waiting for a security key.
	ReadKeys:       {permits: []permit{audit, admin}},
	ManageKeys:     {permits: []permit{keyOwner}, secondFactor: true},
	AssignKeyOwner: {permits: []permit{admin}, secondFactor: true},
	SealKeys:       {permits: []permit{op(platform)}},

	// Controls are set centrally; a tenant asks for an exception for its
	// own environment and a central operator decides.
	ReadControls:     {permits: []permit{op(everywhere), audit, admin, member}},
	AssignControls:   {permits: []permit{op(everywhere)}},
	WriteControls:    {permits: []permit{op(everywhere)}},
	RequestException: {permits: []permit{admin, op(underGrant)}},
	DecideException:  {permits: []permit{op(everywhere)}},
	ReadExceptions:   {permits: []permit{op(everywhere), audit, admin}},

	// Scores and critical findings reach central staff everywhere; every
	// other finding and the inventory (ARNs, configurations) go to the
	// tenant, and to a central operator only under a break-glass grant.
	// Anyone who runs an environment may ask for a fresh look.
	ReadPosture:       {permits: []permit{op(everywhere), audit, admin, member}},
	ReadPostureDetail: {permits: []permit{admin, member, op(underGrant)}},
	CollectPosture:    {permits: []permit{op(everywhere), admin}},

	ReadSovereignty:       {permits: []permit{op(everywhere), audit, admin, member}},
	ReadSovereigntyDetail: {permits: []permit{admin, member, op(underGrant)}},
	// The history is national: each tenant's concentration is today's
	// only (sovereignty.read, over its subtree).
	ReadSovereigntyHistory: {permits: []permit{op(everywhere), audit}},
	WriteSovereignty:       {permits: []permit{op(platform)}},

	ReadSecrets:  {permits: []permit{op(platform), audit}},
	WriteSecrets: {permits: []permit{op(platform)}},

	// Findings go to the owner first: a tenant's notification setup is
	// its own (a central operator under a grant may help); central reads
	// critical events only — the digest — and speaks to a tenant only
	// about a critical event, which the tenant answers.
	ReadNotify:          {permits: []permit{admin, member, op(underGrant), audit}},
	ManageNotify:        {permits: []permit{admin, op(underGrant)}},
	SuppressNotify:      {permits: []permit{admin, op(underGrant)}},
	ReadNotices:         {permits: []permit{admin, member, op(everywhere), audit}},
	AnswerNotice:        {permits: []permit{admin, op(underGrant)}},
	SendNotice:          {permits: []permit{op(everywhere)}},
	ReadDigest:          {permits: []permit{op(platform), audit}},
	ManageCentralNotify: {permits: []permit{op(platform)}},

	// Central publishes baselines; only the tenant deploys them, into its
	// own environments, with its own authority: no central role may start
	// a deploy session or deploy, not even under a break-glass grant.
	ReadBaselines:      {permits: []permit{op(everywhere), audit, admin, member}},
	PublishBaseline:    {permits: []permit{op(platform)}},
	ReadEnvBaseline:    {permits: []permit{op(everywhere), audit, admin, member}},
	StartDeploySession: {permits: []permit{admin}, secondFactor: true},
	DeployBaseline:     {permits: []permit{admin}},

	Self: {permits: []permit{op(everywhere), audit, admin, member}},
}

// holds reports whether p is someone pm is for.
func (pm permit) holds(p Principal) bool {
	return pm.role == p.Role && (!pm.keyOwner || p.KeyOwner)
}

// Actions lists every action that has a rule.
func Actions() []Action {
	out := make([]Action, 0, len(policy))
	for a := range policy {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Tree answers where an organisation sits; org.Registry provides it.
type Tree interface {
	// AncestorIDs returns the ids of id's ancestors, nearest first.
	AncestorIDs(ctx context.Context, id string) ([]string, error)
}

// Resource is what an action touches.
type Resource struct {
	// Kind and ID name it in messages ("environment", "01J…").
	Kind string
	ID   string
	// OrgID owns it; empty for the platform's own resources.
	OrgID string
}

// Decision is an allowed action.
type Decision struct {
	// GrantID is the break-glass grant the action rides on, if any; the
	// action's audit entry must carry it.
	GrantID string
}

// ErrSecondFactor marks a refusal that a fresh WebAuthn assertion would
// turn into an approval, so the console can ask for one.
var ErrSecondFactor = errors.New("this action needs a confirmation with your security key (WebAuthn)")

// Authorizer decides.
type Authorizer struct {
	tree Tree
	now  func() time.Time
	// secondFactorTTL is how recent an assertion must be for a rule that
	// asks for one.
	secondFactorTTL time.Duration
}

// New returns an Authorizer.
func New(tree Tree, secondFactorTTL time.Duration, now func() time.Time) *Authorizer {
	if now == nil {
		now = time.Now
	}
	return &Authorizer{tree: tree, now: now, secondFactorTTL: secondFactorTTL}
}

// Allows reports whether p's role may do action anywhere at all; handlers
// that act on one resource still call Decide.
func Allows(p Principal, action Action) bool {
	if action == Public || action == IngestToken {
		return true
	}
	for _, pm := range policy[action].permits {
		if pm.holds(p) {
			return true
		}
	}
	return false
}

// Decide says whether p may do action on res. A refusal is a fault.Error:
// Forbidden when the role may not do this at all or lacks a second factor,
// NotFound — worded exactly like a missing resource — when the resource
// lies outside the caller's scope, so other tenants' ids cannot be probed.
func (a *Authorizer) Decide(ctx context.Context, p Principal, action Action, res Resource) (Decision, error) {
	if action == Public || action == IngestToken {
		return Decision{}, nil
	}
	r, ok := policy[action]
	if !ok {
		return Decision{}, fault.Forbiddenf("no rule allows %q; refused by default", action)
	}
	if p.PersonID == "" {
		return Decision{}, fault.Unauthenticatedf("sign in first")
	}
	var roleMay bool
	for _, pm := range r.permits {
		if !pm.holds(p) {
			continue
		}
		roleMay = true
		d, ok, err := a.reaches(ctx, p, pm.reach, res.OrgID)
		if err != nil {
			return Decision{}, err
		}
		if !ok {
			continue
		}
		if r.secondFactor && !a.recentSecondFactor(p) {
			return Decision{}, &fault.Error{Kind: fault.Forbidden, Message: ErrSecondFactor.Error(), Err: ErrSecondFactor}
		}
		return d, nil
	}
	if !roleMay {
		return Decision{}, refusal(p, action)
	}
	if res.ID == "" {
		if res.OrgID == "" {
			return Decision{}, fault.Forbiddenf("a %s may not %s on the platform itself", p.Role, action)
		}
		return Decision{}, fault.Forbiddenf("organisation %s is outside your scope", res.OrgID)
	}
	return Decision{}, fault.NotFoundf("no %s %s", res.Kind, res.ID)
}

// refusal says why p's role may not do action at all.
func refusal(p Principal, action Action) error {
	for _, pm := range policy[action].permits {
		if pm.role == p.Role && pm.keyOwner {
			return fault.Forbiddenf("only the organisation's key owner may %s: a tenant administrator designates key owners", action)
		}
	}
	return fault.Forbiddenf("a %s may not %s", p.Role, action)
}

func (a *Authorizer) recentSecondFactor(p Principal) bool {
	if p.CardConfirmation != "" {
		return true
	}
	return !p.SecondFactorAt.IsZero() && a.now().Sub(p.SecondFactorAt) <= a.secondFactorTTL
}

// reaches reports whether a permit of reach rc covers orgID for p.
func (a *Authorizer) reaches(ctx context.Context, p Principal, rc reach, orgID string) (Decision, bool, error) {
	switch rc {
	case everywhere:
		return Decision{}, true, nil
	case platform:
		return Decision{}, orgID == "", nil
	case ownSubtree:
		if orgID == "" || p.OrgID == "" {
			return Decision{}, false, nil
		}
		in, err := a.within(ctx, orgID, p.OrgID)
		return Decision{}, in, err
	case underGrant:
		if orgID == "" {
			return Decision{}, false, nil
		}
		now := a.now()
		for _, g := range p.Grants {
			if !now.Before(g.Expiry) {
				continue
			}
			in, err := a.within(ctx, orgID, g.OrgID)
			if err != nil {
				return Decision{}, false, err
			}
			if in {
				return Decision{GrantID: g.ID}, true, nil
			}
		}
		return Decision{}, false, nil
	}
	return Decision{}, false, nil
}

// within reports whether orgID is root or lies under it.
func (a *Authorizer) within(ctx context.Context, orgID, root string) (bool, error) {
	if orgID == root {
		return true, nil
	}
	ancestors, err := a.tree.AncestorIDs(ctx, orgID)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return false, nil
		}
		return false, fmt.Errorf("authorize: ancestors of %s: %w", orgID, err)
	}
	return slices.Contains(ancestors, root), nil
}

// Scope is what part of the organisation tree a listing may show.
type Scope struct {
	// All: every organisation.
	All bool
	// Roots: these organisations' subtrees (when not All).
	Roots []string
	// Platform: the platform's own entries (those of no organisation).
	Platform bool
}

// ScopeOf is the part of the tree p may see with action: listings filter
// by it rather than asking Decide for each row.
func (a *Authorizer) ScopeOf(p Principal, action Action) Scope {
	var s Scope
	now := a.now()
	for _, pm := range policy[action].permits {
		if !pm.holds(p) {
			continue
		}
		switch pm.reach {
		case everywhere:
			return Scope{All: true, Platform: true}
		case platform:
			s.Platform = true
		case ownSubtree:
			if p.OrgID != "" {
				s.Roots = append(s.Roots, p.OrgID)
			}
		case underGrant:
			for _, g := range p.Grants {
				if now.Before(g.Expiry) {
					s.Roots = append(s.Roots, g.OrgID)
				}
			}
		}
	}
	return s
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
