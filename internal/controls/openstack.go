package controls

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// OpenStackGuardrailFormat marks a rendered OpenStack guardrail; the
// openstack driver (internal/provider/openstack) reads documents of this
// format and skips others.
const OpenStackGuardrailFormat = "hatoba-openstack-guardrail/v1"

// OpenStackGuardrail is what OpenStack can enforce on a project before
// anything happens in it — the counterpart of an SCP statement.
type OpenStackGuardrail struct {
	// EndpointRegions are the only regions whose endpoints the project's
	// tokens list (Keystone's OS-EP-FILTER).
	EndpointRegions []string `yaml:"endpoint_regions" json:"endpoint_regions,omitempty"`
	// ProjectLimits are unified limits on the project.
	ProjectLimits []OpenStackLimit `yaml:"project_limits" json:"project_limits,omitempty"`
	// AllowedRoles are the only roles that may be assigned on the project.
	AllowedRoles []string `yaml:"allowed_roles" json:"allowed_roles,omitempty"`
}

// OpenStackLimit is one unified limit: Service is the catalog's service
// type (compute, volumev3 …).
type OpenStackLimit struct {
	Service  string `yaml:"service" json:"service"`
	Region   string `yaml:"region" json:"region,omitempty"`
	Resource string `yaml:"resource" json:"resource"`
	Limit    int    `yaml:"limit" json:"limit"`
}

func (g OpenStackGuardrail) problems() []string {
	var out []string
	if len(g.EndpointRegions) == 0 && len(g.ProjectLimits) == 0 && len(g.AllowedRoles) == 0 {
		out = append(out, "names no endpoint_regions, project_limits or allowed_roles")
	}
	for i, l := range g.ProjectLimits {
		if l.Service == "" || l.Resource == "" || l.Limit < -1 {
			out = append(out, fmt.Sprintf("project_limits[%d] needs a service, a resource and a limit of -1 or more", i))
		}
	}
	return out
}

// RenderOpenStackGuardrails renders the OpenStack guardrails of cs — the
// preventive controls enforced on one project — one document per control,
// named prefix + "-" + the control's id (prefix empty means
// "hatoba-preventive", the name reconciliation manages), sorted by name.
// Unlike SCPs there is no limit to pack into: the driver keeps each
// guardrail and enforces their strictest combination. Controls without an
// OpenStack guardrail are skipped. The same controls in any order give
// byte-identical output.
func RenderOpenStackGuardrails(cs []Control, prefix string) ([]RenderedPolicy, error) {
	if prefix == "" {
		prefix = "hatoba-preventive"
	}
	seen := map[string]bool{}
	var out []RenderedPolicy
	for _, c := range cs {
		g := c.Preventive.OpenStack
		if g == nil || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		doc := struct {
			Format string `json:"format"`
			OpenStackGuardrail
		}{OpenStackGuardrailFormat, *g}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("control %s: openstack guardrail: %w", c.ID, err)
		}
		out = append(out, RenderedPolicy{Name: prefix + "-" + c.ID, Description: c.Title.En,
			Document: string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), Controls: []string{c.ID}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
