package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/placement"
	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Provider connections and the placement policy (docs/providers.md):
// every signed-in person reads them — tenants choose a provider with
// them — and only central operators change the policy.

// ProviderInfo is one provider connection as people choose it: no
// credential, no endpoint.
type ProviderInfo struct {
	Name string `json:"name"`
	// Kind is the driver: aws, openstack, or sim (the aws driver on the
	// simulated cloud).
	Kind string `json:"kind"`
	Tier string `json:"tier"`
	Cap  int    `json:"cap"`
	// Classifications are those the connection lists; Allowed those of
	// them the placement policy's rules for every organisation allow on
	// it (an organisation's own rules may narrow them further).
	Classifications []env.Classification  `json:"classifications"`
	Allowed         []env.Classification  `json:"allowed_classifications"`
	Capabilities    provider.Capabilities `json:"capabilities"`
}

// Providers lists the provider connections with what the placement policy
// pol allows on each (nil: the connections' own lists).
func (s *Server) Providers(pol *placement.Policy) []ProviderInfo {
	out := []ProviderInfo{}
	for _, cn := range s.Vending.Connections() {
		pi := ProviderInfo{Name: cn.Name, Kind: cn.Kind, Tier: cn.Tier, Cap: cn.Cap,
			Classifications: slices.Clone(cn.Allowed), Allowed: []env.Classification{}, Capabilities: provider.CapabilitiesOf(cn.Provider)}
		for _, cl := range cn.Allowed {
			if pol == nil || pol.Allows(string(cl), cn.Name, cn.Tier, nil) {
				pi.Allowed = append(pi.Allowed, cl)
			}
		}
		out = append(out, pi)
	}
	return out
}

var errNoPlacement = &fault.Error{Kind: fault.Unavailable, Message: "this server keeps no placement policy"}

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	var pol *placement.Policy
	if ps := s.Vending.Placement(); ps != nil {
		p, err := ps.Current(r.Context())
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		pol = &p
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": s.Providers(pol)})
}

func (s *Server) getPlacementPolicy(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	ps := s.Vending.Placement()
	if ps == nil {
		writeError(w, r, s.Logger, errNoPlacement)
		return
	}
	p, err := ps.Current(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// PlacementPolicyInput is a new placement policy; Version is the version
// it was based on (a stale one is a 409).
type PlacementPolicyInput struct {
	Version              int                  `json:"version"`
	Rules                []placement.Rule     `json:"rules"`
	OneProviderPerSystem placement.SystemRule `json:"one_provider_per_system"`
}

func (s *Server) putPlacementPolicy(w http.ResponseWriter, r *http.Request) {
	ps := s.Vending.Placement()
	if ps == nil {
		writeError(w, r, s.Logger, errNoPlacement)
		return
	}
	if _, err := s.decide(r, authz.WritePlacement, authz.Resource{Kind: "placement policy", ID: "placement-policy"}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var in PlacementPolicyInput
	if !decodeJSON(w, r, &in) {
		return
	}
	p, err := s.PutPlacementPolicy(r.Context(), principal(r).PersonID, placement.Policy{Version: in.Version, Rules: in.Rules, OneProviderPerSystem: in.OneProviderPerSystem})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// PutPlacementPolicy changes the placement policy as the person by (the
// API's PUT and the console's form): an organisation a rule names must
// exist, so a mistyped id does not make a rule that never holds.
func (s *Server) PutPlacementPolicy(ctx context.Context, by string, p placement.Policy) (placement.Policy, error) {
	ps := s.Vending.Placement()
	if ps == nil {
		return placement.Policy{}, errNoPlacement
	}
	for i, r := range p.Rules {
		if r.OrgID == "" {
			continue
		}
		if _, err := s.Orgs.Get(ctx, strings.TrimSpace(r.OrgID)); err != nil {
			if fault.KindOf(err) == fault.NotFound {
				return placement.Policy{}, fault.InvalidField(fmt.Sprintf("rules[%d].org_id", i), "rule %d names organisation %q, which does not exist", i, r.OrgID)
			}
			return placement.Policy{}, err
		}
	}
	return ps.Put(ctx, by, p)
}
