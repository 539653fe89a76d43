package reports

import (
	"slices"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// TopControls is how many failing controls a posture report names.
const TopControls = 10

// Environment is one environment's data for a report: its score at the
// last evaluation (nil when it was never evaluated) and its open
// findings.
type Environment struct {
	ID       string
	OrgID    string
	Score    *posture.Score
	Findings []posture.Finding
}

// ControlFailures is one control failing in a report's scope.
type ControlFailures struct {
	ControlID    string            `json:"control_id"`
	Title        controls.Text     `json:"title"`
	Severity     controls.Severity `json:"severity"`
	Resources    int               `json:"resources"`    // open findings
	Environments int               `json:"environments"` // environments with at least one
}

// EnvironmentPosture is one environment's line in an organisation report.
type EnvironmentPosture struct {
	EnvID        string                    `json:"env_id"`
	OrgID        string                    `json:"org_id"`
	Score        *posture.Score            `json:"score"`
	OpenFindings int                       `json:"open_findings"`
	BySeverity   map[controls.Severity]int `json:"by_severity"`
}

// PostureReport is the posture of an organisation's subtree or of one
// environment.
type PostureReport struct {
	Kind        string    `json:"kind"` // "organisation" or "environment"
	ID          string    `json:"id"`
	GeneratedAt time.Time `json:"generated_at"`
	// Score sums the environments' last evaluations.
	Score        posture.Score             `json:"score"`
	OpenFindings int                       `json:"open_findings"`
	BySeverity   map[controls.Severity]int `json:"by_severity"`
	// TopFailing are the controls with the most open findings, the most
	// severe first among equals; at most TopControls.
	TopFailing   []ControlFailures    `json:"top_failing_controls"`
	Environments []EnvironmentPosture `json:"environments,omitempty"`
}

func bySeverity(fs []posture.Finding) map[controls.Severity]int {
	m := map[controls.Severity]int{}
	for _, s := range controls.Severities {
		m[s] = 0
	}
	for _, f := range fs {
		if f.Status == posture.Open {
			m[f.Severity]++
		}
	}
	return m
}

func openOf(fs []posture.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Status == posture.Open {
			n++
		}
	}
	return n
}

// OrganisationReport is the posture of orgID's subtree: score is
// posture.OrgScore of the subtree, envs its environments. lookup finds
// a control's metadata (nil: titles are left empty).
func OrganisationReport(orgID string, score posture.Score, envs []Environment, lookup func(string) (controls.Control, bool), now time.Time) PostureReport {
	rep := PostureReport{Kind: "organisation", ID: orgID, GeneratedAt: now.UTC(), Score: score, Environments: []EnvironmentPosture{}}
	var all []posture.Finding
	for _, e := range envs {
		all = append(all, e.Findings...)
		rep.Environments = append(rep.Environments, EnvironmentPosture{EnvID: e.ID, OrgID: e.OrgID, Score: e.Score,
			OpenFindings: openOf(e.Findings), BySeverity: bySeverity(e.Findings)})
	}
	slices.SortFunc(rep.Environments, func(a, b EnvironmentPosture) int {
		if a.OpenFindings != b.OpenFindings {
			return b.OpenFindings - a.OpenFindings
		}
		if a.EnvID < b.EnvID {
			return -1
		}
		if a.EnvID > b.EnvID {
			return 1
		}
		return 0
	})
	rep.OpenFindings, rep.BySeverity, rep.TopFailing = openOf(all), bySeverity(all), topFailing(all, lookup)
	return rep
}

// EnvironmentReport is one environment's posture.
func EnvironmentReport(e Environment, lookup func(string) (controls.Control, bool), now time.Time) PostureReport {
	rep := PostureReport{Kind: "environment", ID: e.ID, GeneratedAt: now.UTC(), Score: posture.Score{Score: 100}}
	if e.Score != nil {
		rep.Score = *e.Score
	}
	rep.OpenFindings, rep.BySeverity, rep.TopFailing = openOf(e.Findings), bySeverity(e.Findings), topFailing(e.Findings, lookup)
	return rep
}

func topFailing(fs []posture.Finding, lookup func(string) (controls.Control, bool)) []ControlFailures {
	by := map[string]*ControlFailures{}
	envs := map[string]map[string]bool{}
	for _, f := range fs {
		if f.Status != posture.Open {
			continue
		}
		cf := by[f.ControlID]
		if cf == nil {
			cf = &ControlFailures{ControlID: f.ControlID, Severity: f.Severity}
			if lookup != nil {
				if c, ok := lookup(f.ControlID); ok {
					cf.Title, cf.Severity = c.Title, c.Severity
				}
			}
			by[f.ControlID], envs[f.ControlID] = cf, map[string]bool{}
		}
		cf.Resources++
		envs[f.ControlID][f.EnvID] = true
	}
	out := []ControlFailures{}
	for id, cf := range by {
		cf.Environments = len(envs[id])
		out = append(out, *cf)
	}
	slices.SortFunc(out, func(a, b ControlFailures) int {
		switch {
		case a.Resources != b.Resources:
			return b.Resources - a.Resources
		case a.Severity.Rank() != b.Severity.Rank():
			return a.Severity.Rank() - b.Severity.Rank()
		case a.ControlID < b.ControlID:
			return -1
		case a.ControlID > b.ControlID:
			return 1
		}
		return 0
	})
	if len(out) > TopControls {
		out = out[:TopControls]
	}
	return out
}
