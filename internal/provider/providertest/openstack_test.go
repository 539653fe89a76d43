package providertest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projectendpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack"
	"github.com/hatoba-cloud/hatoba/internal/provider/openstack/keystonetest"
	"github.com/hatoba-cloud/hatoba/internal/provider/providertest"
)

// TestOpenStack runs the conformance suite on the openstack driver and the
// real Keystone of scripts/keystone.sh, each test in a domain of its own.
func TestOpenStack(t *testing.T) {
	t.Parallel()
	keystonetest.URL(t) // skip (or fail, when required) before any subtest
	providertest.Run(t, providertest.Cloud{New: newOpenStack, Guardrail: guardrail})
}

func newOpenStack(t *testing.T, client *http.Client) (provider.Provider, providertest.Inspector) {
	t.Helper()
	d, domainID := keystonetest.Driver(t, keystonetest.Options{HTTPClient: client})
	return d, &keystoneInspector{admin: keystonetest.Admin(t), domainID: domainID}
}

// guardrailVariants: variant 1 is stricter than 0, so that either combined
// with an own guardrail of variant 0 is that variant.
var guardrailVariants = []openstack.Guardrail{
	{Format: openstack.GuardrailFormat, EndpointRegions: []string{"jp-east-1", "jp-west-1"},
		ProjectLimits: []openstack.Limit{{Service: "compute", Region: "jp-east-1", Resource: "cores", Limit: 20}},
		AllowedRoles:  []string{"admin", "member", "reader"}},
	{Format: openstack.GuardrailFormat, EndpointRegions: []string{"jp-east-1"},
		ProjectLimits: []openstack.Limit{{Service: "compute", Region: "jp-east-1", Resource: "cores", Limit: 8}},
		AllowedRoles:  []string{"admin", "member"}},
}

func guardrail(name string, variant int) provider.Policy {
	doc, err := json.Marshal(guardrailVariants[variant])
	if err != nil {
		panic(err)
	}
	return provider.Policy{Name: name, Description: "conformance", Document: string(doc)}
}

type keystoneInspector struct {
	admin    *gophercloud.ServiceClient
	domainID string
}

func (k *keystoneInspector) projects(ctx context.Context, opts projects.ListOpts) ([]projects.Project, error) {
	opts.DomainID = k.domainID
	pages, err := projects.List(k.admin, opts).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	return projects.ExtractProjects(pages)
}

func (k *keystoneInspector) Accounts(ctx context.Context, email string) (int, error) {
	ps, err := k.projects(ctx, projects.ListOpts{})
	n := 0
	for _, p := range ps {
		if e, _ := p.Extra["hatoba_email"].(string); strings.EqualFold(e, email) {
			n++
		}
	}
	return n, err
}

func (k *keystoneInspector) project(ctx context.Context, id string) (*projects.Project, error) {
	return projects.Get(ctx, k.admin, id).Extract()
}

func (k *keystoneInspector) Unit(ctx context.Context, id string) (string, error) {
	p, err := k.project(ctx, id)
	if err != nil {
		return "", err
	}
	for _, t := range p.Tags {
		if u, ok := strings.CutPrefix(t, "hatoba-unit="); ok {
			return u, nil
		}
	}
	return "", nil
}

func (k *keystoneInspector) attached(ctx context.Context, id string) (map[string]openstack.Guardrail, error) {
	p, err := k.project(ctx, id)
	if err != nil {
		return nil, err
	}
	out := map[string]openstack.Guardrail{}
	if raw, _ := p.Extra["hatoba_guardrails"].(string); raw != "" {
		err = json.Unmarshal([]byte(raw), &out)
	}
	return out, err
}

func (k *keystoneInspector) Policies(ctx context.Context, id, prefix string) ([]string, error) {
	a, err := k.attached(ctx, id)
	var names []string
	for n := range a {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, err
}

// Enforced looks at what Keystone enforces, not at hatoba's record: the
// project's endpoint associations and its unified limits are the
// variant's (combined with the suite's own guardrail of variant 0, which
// every variant is at least as strict as), and no role outside the
// variant's is assigned on it.
func (k *keystoneInspector) Enforced(ctx context.Context, id, name string, variant int) (bool, error) {
	a, err := k.attached(ctx, id)
	if err != nil {
		return false, err
	}
	if _, ok := a[name]; !ok {
		return false, nil
	}
	v := guardrailVariants[variant]
	pages, err := projectendpoints.List(k.admin, id).AllPages(ctx)
	if err != nil {
		return false, err
	}
	eps, err := projectendpoints.ExtractEndpoints(pages)
	if err != nil {
		return false, err
	}
	var regions []string
	for _, e := range eps {
		regions = append(regions, e.Region)
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	if !slices.Equal(regions, v.EndpointRegions) {
		return false, nil
	}
	lpages, err := limits.List(k.admin, limits.ListOpts{ProjectID: id}).AllPages(ctx)
	if err != nil {
		return false, err
	}
	ls, err := limits.ExtractLimits(lpages)
	if err != nil || len(ls) != len(v.ProjectLimits) {
		return false, err
	}
	for i, l := range ls {
		if l.ResourceName != v.ProjectLimits[i].Resource || l.ResourceLimit != v.ProjectLimits[i].Limit || l.RegionID != v.ProjectLimits[i].Region {
			return false, nil
		}
	}
	names := true
	apages, err := roles.ListAssignments(k.admin, roles.ListAssignmentsOpts{ScopeProjectID: id, IncludeNames: &names}).AllPages(ctx)
	if err != nil {
		return false, err
	}
	as, err := roles.ExtractRoleAssignments(apages)
	for _, a := range as {
		if !slices.Contains(v.AllowedRoles, a.Role.Name) {
			return false, err
		}
	}
	return true, err
}

func (k *keystoneInspector) Groups(ctx context.Context, id string) ([]string, error) {
	names := true
	pages, err := roles.ListAssignments(k.admin, roles.ListAssignmentsOpts{ScopeProjectID: id, IncludeNames: &names}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	as, err := roles.ExtractRoleAssignments(pages)
	var out []string
	for _, a := range as {
		if a.Group.Name != "" {
			out = append(out, a.Group.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), err
}

func (k *keystoneInspector) Members(ctx context.Context, group string) ([]string, error) {
	pages, err := groups.List(k.admin, groups.ListOpts{DomainID: k.domainID, Name: group}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	gs, err := groups.ExtractGroups(pages)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	if len(gs) > 1 {
		return []string{"duplicate group " + group}, nil
	}
	upages, err := users.ListInGroup(k.admin, gs[0].ID, users.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, err
	}
	us, err := users.ExtractUsers(upages)
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out, err
}

func (k *keystoneInspector) Tag(ctx context.Context, id, key string) (string, error) {
	p, err := k.project(ctx, id)
	if err != nil {
		return "", err
	}
	unescape := strings.NewReplacer("%2F", "/", "%2C", ",", "%25", "%")
	for _, t := range p.Tags {
		if k, v, ok := strings.Cut(t, "="); ok && unescape.Replace(k) == key {
			return unescape.Replace(v), nil
		}
	}
	return "", nil
}

func (k *keystoneInspector) Closed(ctx context.Context, id string) (bool, error) {
	p, err := k.project(ctx, id)
	if err != nil {
		return false, err
	}
	names := true
	pages, err := roles.ListAssignments(k.admin, roles.ListAssignmentsOpts{ScopeProjectID: id, IncludeNames: &names}).AllPages(ctx)
	if err != nil {
		return false, err
	}
	as, err := roles.ExtractRoleAssignments(pages)
	return !p.Enabled && len(as) == 0, err
}
