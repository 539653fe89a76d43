// Package reports turns the control catalog and the detective findings
// into what auditors and tenants read: coverage per framework, posture
// per organisation and environment, and OSCAL assessment results
// (docs/controls.md, "Reports"). Its functions are pure: the caller
// gathers the data (internal/api does) and passes it in.
package reports

import (
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Framework names a framework controls map to.
type Framework string

const (
	NIST80053 Framework = "nist-800-53" // NIST SP 800-53 rev5
	NISTCSF   Framework = "nist-csf"    // NIST CSF 2.0
	CIS       Framework = "cis"         // CIS AWS Foundations Benchmark
	ISMAP     Framework = "ismap"       // ISMAP control criteria
)

// Frameworks lists the frameworks a coverage report can be made for.
var Frameworks = []Framework{NIST80053, NISTCSF, CIS, ISMAP}

// Scope says which controls a coverage report counts.
type Scope string

const (
	// Catalog counts every control of the catalog.
	Catalog Scope = "catalog"
	// Assigned counts only the controls assigned somewhere.
	Assigned Scope = "assigned"
)

// Requirement is one requirement of a framework and the controls that
// map to it.
type Requirement struct {
	ID       string   `json:"id"`
	Title    string   `json:"title,omitempty"`
	Covered  bool     `json:"covered"`
	Controls []string `json:"controls"`
	// Verified is set for ISMAP only: whether the mapping to this id was
	// traced to the published criteria (controls.ISMAPVerified). An
	// unverified one is a claim to check, not a fact.
	Verified *bool `json:"verified,omitempty"`
}

// Coverage is a framework's requirements and the controls covering them.
type Coverage struct {
	Framework Framework `json:"framework"`
	Name      string    `json:"name"`
	Scope     Scope     `json:"scope"`
	// Complete: the requirements are the framework's whole list (the
	// shipped baselines for SP 800-53, every CSF subcategory); for the
	// others only the ids the controls map are known, and Percent is
	// null.
	Complete     bool     `json:"complete"`
	Note         string   `json:"note"`
	Controls     int      `json:"controls"`
	Requirements int      `json:"requirements"`
	Covered      int      `json:"covered"`
	Percent      *float64 `json:"percent"`
	// Unverified counts the items whose mapping was not traced to the
	// framework's published text (ISMAP).
	Unverified int           `json:"unverified,omitempty"`
	Items      []Requirement `json:"items"`
	// Outside are ids the controls map that are not in the shipped list
	// (SP 800-53 enhancements no shipped baseline selects): counted
	// nowhere, listed so nothing is silently dropped.
	Outside []Requirement `json:"outside,omitempty"`
}

// ParseFramework reads a framework name as the API takes it.
func ParseFramework(s string) (Framework, error) {
	f := Framework(s)
	if !slices.Contains(Frameworks, f) {
		return "", fault.InvalidField("framework", "framework is one of nist-800-53, nist-csf, cis, ismap, not %q", s)
	}
	return f, nil
}

func mapped(f Framework, c controls.Control) []string {
	switch f {
	case NIST80053:
		return c.Frameworks.NIST80053
	case NISTCSF:
		return c.Frameworks.NISTCSF
	case CIS:
		return c.Frameworks.CIS
	case ISMAP:
		return c.Frameworks.ISMAP
	}
	return nil
}

// CoverageOf reports which of f's requirements the controls cs cover. A
// requirement is covered by a control that names exactly its id: a
// control mapped to SC-28(1) does not cover SC-28.
func CoverageOf(f Framework, scope Scope, cs []controls.Control) (Coverage, error) {
	if !slices.Contains(Frameworks, f) {
		return Coverage{}, fault.InvalidField("framework", "no framework %q", f)
	}
	by := map[string][]string{}
	for _, c := range cs {
		for _, id := range mapped(f, c) {
			if !slices.Contains(by[id], c.ID) {
				by[id] = append(by[id], c.ID)
			}
		}
	}
	for _, ids := range by {
		slices.Sort(ids)
	}
	cov := Coverage{Framework: f, Scope: scope, Controls: len(cs), Items: []Requirement{}}
	var ids []string
	var title func(string) (string, bool)
	switch f {
	case NIST80053:
		cov.Name, cov.Complete, ids, title = "NIST SP 800-53 rev5", true, controls.NISTIDs(), controls.NISTTitle
		cov.Note = "the controls and enhancements of the HIGH and PRIVACY baselines; a requirement is covered by a control mapped to exactly its id"
	case NISTCSF:
		cov.Name, cov.Complete, ids, title = "NIST Cybersecurity Framework 2.0", true, controls.CSFIDs(), controls.CSFTitle
		cov.Note = "every CSF 2.0 subcategory"
	case CIS:
		cov.Name = "CIS Amazon Web Services Foundations Benchmark v3.0.0"
		cov.Note = "mapped ids only: hatoba ships no complete list of this benchmark's recommendations, so uncovered ones cannot be named and no percentage is given"
	case ISMAP:
		cov.Name = "ISMAP control criteria"
		cov.Note = "mapped ids only: hatoba ships no complete list of the control criteria, so uncovered ones cannot be named and no percentage is given; " +
			"mappings not traced to the published criteria are marked verified: false (unverified) and are claims to check, not facts"
	}
	if !cov.Complete {
		for id := range by {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, naturalCompare)
		title = func(string) (string, bool) { return "", false }
	}
	listed := map[string]bool{}
	for _, id := range ids {
		listed[id] = true
		t, _ := title(id)
		r := Requirement{ID: id, Title: t, Controls: by[id], Covered: len(by[id]) > 0}
		if r.Controls == nil {
			r.Controls = []string{}
		}
		if f == ISMAP {
			t, ok := controls.ISMAPVerified(id)
			r.Verified, r.Title = &ok, t
			if !ok {
				cov.Unverified++
			}
		}
		cov.Items = append(cov.Items, r)
		cov.Requirements++
		if r.Covered {
			cov.Covered++
		}
	}
	for id, cids := range by {
		if !listed[id] {
			cov.Outside = append(cov.Outside, Requirement{ID: id, Covered: true, Controls: cids})
		}
	}
	slices.SortFunc(cov.Outside, func(a, b Requirement) int { return naturalCompare(a.ID, b.ID) })
	if cov.Complete {
		p := 100.0
		if cov.Requirements > 0 {
			p = float64(cov.Covered) * 100 / float64(cov.Requirements)
		}
		p = float64(int(p*10+0.5)) / 10
		cov.Percent = &p
	}
	return cov, nil
}

// AssignedOnly keeps the controls whose ids are in assigned.
func AssignedOnly(cs []controls.Control, assigned []string) []controls.Control {
	var out []controls.Control
	for _, c := range cs {
		if slices.Contains(assigned, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// naturalCompare orders ids with their numbers compared as numbers:
// 9.2.1 before 10.1.1, AWS-1.2 before AWS-1.10.
func naturalCompare(a, b string) int {
	ca, cb := chunks(a), chunks(b)
	for i := 0; i < len(ca) && i < len(cb); i++ {
		na, ea := strconv.Atoi(ca[i])
		nb, eb := strconv.Atoi(cb[i])
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				return na - nb
			}
		default:
			if c := strings.Compare(ca[i], cb[i]); c != 0 {
				return c
			}
		}
	}
	return len(ca) - len(cb)
}

func chunks(s string) []string {
	var out []string
	start := 0
	for i := 1; i <= len(s); i++ {
		if i == len(s) || unicode.IsDigit(rune(s[i])) != unicode.IsDigit(rune(s[i-1])) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return out
}
