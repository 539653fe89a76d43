// Package sovereignty assesses, per environment and from facts, who can
// compel access to its data or act in it, and how sovereign its placement
// is: a provider sovereignty profile per provider connection (operator,
// parent, law, regions, staff, certifications, key custody, exit terms —
// each fact with its evidence and review date), the extraterritorial laws
// derived from them, eight objectives scored on assurance levels 0–4 by
// criteria written in Rego (modelled on the European Commission's Cloud
// Sovereignty Framework v1.2.1, adapted to Japanese law), floors per
// classification, and the exposure report that puts it all in front of an
// auditor (docs/sovereignty.md).
package sovereignty

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Fact is one statement about a provider with what backs it: where the
// evidence is, when a person last reviewed it, and whether it was verified
// against that evidence (an unverified fact still counts, and every report
// that relies on it says so).
type Fact[T any] struct {
	Value    T      `yaml:"value" json:"value"`
	Evidence string `yaml:"evidence" json:"evidence"`
	Reviewed string `yaml:"reviewed" json:"reviewed"` // YYYY-MM-DD
	Verified bool   `yaml:"verified" json:"verified"`
}

// Region is one of the provider's data-centre regions and its country.
type Region struct {
	Name    string `yaml:"name" json:"name"`
	Country string `yaml:"country" json:"country"`
}

// Certification is one certification or registration the provider holds.
type Certification struct {
	Name string `yaml:"name" json:"name"` // ISMAP, ISO/IEC 27001, …
	ID   string `yaml:"id,omitempty" json:"id,omitempty"`
}

// Profile is what hatoba knows about the party behind one provider
// connection. Countries are ISO 3166-1 alpha-2 codes.
type Profile struct {
	// Name is the profile's id; Connection the provider connection it
	// describes (config providers.<name>).
	Name       string `yaml:"name" json:"name"`
	Connection string `yaml:"connection" json:"connection"`
	Version    int    `yaml:"version" json:"version"`
	// Example marks a profile shipped with hatoba: its facts are
	// illustrations an operator must review and replace before relying
	// on an assessment.
	Example bool   `yaml:"example" json:"example"`
	Tier    string `yaml:"tier" json:"tier"` // domestic or hyperscaler

	Operator struct {
		LegalEntity         Fact[string]  `yaml:"legal_entity" json:"legal_entity"`
		Country             Fact[string]  `yaml:"country" json:"country"`
		Parent              Fact[string]  `yaml:"parent" json:"parent"`
		ParentCountry       Fact[string]  `yaml:"parent_country" json:"parent_country"`
		ForeignCapitalShare Fact[float64] `yaml:"foreign_capital_share" json:"foreign_capital_share"` // per cent
		ForeignVotingShare  Fact[float64] `yaml:"foreign_voting_share" json:"foreign_voting_share"`   // per cent
		// USCommunicationService: the operator or its parent provides an
		// electronic communication service or remote computing service in
		// the United States (50 U.S.C. 1881(b)(4)), the test of FISA 702.
		USCommunicationService Fact[bool] `yaml:"us_communication_service" json:"us_communication_service"`
	} `yaml:"operator" json:"operator"`

	Contract struct {
		GoverningLaw Fact[string] `yaml:"governing_law" json:"governing_law"` // country whose law governs
		Court        Fact[string] `yaml:"court" json:"court"`                 // country of the agreed court
	} `yaml:"contract" json:"contract"`

	Regions Fact[[]Region] `yaml:"regions" json:"regions"`

	Staff struct {
		OperationsCountries Fact[[]string] `yaml:"operations_countries" json:"operations_countries"`
		SupportCountries    Fact[[]string] `yaml:"support_countries" json:"support_countries"`
		// Clearance: operations staff hold Japan's security clearance
		// (重要経済安保情報保護活用法, in force from May 2025).
		Clearance Fact[bool] `yaml:"clearance" json:"clearance"`
		// SOCCountry is where the security operations centre sits.
		SOCCountry Fact[string] `yaml:"soc_country" json:"soc_country"`
	} `yaml:"staff" json:"staff"`

	Certifications Fact[[]Certification] `yaml:"certifications" json:"certifications"`

	// KeyCustody lists the modes offered: provider-managed, byok, hyok
	// (hold your own key: an external key store such as hatoba's XKS).
	KeyCustody Fact[[]string] `yaml:"key_custody" json:"key_custody"`

	Exit struct {
		EgressCharges  Fact[bool] `yaml:"egress_charges" json:"egress_charges"`
		NoticeDays     Fact[int]  `yaml:"notice_days" json:"notice_days"`
		TransitionDays Fact[int]  `yaml:"transition_days" json:"transition_days"`
	} `yaml:"exit" json:"exit"`

	SupplyChain struct {
		// ControlPlane: open-source, domestic (proprietary, Japanese), or
		// foreign (proprietary, from abroad).
		ControlPlane         Fact[string]   `yaml:"control_plane" json:"control_plane"`
		HardwareCountries    Fact[[]string] `yaml:"hardware_countries" json:"hardware_countries"`
		AlternativeSuppliers Fact[bool]     `yaml:"alternative_suppliers" json:"alternative_suppliers"`
	} `yaml:"supply_chain" json:"supply_chain"`

	Technology struct {
		// API: open-standard (OpenStack, S3's de-facto standard, Kubernetes)
		// or proprietary.
		API        Fact[string] `yaml:"api" json:"api"`
		OpenSource Fact[bool]   `yaml:"open_source" json:"open_source"`
		// OpenExport: every service's data can leave in open formats.
		OpenExport Fact[bool] `yaml:"open_export" json:"open_export"`
	} `yaml:"technology" json:"technology"`

	Environment struct {
		PUE            Fact[float64] `yaml:"pue" json:"pue"`
		RenewableShare Fact[float64] `yaml:"renewable_share" json:"renewable_share"` // per cent
	} `yaml:"environment" json:"environment"`
}

