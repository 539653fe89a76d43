package sovereignty

import (
	"cmp"
	"slices"
)

// Placement is where one environment runs, for the national view.
type Placement struct {
	Environment  string `json:"environment"`
	Organization string `json:"organization"`
	// Prefecture is the JIS X 0401 code (01–47) of the organisation's
	// prefecture, "" for national bodies.
	Prefecture string `json:"prefecture"`
	System     string `json:"system"`
	Provider   string `json:"provider"` // the provider connection
	Region     string `json:"region"`
	// Zones are the availability zones its resources use (inventory).
	Zones []string `json:"zones"`
	// BackupProviders are the connections that hold a backup of it.
	BackupProviders []string `json:"backup_providers"`
}

// Share is one provider's (region's, zone's) part of the whole.
type Share struct {
	Key          string  `json:"key"`
	Environments int     `json:"environments"`
	Systems      int     `json:"systems"`
	Share        float64 `json:"share"` // of environments, 0–1
}

// Concentration is the distribution over one dimension and its
// Herfindahl–Hirschman index: the sum of squared percentage shares,
// 10,000 when one party holds everything; above 2,500 is "highly
// concentrated" in the U.S. merger guidelines' reading (1,800 in their
// 2023 revision).
type Concentration struct {
	By     string  `json:"by"` // provider, region, zone
	Shares []Share `json:"shares"`
	HHI    float64 `json:"hhi"`
}

// Concentrations computes the national view over placements: by
// provider, by region (provider/region), by zone (provider/zone). An
// environment in several zones counts once in each.
func Concentrations(ps []Placement) []Concentration {
	keys := map[string]func(Placement) []string{
		"provider": func(p Placement) []string { return []string{p.Provider} },
		"region":   func(p Placement) []string { return []string{p.Provider + "/" + p.Region} },
		"zone": func(p Placement) []string {
			out := make([]string, 0, len(p.Zones))
			for _, z := range p.Zones {
				out = append(out, p.Provider+"/"+z)
			}
			return out
		},
	}
	var out []Concentration
	for _, by := range []string{"provider", "region", "zone"} {
		envs := map[string]int{}
		systems := map[string]map[string]bool{}
		total := 0
		for _, p := range ps {
			for _, k := range keys[by](p) {
				envs[k]++
				total++
				if systems[k] == nil {
					systems[k] = map[string]bool{}
				}
				systems[k][p.Organization+"\x00"+p.System] = true
			}
		}
		c := Concentration{By: by}
		for k, n := range envs {
			s := float64(n) / float64(total)
			c.Shares = append(c.Shares, Share{Key: k, Environments: n, Systems: len(systems[k]), Share: s})
			c.HHI += (s * 100) * (s * 100)
		}
		slices.SortFunc(c.Shares, func(a, b Share) int {
			return cmp.Or(cmp.Compare(b.Environments, a.Environments), cmp.Compare(a.Key, b.Key))
		})
		out = append(out, c)
	}
	return out
}

// Outage is what fails: a provider, one of its regions, or one zone.
type Outage struct {
	Provider string `json:"provider"`
	Region   string `json:"region,omitempty"`
	Zone     string `json:"zone,omitempty"`
}

// Affected is one organisation's systems an outage stops.
type Affected struct {
	Organization string   `json:"organization"`
	Prefecture   string   `json:"prefecture"`
	System       string   `json:"system"`
	Environments []string `json:"environments"`
	// Fallback: the system also runs on, or is backed up to, a provider
	// the outage does not touch.
	Fallback bool `json:"fallback"`
}

// BlastRadius lists the systems that stop when o fails, by organisation
// and system.
func BlastRadius(ps []Placement, o Outage) []Affected {
	hit := func(p Placement) bool {
		switch {
		case p.Provider != o.Provider:
			return false
		case o.Zone != "":
			// A zone outage stops an environment all of whose zones fail;
			// one spread over several zones keeps running.
			return len(p.Zones) == 1 && p.Zones[0] == o.Zone
		case o.Region != "":
			return p.Region == o.Region
		}
		return true
	}
	type key struct{ org, system string }
	elsewhere := map[key]bool{}
	for _, p := range ps {
		k := key{p.Organization, p.System}
		if !hit(p) {
			elsewhere[k] = true
		}
		for _, b := range p.BackupProviders {
			if b != o.Provider {
				elsewhere[k] = true
			}
		}
	}
	byKey := map[key]*Affected{}
	var out []*Affected
	for _, p := range ps {
		if !hit(p) {
			continue
		}
		k := key{p.Organization, p.System}
		a := byKey[k]
		if a == nil {
			a = &Affected{Organization: p.Organization, Prefecture: p.Prefecture, System: p.System, Fallback: elsewhere[k]}
			byKey[k] = a
			out = append(out, a)
		}
		a.Environments = append(a.Environments, p.Environment)
	}
	res := make([]Affected, len(out))
	for i, a := range out {
		res[i] = *a
	}
	slices.SortFunc(res, func(a, b Affected) int {
		return cmp.Or(cmp.Compare(a.Prefecture, b.Prefecture), cmp.Compare(a.Organization, b.Organization), cmp.Compare(a.System, b.System))
	})
	return res
}
