package reports

import (
	"crypto/sha1" //nolint:gosec // G505: UUID version 5 is SHA-1 by definition (RFC 9562); not used for security
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// OSCALVersion is the OSCAL release the assessment results follow.
const OSCALVersion = "1.1.2"

// NS is the namespace of hatoba's own OSCAL properties.
const NS = "https://hatoba.dev/ns/oscal"

// The OSCAL 1.1.2 assessment-results model, as much of it as hatoba
// fills (https://pages.nist.gov/OSCAL-Reference/models/v1.1.2/assessment-results/json-reference/).

// AssessmentResultsDocument is the root of an OSCAL JSON document.
type AssessmentResultsDocument struct {
	AssessmentResults AssessmentResults `json:"assessment-results"`
}

type AssessmentResults struct {
	UUID       string      `json:"uuid"`
	Metadata   Metadata    `json:"metadata"`
	ImportAP   ImportAP    `json:"import-ap"`
	Results    []Result    `json:"results"`
	BackMatter *BackMatter `json:"back-matter,omitempty"`
}

type Metadata struct {
	Title        string `json:"title"`
	LastModified string `json:"last-modified"`
	Version      string `json:"version"`
	OSCALVersion string `json:"oscal-version"`
	Props        []Prop `json:"props,omitempty"`
}

type Prop struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	NS    string `json:"ns,omitempty"`
	Class string `json:"class,omitempty"`
}

type ImportAP struct {
	Href    string `json:"href"`
	Remarks string `json:"remarks,omitempty"`
}

// BackMatter holds the resources a document's references point to
// ("#uuid").
type BackMatter struct {
	Resources []Resource `json:"resources"`
}

type Resource struct {
	UUID        string  `json:"uuid"`
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	Props       []Prop  `json:"props,omitempty"`
	Citation    *Cite   `json:"citation,omitempty"`
	RLinks      []RLink `json:"rlinks,omitempty"`
	Remarks     string  `json:"remarks,omitempty"`
}

type Cite struct {
	Text string `json:"text"`
}

type RLink struct {
	Href      string `json:"href"`
	MediaType string `json:"media-type,omitempty"`
}

type Result struct {
	UUID             string            `json:"uuid"`
	Title            string            `json:"title"`
	Description      string            `json:"description"`
	Start            string            `json:"start"`
	End              string            `json:"end,omitempty"`
	Props            []Prop            `json:"props,omitempty"`
	LocalDefinitions *LocalDefinitions `json:"local-definitions,omitempty"`
	ReviewedControls ReviewedControls  `json:"reviewed-controls"`
	Observations     []Observation     `json:"observations,omitempty"`
	Findings         []Finding         `json:"findings,omitempty"`
}

type LocalDefinitions struct {
	InventoryItems []InventoryItem `json:"inventory-items,omitempty"`
}

type InventoryItem struct {
	UUID        string `json:"uuid"`
	Description string `json:"description"`
	Props       []Prop `json:"props,omitempty"`
}

type ReviewedControls struct {
	Description       string             `json:"description,omitempty"`
	ControlSelections []ControlSelection `json:"control-selections"`
}

type ControlSelection struct {
	Description     string              `json:"description,omitempty"`
	IncludeControls []SelectControlByID `json:"include-controls,omitempty"`
}

type SelectControlByID struct {
	ControlID string `json:"control-id"`
}

type Finding struct {
	UUID                string               `json:"uuid"`
	Title               string               `json:"title"`
	Description         string               `json:"description"`
	Props               []Prop               `json:"props,omitempty"`
	Target              FindingTarget        `json:"target"`
	RelatedObservations []RelatedObservation `json:"related-observations,omitempty"`
}

type FindingTarget struct {
	Type     string          `json:"type"`
	TargetID string          `json:"target-id"`
	Title    string          `json:"title,omitempty"`
	Status   ObjectiveStatus `json:"status"`
}

type ObjectiveStatus struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

type RelatedObservation struct {
	ObservationUUID string `json:"observation-uuid"`
}

type Observation struct {
	UUID        string             `json:"uuid"`
	Title       string             `json:"title,omitempty"`
	Description string             `json:"description"`
	Props       []Prop             `json:"props,omitempty"`
	Methods     []string           `json:"methods"`
	Types       []string           `json:"types,omitempty"`
	Subjects    []SubjectReference `json:"subjects,omitempty"`
	Collected   string             `json:"collected"`
}

