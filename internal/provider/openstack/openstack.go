// Package openstack is hatoba's OpenStack driver, for the domestic tier:
// everything hatoba governs lives in Keystone, through gophercloud v2.
//
//   - an account is a Keystone project in one configured domain, named
//     after the environment (its id leads the name, so the name is unique);
//   - a unit is a project too, and a unit path is a tree of parent projects
//     under the domain, created on demand. Keystone never moves a project to
//     another parent, so an environment's project stays at the top of the
//     domain and the unit it belongs to is its tag hatoba-unit=<id>;
//   - the two permission sets are two groups per environment with
//     configured roles (Administrator: admin; Non-administrator: member)
//     assigned on the project; people are users named by their hatoba id;
//   - preventive guardrails are OS-EP-FILTER endpoint filtering, unified
//     project limits and the set of roles that may be granted (guardrail.go);
//   - closing disables the project and removes every role assignment on it;
//     PurgeClosed deletes it after the retention.
//
// The same code runs against a real OpenStack and against the Keystone
// scripts/keystone.sh starts for the tests.
package openstack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Config configures one OpenStack connection.
type Config struct {
	Name string // the connection's name in hatoba, for errors and logs
	// AuthURL is Keystone's v3 address, e.g. https://keystone.example.jp:5000/v3.
	AuthURL string
	// Domain is the name of the domain in which hatoba keeps its units,
	// projects, groups and users; it must exist.
	Domain string
	// Region selects Keystone's endpoint in the catalog; empty means any.
	Region string
	// ApplicationCredentialID, with Secret returning its secret, is how a
	// production connection authenticates (an application credential of
	// a user with the admin role on Domain).
	ApplicationCredentialID string
	// Username (in UserDomain) authenticates with a password instead,
	// Secret returning it. The token is scoped to Domain, which Keystone
	// needs to list the limits of the domain's projects (an application
	// credential is always project-scoped: the limit guardrail then sees
	// only that project's limits, see docs/providers.md).
	Username, UserDomain string
	// Secret returns the application credential's secret or the password;
	// cmd/hatoba reads it from hatoba's secret store (secret:NAME), so it
	// never sits in the configuration.
	Secret func(ctx context.Context) (string, error)
	// AdministratorRoles and NonAdministratorRoles are the roles the two
	// groups get on their project; empty means [admin] and [member].
	AdministratorRoles, NonAdministratorRoles []string
	// DomesticRegions, when set, is a guardrail on every project that
	// hatoba never takes off: only these regions' endpoints are listed to
	// its tokens (OS-EP-FILTER), whatever controls are enforced.
	DomesticRegions []string
	// Retention is how long a closed project is kept (disabled) before
	// PurgeClosed deletes it; zero means 90 days.
	Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now        func() time.Time
	HTTPClient *http.Client
	// Logger receives debug records; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultRetention = 90 * 24 * time.Hour
)

// Tags and extra properties the driver puts on projects.
const (
	tagManaged  = "hatoba-managed" // every project hatoba made
	tagUnit     = "hatoba-unit"    // a unit's own project
	tagClosed   = "hatoba-closed"
	tagEmailKey = "hatoba-email="
	tagUnitKey  = "hatoba-unit="

	extraEmail     = "hatoba_email"
	extraUnitPath  = "hatoba_unit_path"
	extraClosedAt  = "hatoba_closed_at"
	extraGroups    = "hatoba_groups"
	extraBilling   = "hatoba_billing_contact_"
	extraGuardrail = "hatoba_guardrails"
)

// Driver is an OpenStack connection. It is safe for concurrent use.
type Driver struct {
	cfg        Config
	log        *slog.Logger
	now        func() time.Time
	retention  time.Duration
	adminRoles []string
	userRoles  []string

	authMu   sync.Mutex // serialises the first authentication
	identity *gophercloud.ServiceClient

	mu       sync.Mutex // guards the lookups below, which never change once found
	domainID string
	units    map[string]string // "a/b/c" → project id
	roleIDs  map[string]string // role name → id

	calls callCounter
}

