package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

func control(id string, sev controls.Severity, nist, csf, cis, ismap []string) controls.Control {
	return controls.Control{ID: id, Severity: sev, Title: controls.Text{Ja: id, En: "Title of " + id}, Kinds: []controls.Kind{controls.Detective},
		Frameworks: controls.Frameworks{NIST80053: nist, NISTCSF: csf, CIS: cis, ISMAP: ismap}}
}

var sample = []controls.Control{
	control("c-one", controls.High, []string{"AC-2", "IA-2(1)"}, []string{"PR.AA-01"}, []string{"AWS-1.10"}, []string{"9.2.1"}),
	control("c-two", controls.Critical, []string{"AC-2", "SC-28"}, []string{"PR.DS-01", "PR.AA-01"}, []string{"AWS-1.2"}, []string{"10.1.1", "9.2.1"}),
	control("c-three", controls.Low, []string{"XX-99"}, nil, nil, nil),
}

func TestCoverage(t *testing.T) {
	t.Parallel()
	nist, csf := len(controls.NISTIDs()), len(controls.CSFIDs())
	tests := []struct {
		name         string
		framework    Framework
		cs           []controls.Control
		complete     bool
		requirements int
		covered      int
		first        string   // the first item's id
		coveredBy    []string // controls of the requirement named by check
		check        string
		outside      []string
	}{
		{"ok/nist", NIST80053, sample, true, nist, 3, "AC-1", []string{"c-one", "c-two"}, "AC-2", []string{"XX-99"}},
		{"ok/nist enhancement counts on its own", NIST80053, sample, true, nist, 3, "AC-1", []string{"c-one"}, "IA-2(1)", []string{"XX-99"}},
		{"ok/csf", NISTCSF, sample, true, csf, 2, "GV.OC-01", []string{"c-one", "c-two"}, "PR.AA-01", nil},
		{"ok/cis mapped ids only", CIS, sample, false, 2, 2, "AWS-1.2", []string{"c-one"}, "AWS-1.10", nil},
		{"ok/ismap in numeric order", ISMAP, sample, false, 2, 2, "9.2.1", []string{"c-one", "c-two"}, "9.2.1", nil},
		{"ok/no controls", NIST80053, nil, true, nist, 0, "AC-1", []string{}, "AC-2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cov, err := CoverageOf(tt.framework, Catalog, tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			if cov.Complete != tt.complete || cov.Requirements != tt.requirements || cov.Covered != tt.covered || len(cov.Items) != tt.requirements {
				t.Fatalf("complete %v, %d requirements (%d items), %d covered; want %v, %d, %d", cov.Complete, cov.Requirements, len(cov.Items),
					cov.Covered, tt.complete, tt.requirements, tt.covered)
			}
			if cov.Items[0].ID != tt.first {
				t.Errorf("first item %s, want %s", cov.Items[0].ID, tt.first)
			}
			i := slices.IndexFunc(cov.Items, func(r Requirement) bool { return r.ID == tt.check })
			if i < 0 || !slices.Equal(cov.Items[i].Controls, tt.coveredBy) || cov.Items[i].Covered != (len(tt.coveredBy) > 0) {
				t.Errorf("%s: %+v, want controls %v", tt.check, cov.Items, tt.coveredBy)
			}
			if tt.complete && (cov.Items[i].Title == "") {
				t.Errorf("%s has no title", tt.check)
			}
			var outside []string
			for _, r := range cov.Outside {
				outside = append(outside, r.ID)
			}
			if !slices.Equal(outside, tt.outside) {
				t.Errorf("outside %v, want %v", outside, tt.outside)
			}
			switch {
			case tt.complete && (cov.Percent == nil || *cov.Percent != float64(int(float64(tt.covered)*1000/float64(tt.requirements)+0.5))/10):
				t.Errorf("percent %v for %d of %d", cov.Percent, tt.covered, tt.requirements)
			case !tt.complete && (cov.Percent != nil || !strings.Contains(cov.Note, "mapped ids only")):
				t.Errorf("incomplete framework: percent %v, note %q", cov.Percent, cov.Note)
			}
		})
	}
	if _, err := ParseFramework("iso-27001"); err == nil {
		t.Error("fail/unknown framework parsed")
	}
}