// Tiers are the placement tiers a provider connection belongs to.
var Tiers = []string{"domestic", "hyperscaler"}

var (
	profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	countryCode = regexp.MustCompile(`^[A-Z]{2}$`)
	custodyMode = []string{"provider-managed", "byok", "hyok"}
	controlKind = []string{"open-source", "domestic", "foreign"}
	apiKind     = []string{"open-standard", "proprietary"}
)

// ParseProfile reads a profile from YAML, strictly: an unknown field is a
// typo that would otherwise silently leave a fact at its zero value.
func ParseProfile(src []byte) (Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return Profile{}, fault.Invalidf("sovereignty profile: empty")
		}
		return Profile{}, fault.Invalidf("sovereignty profile: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// Validate checks the profile's shape: a fact that cannot be read is
// refused with the field's path, not scored as absent.
func (p Profile) Validate() error {
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	if !profileName.MatchString(p.Name) {
		bad("name", "lower-case letters, digits and dashes, at most 63")
	}
	if p.Connection == "" {
		bad("connection", "names the provider connection the profile describes")
	}
	if p.Version < 1 {
		bad("version", "a positive number")
	}
	if !slices.Contains(Tiers, p.Tier) {
		bad("tier", "domestic or hyperscaler, not %q", p.Tier)
	}
	country := func(field string, f Fact[string], required bool) {
		checkFact(field, f.Evidence, f.Reviewed, bad)
		if f.Value == "" && !required {
			return
		}
		if !countryCode.MatchString(f.Value) {
			bad(field, "an ISO 3166-1 alpha-2 country code such as JP, not %q", f.Value)
		}
	}
	share := func(field string, f Fact[float64]) {
		checkFact(field, f.Evidence, f.Reviewed, bad)
		if f.Value < 0 || f.Value > 100 {
			bad(field, "a share in per cent, 0 to 100, not %v", f.Value)
		}
	}
	countries := func(field string, f Fact[[]string]) {
		checkFact(field, f.Evidence, f.Reviewed, bad)
		for _, c := range f.Value {
			if !countryCode.MatchString(c) {
				bad(field, "an ISO 3166-1 alpha-2 country code such as JP, not %q", c)
			}
		}
	}
	oneOf := func(field string, f Fact[string], allowed []string) {
		checkFact(field, f.Evidence, f.Reviewed, bad)
		if f.Value != "" && !slices.Contains(allowed, f.Value) {
			bad(field, "one of %s, not %q", strings.Join(allowed, ", "), f.Value)
		}
	}
	if strings.TrimSpace(p.Operator.LegalEntity.Value) == "" {
		bad("operator.legal_entity", "required")
	}
	checkFact("operator.legal_entity", p.Operator.LegalEntity.Evidence, p.Operator.LegalEntity.Reviewed, bad)
	country("operator.country", p.Operator.Country, true)
	checkFact("operator.parent", p.Operator.Parent.Evidence, p.Operator.Parent.Reviewed, bad)
	country("operator.parent_country", p.Operator.ParentCountry, p.Operator.Parent.Value != "")
	share("operator.foreign_capital_share", p.Operator.ForeignCapitalShare)
	share("operator.foreign_voting_share", p.Operator.ForeignVotingShare)
	checkFact("operator.us_communication_service", p.Operator.USCommunicationService.Evidence, p.Operator.USCommunicationService.Reviewed, bad)
	country("contract.governing_law", p.Contract.GoverningLaw, true)
	country("contract.court", p.Contract.Court, true)
	checkFact("regions", p.Regions.Evidence, p.Regions.Reviewed, bad)
	if len(p.Regions.Value) == 0 {
		bad("regions", "at least one region")
	}
	for i, r := range p.Regions.Value {
		if r.Name == "" {
			bad(fmt.Sprintf("regions[%d].name", i), "required")
		}
		if !countryCode.MatchString(r.Country) {
			bad(fmt.Sprintf("regions[%d].country", i), "an ISO 3166-1 alpha-2 country code such as JP, not %q", r.Country)
		}
	}
	countries("staff.operations_countries", p.Staff.OperationsCountries)
	countries("staff.support_countries", p.Staff.SupportCountries)
	checkFact("staff.clearance", p.Staff.Clearance.Evidence, p.Staff.Clearance.Reviewed, bad)
	country("staff.soc_country", p.Staff.SOCCountry, false)
	checkFact("certifications", p.Certifications.Evidence, p.Certifications.Reviewed, bad)
	for i, c := range p.Certifications.Value {
		if strings.TrimSpace(c.Name) == "" {
			bad(fmt.Sprintf("certifications[%d].name", i), "required")
		}
	}
	checkFact("key_custody", p.KeyCustody.Evidence, p.KeyCustody.Reviewed, bad)
	for _, m := range p.KeyCustody.Value {
		if !slices.Contains(custodyMode, m) {
			bad("key_custody", "one of %s, not %q", strings.Join(custodyMode, ", "), m)
		}
	}
	checkFact("exit.egress_charges", p.Exit.EgressCharges.Evidence, p.Exit.EgressCharges.Reviewed, bad)
	for field, f := range map[string]Fact[int]{"exit.notice_days": p.Exit.NoticeDays, "exit.transition_days": p.Exit.TransitionDays} {
		checkFact(field, f.Evidence, f.Reviewed, bad)
		if f.Value < 0 {
			bad(field, "days, not negative")
		}
	}
	oneOf("supply_chain.control_plane", p.SupplyChain.ControlPlane, controlKind)
	countries("supply_chain.hardware_countries", p.SupplyChain.HardwareCountries)
	checkFact("supply_chain.alternative_suppliers", p.SupplyChain.AlternativeSuppliers.Evidence, p.SupplyChain.AlternativeSuppliers.Reviewed, bad)
	oneOf("technology.api", p.Technology.API, apiKind)
	checkFact("technology.open_source", p.Technology.OpenSource.Evidence, p.Technology.OpenSource.Reviewed, bad)
	checkFact("technology.open_export", p.Technology.OpenExport.Evidence, p.Technology.OpenExport.Reviewed, bad)
	if f := p.Environment.PUE; f.Value != 0 && (f.Value < 1 || f.Value > 5) {
		bad("environment.pue", "a power usage effectiveness between 1 and 5, not %v", f.Value)
	}
	checkFact("environment.pue", p.Environment.PUE.Evidence, p.Environment.PUE.Reviewed, bad)
	share("environment.renewable_share", p.Environment.RenewableShare)
	if len(errs) > 0 {
		slices.Sort(errs)
		return &fault.Error{Kind: fault.Invalid, Field: strings.SplitN(errs[0], ":", 2)[0],
			Message: "sovereignty profile " + p.Name + ": " + strings.Join(errs, "; ")}
	}
	return nil
}

// checkFact checks a fact's evidence link and review date.
func checkFact(field, evidence, reviewed string, bad func(field, format string, args ...any)) {
	if evidence != "" && !strings.HasPrefix(evidence, "https://") {
		bad(field+".evidence", "an https:// link, not %q", evidence)
	}
	if reviewed != "" {
		if _, err := time.Parse(time.DateOnly, reviewed); err != nil {
			bad(field+".reviewed", "a date as YYYY-MM-DD, not %q", reviewed)
		}
	}
}

//go:embed profiles/*.yaml
var exampleFS embed.FS

// ExampleDocuments are the example profiles hatoba ships
// (profiles/*.yaml) as YAML documents: an AWS connection ("sim", the
// simulated cloud's) and a fictional domestic OpenStack provider, marked
// example: true and unverified throughout.
func ExampleDocuments() ([][]byte, error) {
	names, err := fs.Glob(exampleFS, "profiles/*.yaml")
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, n := range names {
		b, err := exampleFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Examples are ExampleDocuments parsed.
func Examples() ([]Profile, error) {
	docs, err := ExampleDocuments()
	if err != nil {
		return nil, err
	}
	out := make([]Profile, 0, len(docs))
	for _, d := range docs {
		p, err := ParseProfile(d)
		if err != nil {
			return nil, fmt.Errorf("example profile: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
