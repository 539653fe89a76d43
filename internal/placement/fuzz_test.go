package placement_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/placement"
)

// A policy from outside (PUT /api/v1/placement-policy, the console's form)
// is validated without panicking; a valid one stays valid and judges any
// candidate.
func FuzzPolicy(f *testing.F) {
	f.Add(`{"version":1,"rules":[{"classification":"level3","tiers":["domestic"],"providers":[],"on_breach":"refuse"}],"one_provider_per_system":{"enabled":true,"on_breach":"approve"}}`, "level3", "sim", "hyperscaler")
	f.Add(`{"rules":[{"classification":"level2","org_id":"lg-1","tiers":[],"providers":["a","a"],"on_breach":"approve"}]}`, "level2", "a", "domestic")
	f.Add(`{"rules":[{"classification":"level9"}]}`, "", "", "")
	f.Fuzz(func(t *testing.T, doc, cl, prov, tier string) {
		var p placement.Policy
		if json.Unmarshal([]byte(doc), &p) != nil {
			return
		}
		if err := p.Validate(); err != nil {
			return
		}
		again := p
		again.Rules = slices.Clone(p.Rules)
		if err := again.Validate(); err != nil {
			t.Fatalf("a validated policy is invalid the second time: %v", err)
		}
		for _, b := range p.Judge(placement.Candidate{Classification: cl, Provider: prov, Tier: tier, Ancestors: []string{"lg-1"},
			Others: []placement.Placed{{EnvID: "env-a", Provider: prov + "x"}}}) {
			if b.Reason == "" || (b.OnBreach != placement.Approve && b.OnBreach != placement.Refuse) {
				t.Fatalf("breach %+v", b)
			}
		}
	})
}
