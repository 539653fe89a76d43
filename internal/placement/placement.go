// Package placement decides where an environment may be placed: which
// provider connections, by their tier (domestic, hyperscaler) or by name,
// each classification may go on, and whether a system's environments stay
// on one provider (docs/providers.md#placement). The policy is kept in the
// database, versioned; central operators change it, audited. Vending asks
// Judge at every request and transfer.
package placement

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The tiers of provider connections.
const (
	TierDomestic    = "domestic"    // domestically operated infrastructure (OpenStack clouds, a ministry's own)
	TierHyperscaler = "hyperscaler" // commercial hyperscalers
)

// Tiers lists the tiers.
var Tiers = []string{TierDomestic, TierHyperscaler}

// Classifications are the classifications a rule may name (env's).
var Classifications = []string{"level1", "level2", "level3"}

// OnBreach is what happens to a request that breaks a rule.
type OnBreach string

const (
	// Approve sends the request to the central approval queue with the
	// reason; an operator may still approve it.
	Approve OnBreach = "approve"
	// Refuse refuses the request outright: nothing is stored.
	Refuse OnBreach = "refuse"
)

// Rule says which provider connections one classification may be placed
// on: those of a listed tier, and those listed by name whatever their
// tier. With OrgID it holds in that organisation's subtree only, on top
// of the rules that hold everywhere.
type Rule struct {
	Classification string   `json:"classification"`
	OrgID          string   `json:"org_id,omitempty"`
	Tiers          []string `json:"tiers"`
	Providers      []string `json:"providers"`
	OnBreach       OnBreach `json:"on_breach"`
}

// Name names a rule in reasons: "level3", or "level3@lg-131016" for one
// organisation's subtree.
func (r Rule) Name() string {
	if r.OrgID != "" {
		return r.Classification + "@" + r.OrgID
	}
	return r.Classification
}

func (r Rule) allows(provider, tier string) bool {
	return slices.Contains(r.Tiers, tier) || slices.Contains(r.Providers, provider)
}

// SystemRule keeps a system's environments (of one organisation, one
// system name, any purpose) on one provider connection.
type SystemRule struct {
	Enabled  bool     `json:"enabled"`
	OnBreach OnBreach `json:"on_breach"`
}

// Policy is the placement policy. Version counts its changes: a change
// names the version it was based on, and one based on an older version is
// refused.
type Policy struct {
	Version              int        `json:"version"`
	Rules                []Rule     `json:"rules"`
	OneProviderPerSystem SystemRule `json:"one_provider_per_system"`
	ChangedBy            string     `json:"changed_by"`
	ChangedAt            time.Time  `json:"changed_at"`
}

// Default is the policy hatoba starts with when the configuration names
// none: level3 only on the domestic tier; level2 on either tier; level1
// anywhere. A breach waits for a central operator's approval.
func Default() Policy {
	return Policy{Rules: []Rule{
		{Classification: "level3", Tiers: []string{TierDomestic}, Providers: []string{}, OnBreach: Approve},
		{Classification: "level2", Tiers: []string{TierDomestic, TierHyperscaler}, Providers: []string{}, OnBreach: Approve},
		{Classification: "level1", Tiers: []string{TierDomestic, TierHyperscaler}, Providers: []string{}, OnBreach: Approve},
	}, OneProviderPerSystem: SystemRule{OnBreach: Approve}}
}

// Validate checks a policy's rules and puts them in a stable order; it
// reports every problem at once.
func (p *Policy) Validate() error {
	var problems []string
	seen := map[string]bool{}
	for i := range p.Rules {
		r := &p.Rules[i]
		r.OrgID = strings.TrimSpace(r.OrgID)
		if !slices.Contains(Classifications, r.Classification) {
			problems = append(problems, fmt.Sprintf("rules[%d].classification: %q is not one of %s", i, r.Classification, strings.Join(Classifications, ", ")))
		}
		for _, t := range r.Tiers {
			if !slices.Contains(Tiers, t) {
				problems = append(problems, fmt.Sprintf("rules[%d].tiers: %q is not one of %s", i, t, strings.Join(Tiers, ", ")))
			}
		}
		for _, n := range r.Providers {
			if strings.TrimSpace(n) == "" || len(n) > 64 {
				problems = append(problems, fmt.Sprintf("rules[%d].providers: %q is not a provider connection's name", i, n))
			}
		}
		if len(r.Tiers) == 0 && len(r.Providers) == 0 {
			problems = append(problems, fmt.Sprintf("rules[%d]: rule %s allows no tier and no provider; remove the classification's rule to allow it anywhere, or name where it may go", i, r.Name()))
		}
		if r.OnBreach != Approve && r.OnBreach != Refuse {
			problems = append(problems, fmt.Sprintf("rules[%d].on_breach: %q is not approve or refuse", i, r.OnBreach))
		}
		if len(r.OrgID) > 64 {
			problems = append(problems, fmt.Sprintf("rules[%d].org_id: longer than 64 characters", i))
		}
		if seen[r.Name()] {
			problems = append(problems, fmt.Sprintf("rules[%d]: a second rule %s; one rule per classification and organisation", i, r.Name()))
		}
		seen[r.Name()] = true
		if r.Tiers == nil {
			r.Tiers = []string{}
		}
		if r.Providers == nil {
			r.Providers = []string{}
		}
		slices.Sort(r.Tiers)
		r.Tiers = slices.Compact(r.Tiers)
		slices.Sort(r.Providers)
		r.Providers = slices.Compact(r.Providers)
	}
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	if p.OneProviderPerSystem.OnBreach == "" {
		p.OneProviderPerSystem.OnBreach = Approve
	}
	if o := p.OneProviderPerSystem.OnBreach; o != Approve && o != Refuse {
		problems = append(problems, fmt.Sprintf("one_provider_per_system.on_breach: %q is not approve or refuse", o))
	}
	if len(problems) > 0 {
		return fault.Invalidf("placement policy: %s", strings.Join(problems, "; "))
	}
	// Rules everywhere first, by classification (level3 first), then each
	// organisation's.
	slices.SortStableFunc(p.Rules, func(a, b Rule) int {
		if c := strings.Compare(a.OrgID, b.OrgID); c != 0 {
			return c
		}
		return -strings.Compare(a.Classification, b.Classification)
	})
	return nil
}

