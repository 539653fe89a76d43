package reports

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// hatoba's control catalog in OSCAL: a catalog (OSCAL 1.1.2,
// https://pages.nist.gov/OSCAL-Reference/models/v1.1.2/catalog/json-reference/)
// with one control per catalog entry: its English title, its description
// as the statement, its remediation as guidance, the Japanese text, the
// severity, kinds and resource types as hatoba's props, and its framework
// mappings as links to the frameworks' own OSCAL catalogs where those
// exist (NIST SP 800-53 rev5, CSF 2.0) and props where they do not.

// CatalogDocument is the root of an OSCAL JSON document.
type CatalogDocument struct {
	Catalog OSCALCatalog `json:"catalog"`
}

type OSCALCatalog struct {
	UUID       string           `json:"uuid"`
	Metadata   Metadata         `json:"metadata"`
	Controls   []CatalogControl `json:"controls,omitempty"`
	BackMatter *BackMatter      `json:"back-matter,omitempty"`
}

type CatalogControl struct {
	ID    string `json:"id"`
	Class string `json:"class,omitempty"`
	Title string `json:"title"`
	Props []Prop `json:"props,omitempty"`
	Links []Link `json:"links,omitempty"`
	Parts []Part `json:"parts,omitempty"`
}

type Link struct {
	Href string `json:"href"`
	Rel  string `json:"rel,omitempty"`
	Text string `json:"text,omitempty"`
}

type Part struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name"`
	NS    string `json:"ns,omitempty"`
	Title string `json:"title,omitempty"`
	Prose string `json:"prose,omitempty"`
	Props []Prop `json:"props,omitempty"`
}

// CatalogOf renders controls as an OSCAL catalog; at is its
// last-modified time and, with the controls' ids, seeds its UUID.
func CatalogOf(cs []controls.Control, version string, at time.Time) CatalogDocument {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b controls.Control) int { return naturalCompare(a.ID, b.ID) })
	stamp := at.UTC().Format(time.RFC3339)
	nist, csf := frameworkSource(NIST80053), frameworkSource(NISTCSF)
	seed := "catalog/" + stamp
	out := make([]CatalogControl, 0, len(cs))
	for _, c := range cs {
		seed += "/" + c.ID
		cc := CatalogControl{ID: c.ID, Class: "hatoba-control", Title: nonEmpty(c.Title.En),
			Props: []Prop{{Name: "severity", Value: string(c.Severity), NS: NS}}}
		if c.Title.Ja != "" {
			cc.Props = append(cc.Props, Prop{Name: "title-ja", Value: c.Title.Ja, NS: NS})
		}
		for _, k := range c.Kinds {
			cc.Props = append(cc.Props, Prop{Name: "kind", Value: string(k), NS: NS})
		}
		for _, t := range c.ResourceTypes {
			cc.Props = append(cc.Props, Prop{Name: "resource-type", Value: t, NS: NS})
		}
		origin := "custom"
		if c.Builtin {
			origin = "builtin"
		}
		cc.Props = append(cc.Props, Prop{Name: "origin", Value: origin, NS: NS})
		for _, id := range c.Frameworks.NIST80053 {
			cc.Links = append(cc.Links, Link{Href: "#" + nist.UUID, Rel: "related", Text: "NIST SP 800-53 Rev. 5 " + OSCALControlID(id)})
			cc.Props = append(cc.Props, Prop{Name: "nist-800-53", Value: OSCALControlID(id), NS: NS})
		}
		for _, id := range c.Frameworks.NISTCSF {
			cc.Links = append(cc.Links, Link{Href: "#" + csf.UUID, Rel: "related", Text: "NIST CSF 2.0 " + id})
			cc.Props = append(cc.Props, Prop{Name: "nist-csf", Value: id, NS: NS})
		}
		for _, id := range c.Frameworks.CIS {
			cc.Props = append(cc.Props, Prop{Name: "cis", Value: id, NS: NS})
		}
		for _, id := range c.Frameworks.ISMAP {
			status := "unverified"
			if _, ok := controls.ISMAPVerified(id); ok {
				status = "verified"
			}
			cc.Props = append(cc.Props, Prop{Name: "ismap", Value: id, NS: NS, Class: status})
		}
		cc.Parts = append(cc.Parts, Part{ID: c.ID + "_smt", Name: "statement", Prose: nonEmpty(c.Description.En)})
		if c.Description.Ja != "" {
			cc.Parts = append(cc.Parts, Part{ID: c.ID + "_smt.ja", Name: "statement-ja", NS: NS, Prose: c.Description.Ja})
		}
		if c.Remediation.En != "" {
			cc.Parts = append(cc.Parts, Part{ID: c.ID + "_gdn", Name: "guidance", Prose: c.Remediation.En})
		}
		if c.Remediation.Ja != "" {
			cc.Parts = append(cc.Parts, Part{ID: c.ID + "_gdn.ja", Name: "guidance-ja", NS: NS, Prose: c.Remediation.Ja})
		}
		out = append(out, cc)
	}
	return CatalogDocument{Catalog: OSCALCatalog{
		UUID: uuid5(seed),
		Metadata: Metadata{Title: "hatoba control catalog", LastModified: stamp, Version: nonEmpty(version), OSCALVersion: OSCALVersion,
			Props: []Prop{{Name: "controls", Value: fmt.Sprint(len(out)), NS: NS}}},
		Controls:   out,
		BackMatter: &BackMatter{Resources: []Resource{nist, csf}},
	}}
}

// OpenFormats is what an export writes of the controls, their assessments
// and their findings, read from the export's snapshot: the catalog as an
// OSCAL catalog; the open findings of the organisations (nil: every one)
// as OSCAL assessment results; every finding, resolved ones included, as
// OCSF Compliance Findings. catalog gives the controls in force (the
// built-in and custom ones).
func OpenFormats(catalog func(context.Context) (*controls.Engine, error), version string, now func() time.Time) func(ctx context.Context, q store.Querier, orgs []string, write func(name string, v any) error) error {
	return func(ctx context.Context, q store.Querier, orgs []string, write func(string, any) error) error {
		engine, err := catalog(ctx)
		if err != nil {
			return fmt.Errorf("export the controls: %w", err)
		}
		fs, err := posture.FindingsIn(ctx, q, orgs)
		if err != nil {
			return err
		}
		at := now()
		if err := write("oscal/catalog.json", CatalogOf(engine.Controls(), version, at)); err != nil {
			return err
		}
		scope, scopeID := "the platform", "platform"
		if len(orgs) > 0 {
			scope, scopeID = "organisation "+orgs[0], orgs[0]
		}
		in := OSCALInput{Scope: scope, ScopeID: scopeID, Version: version, End: at, Controls: detective(engine), Lookup: engine.Control}
		for _, f := range fs {
			if f.Status == posture.Open {
				in.Findings = append(in.Findings, f)
				if in.Start.IsZero() || f.LastSeen.Before(in.Start) {
					in.Start = f.LastSeen
				}
			}
		}
		if err := write("oscal/assessment-results.json", OSCAL(in)); err != nil {
			return err
		}
		ocsf := make([]map[string]any, 0, len(fs))
		for _, f := range fs {
			c, _ := engine.Control(f.ControlID)
			ocsf = append(ocsf, f.OCSF(c, version))
		}
		return write("ocsf/compliance-findings.json", ocsf)
	}
}

func detective(e *controls.Engine) []controls.Control {
	var out []controls.Control
	for _, c := range e.Controls() {
		if c.Has(controls.Detective) {
			out = append(out, c)
		}
	}
	return out
}
