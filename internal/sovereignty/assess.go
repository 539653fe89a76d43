package sovereignty

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

//go:embed criteria/*.rego
var criteriaFS embed.FS

// Objectives are the eight objectives, in order, with their weights in
// per cent (the framework's).
var Objectives = []struct {
	ID     string
	Weight int
}{{"SOV-1", 15}, {"SOV-2", 10}, {"SOV-3", 10}, {"SOV-4", 15}, {"SOV-5", 20}, {"SOV-6", 15}, {"SOV-7", 10}, {"SOV-8", 5}}

// DefaultCriteria are the criteria hatoba ships (criteria/*.rego), with
// their tests: file name → Rego source.
func DefaultCriteria() map[string]string {
	out := map[string]string{}
	entries, _ := fs.Glob(criteriaFS, "criteria/*.rego")
	for _, name := range entries {
		b, _ := criteriaFS.ReadFile(name)
		out[strings.TrimPrefix(name, "criteria/")] = string(b)
	}
	return out
}

// Backup is where a copy of the environment's data is kept.
type Backup struct {
	Connection string `json:"provider"`
	Tier       string `json:"tier"`
	Country    string `json:"country"`
}

// HYOK is the state of the environment's hold-your-own-key connection.
type HYOK struct {
	// Connected: the environment's keys are in an external key store
	// that hatoba's XKS proxy serves.
	Connected bool `json:"connected"`
	// KillSwitch is "armed" (the tenant's key owner can pull it),
	// "pulled" (the keys refuse every use) or "" (no external store).
	KillSwitch string `json:"kill_switch"`
}

// Person is someone who can act in the environment.
type Person struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role: administrator or non-administrator (the permission sets),
	// key-owner, or break-glass (a central operator's grant).
	Role string `json:"role"`
	// Central: central staff, not the tenant's own people.
	Central bool `json:"central"`
	// Grant and At name a break-glass grant.
	Grant string    `json:"grant,omitempty"`
	At    time.Time `json:"at,omitzero"`
}

// Facts are an environment's own facts, gathered by hatoba.
type Facts struct {
	Environment    string `json:"environment"`
	Organization   string `json:"organization"`
	Classification string `json:"classification"`
	Connection     string `json:"connection"`
	System         string `json:"system"`
	// ResourceRegions are the regions of the environment's inventory,
	// one per resource; Zones the availability zones its resources use.
	ResourceRegions     []string `json:"resource_regions"`
	Zones               []string `json:"zones"`
	Backups             []Backup `json:"backups"`
	HYOK                HYOK     `json:"hyok"`
	ProprietaryServices []string `json:"proprietary_services"`
	// People are the tenant's people in the permission sets and the key
	// owner, and central operators' break-glass grants of the last 90
	// days.
	People []Person `json:"people"`
}

// Criterion is one criterion's result.
type Criterion struct {
	Objective string   `json:"objective"`
	Level     int      `json:"level"`
	ID        string   `json:"id"`
	Met       bool     `json:"met"`
	Facts     []string `json:"facts"`
	// Unverified lists the profile facts the criterion relies on that
	// nobody verified against their evidence.
	Unverified []string `json:"unverified,omitempty"`
}

// Breach is an objective below its floor.
type Breach struct {
	Objective string `json:"objective"`
	Level     int    `json:"level"`
	Floor     int    `json:"floor"`
}

// Residency is a resource of the environment outside Japan, or in a
// region the profile does not place.
type Residency struct {
	Region  string `json:"region"`
	Country string `json:"country"` // "" when the profile does not know the region
}