type SubjectReference struct {
	SubjectUUID string `json:"subject-uuid"`
	Type        string `json:"type"`
	Title       string `json:"title,omitempty"`
}

// OSCALInput is what one assessment-results export is made of.
type OSCALInput struct {
	// Scope names what was assessed: "environment env-…" or
	// "organisation nat-digital"; ScopeID is its id, which with End
	// seeds the document's and the result's UUIDs.
	Scope, ScopeID string
	// Version is hatoba's version (metadata.version).
	Version string
	// Start is the earliest evaluation the findings come from; End is
	// when the export was made.
	Start, End time.Time
	// Controls are the controls that were evaluated (the detective ones
	// in scope): their NIST SP 800-53 ids are the reviewed controls.
	Controls []controls.Control
	// Findings are the open findings to export.
	Findings []posture.Finding
	// Lookup finds a finding's control (nil: only Controls are known).
	Lookup func(string) (controls.Control, bool)
}

// OSCAL makes an OSCAL 1.1.2 assessment-results document with one
// result: one observation (method TEST, subject: the resource as an
// inventory item of the result's local definitions) per open finding,
// and one finding per open finding whose control maps to NIST SP 800-53,
// targeting the assessment objective of the control's first NIST id
// (type objective-id, target-id "ac-2_obj" as NIST's OSCAL catalog names
// the objective part of AC-2), state not-satisfied. A finding of a control
// hatoba no longer knows, or that maps to no NIST id, has no objective to
// point at: it stays an observation. UUIDs are version 5 (SHA-1, RFC
// 9562) in hatoba's namespace: a finding's and its observation's from the
// finding's id, so the same failure keeps its UUIDs from one export to
// the next; the document's and the result's from the scope and the export
// time. import-ap points at a back-matter resource that says what plays
// the part of the assessment plan: hatoba's continuous evaluation, with
// no separate plan document.
func OSCAL(in OSCALInput) AssessmentResultsDocument {
	end := in.End.UTC()
	start := in.Start.UTC()
	if in.Start.IsZero() || start.After(end) {
		start = end
	}
	lookup := func(id string) (controls.Control, bool) {
		for _, c := range in.Controls {
			if c.ID == id {
				return c, true
			}
		}
		if in.Lookup != nil {
			return in.Lookup(id)
		}
		return controls.Control{}, false
	}
	stamp := end.Format(time.RFC3339)
	res := Result{
		UUID:        uuid5("result/" + in.ScopeID + "/" + stamp),
		Title:       "hatoba detective controls: " + in.Scope,
		Description: fmt.Sprintf("The open findings of hatoba's detective controls for %s: each resource that fails a control, as the last evaluation of its environment's inventory saw it.", in.Scope),
		Start:       start.Format(time.RFC3339),
		End:         stamp,
		Props:       []Prop{{Name: "scope", Value: in.ScopeID, NS: NS}},
	}
	var nist []string
	for _, c := range in.Controls {
		for _, id := range c.Frameworks.NIST80053 {
			if oid := OSCALControlID(id); !slices.Contains(nist, oid) {
				nist = append(nist, oid)
			}
		}
	}
	slices.SortFunc(nist, naturalCompare)
	sel := ControlSelection{Description: "The NIST SP 800-53 rev5 controls hatoba's evaluated controls map to."}
	for _, id := range nist {
		sel.IncludeControls = append(sel.IncludeControls, SelectControlByID{ControlID: id})
	}
	res.ReviewedControls = ReviewedControls{ControlSelections: []ControlSelection{sel}}
	items := map[string]bool{}
	for _, f := range in.Findings {
		if f.Status != posture.Open {
			continue
		}
		c, known := lookup(f.ControlID)
		title := f.ControlID
		if known {
			title = c.Title.En
		}
		subject := uuid5("resource/" + f.EnvID + "/" + f.ResourceID)
		if !items[subject] {
			items[subject] = true
			if res.LocalDefinitions == nil {
				res.LocalDefinitions = &LocalDefinitions{}
			}
			res.LocalDefinitions.InventoryItems = append(res.LocalDefinitions.InventoryItems, InventoryItem{UUID: subject,
				Description: f.ResourceType + " " + f.ResourceID + " in environment " + f.EnvID,
				Props: []Prop{{Name: "asset-id", Value: f.ResourceID}, {Name: "resource-type", Value: nonEmpty(f.ResourceType), NS: NS},
					{Name: "environment", Value: f.EnvID, NS: NS}}})
		}
		obs := Observation{UUID: uuid5("observation/" + f.ID), Title: f.ControlID + " on " + f.ResourceID,
			Description: nonEmpty(f.Message), Methods: []string{"TEST"}, Types: []string{"finding"},
			Subjects:  []SubjectReference{{SubjectUUID: subject, Type: "inventory-item", Title: f.ResourceID}},
			Collected: f.LastSeen.UTC().Format(time.RFC3339),
			Props:     []Prop{{Name: "first-seen", Value: f.FirstSeen.UTC().Format(time.RFC3339), NS: NS}}}
		res.Observations = append(res.Observations, obs)
		if !known || len(c.Frameworks.NIST80053) == 0 {
			continue
		}
		target := OSCALObjectiveID(c.Frameworks.NIST80053[0])
		fd := Finding{UUID: uuid5("finding/" + f.ID), Title: title,
			Description: fmt.Sprintf("%s: %s (%s, severity %s)", f.ControlID, nonEmpty(f.Message), f.ResourceID, f.Severity),
			Props: []Prop{{Name: "hatoba-finding-id", Value: f.ID, NS: NS}, {Name: "control-id", Value: f.ControlID, NS: NS},
				{Name: "severity", Value: string(f.Severity), NS: NS}},
			Target: FindingTarget{Type: "objective-id", TargetID: target, Title: c.Frameworks.NIST80053[0] + " assessment objective",
				Status: ObjectiveStatus{State: "not-satisfied", Reason: "fail"}},
			RelatedObservations: []RelatedObservation{{ObservationUUID: obs.UUID}}}
		for _, id := range c.Frameworks.NIST80053 {
			fd.Props = append(fd.Props, Prop{Name: "nist-800-53", Value: OSCALControlID(id), NS: NS})
		}
		res.Findings = append(res.Findings, fd)
	}
	plan := Resource{UUID: uuid5("assessment-plan/" + in.ScopeID), Title: "hatoba continuous assessment: " + in.Scope,
		Description: "hatoba keeps no separate OSCAL assessment plan. The plan is its continuous evaluation: on every inventory " +
			"collection of an environment (controls.collect_interval, and on demand), the detective controls assigned to the " +
			"environment's organisation and its ancestors, less approved exceptions, are evaluated against every resource of the " +
			"inventory. The result's reviewed-controls are the NIST SP 800-53 controls those detective controls map to.",
		Props: []Prop{{Name: "assessment-method", Value: "continuous-automated", NS: NS}, {Name: "scope", Value: in.ScopeID, NS: NS}}}
	return AssessmentResultsDocument{AssessmentResults: AssessmentResults{
		UUID: uuid5("assessment-results/" + in.ScopeID + "/" + stamp),
		Metadata: Metadata{Title: "hatoba assessment results: " + in.Scope, LastModified: stamp, Version: nonEmpty(in.Version),
			OSCALVersion: OSCALVersion},
		ImportAP: ImportAP{Href: "#" + plan.UUID,
			Remarks: "hatoba evaluates its detective controls continuously and keeps no assessment plan document; the back-matter resource this points to describes the evaluation that stands in for one."},
		Results:    []Result{res},
		BackMatter: &BackMatter{Resources: []Resource{plan}},
	}}
}

func nonEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// OSCALControlID is a NIST SP 800-53 id as NIST's OSCAL catalog spells
// it: AC-2 → ac-2, IA-2(1) → ia-2.1. Other ids are lower-cased.
func OSCALControlID(id string) string {
	id = strings.ToLower(id)
	if base, enh, ok := strings.Cut(id, "("); ok {
		return base + "." + strings.TrimSuffix(enh, ")")
	}
	return id
}

// OSCALObjectiveID is the id NIST's OSCAL SP 800-53 rev5 catalog gives
// the assessment-objective part of a control: AC-2 → ac-2_obj, IA-2(1) →
// ia-2.1_obj.
func OSCALObjectiveID(id string) string { return OSCALControlID(id) + "_obj" }

// namespace is hatoba's UUID namespace: the version 5 UUID of
// "oscal.hatoba.dev" in the DNS namespace (RFC 9562).
var namespace = uuid5With([16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, "oscal.hatoba.dev")

func uuid5(name string) string {
	u := uuid5With(namespace, name)
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func uuid5With(ns [16]byte, name string) [16]byte {
	h := sha1.New() //nolint:gosec // G401: UUID version 5 (see the import)
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u
}
