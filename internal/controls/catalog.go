// Package controls is hatoba's control catalog and its evaluation: each
// control is metadata (titles in Japanese and English, severity, kinds,
// resource types, remediation, framework mappings, an optional preventive
// policy) and a Rego module (OPA v1, conftest's deny convention) with its
// own Rego tests. The same modules evaluate the resource inventory
// (detective), infrastructure code before deployment (proactive), and
// render to provider-native policies (preventive). docs/controls.md.
package controls

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Kind is how a control acts.
type Kind string

const (
	// Preventive controls are rendered to provider policies that refuse
	// the action (AWS service control policies).
	Preventive Kind = "preventive"
	// Proactive controls check infrastructure code before it is deployed.
	Proactive Kind = "proactive"
	// Detective controls check the resources that exist.
	Detective Kind = "detective"
)

// Severity orders findings.
type Severity string

const (
	Critical      Severity = "critical"
	High          Severity = "high"
	Medium        Severity = "medium"
	Low           Severity = "low"
	Informational Severity = "informational"
)

// Severities lists the severities from the most severe down.
var Severities = []Severity{Critical, High, Medium, Low, Informational}

// Rank is the severity's place: 0 for critical, and so on; -1 for an
// unknown one.
func (s Severity) Rank() int { return slices.Index(Severities, s) }

// AtLeast reports whether s is min or more severe.
func (s Severity) AtLeast(min Severity) bool { return s.Rank() >= 0 && s.Rank() <= min.Rank() }

// Text is a string in Japanese and English.
type Text struct {
	Ja string `yaml:"ja" json:"ja"`
	En string `yaml:"en" json:"en"`
}

// Frameworks are a control's mappings to the requirements it implements.
type Frameworks struct {
	NIST80053 []string `yaml:"nist_800_53" json:"nist_800_53,omitempty"` // NIST SP 800-53 rev5, e.g. AC-2, IA-2(1)
	NISTCSF   []string `yaml:"nist_csf" json:"nist_csf,omitempty"`       // NIST CSF 2.0, e.g. PR.AA-01
	CIS       []string `yaml:"cis" json:"cis,omitempty"`                 // CIS benchmarks, e.g. AWS-1.15
	ISMAP     []string `yaml:"ismap" json:"ismap,omitempty"`             // ISMAP control criteria, e.g. 9.2.1
}

// Preventive is what a preventive control renders to.
type PreventivePolicy struct {
	// AWSSCP are IAM policy statements of a service control policy.
	AWSSCP []map[string]any `yaml:"aws_scp" json:"aws_scp,omitempty"`
	// OpenStack is what the control enforces on an OpenStack project
	// (RenderOpenStackGuardrails).
	OpenStack *OpenStackGuardrail `yaml:"openstack" json:"openstack,omitempty"`
}

// Control is one control of the catalog.
type Control struct {
	ID            string           `yaml:"id" json:"id"`
	Title         Text             `yaml:"title" json:"title"`
	Description   Text             `yaml:"description" json:"description"`
	Severity      Severity         `yaml:"severity" json:"severity"`
	Kinds         []Kind           `yaml:"kinds" json:"kinds"`
	ResourceTypes []string         `yaml:"resource_types" json:"resource_types"`
	Remediation   Text             `yaml:"remediation" json:"remediation"`
	Frameworks    Frameworks       `yaml:"frameworks" json:"frameworks"`
	Preventive    PreventivePolicy `yaml:"preventive" json:"preventive,omitempty"`
	// Messages translates each English message format of the policy
	// (lib.finding's msg, lib.finding_fmt's format) into Japanese, with
	// the same verbs in the same order. A custom control may leave some
	// out: the console shows those in English, marked as such.
	Messages map[string]string `yaml:"messages" json:"messages,omitempty"`

	// Policy and Tests are the Rego module and its tests; Builtin marks
	// the catalog's own controls.
	Policy  string `yaml:"-" json:"policy"`
	Tests   string `yaml:"-" json:"tests"`
	Builtin bool   `yaml:"-" json:"builtin"`
}

// Has reports whether c acts as kind k.
func (c Control) Has(k Kind) bool { return slices.Contains(c.Kinds, k) }

// Package is the Rego package the control's module must declare.
func (c Control) Package() string { return "hatoba.controls." + strings.ReplaceAll(c.ID, "-", "_") }

var (
	idPattern      = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	typePattern    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	nistPattern    = regexp.MustCompile(`^[A-Z]{2}-\d{1,2}(\(\d{1,2}\))?$`)
	csfPattern     = regexp.MustCompile(`^(GV|ID|PR|DE|RS|RC)\.[A-Z]{2}-\d{2}$`)
	cisPattern     = regexp.MustCompile(`^[A-Za-z]+-\d+(\.\d+)*$`)
	ismapPattern   = regexp.MustCompile(`^\d+(\.\d+)*(\.[A-Z]+)?$`)
	packagePattern = regexp.MustCompile(`(?m)^package\s+([A-Za-z0-9_.]+)\s*$`)
)