var (
	_ provider.Provider     = (*Driver)(nil)
	_ provider.PolicySetter = (*Driver)(nil)
)

// New builds a driver. It makes no calls; problems surface on first use.
func New(cfg Config) (*Driver, error) {
	if cfg.AuthURL == "" {
		return nil, errors.New("openstack driver: auth_url is required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("openstack driver: domain is required")
	}
	if cfg.Secret == nil {
		return nil, errors.New("openstack driver: a credential secret is required")
	}
	if (cfg.ApplicationCredentialID == "") == (cfg.Username == "") {
		return nil, errors.New("openstack driver: give application_credential_id or username, not both")
	}
	d := &Driver{
		cfg:        cfg,
		log:        cmp.Or(cfg.Logger, slog.Default()),
		now:        cfg.Now,
		retention:  cmp.Or(cfg.Retention, DefaultRetention),
		adminRoles: cfg.AdministratorRoles,
		userRoles:  cfg.NonAdministratorRoles,
		units:      map[string]string{},
		roleIDs:    map[string]string{},
	}
	if d.now == nil {
		d.now = time.Now
	}
	if len(d.adminRoles) == 0 {
		d.adminRoles = []string{"admin"}
	}
	if len(d.userRoles) == 0 {
		d.userRoles = []string{"member"}
	}
	return d, nil
}

// Calls reports how many Keystone requests the driver has made, for the
// benchmarks' calls per environment.
func (d *Driver) Calls() int64 { return d.calls.n.Load() }

// client authenticates once and keeps the identity client; gophercloud
// re-authenticates when the token expires.
func (d *Driver) client(ctx context.Context) (*gophercloud.ServiceClient, error) {
	d.authMu.Lock()
	defer d.authMu.Unlock()
	if d.identity != nil {
		return d.identity, nil
	}
	secret, err := d.cfg.Secret(ctx)
	if err != nil {
		return nil, &provider.Error{Class: provider.Transient, Op: "Authenticate", Err: fmt.Errorf("credential secret: %w", err)}
	}
	opts := gophercloud.AuthOptions{IdentityEndpoint: d.cfg.AuthURL, AllowReauth: true}
	if d.cfg.ApplicationCredentialID != "" {
		opts.ApplicationCredentialID, opts.ApplicationCredentialSecret = d.cfg.ApplicationCredentialID, secret
	} else {
		opts.Username, opts.Password = d.cfg.Username, secret
		opts.DomainName = cmp.Or(d.cfg.UserDomain, "Default")
		opts.Scope = &gophercloud.AuthScope{DomainName: d.cfg.Domain}
	}
	pc, err := gcos.NewClient(d.cfg.AuthURL)
	if err != nil {
		return nil, &provider.Error{Class: provider.Permanent, Op: "Authenticate", Err: err}
	}
	base := http.DefaultTransport
	if d.cfg.HTTPClient != nil {
		pc.HTTPClient = *d.cfg.HTTPClient
		if d.cfg.HTTPClient.Transport != nil {
			base = d.cfg.HTTPClient.Transport
		}
	}
	pc.HTTPClient.Transport = &countingTransport{next: base, n: &d.calls}
	if err := gcos.Authenticate(ctx, pc, opts); err != nil {
		return nil, classify("Authenticate", err)
	}
	sc, err := gcos.NewIdentityV3(pc, gophercloud.EndpointOpts{Region: d.cfg.Region})
	if err != nil {
		return nil, &provider.Error{Class: provider.Permanent, Op: "Authenticate", Err: fmt.Errorf("no identity endpoint in the catalog: %w", err)}
	}
	d.identity = sc
	return sc, nil
}

func (d *Driver) domain(ctx context.Context) (*gophercloud.ServiceClient, string, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, "", err
	}
	d.mu.Lock()
	id := d.domainID
	d.mu.Unlock()
	if id != "" {
		return c, id, nil
	}
	pages, err := domains.List(c, domains.ListOpts{Name: d.cfg.Domain}).AllPages(ctx)
	if err != nil {
		return nil, "", classify("ListDomains", err)
	}
	ds, err := domains.ExtractDomains(pages)
	if err != nil {
		return nil, "", classify("ListDomains", err)
	}
	if len(ds) == 0 {
		return nil, "", &provider.Error{Class: provider.Permanent, Op: "ListDomains", Err: fmt.Errorf("domain %q does not exist (create it, or configure another)", d.cfg.Domain)}
	}
	d.mu.Lock()
	d.domainID = ds[0].ID
	d.mu.Unlock()
	return c, ds[0].ID, nil
}

