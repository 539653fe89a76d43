package api

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Who holds an environment's two permission sets. Reads go to envaccess;
// changes go through the vending engine, which commits them and queues the
// job that applies them to the provider. A change answers 202 Accepted
// with the assignment still pending or removing; GET shows when it is
// applied.

// AccessInput chooses a person's permission set.
type AccessInput struct {
	PermissionSet envaccess.Set `json:"permission_set"`
}

// AccessList is an environment's assignments.
type AccessList struct {
	Items []envaccess.Assignment `json:"items"`
}

var errAccessUnavailable = &fault.Error{Kind: fault.Unavailable, Message: "assigning people to environments is not configured on this server"}

func (s *Server) listEnvAccess(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	id := r.PathValue("id")
	if _, err := s.envDecision(r, authz.ReadEnvs, id); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if s.EnvAccess == nil {
		writeError(w, r, s.Logger, errAccessUnavailable)
		return
	}
	items, err := s.EnvAccess.List(r.Context(), id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, AccessList{Items: items})
}

func (s *Server) assignEnvAccess(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := s.envDecision(r, authz.AssignAccess, id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var in AccessInput
	if !decodeJSON(w, r, &in) {
		return
	}
	a, err := s.Vending.AssignAccess(r.Context(), principal(r), d.GrantID, id, r.PathValue("person_id"), in.PermissionSet)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	status := http.StatusOK // the person already held this set
	if a.Unsettled() {
		status = http.StatusAccepted
	}
	writeJSON(w, status, a)
}

func (s *Server) unassignEnvAccess(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := s.envDecision(r, authz.AssignAccess, id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	a, found, err := s.Vending.UnassignAccess(r.Context(), principal(r), d.GrantID, id, r.PathValue("person_id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if !found {
		// Nothing to take away: DELETE is idempotent.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusAccepted, a)
}