// Validate checks the metadata; the Rego is checked by compiling it.
// Every problem is named, field by field.
func (c Control) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !idPattern.MatchString(c.ID) || len(c.ID) > 64 {
		bad("id %q must be lower-case words joined by '-', at most 64 characters", c.ID)
	}
	for name, t := range map[string]Text{"title": c.Title, "description": c.Description, "remediation": c.Remediation} {
		if strings.TrimSpace(t.Ja) == "" || strings.TrimSpace(t.En) == "" {
			bad("%s needs both ja and en", name)
		}
	}
	if c.Severity.Rank() < 0 {
		bad("severity %q is not one of critical, high, medium, low, informational", c.Severity)
	}
	if len(c.Kinds) == 0 {
		bad("kinds must name at least one of preventive, proactive, detective")
	}
	for _, k := range c.Kinds {
		if k != Preventive && k != Proactive && k != Detective {
			bad("kind %q is not one of preventive, proactive, detective", k)
		}
	}
	if len(c.ResourceTypes) == 0 {
		bad("resource_types must name at least one resource type (Terraform's names: aws_s3_bucket, openstack_compute_instance_v2)")
	}
	for _, t := range c.ResourceTypes {
		if !typePattern.MatchString(t) {
			bad("resource type %q is not a Terraform-style type name", t)
		}
	}
	for _, set := range []struct {
		name string
		ids  []string
		re   *regexp.Regexp
	}{{"nist_800_53", c.Frameworks.NIST80053, nistPattern}, {"nist_csf", c.Frameworks.NISTCSF, csfPattern},
		{"cis", c.Frameworks.CIS, cisPattern}, {"ismap", c.Frameworks.ISMAP, ismapPattern}} {
		for _, id := range set.ids {
			if !set.re.MatchString(id) {
				bad("frameworks.%s: %q is not an id of that framework", set.name, id)
			}
		}
	}
	for _, id := range c.Frameworks.NISTCSF {
		if _, ok := CSFTitle(id); csfPattern.MatchString(id) && !ok {
			bad("frameworks.nist_csf: %q is not a NIST CSF 2.0 subcategory (CSF 1.1 ids that 2.0 withdrew are not)", id)
		}
	}
	if len(c.Frameworks.NIST80053) == 0 {
		bad("frameworks.nist_800_53 must map the control to at least one requirement")
	}
	if c.Has(Preventive) && len(c.Preventive.AWSSCP) == 0 && c.Preventive.OpenStack == nil {
		bad("a preventive control needs preventive.aws_scp statements or a preventive.openstack guardrail")
	}
	if g := c.Preventive.OpenStack; g != nil {
		for _, problem := range g.problems() {
			bad("preventive.openstack: %s", problem)
		}
	}
	problems = append(problems, c.messageProblems()...)
	if c.Policy != "" {
		m := packagePattern.FindStringSubmatch(c.Policy)
		if m == nil || m[1] != c.Package() {
			bad("policy.rego must declare package %s", c.Package())
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return &fault.Error{Kind: fault.Invalid, Message: "control " + c.ID + ": " + strings.Join(problems, "; ")}
	}
	return nil
}

//go:embed catalog lib
var builtinFS embed.FS

// Builtin loads the catalog's own controls.
func Builtin() ([]Control, error) {
	cs, err := Load(builtinFS, "catalog")
	for i := range cs {
		cs[i].Builtin = true
	}
	return cs, err
}

// Library is the Rego library every control imports (lib/*.rego).
func Library() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(builtinFS, "lib", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		b, err := fs.ReadFile(builtinFS, p)
		out[p] = string(b)
		return err
	})
	return out, err
}

// Load reads every control directory under dir of fsys: control.yaml,
// policy.rego and policy_test.rego.
func Load(fsys fs.FS, dir string) ([]Control, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("controls: %w", err)
	}
	var out []Control
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := LoadDir(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if c.ID != e.Name() {
			return nil, fmt.Errorf("controls: %s declares id %q; the directory must be named after the id", e.Name(), c.ID)
		}
		out = append(out, c)
	}
	return out, nil
}

// LoadDir reads one control directory.
func LoadDir(fsys fs.FS, dir string) (Control, error) {
	meta, err := fs.ReadFile(fsys, path.Join(dir, "control.yaml"))
	if err != nil {
		return Control{}, fmt.Errorf("controls: %w", err)
	}
	c, err := ParseMetadata(meta)
	if err != nil {
		return Control{}, fmt.Errorf("controls: %s: %w", dir, err)
	}
	policy, err := fs.ReadFile(fsys, path.Join(dir, "policy.rego"))
	if err != nil {
		return Control{}, fmt.Errorf("controls: %w", err)
	}
	tests, err := fs.ReadFile(fsys, path.Join(dir, "policy_test.rego"))
	if err != nil {
		return Control{}, fmt.Errorf("controls: %w", err)
	}
	c.Policy, c.Tests = string(policy), string(tests)
	return c, c.Validate()
}

// ParseMetadata decodes control.yaml strictly: unknown fields are errors.
func ParseMetadata(b []byte) (Control, error) {
	var c Control
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Control{}, fault.Invalidf("control.yaml: %v", err)
	}
	return c, nil
}