// CreateAccount implements provider.Provider. Keystone creates projects at
// once, so the request id is the project id. A project of this name that
// already carries this e-mail is the one an earlier attempt made.
func (d *Driver) CreateAccount(ctx context.Context, spec provider.AccountSpec) (string, error) {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return "", err
	}
	enabled := true
	p, err := projects.Create(ctx, c, projects.CreateOpts{DomainID: domainID, Name: spec.Name, Enabled: &enabled,
		Description: "hatoba environment " + spec.Name,
		Tags:        []string{tagManaged, emailTag(spec.Email)},
		Extra:       map[string]any{extraEmail: spec.Email}}).Extract()
	if isStatus(err, http.StatusConflict) {
		found, ferr := d.FindAccount(ctx, spec)
		if ferr != nil {
			return "", ferr
		}
		if found.AccountID != "" {
			return found.AccountID, nil
		}
		return "", &provider.Error{Class: provider.Permanent, Op: "CreateProject", Code: "NameTaken",
			Err: fmt.Errorf("a project named %q exists in domain %s and is not this environment's", spec.Name, d.cfg.Domain)}
	}
	if err != nil {
		return "", classify("CreateProject", err)
	}
	return p.ID, nil
}

// CreateAccountStatus implements provider.Provider.
func (d *Driver) CreateAccountStatus(ctx context.Context, requestID string) (provider.CreateStatus, error) {
	c, err := d.client(ctx)
	if err != nil {
		return provider.CreateStatus{}, err
	}
	p, err := projects.Get(ctx, c, requestID).Extract()
	if isStatus(err, http.StatusNotFound) {
		return provider.CreateStatus{RequestID: requestID, State: provider.CreateFailed, FailureReason: "PROJECT_NOT_FOUND"}, nil
	}
	if err != nil {
		return provider.CreateStatus{}, classify("GetProject", err)
	}
	return provider.CreateStatus{RequestID: requestID, State: provider.CreateSucceeded, AccountID: p.ID}, nil
}

// FindAccount implements provider.Provider: the project carrying the
// e-mail's tag, else one of the name (Keystone names are unique in a
// domain) that hatoba made for this e-mail. Creation is synchronous, so
// nothing is ever in progress.
func (d *Driver) FindAccount(ctx context.Context, spec provider.AccountSpec) (provider.Found, error) {
	ps, err := d.listProjects(ctx, projects.ListOpts{Tags: emailTag(spec.Email)})
	if err != nil {
		return provider.Found{}, err
	}
	if len(ps) > 0 {
		return provider.Found{AccountID: ps[0].ID}, nil
	}
	ps, err = d.listProjects(ctx, projects.ListOpts{Name: spec.Name})
	if err != nil {
		return provider.Found{}, err
	}
	for _, p := range ps {
		if e, _ := p.Extra[extraEmail].(string); strings.EqualFold(e, spec.Email) {
			return provider.Found{AccountID: p.ID}, nil
		}
	}
	return provider.Found{}, nil
}

func (d *Driver) listProjects(ctx context.Context, opts projects.ListOpts) ([]projects.Project, error) {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return nil, err
	}
	opts.DomainID = domainID
	pages, err := projects.List(c, opts).AllPages(ctx)
	if err != nil {
		return nil, classify("ListProjects", err)
	}
	ps, err := projects.ExtractProjects(pages)
	return ps, classify("ListProjects", err)
}

