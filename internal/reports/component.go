package reports

import (
	"fmt"
	"strings"
	"time"
)

// The coverage report in OSCAL: a component definition (OSCAL 1.1.2,
// https://pages.nist.gov/OSCAL-Reference/models/v1.1.2/component-definition/json-reference/)
// with hatoba as one software component whose control implementation
// lists, for the framework, each requirement the catalog's controls
// cover and which controls cover it. A component definition states what
// a component implements, so uncovered requirements are not listed: the
// JSON report names them.

// ComponentDefinitionDocument is the root of an OSCAL JSON document.
type ComponentDefinitionDocument struct {
	ComponentDefinition ComponentDefinition `json:"component-definition"`
}

type ComponentDefinition struct {
	UUID       string             `json:"uuid"`
	Metadata   Metadata           `json:"metadata"`
	Components []DefinedComponent `json:"components"`
	BackMatter *BackMatter        `json:"back-matter,omitempty"`
}

type DefinedComponent struct {
	UUID                   string                  `json:"uuid"`
	Type                   string                  `json:"type"`
	Title                  string                  `json:"title"`
	Description            string                  `json:"description"`
	Props                  []Prop                  `json:"props,omitempty"`
	ControlImplementations []ControlImplementation `json:"control-implementations,omitempty"`
}

type ControlImplementation struct {
	UUID                    string                   `json:"uuid"`
	Source                  string                   `json:"source"`
	Description             string                   `json:"description"`
	Props                   []Prop                   `json:"props,omitempty"`
	ImplementedRequirements []ImplementedRequirement `json:"implemented-requirements"`
}

type ImplementedRequirement struct {
	UUID        string `json:"uuid"`
	ControlID   string `json:"control-id"`
	Description string `json:"description"`
	Props       []Prop `json:"props,omitempty"`
	Remarks     string `json:"remarks,omitempty"`
}

// frameworkSource is the back-matter resource a framework's control
// implementation takes its control ids from.
func frameworkSource(f Framework) Resource {
	r := Resource{UUID: uuid5("framework/" + string(f))}
	switch f {
	case NIST80053:
		r.Title = "NIST SP 800-53 Rev. 5 control catalog (OSCAL)"
		r.Citation = &Cite{Text: "NIST SP 800-53 Rev. 5, Security and Privacy Controls for Information Systems and Organizations (September 2020, updated)"}
		r.RLinks = []RLink{{Href: "https://raw.githubusercontent.com/usnistgov/oscal-content/main/nist.gov/SP800-53/rev5/json/NIST_SP-800-53_rev5_catalog.json", MediaType: "application/oscal.catalog+json"}}
		r.Remarks = "control-ids are NIST's OSCAL ids: ac-2, ia-2.1."
	case NISTCSF:
		r.Title = "NIST Cybersecurity Framework 2.0 (OSCAL catalog)"
		r.Citation = &Cite{Text: "NIST CSWP 29, The NIST Cybersecurity Framework (CSF) 2.0, February 2024"}
		r.RLinks = []RLink{{Href: "https://doi.org/10.6028/NIST.CSWP.29"}}
		r.Remarks = "control-ids are the subcategory ids of NIST's OSCAL catalog of CSF 2.0: PR.DS-01."
	case CIS:
		r.Title = "CIS Amazon Web Services Foundations Benchmark v3.0.0"
		r.Remarks = "CIS publishes no OSCAL catalog; control-ids are hatoba's spelling of the recommendation numbers (AWS-1.10)."
	case ISMAP:
		r.Title = "ISMAP control criteria"
		r.Remarks = "No OSCAL catalog of the criteria exists; control-ids are 'ismap-' and the criteria number as hatoba's catalog maps it. " +
			"None of hatoba's ISMAP mappings has been traced to the published criteria yet: every requirement is marked mapping-status unverified."
	}
	return r
}

// ComponentDefinitionOf renders a coverage report as an OSCAL component
// definition. Version is hatoba's (metadata.version); at is the export
// time (metadata.last-modified, and with the framework and scope the
// document's UUID). The component's and each requirement's UUIDs come
// from the framework and the id, so they stay the same from one export to
// the next.
func ComponentDefinitionOf(cov Coverage, version string, at time.Time) ComponentDefinitionDocument {
	stamp := at.UTC().Format(time.RFC3339)
	src := frameworkSource(cov.Framework)
	comp := DefinedComponent{UUID: uuid5("component/hatoba"), Type: "software", Title: "hatoba",
		Description: "hatoba's control catalog: preventive, proactive and detective controls written in Rego, evaluated over " +
			"infrastructure code, inventories and service control policies.",
		Props: []Prop{{Name: "version", Value: nonEmpty(version), NS: NS}}}
	ci := ControlImplementation{UUID: uuid5("control-implementation/" + string(cov.Framework) + "/" + string(cov.Scope)),
		Source:      "#" + src.UUID,
		Description: fmt.Sprintf("%s requirements covered by %d hatoba controls (scope %s): %s.", cov.Name, cov.Controls, cov.Scope, cov.Note),
		Props:       []Prop{{Name: "framework", Value: string(cov.Framework), NS: NS}, {Name: "scope", Value: string(cov.Scope), NS: NS}}}
	add := func(r Requirement, listed bool) {
		if !r.Covered {
			return
		}
		ir := ImplementedRequirement{UUID: uuid5("implemented-requirement/" + string(cov.Framework) + "/" + r.ID),
			ControlID:   componentControlID(cov.Framework, r.ID),
			Description: "Checked by the hatoba controls " + strings.Join(r.Controls, ", ") + "."}
		if r.Title != "" {
			ir.Description = r.Title + ". " + ir.Description
		}
		for _, c := range r.Controls {
			ir.Props = append(ir.Props, Prop{Name: "hatoba-control", Value: c, NS: NS})
		}
		if cov.Framework == NIST80053 && !listed {
			ir.Props = append(ir.Props, Prop{Name: "in-shipped-baselines", Value: "false", NS: NS})
			ir.Remarks = "Not selected by the HIGH or PRIVACY baseline that hatoba ships."
		}
		if r.Verified != nil {
			status := "verified"
			if !*r.Verified {
				status = "unverified"
				ir.Remarks = "The mapping to " + r.ID + " was not traced to the published criteria: treat it as a claim to check, not as fact."
			}
			ir.Props = append(ir.Props, Prop{Name: "mapping-status", Value: status, NS: NS})
		}
		ci.ImplementedRequirements = append(ci.ImplementedRequirements, ir)
	}
	for _, r := range cov.Items {
		add(r, true)
	}
	for _, r := range cov.Outside {
		add(r, false)
	}
	if len(ci.ImplementedRequirements) > 0 {
		comp.ControlImplementations = []ControlImplementation{ci}
	}
	return ComponentDefinitionDocument{ComponentDefinition: ComponentDefinition{
		UUID: uuid5("component-definition/" + string(cov.Framework) + "/" + string(cov.Scope) + "/" + stamp),
		Metadata: Metadata{Title: "hatoba controls: coverage of " + cov.Name, LastModified: stamp, Version: nonEmpty(version),
			OSCALVersion: OSCALVersion},
		Components: []DefinedComponent{comp},
		BackMatter: &BackMatter{Resources: []Resource{src}},
	}}
}

// componentControlID is a requirement id as the framework's OSCAL
// control-id (a token: it must begin with a letter).
func componentControlID(f Framework, id string) string {
	switch f {
	case NIST80053:
		return OSCALControlID(id)
	case ISMAP:
		return "ismap-" + id
	}
	return id
}
