package iac

import (
	"cmp"
	"context"
	"slices"
	"sort"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// Result is one violation found in infrastructure code.
type Result struct {
	ControlID   string              `json:"control_id"`
	Title       controls.Text       `json:"title"`
	Severity    controls.Severity   `json:"severity"`
	Resource    string              `json:"resource"`
	Type        string              `json:"type"`
	File        string              `json:"file"`
	Line        int                 `json:"line,omitempty"`
	Message     string              `json:"message"`
	Remediation controls.Text       `json:"remediation"`
	Frameworks  controls.Frameworks `json:"frameworks"`
}

// Report is what a scan found: the results ordered by file (as given),
// line, resource and control; the controls that were evaluated, by id;
// and what was read.
type Report struct {
	Results   []Result           `json:"results"`
	Controls  []controls.Control `json:"-"`
	Files     []string           `json:"files"`
	Resources int                `json:"resources"`
}

// Count is the number of results at each severity.
func (r Report) Count() map[controls.Severity]int {
	n := map[controls.Severity]int{}
	for _, res := range r.Results {
		n[res.Severity]++
	}
	return n
}

// AtLeast is the number of results at min or more severe.
func (r Report) AtLeast(min controls.Severity) int {
	n := 0
	for _, res := range r.Results {
		if res.Severity.AtLeast(min) {
			n++
		}
	}
	return n
}

// Scan reads every file (Read detects its format) and evaluates the
// engine's proactive controls over its resources. A file that cannot be
// read is an error naming it (fault.Invalid); nothing is scanned then.
func Scan(ctx context.Context, e *controls.Engine, files []File) (Report, error) {
	proactive := func(c controls.Control) bool { return c.Has(controls.Proactive) }
	byID := map[string]controls.Control{}
	var rep Report
	for _, c := range e.Controls() {
		if proactive(c) {
			byID[c.ID] = c
			rep.Controls = append(rep.Controls, c)
		}
	}
	sort.Slice(rep.Controls, func(i, j int) bool { return rep.Controls[i].ID < rep.Controls[j].ID })
	for _, f := range files {
		rs, _, err := Read(f)
		if err != nil {
			return Report{}, err
		}
		rep.Files = append(rep.Files, f.Name)
		rep.Resources += len(rs)
		// One evaluation per file, so a resource id names one resource
		// (two templates may both have a logical id "Bucket").
		plain := make([]controls.Resource, len(rs))
		where := map[[2]string]Resource{}
		for i, r := range rs {
			plain[i] = r.Resource
			where[[2]string{r.Type, r.ID}] = r
			where[[2]string{"", r.ID}] = r
		}
		vs, err := e.Evaluate(ctx, plain, proactive)
		if err != nil {
			return Report{}, err
		}
		var found []Result
		for _, v := range vs {
			c := byID[v.ControlID]
			res := Result{ControlID: v.ControlID, Title: c.Title, Severity: v.Severity, Resource: v.ResourceID,
				Type: v.Type, File: f.Name, Message: v.Message, Remediation: c.Remediation, Frameworks: c.Frameworks}
			r, ok := where[[2]string{v.Type, v.ResourceID}]
			if !ok {
				r, ok = where[[2]string{"", v.ResourceID}]
			}
			if ok {
				res.Line = r.Line
				if res.Type == "" {
					res.Type = r.Type
				}
			}
			found = append(found, res)
		}
		slices.SortStableFunc(found, func(a, b Result) int {
			switch {
			case a.Line != b.Line:
				return a.Line - b.Line
			case a.Resource != b.Resource:
				return cmp.Compare(a.Resource, b.Resource)
			case a.ControlID != b.ControlID:
				return cmp.Compare(a.ControlID, b.ControlID)
			}
			return cmp.Compare(a.Message, b.Message)
		})
		rep.Results = append(rep.Results, found...)
	}
	return rep, nil
}
