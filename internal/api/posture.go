package api

import (
	"net/http"
	"strconv"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/portability"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// The detective controls' results for environments and organisations
// (docs/controls.md).

var errNoPosture = &fault.Error{Kind: fault.Unavailable, Message: "this server evaluates no controls"}

// postureEnv authorizes action on the environment in the path.
func (s *Server) postureEnv(w http.ResponseWriter, r *http.Request, action authz.Action) (string, string, bool) {
	if s.Posture == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return "", "", false
	}
	en, err := s.Envs.Get(r.Context(), s.DB, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return "", "", false
	}
	if _, err := s.decide(r, action, authz.Resource{Kind: "environment", ID: en.ID, OrgID: en.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return "", "", false
	}
	return en.ID, en.OrgID, true
}

// postureDetail says whether the caller sees every finding and the
// inventory of orgID's environments, or only their scores and critical
// findings: central staff without a break-glass grant for the
// organisation, as in the source system, where central reads a report of
// critical events and everything else goes to the tenant.
func (s *Server) postureDetail(r *http.Request, orgID string) (bool, error) {
	_, err := s.decide(r, authz.ReadPostureDetail, authz.Resource{OrgID: orgID})
	switch {
	case err == nil:
		return true, nil
	case fault.KindOf(err) == fault.Forbidden || fault.KindOf(err) == fault.NotFound:
		return false, nil
	}
	return false, err
}

// criticalOnly keeps the critical findings: what central staff see
// without a grant.
func criticalOnly(fs []posture.Finding) []posture.Finding {
	out := make([]posture.Finding, 0, len(fs))
	for _, f := range fs {
		if f.Severity == controls.Critical {
			out = append(out, f)
		}
	}
	return out
}

// viewCriticalOnly marks a listing cut to the critical findings, so a
// client does not mistake it for the whole.
const viewCriticalOnly = "critical_only"

// envFindings lists an environment's findings: open ones, or all with
// ?status=all; as OCSF Compliance Findings with ?format=ocsf. Central
// staff without a break-glass grant get the critical ones, marked so.
func (s *Server) envFindings(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, findingParams...) {
		return
	}
	envID, orgID, ok := s.postureEnv(w, r, authz.ReadPosture)
	if !ok {
		return
	}
	full, err := s.postureDetail(r, orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	q := r.URL.Query()
	status, format := q.Get("status"), q.Get("format")
	if status != "" && status != "open" && status != "all" {
		writeError(w, r, s.Logger, fault.InvalidField("status", "status is open (the default) or all, not %q", status))
		return
	}
	if format != "" && format != "json" && format != "ocsf" {
		writeError(w, r, s.Logger, fault.InvalidField("format", "format is json (the default) or ocsf, not %q", format))
		return
	}
	fs, err := s.Posture.Findings(r.Context(), envID, status == "all")
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	body := map[string]any{}
	if !full {
		fs = criticalOnly(fs)
		body["view"] = viewCriticalOnly
	}
	if format != "ocsf" {
		body["items"] = fs
		writeJSON(w, http.StatusOK, body)
		return
	}
	out := make([]map[string]any, 0, len(fs))
	for _, f := range fs {
		c, _ := s.engine().Control(f.ControlID)
		out = append(out, f.OCSF(c, s.Version))
	}
	body["items"] = out
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) envPosture(w http.ResponseWriter, r *http.Request) {
	envID, _, ok := s.postureEnv(w, r, authz.ReadPosture)
	if !ok {
		return
	}
	sc, err := s.Posture.EnvScore(r.Context(), envID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

func (s *Server) envInventory(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	envID, orgID, ok := s.postureEnv(w, r, authz.ReadPosture)
	if !ok {
		return
	}
	if full, err := s.postureDetail(r, orgID); err != nil || !full {
		if err == nil {
			err = fault.Forbiddenf("an environment's resource inventory is its tenant's: central staff read it only under a break-glass grant for %s", orgID)
		}
		writeError(w, r, s.Logger, err)
		return
	}
	inv, err := s.Posture.Inventory(r.Context(), envID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": inv})
}

// collectPosture collects an environment's inventory now and answers
// what the evaluation found.
func (s *Server) collectPosture(w http.ResponseWriter, r *http.Request) {
	envID, orgID, ok := s.postureEnv(w, r, authz.CollectPosture)
	if !ok {
		return
	}
	if s.Collector == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return
	}
	en, err := s.Envs.Get(r.Context(), s.DB, envID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if en.AccountID == "" {
		writeError(w, r, s.Logger, fault.Conflictf("environment %s has no account yet (it is %s)", envID, en.State))
		return
	}
	sum, err := s.Collector.Collect(r.Context(), posture.Target{EnvID: envID, OrgID: orgID, Provider: en.Provider, AccountID: en.AccountID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// orgPosture is the score of an organisation's subtree.
func (s *Server) orgPosture(w http.ResponseWriter, r *http.Request) {
	if s.Posture == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return
	}
	orgID := r.PathValue("id")
	if _, err := s.decide(r, authz.ReadPosture, authz.Resource{Kind: "organisation", ID: orgID, OrgID: orgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	ids, err := s.Orgs.SubtreeIDs(r.Context(), []string{orgID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	sc, err := s.Posture.OrgScore(r.Context(), ids)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

// Collection rounds: an operator collects every ready environment's
// inventory now, instead of waiting for the schedule or restarting serve,
// and follows the round's progress from any replica.

// startRound starts a round in the background: 202 with its progress, or
// 409 naming the round already running.
func (s *Server) startRound(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	if _, err := s.decide(r, authz.CollectPosture, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if s.Collector == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return
	}
	round, err := s.Collector.Start(r.Context(), principal(r).PersonID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/posture/rounds/"+round.ID)
	writeJSON(w, http.StatusAccepted, round)
}

func (s *Server) listRounds(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, limitUpTo(100)) {
		return
	}
	if !s.roundReader(w, r) {
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v) // checked by queryOK
	}
	rounds, err := s.Collector.Rounds(r.Context(), limit)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": rounds})
}

func (s *Server) getRound(w http.ResponseWriter, r *http.Request) {
	if !s.roundReader(w, r) {
		return
	}
	round, err := s.Collector.GetRound(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, round)
}

// roundReader authorizes reading rounds: platform-wide operations, for
// central staff.
func (s *Server) roundReader(w http.ResponseWriter, r *http.Request) bool {
	if _, err := s.decide(r, authz.ReadPosture, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return false
	}
	if s.Collector == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return false
	}
	return true
}

// exitReadiness is an environment's exit readiness in the API: what its
// last collected inventory would take to another provider
// (internal/portability, docs/exit.md).
type exitReadiness struct {
	EnvID string `json:"env_id"`
	// View is "full" or, for central staff without a break-glass grant,
	// "score_only": the score and counts, not the services (the inventory
	// they are drawn from is the tenant's).
	View string `json:"view"`
	// Collected is false until the environment's inventory has been
	// collected; the score and counts then say nothing and are absent.
	Collected   bool          `json:"collected"`
	Score       *float64      `json:"score,omitempty"`
	Portable    int           `json:"portable"`
	Proprietary int           `json:"proprietary"`
	Services    []exitService `json:"services,omitempty"`
	Rework      []exitService `json:"rework,omitempty"`
}

type exitService struct {
	Type  string `json:"type"`
	Class string `json:"class"`
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

func exitServices(ss []portability.Service) []exitService {
	out := make([]exitService, len(ss))
	for i, s := range ss {
		out[i] = exitService{Type: s.Type, Class: string(s.Class), Kind: s.Kind, Count: s.Count}
	}
	return out
}

// envExitReadiness answers GET /api/v1/environments/{id}/exit-readiness:
// read like the environment's posture; the services and the rework list
// for those who read its inventory, the score for central staff.
func (s *Server) envExitReadiness(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	envID, orgID, ok := s.postureEnv(w, r, authz.ReadPosture)
	if !ok {
		return
	}
	full, err := s.postureDetail(r, orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	inv, err := s.Posture.Inventory(r.Context(), envID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := exitReadiness{EnvID: envID, View: "full"}
	if !full {
		out.View = viewScoreOnly
	}
	if len(inv) > 0 {
		ready := portability.Assess(inv)
		out.Collected, out.Score, out.Portable, out.Proprietary = true, &ready.Score, ready.Portable, ready.Proprietary
		if full {
			out.Services, out.Rework = exitServices(ready.Services), exitServices(ready.Rework)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

const viewScoreOnly = "score_only"
