package api

import (
	"net/http"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The control catalog, assignments and exceptions (docs/controls.md).

func (s *Server) controlsOr503(w http.ResponseWriter, r *http.Request) bool {
	if s.Controls == nil || s.Assignments == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return false
	}
	return true
}

func (s *Server) listControls(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	items := s.Controls.Controls()
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
	c, ok := s.Controls.Control(r.PathValue("id"))
	if !ok {
		writeError(w, r, s.Logger, fault.NotFoundf("no control %s", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request) {
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
