package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projectendpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// GuardrailFormat marks a provider.Policy document as an OpenStack
// guardrail, the OpenStack counterpart of an AWS service control policy.
const GuardrailFormat = "hatoba-openstack-guardrail/v1"

// DomesticGuardrail names the guardrail of Config.DomesticRegions.
const DomesticGuardrail = "hatoba-domestic-regions"

// Guardrail is what OpenStack can enforce before anything happens in a
// project, as one policy document (provider.Policy.Document, JSON):
//
//	{"format": "hatoba-openstack-guardrail/v1",
//	 "endpoint_regions": ["jp-east-1", "jp-west-1"],
//	 "project_limits": [{"service": "compute", "region": "jp-east-1", "resource": "cores", "limit": 64}],
//	 "allowed_roles": ["member", "reader"]}
//
// Several guardrails on one project combine to the strictest: the regions
// and roles all of them allow, the lowest of each limit.
type Guardrail struct {
	Format string `json:"format"`
	// EndpointRegions are the only regions whose endpoints the project's
	// tokens list (OS-EP-FILTER project endpoint associations); nil means
	// no filter.
	EndpointRegions []string `json:"endpoint_regions,omitempty"`
	// ProjectLimits are unified limits on the project; Keystone needs a
	// registered limit of the same service, region and resource first.
	ProjectLimits []Limit `json:"project_limits,omitempty"`
	// AllowedRoles are the only roles that may be assigned on the project:
	// other assignments are removed and AssignAccess refuses them; nil
	// means any.
	AllowedRoles []string `json:"allowed_roles,omitempty"`
}

// Limit is one unified limit: Service is the service's type (compute,
// volumev3, object-store …), Region may be empty.
type Limit struct {
	Service  string `json:"service"`
	Region   string `json:"region,omitempty"`
	Resource string `json:"resource"`
	Limit    int    `json:"limit"`
}

func (l Limit) key() string { return l.Service + "|" + l.Region + "|" + l.Resource }

// ParseGuardrail reads a guardrail document; ok is false for a document of
// another format (an AWS SCP), which this driver cannot enforce.
func ParseGuardrail(doc string) (g Guardrail, ok bool, err error) {
	if err := json.Unmarshal([]byte(doc), &g); err != nil {
		return Guardrail{}, false, nil
	}
	if g.Format != GuardrailFormat {
		return Guardrail{}, false, nil
	}
	for _, l := range g.ProjectLimits {
		if l.Service == "" || l.Resource == "" || l.Limit < -1 {
			return Guardrail{}, true, fmt.Errorf("limit %+v needs a service, a resource and a limit of -1 or more", l)
		}
	}
	return g, true, nil
}

// attached are the guardrails on one project by policy name, as recorded
// in its extra property hatoba_guardrails.
type attached map[string]Guardrail

func guardrailsOf(p *projects.Project) (attached, error) {
	raw, _ := p.Extra[extraGuardrail].(string)
	a := attached{}
	if raw == "" {
		return a, nil
	}
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		return nil, &provider.Error{Class: provider.Permanent, Op: "GetProject",
			Err: fmt.Errorf("project %s: property %s is not hatoba's: %w", p.ID, extraGuardrail, err)}
	}
	return a, nil
}

// effective combines the guardrails to the strictest.
func (a attached) effective() Guardrail {
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	var out Guardrail
	lim := map[string]Limit{}
	for _, n := range names {
		g := a[n]
		if g.EndpointRegions != nil {
			out.EndpointRegions = intersect(out.EndpointRegions, g.EndpointRegions)
		}
		if g.AllowedRoles != nil {
			out.AllowedRoles = intersect(out.AllowedRoles, g.AllowedRoles)
		}
		for _, l := range g.ProjectLimits {
			if cur, ok := lim[l.key()]; !ok || l.Limit < cur.Limit {
				lim[l.key()] = l
			}
		}
	}
	for _, l := range lim {
		out.ProjectLimits = append(out.ProjectLimits, l)
	}
	sort.Slice(out.ProjectLimits, func(i, j int) bool { return out.ProjectLimits[i].key() < out.ProjectLimits[j].key() })
	return out
}