// Assessment is an environment's sovereignty on a date.
type Assessment struct {
	Environment    string         `json:"environment"`
	Organization   string         `json:"organization"`
	Classification string         `json:"classification"`
	Connection     string         `json:"connection"`
	Profile        string         `json:"profile"`
	ProfileVersion int            `json:"profile_version"`
	ProfileExample bool           `json:"profile_example"`
	Tier           string         `json:"tier"`
	Levels         map[string]int `json:"levels"`
	Score          float64        `json:"score"`
	Criteria       []Criterion    `json:"criteria"`
	Floors         map[string]int `json:"floors"`
	FloorMode      string         `json:"floor_mode"`
	Breaches       []Breach       `json:"breaches"`
	Exposures      []Exposure     `json:"exposures"`
	Residency      []Residency    `json:"residency"`
	Placement      Placement      `json:"placement"`
	AssessedAt     time.Time      `json:"assessed_at"`
}

// Engine evaluates the criteria. It is safe for concurrent use.
type Engine struct {
	query rego.PreparedEvalQuery
	// profiles caches each profile's Rego value by name and version: a
	// profile is shared by thousands of environments and changes only
	// with a new version.
	profiles sync.Map // string → ast.Value
}

// profileValue is p as Rego reads it (through JSON, as conftest would
// read the same document), cached per name and version.
func (e *Engine) profileValue(p Profile) (ast.Value, error) {
	key := fmt.Sprintf("%s\x00%d", p.Name, p.Version)
	if v, ok := e.profiles.Load(key); ok {
		return v.(ast.Value), nil
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	v, err := ast.ValueFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	e.profiles.Store(key, v)
	return v, nil
}

// NewEngine compiles criteria (file name → Rego; DefaultCriteria when
// nil). Test files (*_test.rego) are left out of the engine.
func NewEngine(ctx context.Context, criteria map[string]string) (*Engine, error) {
	if criteria == nil {
		criteria = DefaultCriteria()
	}
	modules, err := parse(criteria, false)
	if err != nil {
		return nil, err
	}
	opts := []func(*rego.Rego){rego.Query(`out := {"levels": data.hatoba.sovereignty.levels, "score": data.hatoba.sovereignty.score,
		"criteria": data.hatoba.sovereignty.criteria, "deny": data.hatoba.sovereignty.deny}`)}
	for _, m := range modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, &fault.Error{Kind: fault.Invalid, Message: "the sovereignty criteria do not compile: " + err.Error()}
	}
	return &Engine{query: q}, nil
}