// EnsureUnit implements provider.Provider: each element of the path is a
// project whose parent is the element before (the first's is the domain).
// Keystone wants project names unique in a domain, so a unit's project is
// named after its whole path (unitName).
func (d *Driver) EnsureUnit(ctx context.Context, path []string) (string, error) {
	c, domainID, err := d.domain(ctx)
	if err != nil {
		return "", err
	}
	parent := ""
	for i := range path {
		key := strings.Join(path[:i+1], "/")
		d.mu.Lock()
		id := d.units[key]
		d.mu.Unlock()
		if id == "" {
			id, err = d.ensureUnitProject(ctx, c, domainID, parent, path[:i+1])
			if err != nil {
				return "", err
			}
			d.mu.Lock()
			d.units[key] = id
			d.mu.Unlock()
		}
		parent = id
	}
	return parent, nil
}

func (d *Driver) ensureUnitProject(ctx context.Context, c *gophercloud.ServiceClient, domainID, parent string, path []string) (string, error) {
	name := unitName(path)
	find := func() (string, error) {
		ps, err := d.listProjects(ctx, projects.ListOpts{Name: name})
		if err != nil || len(ps) == 0 {
			return "", err
		}
		return ps[0].ID, nil
	}
	if id, err := find(); err != nil || id != "" {
		return id, err
	}
	enabled := true
	p, err := projects.Create(ctx, c, projects.CreateOpts{DomainID: domainID, ParentID: parent, Name: name, Enabled: &enabled,
		Description: "hatoba unit " + strings.Join(path, "/"), Tags: []string{tagManaged, tagUnit},
		Extra: map[string]any{extraUnitPath: strings.Join(path, "/")}}).Extract()
	if isStatus(err, http.StatusConflict) {
		// Another worker made it between our look and our create.
		if id, ferr := find(); ferr != nil || id != "" {
			return id, ferr
		}
	}
	if err != nil {
		return "", classify("CreateProject", err)
	}
	return p.ID, nil
}

// MoveAccount implements provider.Provider. Keystone refuses to change a
// project's parent, so membership of a unit is the project's tag
// hatoba-unit=<unit id>, replaced on a move.
func (d *Driver) MoveAccount(ctx context.Context, accountID, unitID string) error {
	return d.editTags(ctx, accountID, "UpdateProject", func(tags []string) []string {
		tags = slices.DeleteFunc(tags, func(t string) bool { return strings.HasPrefix(t, tagUnitKey) })
		return append(tags, tagUnitKey+unitID)
	})
}

// UnitOf returns the unit an account's project was last moved to, "" when
// none; for tests and the conformance suite.
func (d *Driver) UnitOf(ctx context.Context, accountID string) (string, error) {
	p, err := d.project(ctx, accountID)
	if err != nil {
		return "", err
	}
	for _, t := range p.Tags {
		if v, ok := strings.CutPrefix(t, tagUnitKey); ok {
			return v, nil
		}
	}
	return "", nil
}

func (d *Driver) project(ctx context.Context, id string) (*projects.Project, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	p, err := projects.Get(ctx, c, id).Extract()
	if err != nil {
		return nil, classify("GetProject", err)
	}
	return p, nil
}

// editTags reads the project's tags, lets edit change them and writes them
// back when they changed.
func (d *Driver) editTags(ctx context.Context, projectID, op string, edit func([]string) []string) error {
	p, err := d.project(ctx, projectID)
	if err != nil {
		return err
	}
	tags := edit(slices.Clone(p.Tags))
	slices.Sort(tags)
	tags = slices.Compact(tags)
	old := slices.Clone(p.Tags)
	slices.Sort(old)
	if slices.Equal(old, tags) {
		return nil
	}
	return d.update(ctx, projectID, op, projects.UpdateOpts{Tags: &tags})
}

func (d *Driver) update(ctx context.Context, projectID, op string, opts projects.UpdateOpts) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	_, err = projects.Update(ctx, c, projectID, opts).Extract()
	return classify(op, err)
}