// intersect is b when a is nil (no restriction yet), else what both hold;
// never nil once restricted, so that "nothing allowed" stays a restriction.
func intersect(a, b []string) []string {
	if a == nil {
		out := append([]string{}, b...)
		slices.Sort(out)
		return slices.Compact(out)
	}
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// AttachPolicies implements provider.Provider: the guardrails join those on
// the project, and the project is brought to their combination.
func (d *Driver) AttachPolicies(ctx context.Context, accountID string, policies []provider.Policy) error {
	return d.setGuardrails(ctx, accountID, func(string) bool { return true }, policies)
}

// SetPolicies implements provider.PolicySetter: the guardrails hatoba
// manages (names starting with managedPrefix) not in policies are taken
// off, policies put on, and the project brought to their combination;
// guardrails not hatoba's are kept.
func (d *Driver) SetPolicies(ctx context.Context, accountID, managedPrefix string, policies []provider.Policy) error {
	return d.setGuardrails(ctx, accountID, func(name string) bool { return !strings.HasPrefix(name, managedPrefix) }, policies)
}

func (d *Driver) setGuardrails(ctx context.Context, accountID string, keep func(name string) bool, policies []provider.Policy) error {
	p, err := d.project(ctx, accountID)
	if err != nil {
		return err
	}
	cur, err := guardrailsOf(p)
	if err != nil {
		return err
	}
	next := attached{}
	for n, g := range cur {
		if keep(n) {
			next[n] = g
		}
	}
	for _, pol := range policies {
		g, ok, err := ParseGuardrail(pol.Document)
		if err != nil {
			return &provider.Error{Class: provider.Permanent, Op: "AttachGuardrail", Err: fmt.Errorf("guardrail %s: %w", pol.Name, err)}
		}
		if !ok {
			// Another cloud's policy (an AWS SCP of a control with no
			// OpenStack form): nothing here can enforce it.
			d.log.Debug("openstack: policy is not an OpenStack guardrail; skipped", "connection", d.cfg.Name, "policy", pol.Name)
			continue
		}
		next[pol.Name] = g
	}
	if len(d.cfg.DomesticRegions) > 0 {
		next[DomesticGuardrail] = Guardrail{Format: GuardrailFormat, EndpointRegions: d.cfg.DomesticRegions}
	}
	// The record first, then the project: a crash in between leaves a
	// record that the next run enforces again.
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if old, _ := p.Extra[extraGuardrail].(string); old != string(raw) {
		if err := d.update(ctx, accountID, "UpdateProject", projects.UpdateOpts{Extra: map[string]any{extraGuardrail: string(raw)}}); err != nil {
			return err
		}
	}
	return d.enforce(ctx, accountID, next.effective())
}

// Guardrails returns the guardrails recorded on a project and their
// combination; for tests and the conformance suite.
func (d *Driver) Guardrails(ctx context.Context, accountID string) (names []string, effective Guardrail, err error) {
	p, err := d.project(ctx, accountID)
	if err != nil {
		return nil, Guardrail{}, err
	}
	a, err := guardrailsOf(p)
	if err != nil {
		return nil, Guardrail{}, err
	}
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, a.effective(), nil
}

func (d *Driver) enforce(ctx context.Context, projectID string, g Guardrail) error {
	if err := d.enforceEndpoints(ctx, projectID, g.EndpointRegions); err != nil {
		return err
	}
	if err := d.enforceLimits(ctx, projectID, g.ProjectLimits); err != nil {
		return err
	}
	if g.AllowedRoles != nil {
		return d.removeAssignments(ctx, projectID, func(role string) bool { return slices.Contains(g.AllowedRoles, role) })
	}
	return nil
}

// enforceEndpoints associates the project with exactly the endpoints of
// the allowed regions. A project with no association sees every endpoint,
// so an allowed set with no endpoint at all is refused, not applied.
func (d *Driver) enforceEndpoints(ctx context.Context, projectID string, regions []string) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if regions != nil {
		pages, err := endpoints.List(c, endpoints.ListOpts{}).AllPages(ctx)
		if err != nil {
			return classify("ListEndpoints", err)
		}
		eps, err := endpoints.ExtractEndpoints(pages)
		if err != nil {
			return classify("ListEndpoints", err)
		}
		for _, e := range eps {
			if slices.Contains(regions, e.Region) {
				want[e.ID] = true
			}
		}
		if len(want) == 0 {
			return &provider.Error{Class: provider.Permanent, Op: "AssociateEndpoints", Code: "NoEndpointInRegions",
				Err: fmt.Errorf("no endpoint of the catalog is in the allowed regions %s; an unfiltered project would see them all", strings.Join(regions, ", "))}
		}
	}
	pages, err := projectendpoints.List(c, projectID).AllPages(ctx)
	if err != nil {
		return classify("ListProjectEndpoints", err)
	}
	have, err := projectendpoints.ExtractEndpoints(pages)
	if err != nil {
		return classify("ListProjectEndpoints", err)
	}
	has := map[string]bool{}
	// Associate before dissociating: the project never passes through
	// "no association", which Keystone reads as "every endpoint".
	for _, e := range have {
		has[e.ID] = true
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if has[id] {
			continue
		}
		err := projectendpoints.Create(ctx, c, projectID, id).ExtractErr()
		if isStatus(err, http.StatusNotFound) {
			continue // the endpoint was deleted since it was listed: nothing to show
		}
		if err != nil {
			return classify("AssociateEndpoint", err)
		}
	}
	for _, e := range have {
		if want[e.ID] {
			continue
		}
		if err := projectendpoints.Delete(ctx, c, projectID, e.ID).ExtractErr(); err != nil && !isStatus(err, http.StatusNotFound) {
			return classify("DissociateEndpoint", err)
		}
	}
	return nil
}

