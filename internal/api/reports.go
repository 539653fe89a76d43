package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/reports"
)

// Reports: coverage per framework, posture per organisation, OSCAL
// assessment results (docs/controls.md, "Reports").

// coverage reports a framework's requirements and the controls covering
// them: of the whole catalog, or with ?scope=assigned of the controls
// assigned somewhere; with ?format=oscal as an OSCAL 1.1.2 component
// definition.
func (s *Server) coverage(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	q := r.URL.Query()
	f, err := reports.ParseFramework(q.Get("framework"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "oscal" {
		writeError(w, r, s.Logger, fault.InvalidField("format", "format is json (the default) or oscal, not %q", format))
		return
	}
	scope := reports.Scope(q.Get("scope"))
	if scope == "" {
		scope = reports.Catalog
	}
	if scope != reports.Catalog && scope != reports.Assigned {
		writeError(w, r, s.Logger, fault.InvalidField("scope", "scope is catalog (the default) or assigned, not %q", scope))
		return
	}
	cs := s.engine().Controls()
	if scope == reports.Assigned {
		as, err := s.Assignments.List(r.Context(), nil)
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		ids := make([]string, 0, len(as))
		for _, a := range as {
			ids = append(ids, a.ControlID)
		}
		cs = reports.AssignedOnly(cs, ids)
	}
	cov, err := reports.CoverageOf(f, scope, cs)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if format == "oscal" {
		writeJSON(w, http.StatusOK, reports.ComponentDefinitionOf(cov, s.Version, time.Now()))
		return
	}
	writeJSON(w, http.StatusOK, cov)
}

// postureOrg authorizes ReadPosture on the organisation in the path and
// gathers its subtree's environments.
func (s *Server) postureOrg(w http.ResponseWriter, r *http.Request) (string, []string, []reports.Environment, bool) {
	if s.Posture == nil || s.engine() == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return "", nil, nil, false
	}
	orgID := r.PathValue("id")
	if _, err := s.decide(r, authz.ReadPosture, authz.Resource{Kind: "organisation", ID: orgID, OrgID: orgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return "", nil, nil, false
	}
	ids, err := s.Orgs.SubtreeIDs(r.Context(), []string{orgID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return "", nil, nil, false
	}
	envs, err := s.reportEnvironments(r.Context(), ids)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return "", nil, nil, false
	}
	full, err := s.postureDetail(r, orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return "", nil, nil, false
	}
	if !full {
		for i := range envs {
			envs[i].Findings = criticalOnly(envs[i].Findings)
		}
	}
	return orgID, ids, envs, true
}

// reportEnvironments are the environments of the organisations orgIDs
// that were evaluated or have open findings, with their scores and open
// findings.
func (s *Server) reportEnvironments(ctx context.Context, orgIDs []string) ([]reports.Environment, error) {
	var out []reports.Environment
	cursor := ""
	for {
		page, err := s.Envs.List(ctx, env.ListParams{Within: orgIDs, Limit: 500, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, en := range page.Items {
			e, ok, err := s.reportEnvironment(ctx, en.ID, en.OrgID)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, e)
			}
		}
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

func (s *Server) reportEnvironment(ctx context.Context, envID, orgID string) (reports.Environment, bool, error) {
	e := reports.Environment{ID: envID, OrgID: orgID}
	sc, err := s.Posture.EnvScore(ctx, envID)
	switch {
	case err == nil:
		e.Score = &sc
	case fault.KindOf(err) != fault.NotFound:
		return e, false, err
	}
	if e.Findings, err = s.Posture.Findings(ctx, envID, false); err != nil {
		return e, false, err
	}
	return e, e.Score != nil || len(e.Findings) > 0, nil
}

// orgReport is the posture report of an organisation's subtree.
func (s *Server) orgReport(w http.ResponseWriter, r *http.Request) {
	orgID, ids, envs, ok := s.postureOrg(w, r)
	if !ok {
		return
	}
	sc, err := s.Posture.OrgScore(r.Context(), ids)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, reports.OrganisationReport(orgID, sc, envs, s.engine().Control, time.Now()))
}

// detectiveControls are the catalog's detective controls: those an
// assessment evaluates.
func detectiveControls(e *controls.Engine) []controls.Control {
	var out []controls.Control
	for _, c := range e.Controls() {
		if c.Has(controls.Detective) {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) writeOSCAL(w http.ResponseWriter, scope, scopeID string, envs []reports.Environment) {
	in := reports.OSCALInput{Scope: scope, ScopeID: scopeID, Version: s.Version, End: time.Now(),
		Controls: detectiveControls(s.engine()), Lookup: s.engine().Control}
	for _, e := range envs {
		in.Findings = append(in.Findings, e.Findings...)
		if e.Score != nil && !e.Score.EvaluatedAt.IsZero() && (in.Start.IsZero() || e.Score.EvaluatedAt.Before(in.Start)) {
			in.Start = e.Score.EvaluatedAt
		}
	}
	writeJSON(w, http.StatusOK, reports.OSCAL(in))
}

// envOSCAL is one environment's open findings as OSCAL assessment
// results.
func (s *Server) envOSCAL(w http.ResponseWriter, r *http.Request) {
	if s.engine() == nil {
		writeError(w, r, s.Logger, errNoPosture)
		return
	}
	envID, orgID, ok := s.postureEnv(w, r, authz.ReadPosture)
	if !ok {
		return
	}
	e, _, err := s.reportEnvironment(r.Context(), envID, orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	full, err := s.postureDetail(r, orgID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if !full {
		e.Findings = criticalOnly(e.Findings)
	}
	s.writeOSCAL(w, "environment "+envID, envID, []reports.Environment{e})
}

// orgOSCAL is an organisation's subtree's open findings as OSCAL
// assessment results.
func (s *Server) orgOSCAL(w http.ResponseWriter, r *http.Request) {
	orgID, _, envs, ok := s.postureOrg(w, r)
	if !ok {
		return
	}
	s.writeOSCAL(w, "organisation "+orgID, orgID, envs)
}

// engine is the engine evaluating the catalog now: the running catalog's
// when the server has one (custom controls swap it), else Controls.
func (s *Server) engine() *controls.Engine {
	if s.Catalog != nil {
		return s.Catalog.Engine()
	}
	return s.Controls
}

// Custom controls, added and deleted by central operators (here with the
// reports for want of a file of their own; docs/controls.md, "Custom
// controls").

// ControlInput is a custom control: metadata is control.yaml's content,
// as a YAML string or a JSON object; policy and tests are the Rego of
// policy.rego and policy_test.rego.
type ControlInput struct {
	Metadata json.RawMessage `json:"metadata"`
	Policy   string          `json:"policy"`
	Tests    string          `json:"tests"`
}

// AddedControl is the answer to an added control: the control and its
// tests' results.
type AddedControl struct {
	controls.Custom
	TestResults []controls.TestResult `json:"test_results"`
}

func (s *Server) addControl(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	if s.Catalog == nil {
		writeError(w, r, s.Logger, &fault.Error{Kind: fault.Unavailable, Message: "this server keeps no custom controls"})
		return
	}
	if _, err := s.decide(r, authz.WriteControls, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var in ControlInput
	if !decodeJSON(w, r, &in) {
		return
	}
	meta := []byte(in.Metadata)
	var text string
	if json.Unmarshal(in.Metadata, &text) == nil {
		meta = []byte(text)
	}
	if len(meta) == 0 || string(meta) == "null" {
		writeError(w, r, s.Logger, fault.InvalidField("metadata", "metadata is required: control.yaml's content, as a YAML string or a JSON object"))
		return
	}
	c, err := controls.ParseMetadata(meta)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	c.Policy, c.Tests = in.Policy, in.Tests
	added, results, err := s.Catalog.Add(r.Context(), principal(r).PersonID, c)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/controls/"+added.ID)
	writeJSON(w, http.StatusCreated, AddedControl{Custom: added, TestResults: results})
}

func (s *Server) deleteControl(w http.ResponseWriter, r *http.Request) {
	if !s.controlsOr503(w, r) {
		return
	}
	if s.Catalog == nil {
		writeError(w, r, s.Logger, &fault.Error{Kind: fault.Unavailable, Message: "this server keeps no custom controls"})
		return
	}
	if _, err := s.decide(r, authz.WriteControls, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := s.Catalog.Delete(r.Context(), principal(r).PersonID, r.PathValue("id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
