package controls

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRenderOpenStackGuardrails(t *testing.T) {
	t.Parallel()
	cs, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	extra := Control{ID: "zz-roles", Title: Text{En: "Roles"}, Preventive: PreventivePolicy{OpenStack: &OpenStackGuardrail{
		AllowedRoles: []string{"member", "reader"}, ProjectLimits: []OpenStackLimit{{Service: "compute", Resource: "cores", Limit: 16}}}}}
	in := append([]Control{extra}, cs...)
	got, err := RenderOpenStackGuardrails(in, "")
	if err != nil {
		t.Fatal(err)
	}
	// The catalog's region control and the extra one, in name order,
	// whatever order they came in; AWS-only controls render nothing.
	if len(got) != 2 || got[0].Name != "hatoba-preventive-openstack-region-domestic" || got[1].Name != "hatoba-preventive-zz-roles" {
		t.Fatalf("rendered %+v", got)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(got[0].Document), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format"] != OpenStackGuardrailFormat || strings.Join(toStrings(doc["endpoint_regions"]), ",") != "jp-east-1,jp-west-1" {
		t.Fatalf("document %s", got[0].Document)
	}
	reversed := make([]Control, len(in))
	for i, c := range in {
		reversed[len(in)-1-i] = c
	}
	again, err := RenderOpenStackGuardrails(reversed, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].Document != again[i].Document || got[i].Name != again[i].Name {
			t.Fatalf("the order of the controls changed the output: %+v vs %+v", got[i], again[i])
		}
	}
}

func TestOpenStackGuardrailValidate(t *testing.T) {
	t.Parallel()
	c := Control{ID: "x", Title: Text{Ja: "x", En: "x"}, Description: Text{Ja: "x", En: "x"}, Remediation: Text{Ja: "x", En: "x"},
		Severity: High, Kinds: []Kind{Preventive}, ResourceTypes: []string{"openstack_compute_instance_v2"},
		Frameworks: Frameworks{NIST80053: []string{"AC-2"}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "preventive.openstack") {
		t.Fatalf("a preventive control with neither form: %v", err)
	}
	c.Preventive.OpenStack = &OpenStackGuardrail{ProjectLimits: []OpenStackLimit{{Service: "compute", Limit: 3}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "project_limits[0]") {
		t.Fatalf("a limit without a resource: %v", err)
	}
	c.Preventive.OpenStack.ProjectLimits[0].Resource = "cores"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