// ProjectEndpointRegions returns the regions of the endpoints a project is
// associated with, sorted; for tests and the conformance suite.
func (d *Driver) ProjectEndpointRegions(ctx context.Context, projectID string) ([]string, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	pages, err := projectendpoints.List(c, projectID).AllPages(ctx)
	if err != nil {
		return nil, classify("ListProjectEndpoints", err)
	}
	have, err := projectendpoints.ExtractEndpoints(pages)
	if err != nil {
		return nil, classify("ListProjectEndpoints", err)
	}
	var out []string
	for _, e := range have {
		out = append(out, e.Region)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (d *Driver) serviceID(ctx context.Context, typ string) (string, error) {
	c, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	pages, err := services.List(c, services.ListOpts{ServiceType: typ}).AllPages(ctx)
	if err != nil {
		return "", classify("ListServices", err)
	}
	ss, err := services.ExtractServices(pages)
	if err != nil {
		return "", classify("ListServices", err)
	}
	if len(ss) == 0 {
		return "", &provider.Error{Class: provider.Permanent, Op: "ListServices", Code: "ServiceNotFound",
			Err: fmt.Errorf("the catalog has no service of type %q for a project limit", typ)}
	}
	return ss[0].ID, nil
}

// enforceLimits makes the project's unified limits exactly want.
func (d *Driver) enforceLimits(ctx context.Context, projectID string, want []Limit) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	pages, err := limits.List(c, limits.ListOpts{ProjectID: projectID}).AllPages(ctx)
	if err != nil {
		return classify("ListLimits", err)
	}
	have, err := limits.ExtractLimits(pages)
	if err != nil {
		return classify("ListLimits", err)
	}
	byKey := map[string]limits.Limit{}
	for _, l := range have {
		byKey[l.ServiceID+"|"+l.RegionID+"|"+l.ResourceName] = l
	}
	wanted := map[string]bool{}
	var create limits.BatchCreateOpts
	for _, w := range want {
		sid, err := d.serviceID(ctx, w.Service)
		if err != nil {
			return err
		}
		k := sid + "|" + w.Region + "|" + w.Resource
		wanted[k] = true
		cur, ok := byKey[k]
		switch {
		case !ok:
			create = append(create, limits.CreateOpts{ProjectID: projectID, ServiceID: sid, RegionID: w.Region,
				ResourceName: w.Resource, ResourceLimit: w.Limit, Description: "hatoba guardrail"})
		case cur.ResourceLimit != w.Limit:
			n := w.Limit
			if _, err := limits.Update(ctx, c, cur.ID, limits.UpdateOpts{ResourceLimit: &n}).Extract(); err != nil {
				return classify("UpdateLimit", err)
			}
		}
	}
	if len(create) > 0 {
		_, err := limits.BatchCreate(ctx, c, create).Extract()
		if isStatus(err, http.StatusConflict) {
			return &provider.Error{Class: provider.Transient, Op: "CreateLimits", Code: "Conflict", Err: errors.New("a limit was created concurrently; the step looks again")}
		}
		if err != nil {
			return classify("CreateLimits", err)
		}
	}
	for k, l := range byKey {
		if wanted[k] {
			continue
		}
		if err := limits.Delete(ctx, c, l.ID).ExtractErr(); err != nil && !isStatus(err, http.StatusNotFound) {
			return classify("DeleteLimit", err)
		}
	}
	return nil
}
