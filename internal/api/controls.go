package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/iac"
)

// The control catalog, assignments and exceptions (docs/controls.md).

func (s *Server) controlsOr503(w http.ResponseWriter, r *http.Request) bool {
	if s.engine() == nil || s.Assignments == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return false
	}
	return true
}

func (s *Server) listControls(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, controlParams...) {
		return
	}
	if !s.controlsOr503(w, r) {
		return
	}
	items := s.engine().Controls()
	if k := r.URL.Query().Get("kind"); k != "" {
		var out []controls.Control
		for _, c := range items {
			if c.Has(controls.Kind(k)) {
				out = append(out, c)
			}
		}
		items = out
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) getControl(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	c, ok := s.engine().Control(r.PathValue("id"))
	if !ok {
		writeError(w, r, s.Logger, fault.NotFoundf("no control %s", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	if !s.controlsOr503(w, r) {
		return
	}
	as, err := s.Assignments.List(r.Context(), nil)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": as})
}

// AssignmentInput assigns a control; org_id "" is every organisation.
type AssignmentInput struct {
	ControlID string `json:"control_id"`
	OrgID     string `json:"org_id"`
}

func (s *Server) createAssignment(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	var in AssignmentInput
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.OrgID != "" {
		if _, err := s.Orgs.Get(r.Context(), in.OrgID); err != nil {
			writeError(w, r, s.Logger, fault.InvalidField("org_id", "no organisation %s", in.OrgID))
			return
		}
	}
	if _, err := s.decide(r, authz.AssignControls, authz.Resource{Kind: "organisation", ID: in.OrgID, OrgID: in.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	a, err := s.Assignments.Assign(r.Context(), principal(r), in.ControlID, in.OrgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/control-assignments/"+a.ID)
	writeJSON(w, http.StatusCreated, a)
}

// AssignmentImpact is what enforcing an assignment would touch: the
// environments and resources failing the control now, as detect mode saw.
type AssignmentImpact struct {
	Assignment assignments.Assignment `json:"assignment"`
	assignments.Impact
}

// Impact computes an assignment's impact from its open findings.
func (s *Server) Impact(r *http.Request, id string) (AssignmentImpact, error) {
	a, err := s.Assignments.Get(r.Context(), id)
	if err != nil {
		return AssignmentImpact{}, err
	}
	var orgIDs []string
	if a.OrgID != assignments.Everywhere {
		if orgIDs, err = s.Orgs.SubtreeIDs(r.Context(), []string{a.OrgID}); err != nil {
			return AssignmentImpact{}, err
		}
	}
	fs, err := s.Posture.OpenFindingsOf(r.Context(), a.ControlID, orgIDs)
	if err != nil {
		return AssignmentImpact{}, err
	}
	im := AssignmentImpact{Assignment: a, Impact: assignments.Impact{Details: map[string][]string{}}}
	for _, f := range fs {
		im.Details[f.EnvID] = append(im.Details[f.EnvID], f.ResourceID)
		im.Resources++
	}
	im.Environments = len(im.Details)
	return im, nil
}

func (s *Server) assignmentImpact(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	im, err := s.Impact(r, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, im)
}

// PromoteInput confirms a promotion by repeating the assignment's id.
type PromoteInput struct {
	Confirm string `json:"confirm"`
}

func (s *Server) promoteAssignment(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	var in PromoteInput
	if !decodeOptional(w, r, &in) {
		return
	}
	im, err := s.Impact(r, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if _, err := s.decide(r, authz.AssignControls, authz.Resource{Kind: "organisation", ID: im.Assignment.OrgID, OrgID: im.Assignment.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	a, err := s.Assignments.Promote(r.Context(), principal(r), im.Assignment.ID, in.Confirm, im.Impact)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	im.Assignment = a
	writeJSON(w, http.StatusOK, im)
}

func (s *Server) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	a, err := s.Assignments.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if _, err := s.decide(r, authz.AssignControls, authz.Resource{Kind: "organisation", ID: a.OrgID, OrgID: a.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := s.Assignments.Unassign(r.Context(), principal(r), a.ID); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ExceptionInput asks for an environment to be excused from a control.
type ExceptionInput struct {
	ControlID string `json:"control_id"`
	Reason    string `json:"reason"`
	// ExpiresAt is an RFC 3339 time, at most a year ahead.
	ExpiresAt string `json:"expires_at"`
}

func (s *Server) requestException(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	var in ExceptionInput
	if !decodeJSON(w, r, &in) {
		return
	}
	en, err := s.Envs.Get(r.Context(), s.DB, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if _, err := s.decide(r, authz.RequestException, authz.Resource{Kind: "environment", ID: en.ID, OrgID: en.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	exp, err := time.Parse(time.RFC3339, in.ExpiresAt)
	if err != nil {
		writeError(w, r, s.Logger, fault.InvalidField("expires_at", "expires_at must be an RFC 3339 time like 2027-03-31T00:00:00+09:00, not %q", in.ExpiresAt))
		return
	}
	e, err := s.Assignments.RequestException(r.Context(), principal(r), en.ID, en.OrgID, in.ControlID, in.Reason, exp)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listExceptions(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	if !s.controlsOr503(w, r) {
		return
	}
	within, err := s.within(r.Context(), principal(r), authz.ReadExceptions)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	es, err := s.Assignments.Exceptions(r.Context(), within)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": es})
}

func (s *Server) decideException(w http.ResponseWriter, r *http.Request, approve bool) {
	if !s.controlsOr503(w, r) {
		return
	}
	var in struct {
		Note string `json:"note"`
	}
	if !decodeOptional(w, r, &in) {
		return
	}
	e, err := s.Assignments.GetException(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if _, err := s.decide(r, authz.DecideException, authz.Resource{Kind: "exception", ID: e.ID, OrgID: e.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	e, err = s.Assignments.Decide(r.Context(), principal(r), e.ID, approve, in.Note)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) approveException(w http.ResponseWriter, r *http.Request) {
	s.decideException(w, r, true)
}
func (s *Server) rejectException(w http.ResponseWriter, r *http.Request) {
	s.decideException(w, r, false)
}

// ScanInput is infrastructure code to check before deployment: Terraform
// plans (terraform show -json) and CloudFormation templates.
type ScanInput struct {
	Files []struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	} `json:"files"`
	// Region stands in for resources whose code names none.
	Region string `json:"region"`
	// FailOn is the severity at or above which the scan fails (default
	// high; "none" never fails).
	FailOn controls.Severity `json:"fail_on"`
}

// ScanResult is a scan's answer for a pipeline: pass or fail by FailOn,
// and the report (SARIF 2.1.0 with ?format=sarif).
type ScanResult struct {
	Passed bool                      `json:"passed"`
	FailOn controls.Severity         `json:"fail_on"`
	Counts map[controls.Severity]int `json:"counts"`
	Report iac.Report                `json:"report"`
}

// maxScanFiles bounds one scan request.
const maxScanFiles = 100

func (s *Server) scan(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "sarif" {
		writeError(w, r, s.Logger, fault.InvalidField("format", "format is json (the default) or sarif, not %q", format))
		return
	}
	var in ScanInput
	// A plan or template is read, never shown as a name: format
	// characters in its text (a tag's value) are the scanned code's own.
	if !decodeJSONText(w, r, &in, textFields{"files[].content"}) {
		return
	}
	if len(in.Files) == 0 || len(in.Files) > maxScanFiles {
		writeError(w, r, s.Logger, fault.InvalidField("files", "send 1 to %d files", maxScanFiles))
		return
	}
	if in.FailOn == "" {
		in.FailOn = controls.High
	}
	if in.FailOn != "none" && in.FailOn.Rank() < 0 {
		writeError(w, r, s.Logger, fault.InvalidField("fail_on", "fail_on is a severity (critical, high, medium, low, informational) or none, not %q", in.FailOn))
		return
	}
	files := make([]iac.File, len(in.Files))
	for i, f := range in.Files {
		if f.Name == "" {
			f.Name = fmt.Sprintf("file-%d", i+1)
		}
		files[i] = iac.File{Name: f.Name, Data: []byte(f.Content), Region: in.Region}
	}
	rep, err := iac.Scan(r.Context(), s.engine(), files)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if format == "sarif" {
		w.Header().Set("Content-Type", "application/sarif+json")
		if err := iac.WriteSARIF(w, rep, s.Version); err != nil {
			s.Logger.ErrorContext(r.Context(), "writing SARIF", "err", err)
		}
		return
	}
	res := ScanResult{FailOn: in.FailOn, Counts: rep.Count(), Report: rep, Passed: true}
	if in.FailOn != "none" {
		res.Passed = rep.AtLeast(in.FailOn) == 0
	}
	writeJSON(w, http.StatusOK, res)
}