// TagAccount implements provider.Provider. Keystone's tags are strings of
// at most 255 characters without "/" or ","; each tag becomes
// "key=value" with those characters (and "%") percent-encoded, so a system
// named 住民記録/本番 keeps its name. The tags of earlier calls with other
// values are replaced.
func (d *Driver) TagAccount(ctx context.Context, accountID string, tags map[string]string) error {
	return d.editTags(ctx, accountID, "UpdateProjectTags", func(cur []string) []string {
		cur = slices.DeleteFunc(cur, func(t string) bool {
			k, _, ok := strings.Cut(t, "=")
			_, mine := tags[unescapeTag(k)]
			return ok && mine
		})
		for k, v := range tags {
			cur = append(cur, keyValueTag(k, v))
		}
		return cur
	})
}

// SetBillingContact implements provider.Provider: the contact is kept in
// the project's extra properties.
func (d *Driver) SetBillingContact(ctx context.Context, accountID string, ct provider.Contact) error {
	return d.update(ctx, accountID, "UpdateProject", projects.UpdateOpts{Extra: map[string]any{
		extraBilling + "name": ct.Name, extraBilling + "title": ct.Title,
		extraBilling + "email": ct.Email, extraBilling + "phone": ct.Phone,
	}})
}

// CloseAccount implements provider.Provider: the project is disabled (its
// tokens stop working), marked with when it was closed and every role
// assignment on it removed; PurgeClosed deletes it after the retention.
// A project already deleted is closed.
func (d *Driver) CloseAccount(ctx context.Context, accountID string) error {
	p, err := d.project(ctx, accountID)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Enabled || !slices.Contains(p.Tags, tagClosed) {
		disabled := false
		tags := append(slices.Clone(p.Tags), tagClosed)
		slices.Sort(tags)
		tags = slices.Compact(tags)
		extra := map[string]any{}
		if _, ok := p.Extra[extraClosedAt].(string); !ok {
			extra[extraClosedAt] = d.now().UTC().Format(time.RFC3339)
		}
		if err := d.update(ctx, accountID, "DisableProject", projects.UpdateOpts{Enabled: &disabled, Tags: &tags, Extra: extra}); err != nil {
			return err
		}
	}
	return d.removeAssignments(ctx, accountID, nil)
}

// removeAssignments removes the role assignments on the project whose role
// keep does not accept (nil: all).
func (d *Driver) removeAssignments(ctx context.Context, projectID string, keep func(role string) bool) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	names := true
	pages, err := roles.ListAssignments(c, roles.ListAssignmentsOpts{ScopeProjectID: projectID, IncludeNames: &names}).AllPages(ctx)
	if err != nil {
		return classify("ListRoleAssignments", err)
	}
	as, err := roles.ExtractRoleAssignments(pages)
	if err != nil {
		return classify("ListRoleAssignments", err)
	}
	for _, a := range as {
		if keep != nil && keep(a.Role.Name) {
			continue
		}
		err := roles.Unassign(ctx, c, a.Role.ID, roles.UnassignOpts{UserID: a.User.ID, GroupID: a.Group.ID, ProjectID: projectID}).ExtractErr()
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return classify("UnassignRole", err)
		}
	}
	return nil
}

// PurgeClosed deletes the projects closed longer than the retention ago,
// with the groups their environments had; hatoba keeps its own records of
// them. It returns how many it deleted.
func (d *Driver) PurgeClosed(ctx context.Context) (int, error) {
	c, err := d.client(ctx)
	if err != nil {
		return 0, err
	}
	ps, err := d.listProjects(ctx, projects.ListOpts{Tags: tagClosed})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		at, _ := p.Extra[extraClosedAt].(string)
		closed, perr := time.Parse(time.RFC3339, at)
		if perr != nil || d.now().Sub(closed) < d.retention || p.Enabled {
			continue
		}
		if err := d.deleteGroups(ctx, p); err != nil {
			return n, err
		}
		err := projects.Delete(ctx, c, p.ID).ExtractErr()
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return n, classify("DeleteProject", err)
		}
		n++
	}
	return n, nil
}

// Clone returns a driver on the same connection with nothing looked up
// yet, as another hatoba replica would be.
func (d *Driver) Clone() *Driver {
	c, _ := New(d.cfg)
	return c
}