func parse(criteria map[string]string, withTests bool) (map[string]*ast.Module, error) {
	modules := map[string]*ast.Module{}
	for _, name := range slices.Sorted(maps.Keys(criteria)) {
		if strings.HasSuffix(name, "_test.rego") && !withTests {
			continue
		}
		m, err := ast.ParseModuleWithOpts(name, criteria[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, &fault.Error{Kind: fault.Invalid, Message: "the sovereignty criteria do not parse: " + err.Error()}
		}
		modules[name] = m
	}
	return modules, nil
}

// RunTests runs the criteria's Rego tests; err names every failure.
func RunTests(ctx context.Context, criteria map[string]string) (passed int, err error) {
	modules, err := parse(criteria, true)
	if err != nil {
		return 0, err
	}
	ch, err := tester.NewRunner().SetModules(modules).SetDefaultRegoVersion(ast.RegoV1).RaiseBuiltinErrors(true).RunTests(ctx, nil)
	if err != nil {
		return 0, &fault.Error{Kind: fault.Invalid, Message: "the sovereignty criteria's tests do not compile: " + err.Error()}
	}
	var failed []string
	for r := range ch {
		switch {
		case r.Error != nil:
			failed = append(failed, r.Name+": "+r.Error.Error())
		case r.Fail:
			failed = append(failed, r.Name)
		default:
			passed++
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return passed, fault.Invalidf("sovereignty criteria tests failed: %s", strings.Join(failed, "; "))
	}
	if passed == 0 {
		return 0, fault.Invalidf("the sovereignty criteria have no tests")
	}
	return passed, nil
}

// The floor modes: detect before prevent.
const (
	ModeReport  = "report"
	ModeEnforce = "enforce"
)

// Floor is the minimum level per objective for a classification, and
// whether it is only reported or enforced (gates placement at vending).
type Floor struct {
	Mode   string         `yaml:"mode" json:"mode"` // report or enforce
	Levels map[string]int `yaml:"levels" json:"levels"`
}

// DefaultFloors: level 3 (the most sensitive) needs legal and
// jurisdictional, data and operational sovereignty at level 3; level 2 at
// level 2 on data; level 1 none. All in report mode: detect before
// prevent.
func DefaultFloors() map[string]Floor {
	return map[string]Floor{
		"level3": {Mode: "report", Levels: map[string]int{"SOV-2": 3, "SOV-3": 3, "SOV-4": 3}},
		"level2": {Mode: "report", Levels: map[string]int{"SOV-3": 2}},
		"level1": {Mode: "report", Levels: map[string]int{}},
	}
}

// Assess scores one environment against its provider's profile.
func (e *Engine) Assess(ctx context.Context, p Profile, f Facts, floor Floor, now time.Time) (Assessment, error) {
	countryOf := map[string]string{}
	for _, r := range p.Regions.Value {
		countryOf[r.Name] = r.Country
	}
	var dataCountries, unknown []string
	var residency []Residency
	for _, r := range slices.Compact(slices.Sorted(slices.Values(f.ResourceRegions))) {
		c, ok := countryOf[r]
		switch {
		case !ok && r == "global":
			continue // account-wide settings (IAM, Organizations) have no place
		case !ok:
			unknown = append(unknown, r)
			residency = append(residency, Residency{Region: r})
		default:
			dataCountries = append(dataCountries, c)
			if c != "JP" {
				residency = append(residency, Residency{Region: r, Country: c})
			}
		}
	}
	for _, b := range f.Backups {
		dataCountries = append(dataCountries, b.Country)
	}
	dataCountries = slices.Compact(slices.Sorted(slices.Values(dataCountries)))
	exposures := Derive(p, dataCountries)
	profile, err := e.profileValue(p)
	if err != nil {
		return Assessment{}, fmt.Errorf("sovereignty %s: %w", f.Environment, err)
	}
	rest, err := ast.InterfaceToValue(map[string]any{
		"exposures": nonNil(exposures), "provider_connection": f.Connection, "now": now.UTC().Format(time.DateOnly),
		"floors": nonNilMap(floor.Levels),
		"environment": map[string]any{"data_countries": nonNil(dataCountries), "unknown_regions": nonNil(unknown),
			"backups": nonNil(f.Backups), "hyok": f.HYOK, "proprietary_services": nonNil(f.ProprietaryServices)},
	})
	if err != nil {
		return Assessment{}, fmt.Errorf("sovereignty %s: input: %w", f.Environment, err)
	}
	input := rest.(ast.Object).Copy()
	input.Insert(ast.StringTerm("profile"), ast.NewTerm(profile))
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return Assessment{}, fmt.Errorf("sovereignty %s: evaluate: %w", f.Environment, err)
	}
	if len(rs) != 1 {
		return Assessment{}, fmt.Errorf("sovereignty %s: the criteria gave no result (is package hatoba.sovereignty defined?)", f.Environment)
	}
	var out struct {
		Levels   map[string]int `json:"levels"`
		Score    float64        `json:"score"`
		Criteria []Criterion    `json:"criteria"`
	}
	b, err := json.Marshal(rs[0].Bindings["out"])
	if err != nil {
		return Assessment{}, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return Assessment{}, fmt.Errorf("sovereignty %s: the criteria's result: %w", f.Environment, err)
	}
	verified := p.verifiedFacts()
	for i, c := range out.Criteria {
		for _, fact := range c.Facts {
			if v, ok := verified[fact]; ok && !v {
				out.Criteria[i].Unverified = append(out.Criteria[i].Unverified, fact)
			}
		}
	}
	a := Assessment{Placement: placementOf(f), Environment: f.Environment, Organization: f.Organization, Classification: f.Classification, Connection: f.Connection,
		Profile: p.Name, ProfileVersion: p.Version, ProfileExample: p.Example, Tier: p.Tier,
		Levels: out.Levels, Score: out.Score, Criteria: out.Criteria, Floors: floor.Levels, FloorMode: floor.Mode,
		Exposures: exposures, Residency: residency, AssessedAt: now.UTC()}
	for _, o := range Objectives {
		if fl, ok := floor.Levels[o.ID]; ok && a.Levels[o.ID] < fl {
			a.Breaches = append(a.Breaches, Breach{Objective: o.ID, Level: a.Levels[o.ID], Floor: fl})
		}
	}
	return a, nil
}

// placementOf is where the environment runs: its main region is the one
// most of its resources are in.
func placementOf(f Facts) Placement {
	count := map[string]int{}
	main := ""
	for _, r := range f.ResourceRegions {
		if r == "global" {
			continue
		}
		count[r]++
		if count[r] > count[main] || count[r] == count[main] && r < main {
			main = r
		}
	}
	p := Placement{Environment: f.Environment, Organization: f.Organization, Prefecture: PrefectureOf(f.Organization), System: f.System,
		Provider: f.Connection, Region: main, Zones: slices.Compact(slices.Sorted(slices.Values(f.Zones)))}
	for _, b := range f.Backups {
		if !slices.Contains(p.BackupProviders, b.Connection) {
			p.BackupProviders = append(p.BackupProviders, b.Connection)
		}
	}
	return p
}

// PrefectureOf is the JIS X 0401 prefecture code of a local government
// ("lg-131016" → "13"), "" for other organisations.
func PrefectureOf(orgID string) string {
	code, ok := strings.CutPrefix(orgID, "lg-")
	if !ok || len(code) < 2 || code[0] < '0' || code[0] > '4' || code[1] < '0' || code[1] > '9' || code[:2] == "00" || code[:2] > "47" {
		return ""
	}
	return code[:2]
}

func nonNilMap(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// verifiedFacts maps each profile fact's path to whether it was verified.
func (p Profile) verifiedFacts() map[string]bool {
	return map[string]bool{
		"operator.legal_entity": p.Operator.LegalEntity.Verified, "operator.country": p.Operator.Country.Verified,
		"operator.parent": p.Operator.Parent.Verified, "operator.parent_country": p.Operator.ParentCountry.Verified,
		"operator.foreign_capital_share": p.Operator.ForeignCapitalShare.Verified, "operator.foreign_voting_share": p.Operator.ForeignVotingShare.Verified,
		"operator.us_communication_service": p.Operator.USCommunicationService.Verified,
		"contract.governing_law":            p.Contract.GoverningLaw.Verified, "contract.court": p.Contract.Court.Verified,
		"regions": p.Regions.Verified, "staff.operations_countries": p.Staff.OperationsCountries.Verified,
		"staff.support_countries": p.Staff.SupportCountries.Verified, "staff.clearance": p.Staff.Clearance.Verified,
		"staff.soc_country": p.Staff.SOCCountry.Verified, "certifications": p.Certifications.Verified, "key_custody": p.KeyCustody.Verified,
		"exit.egress_charges": p.Exit.EgressCharges.Verified, "exit.notice_days": p.Exit.NoticeDays.Verified,
		"exit.transition_days": p.Exit.TransitionDays.Verified, "supply_chain.control_plane": p.SupplyChain.ControlPlane.Verified,
		"supply_chain.hardware_countries":    p.SupplyChain.HardwareCountries.Verified,
		"supply_chain.alternative_suppliers": p.SupplyChain.AlternativeSuppliers.Verified,
		"technology.api":                     p.Technology.API.Verified, "technology.open_source": p.Technology.OpenSource.Verified,
		"technology.open_export": p.Technology.OpenExport.Verified, "environment.pue": p.Environment.PUE.Verified,
		"environment.renewable_share": p.Environment.RenewableShare.Verified,
	}
}