// Placed is another environment of the same system, where it is.
type Placed struct {
	EnvID    string
	Provider string
}

// Candidate is an environment as it would be placed: requested, or
// transferred to another organisation.
type Candidate struct {
	OrgID          string
	System         string
	Classification string
	Provider       string
	Tier           string
	// Ancestors are the organisation and every organisation above it,
	// for the rules of one subtree.
	Ancestors []string
	// Others are the system's other live environments in the
	// organisation.
	Others []Placed
}

// Breach is one rule a candidate breaks.
type Breach struct {
	// Rule is the rule's name: "level3", "level3@lg-131016", or
	// "one_provider_per_system".
	Rule     string   `json:"rule"`
	OnBreach OnBreach `json:"on_breach"`
	Reason   string   `json:"reason"`
	// Environments are the system's environments elsewhere, for the
	// one-provider rule.
	Environments []string `json:"environments,omitempty"`
}

// RuleOneProvider names the one-provider-per-system rule in breaches.
const RuleOneProvider = "one_provider_per_system"

// Judge returns the rules c breaks; none means the placement is allowed.
func (p Policy) Judge(c Candidate) []Breach {
	var out []Breach
	for _, r := range p.Rules {
		if r.Classification != c.Classification || (r.OrgID != "" && !slices.Contains(c.Ancestors, r.OrgID)) || r.allows(c.Provider, c.Tier) {
			continue
		}
		out = append(out, Breach{Rule: r.Name(), OnBreach: r.OnBreach,
			Reason: fmt.Sprintf("classification %s may not be placed on provider %s (tier %s): placement rule %s allows tiers [%s] and providers [%s]",
				c.Classification, c.Provider, c.Tier, r.Name(), strings.Join(r.Tiers, " "), strings.Join(r.Providers, " "))})
	}
	if p.OneProviderPerSystem.Enabled {
		var elsewhere, names []string
		for _, o := range c.Others {
			if o.Provider != c.Provider {
				elsewhere = append(elsewhere, o.EnvID+" ("+o.Provider+")")
				names = append(names, o.EnvID)
			}
		}
		if len(elsewhere) > 0 {
			out = append(out, Breach{Rule: RuleOneProvider, OnBreach: p.OneProviderPerSystem.OnBreach, Environments: names,
				Reason: fmt.Sprintf("system %q of %s stays on one provider, and its other environments are elsewhere: %s, while this one is on %s",
					c.System, c.OrgID, strings.Join(elsewhere, ", "), c.Provider)})
		}
	}
	return out
}

// Refusal is a placement the policy refuses outright. It is a fault.Invalid
// error on the field "provider" (422), and carries what a person needs to
// act on it.
type Refusal struct {
	Classification string
	Provider       string
	Tier           string
	Breaches       []Breach
	err            error
}

func (r *Refusal) Error() string { return r.err.Error() }
func (r *Refusal) Unwrap() error { return r.err }

// Decide splits breaches into a refusal (when any says refuse, or when
// refuseAll: a transfer has no approval queue) and the reasons a request
// waits for approval with.
func Decide(c Candidate, breaches []Breach, refuseAll bool, what string) (reasons []string, err error) {
	var refused []Breach
	for _, b := range breaches {
		if refuseAll || b.OnBreach == Refuse {
			refused = append(refused, b)
		} else {
			reasons = append(reasons, b.Reason)
		}
	}
	if len(refused) == 0 {
		return reasons, nil
	}
	var msgs []string
	for _, b := range refused {
		msgs = append(msgs, b.Reason)
	}
	return nil, &Refusal{Classification: c.Classification, Provider: c.Provider, Tier: c.Tier, Breaches: refused,
		err: fault.InvalidField("provider", "%s refused by the placement policy: %s", what, strings.Join(msgs, "; "))}
}

// AsRefusal finds a Refusal in err's chain.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// HasOrgRules reports whether a rule holds in one organisation's subtree
// only: judging needs where the organisation sits.
func (p Policy) HasOrgRules() bool {
	for _, r := range p.Rules {
		if r.OrgID != "" {
			return true
		}
	}
	return false
}

// Allows reports whether a classification may be placed on a provider of
// a tier in an organisation (ancestors: the organisation and those above
// it; nil for the rules that hold everywhere only), ignoring the
// one-provider rule: what a request form offers.
func (p Policy) Allows(classification, provider, tier string, ancestors []string) bool {
	return len(p.Judge(Candidate{Classification: classification, Provider: provider, Tier: tier, Ancestors: ancestors})) == 0
}