// The built-in catalog's mappings all land somewhere in a report.
func TestCoverageOfBuiltins(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Frameworks {
		cov, err := CoverageOf(f, Catalog, cs)
		if err != nil {
			t.Fatal(err)
		}
		if cov.Covered == 0 && f != CIS {
			t.Errorf("%s: the catalog covers nothing", f)
		}
		if a := AssignedOnly(cs, []string{cs[0].ID}); len(a) != 1 {
			t.Errorf("assigned only: %d controls", len(a))
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	t.Parallel()
	ids := []string{"10.1.1", "9.2.10", "9.2.2", "AWS-1.10", "AWS-1.2", "12.1.1.A"}
	slices.SortFunc(ids, naturalCompare)
	want := []string{"9.2.2", "9.2.10", "10.1.1", "12.1.1.A", "AWS-1.2", "AWS-1.10"}
	if !slices.Equal(ids, want) {
		t.Fatalf("%v, want %v", ids, want)
	}
}

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func finding(env, control, resource string, sev controls.Severity) posture.Finding {
	return posture.Finding{ID: "f-" + env + control + resource, EnvID: env, OrgID: "nat-digital", ControlID: control, ResourceID: resource,
		ResourceType: "aws_iam_user", Severity: sev, Message: control + " fails on " + resource, Status: posture.Open, FirstSeen: t0, LastSeen: t0.Add(time.Hour)}
}

func lookup(id string) (controls.Control, bool) {
	i := slices.IndexFunc(sample, func(c controls.Control) bool { return c.ID == id })
	if i < 0 {
		return controls.Control{}, false
	}
	return sample[i], true
}

func TestPostureReports(t *testing.T) {
	t.Parallel()
	sc := posture.Score{Environments: 1, Resources: 3, Checks: 6, Failed: 3, Score: 50}
	envs := []Environment{
		{ID: "env-a", OrgID: "nat-digital", Score: &sc, Findings: []posture.Finding{
			finding("env-a", "c-one", "r1", controls.High), finding("env-a", "c-one", "r2", controls.High), finding("env-a", "c-two", "r1", controls.Critical)}},
		{ID: "env-b", OrgID: "nat-child", Findings: []posture.Finding{finding("env-b", "c-two", "r9", controls.Critical), finding("env-b", "gone", "r9", controls.Low)}},
		{ID: "env-c", OrgID: "nat-child"},
	}
	tests := []struct {
		name     string
		rep      PostureReport
		open     int
		critical int
		top      []string
		topEnvs  []int
		envs     []string
	}{
		{"ok/organisation", OrganisationReport("nat-digital", sc, envs, lookup, t0), 5, 2, []string{"c-two", "c-one", "gone"}, []int{2, 1, 1}, []string{"env-a", "env-b", "env-c"}},
		{"ok/environment", EnvironmentReport(envs[0], lookup, t0), 3, 1, []string{"c-one", "c-two"}, []int{1, 1}, nil},
		{"ok/environment never evaluated", EnvironmentReport(envs[2], lookup, t0), 0, 0, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rep.OpenFindings != tt.open || tt.rep.BySeverity[controls.Critical] != tt.critical || len(tt.rep.BySeverity) != len(controls.Severities) {
				t.Errorf("open %d, by severity %v", tt.rep.OpenFindings, tt.rep.BySeverity)
			}
			var top []string
			var topEnvs []int
			for _, c := range tt.rep.TopFailing {
				top, topEnvs = append(top, c.ControlID), append(topEnvs, c.Environments)
			}
			if !slices.Equal(top, tt.top) || !slices.Equal(topEnvs, tt.topEnvs) {
				t.Errorf("top failing %v in %v environments, want %v, %v", top, topEnvs, tt.top, tt.topEnvs)
			}
			var es []string
			for _, e := range tt.rep.Environments {
				es = append(es, e.EnvID)
			}
			if !slices.Equal(es, tt.envs) {
				t.Errorf("environments %v, want %v", es, tt.envs)
			}
		})
	}
	if rep := OrganisationReport("nat-digital", sc, envs, lookup, t0); rep.TopFailing[1].Title.En != "Title of c-one" {
		t.Errorf("titles come from the catalog: %+v", rep.TopFailing[1])
	}
}

func TestUUID5(t *testing.T) {
	t.Parallel()
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	u := uuid5With(dns, "www.example.com")
	if got := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Fatalf("uuid5(dns, www.example.com) = %s", got)
	}
}

