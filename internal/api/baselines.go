package api

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The secure baseline as a product tenants pull (docs/baselines.md):
// central publishes, everyone signed in browses (the catalogue is no
// tenant's: the guard's role check is the whole decision), the
// environment's tenant administrator deploys through a deploy session.

func (s *Server) baselinesReady(w http.ResponseWriter, r *http.Request) bool {
	if s.Baselines == nil {
		writeError(w, r, s.Logger, &fault.Error{Kind: fault.Unavailable, Message: "this server has no baseline catalogue"})
		return false
	}
	return true
}

func (s *Server) listBaselines(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	ps, err := s.Baselines.Products(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ps, "refuse_at": s.Baselines.RefuseAt()})
}

func (s *Server) getBaseline(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	p, err := s.Baselines.GetProduct(r.Context(), r.PathValue("product"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getBaselineVersion(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	rel, err := s.Baselines.Release(r.Context(), r.PathValue("product"), r.PathValue("version"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, rel)
}

// publishBaseline is PUT: publishing a version is idempotent for the same
// content (200), a conflict for other content (409), and 201 when new.
func (s *Server) publishBaseline(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	d, err := s.decide(r, authz.PublishBaseline, authz.Resource{})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var spec baseline.Spec
	// A template is code hatoba reads and stores, never shows as a name.
	if !decodeJSONText(w, r, &spec, textFields{"template"}) {
		return
	}
	rel, created, err := s.Baselines.Publish(r.Context(), actor(r, d), r.PathValue("product"), r.PathValue("version"), spec)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/baselines/"+rel.Product+"/versions/"+rel.Version)
	}
	writeJSON(w, status, rel)
}

func (s *Server) diffBaseline(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, anyText("from"), anyText("to")) || !s.baselinesReady(w, r) {
		return
	}
	q := r.URL.Query()
	d, err := s.Baselines.Diff(r.Context(), r.PathValue("product"), q.Get("from"), q.Get("to"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) envBaseline(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	if _, err := s.envDecision(r, authz.ReadEnvBaseline, r.PathValue("id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	st, err := s.Baselines.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// startDeploySession: the decision point admits only the environment's
// tenant administrators, with a fresh second factor — a security-key
// assertion in the console, or the card's signature of this request.
func (s *Server) startDeploySession(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	if _, err := s.envDecision(r, authz.StartDeploySession, r.PathValue("id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if !decodeOptional(w, r, &struct{}{}) {
		return
	}
	p := principal(r)
	confirmed := baseline.ConfirmedWebAuthn
	if p.CardConfirmation != "" {
		confirmed = baseline.ConfirmedCard
	}
	ss, err := s.Baselines.StartSession(r.Context(), p.PersonID, r.PathValue("id"), confirmed, s.HoldsAdministrator)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, ss)
}

func (s *Server) deployBaseline(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	if _, err := s.envDecision(r, authz.DeployBaseline, r.PathValue("id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var req baseline.DeployRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	d, err := s.Baselines.Deploy(r.Context(), principal(r).PersonID, r.PathValue("id"), req)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/environments/"+d.EnvID+"/baseline/deployments/"+d.ID)
	status := http.StatusCreated
	if d.State == baseline.InProgress {
		status = http.StatusAccepted
	}
	writeJSON(w, status, d)
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.baselinesReady(w, r) {
		return
	}
	if _, err := s.envDecision(r, authz.ReadEnvBaseline, r.PathValue("id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	d, err := s.Baselines.Deployment(r.Context(), r.PathValue("id"), r.PathValue("deployment"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if d, err = s.Baselines.Refresh(r.Context(), d.ID); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