func TestOSCALControlID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"AC-2": "ac-2", "IA-2(1)": "ia-2.1", "SC-7(12)": "sc-7.12"} {
		if got := OSCALControlID(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

var (
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	tokenRE = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_.-]*$`)
)

// ValidateAssessmentResults checks a document against what the OSCAL
// 1.1.2 assessment-results model requires: required fields, UUID and
// date-time formats, allowed values, and that every reference resolves.
func validateAssessmentResults(t *testing.T, raw []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	bad := func(format string, args ...any) { t.Helper(); t.Errorf("OSCAL: "+format, args...) }
	obj := func(v any, path string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			bad("%s is not an object", path)
		}
		return m
	}
	str := func(m map[string]any, key, path string) string {
		s, ok := m[key].(string)
		if !ok || s == "" {
			bad("%s.%s is required", path, key)
		}
		return s
	}
	arr := func(m map[string]any, key, path string, required bool) []any {
		a, ok := m[key].([]any)
		if (required && !ok) || (ok && len(a) == 0) {
			bad("%s.%s must be a non-empty array", path, key)
		}
		return a
	}
	uuid := func(m map[string]any, path string) string {
		u := str(m, "uuid", path)
		if !uuidRE.MatchString(u) {
			bad("%s.uuid %q is not a version 4 or 5 UUID", path, u)
		}
		return u
	}
	when := func(m map[string]any, key, path string) {
		if _, err := time.Parse(time.RFC3339, str(m, key, path)); err != nil {
			bad("%s.%s is not a date-time with a time zone: %v", path, key, err)
		}
	}
	ar := obj(doc["assessment-results"], "assessment-results")
	seen := map[string]bool{}
	unique := func(u string) {
		if seen[u] {
			bad("uuid %s is used twice", u)
		}
		seen[u] = true
	}
	unique(uuid(ar, "assessment-results"))
	md := obj(ar["metadata"], "metadata")
	str(md, "title", "metadata")
	when(md, "last-modified", "metadata")
	str(md, "version", "metadata")
	if v := str(md, "oscal-version", "metadata"); v != "1.1.2" {
		bad("oscal-version %q", v)
	}
	resources := map[string]bool{}
	if bm, ok := ar["back-matter"]; ok {
		for j, rv := range arr(obj(bm, "back-matter"), "resources", "back-matter", true) {
			rp := fmt.Sprintf("back-matter.resources[%d]", j)
			u := uuid(obj(rv, rp), rp)
			unique(u)
			resources[u] = true
		}
	}
	// import-ap: a bare fragment must name a back-matter resource.
	if href := str(obj(ar["import-ap"], "import-ap"), "href", "import-ap"); strings.HasPrefix(href, "#") && !resources[href[1:]] {
		bad("import-ap.href %q names no back-matter resource", href)
	}
	for i, rv := range arr(ar, "results", "assessment-results", true) {
		p := fmt.Sprintf("results[%d]", i)
		r := obj(rv, p)
		unique(uuid(r, p))
		str(r, "title", p)
		str(r, "description", p)
		when(r, "start", p)
		if _, ok := r["end"]; ok {
			when(r, "end", p)
		}
		rc := obj(r["reviewed-controls"], p+".reviewed-controls")
		for j, sv := range arr(rc, "control-selections", p+".reviewed-controls", true) {
			sel := obj(sv, fmt.Sprintf("%s.control-selections[%d]", p, j))
			for _, cv := range arr(sel, "include-controls", p+".control-selections", false) {
				if id := str(obj(cv, "include-controls[]"), "control-id", "include-controls[]"); !tokenRE.MatchString(id) {
					bad("control-id %q is not a token", id)
				}
			}
		}
		items := map[string]bool{}
		if ld, ok := r["local-definitions"]; ok {
			for j, iv := range arr(obj(ld, p+".local-definitions"), "inventory-items", p+".local-definitions", false) {
				ip := fmt.Sprintf("%s.inventory-items[%d]", p, j)
				it := obj(iv, ip)
				u := uuid(it, ip)
				unique(u)
				items[u] = true
				str(it, "description", ip)
			}
		}
		observations := map[string]bool{}
		for j, ov := range arr(r, "observations", p, false) {
			op := fmt.Sprintf("%s.observations[%d]", p, j)
			o := obj(ov, op)
			u := uuid(o, op)
			unique(u)
			observations[u] = true
			str(o, "description", op)
			when(o, "collected", op)
			for _, m := range arr(o, "methods", op, true) {
				if !slices.Contains([]any{"EXAMINE", "INTERVIEW", "TEST", "UNKNOWN"}, m) {
					bad("%s: method %v", op, m)
				}
			}
			for k, sv := range arr(o, "subjects", op, false) {
				sp := fmt.Sprintf("%s.subjects[%d]", op, k)
				s := obj(sv, sp)
				if !items[str(s, "subject-uuid", sp)] {
					bad("%s.subject-uuid names no inventory item", sp)
				}
				if ty := str(s, "type", sp); !slices.Contains([]string{"component", "inventory-item", "location", "party", "user"}, ty) {
					bad("%s.type %q", sp, ty)
				}
			}
		}
		for j, fv := range arr(r, "findings", p, false) {
			fp := fmt.Sprintf("%s.findings[%d]", p, j)
			f := obj(fv, fp)
			unique(uuid(f, fp))
			str(f, "title", fp)
			str(f, "description", fp)
			tg := obj(f["target"], fp+".target")
			// The target names a part of a control in NIST's catalog: an
			// objective (ac-2_obj) or a statement (ac-2_smt), never the
			// control's id itself.
			ty, id := str(tg, "type", fp+".target"), str(tg, "target-id", fp+".target")
			switch {
			case ty == "objective-id" && strings.HasSuffix(id, "_obj"), ty == "statement-id" && strings.HasSuffix(id, "_smt"):
			default:
				bad("%s.target: type %q with target-id %q", fp, ty, id)
			}
			if !tokenRE.MatchString(id) {
				bad("%s.target.target-id %q is not a token", fp, id)
			}
			if st := str(obj(tg["status"], fp+".target.status"), "state", fp+".target.status"); st != "satisfied" && st != "not-satisfied" {
				bad("%s: state %q", fp, st)
			}
			for _, rv := range arr(f, "related-observations", fp, false) {
				if !observations[str(obj(rv, fp+".related-observations[]"), "observation-uuid", fp)] {
					bad("%s: related observation names no observation", fp)
				}
			}
			for _, pv := range arr(f, "props", fp, false) {
				pr := obj(pv, fp+".props[]")
				if !tokenRE.MatchString(str(pr, "name", fp+".props[]")) {
					bad("%s: prop name %v", fp, pr["name"])
				}
				str(pr, "value", fp+".props[]")
			}
		}
	}
}

func TestOSCAL(t *testing.T) {
	t.Parallel()
	resolved := finding("env-a", "c-one", "r3", controls.High)
	resolved.Status = posture.Resolved
	tests := []struct {
		name         string
		findings     []posture.Finding
		want         int // findings
		observations int
		target       string
	}{
		{"ok/two findings on one resource", []posture.Finding{finding("env-a", "c-one", "r1", controls.High), finding("env-a", "c-two", "r1", controls.Critical)}, 2, 2, "ac-2_obj"},
		{"ok/resolved findings are left out", []posture.Finding{resolved, finding("env-a", "c-one", "r1", controls.High)}, 1, 1, "ac-2_obj"},
		{"ok/unknown control: an observation, no objective to target", []posture.Finding{finding("env-a", "gone", "r1", controls.Low)}, 0, 1, ""},
		{"ok/nothing open", nil, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := OSCALInput{Scope: "environment env-a", ScopeID: "env-a", Version: "test", Start: t0, End: t0.Add(2 * time.Hour),
				Controls: sample, Findings: tt.findings}
			doc := OSCAL(in)
			raw, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			validateAssessmentResults(t, raw)
			res := doc.AssessmentResults.Results[0]
			if len(res.Findings) != tt.want || len(res.Observations) != tt.observations {
				t.Fatalf("%d findings, %d observations, want %d, %d", len(res.Findings), len(res.Observations), tt.want, tt.observations)
			}
			if tt.want > 0 && (res.Findings[0].Target.TargetID != tt.target || res.Findings[0].Target.Type != "objective-id") {
				t.Errorf("target %+v, want objective-id %s", res.Findings[0].Target, tt.target)
			}
			if got := len(res.ReviewedControls.ControlSelections[0].IncludeControls); got != 4 { // ac-2, ia-2.1, sc-28, xx-99
				t.Errorf("%d reviewed controls", got)
			}
			again, _ := json.Marshal(OSCAL(in))
			if string(again) != string(raw) {
				t.Error("the same input makes a different document: UUIDs are not deterministic")
			}
		})
	}
}

func TestComponentDefinition(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		framework Framework
		ids       []string // control-ids, in order
		status    string   // mapping-status of the first, "" for none
	}{
		{"ok/nist: covered requirements, then those outside the baselines", NIST80053, []string{"ac-2", "ia-2.1", "sc-28", "xx-99"}, ""},
		{"ok/csf", NISTCSF, []string{"PR.AA-01", "PR.DS-01"}, ""},
		{"ok/ismap: prefixed to be tokens, marked unverified", ISMAP, []string{"ismap-9.2.1", "ismap-10.1.1"}, "unverified"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cov, err := CoverageOf(tt.framework, Catalog, sample)
			if err != nil {
				t.Fatal(err)
			}
			doc := ComponentDefinitionOf(cov, "test", t0).ComponentDefinition
			src := doc.BackMatter.Resources[0]
			ci := doc.Components[0].ControlImplementations[0]
			if ci.Source != "#"+src.UUID {
				t.Errorf("source %s names no back-matter resource (%s)", ci.Source, src.UUID)
			}
			var ids []string
			for _, ir := range ci.ImplementedRequirements {
				ids = append(ids, ir.ControlID)
			}
			if !slices.Equal(ids, tt.ids) {
				t.Errorf("implemented requirements %v, want %v", ids, tt.ids)
			}
			status := ""
			for _, p := range ci.ImplementedRequirements[0].Props {
				if p.Name == "mapping-status" {
					status = p.Value
				}
			}
			if status != tt.status {
				t.Errorf("mapping-status %q, want %q", status, tt.status)
			}
			again := ComponentDefinitionOf(cov, "test", t0.Add(time.Hour)).ComponentDefinition
			if again.Components[0].ControlImplementations[0].ImplementedRequirements[0].UUID != ci.ImplementedRequirements[0].UUID {
				t.Error("a requirement's UUID changes from one export to the next")
			}
		})
	}
}

// ISMAP ids are reported, but none as fact: each says whether it was
// traced to the published criteria.
func TestCoverageISMAPUnverified(t *testing.T) {
	t.Parallel()
	cov, err := CoverageOf(ISMAP, Catalog, sample)
	if err != nil {
		t.Fatal(err)
	}
	if cov.Unverified != len(cov.Items) || !strings.Contains(cov.Note, "unverified") {
		t.Errorf("%d of %d unverified; note %q", cov.Unverified, len(cov.Items), cov.Note)
	}
	for _, r := range cov.Items {
		if r.Verified == nil || *r.Verified {
			t.Errorf("%s: verified %v", r.ID, r.Verified)
		}
	}
	raw, _ := json.Marshal(cov)
	if !strings.Contains(string(raw), `"verified":false`) {
		t.Errorf("the JSON does not say so: %s", raw)
	}
	nist, _ := CoverageOf(NIST80053, Catalog, sample)
	if raw, _ := json.Marshal(nist); strings.Contains(string(raw), `"verified"`) || strings.Contains(string(raw), `"unverified"`) {
		t.Error("NIST ids come from NIST's catalog: no verified mark")
	}
}

// The objectives findings point at exist in NIST's OSCAL catalog (read
// from shared/data/oscal when it is beside the repository).
func TestOSCALObjectivesExist(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../../shared/data/oscal/NIST_SP-800-53_rev5_HIGH-baseline-resolved-profile_catalog-min.json")
	if err != nil {
		t.Skip("NIST's SP 800-53 catalog is not beside the repository:", err)
	}
	parts := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["id"].(string); ok && strings.HasSuffix(id, "_obj") {
				parts[id] = true
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		id := c.Frameworks.NIST80053[0]
		if _, inBaseline := controls.NISTTitle(id); inBaseline && !parts[OSCALObjectiveID(id)] {
			t.Errorf("%s: %s is not an objective of NIST's catalog", c.ID, OSCALObjectiveID(id))
		}
	}
}
