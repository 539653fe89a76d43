package api

import (
	"cmp"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Sovereignty: provider profiles, each environment's assessment and
// exposure report, signed snapshots (docs/sovereignty.md). Tenants read
// their environments' whole reports; central staff read every score and
// floor breach, and a report's detail (the people, the parties) only
// under a break-glass grant, as with findings.

var profileVersionParam = param{"version", func(v string) string {
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return "must be a positive whole number"
	}
	return ""
}}

var errNoSovereignty = &fault.Error{Kind: fault.Unavailable, Message: "this server assesses no sovereignty"}

func (s *Server) sovereigntyOr503(w http.ResponseWriter, r *http.Request) bool {
	if s.Sovereignty == nil {
		writeError(w, r, s.Logger, errNoSovereignty)
		return false
	}
	return true
}

func (s *Server) listSovereigntyProfiles(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.sovereigntyOr503(w, r) {
		return
	}
	ps, err := s.Sovereignty.Profiles(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ps})
}

func (s *Server) getSovereigntyProfile(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, profileVersionParam) || !s.sovereigntyOr503(w, r) {
		return
	}
	version, _ := strconv.Atoi(r.URL.Query().Get("version")) // checked: absent is 0, the latest
	sp, err := s.Sovereignty.Profile(r.Context(), r.PathValue("name"), version)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, sp)
}

// ProfileInput is a new version of a provider's sovereignty profile, as
// the YAML document docs/sovereignty.md describes.
type ProfileInput struct {
	Document string `json:"document"`
}

func (s *Server) putSovereigntyProfile(w http.ResponseWriter, r *http.Request) {
	if !s.sovereigntyOr503(w, r) {
		return
	}
	if _, err := s.decide(r, authz.WriteSovereignty, authz.Resource{Kind: "sovereignty profile", ID: r.PathValue("name")}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var in ProfileInput
	if !decodeJSONText(w, r, &in, textFields{"document"}) {
		return
	}
	p, err := sovereignty.ParseProfile([]byte(in.Document))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if p.Name != r.PathValue("name") {
		writeError(w, r, s.Logger, fault.InvalidField("document", "the document is profile %q, not %q", p.Name, r.PathValue("name")))
		return
	}
	sp, err := s.Sovereignty.Put(r.Context(), principal(r).PersonID, []byte(in.Document))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, sp)
}

// sovereigntyEnv authorizes reading the environment in the path and says
// whether the caller reads its whole report (its tenant, or central
// staff under a grant — grantID) or its score and breaches only.
func (s *Server) sovereigntyEnv(w http.ResponseWriter, r *http.Request) (envID, orgID string, full bool, grantID string, ok bool) {
	if !s.sovereigntyOr503(w, r) {
		return "", "", false, "", false
	}
	en, err := s.Envs.Get(r.Context(), s.DB, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return "", "", false, "", false
	}
	if _, err := s.decide(r, authz.ReadSovereignty, authz.Resource{Kind: "environment", ID: en.ID, OrgID: en.OrgID}); err != nil {
		writeError(w, r, s.Logger, err)
		return "", "", false, "", false
	}
	d, err := s.decide(r, authz.ReadSovereigntyDetail, authz.Resource{OrgID: en.OrgID})
	switch {
	case err == nil:
		full, grantID = true, d.GrantID
	case fault.KindOf(err) == fault.Forbidden || fault.KindOf(err) == fault.NotFound:
	default:
		writeError(w, r, s.Logger, err)
		return "", "", false, "", false
	}
	return en.ID, en.OrgID, full, grantID, true
}

// summaryOf is what central staff without a grant see of a report.
func summaryOf(rep sovereignty.Report) sovereignty.Score {
	return sovereignty.Score{Environment: rep.Environment, Organization: rep.Organization, Connection: rep.Connection,
		Classification: rep.Classification, Profile: rep.Profile, ProfileVersion: rep.ProfileVersion, Score: rep.Score,
		Levels: rep.Levels, Breaches: rep.Breaches, AssessedAt: rep.AssessedAt}
}

// envSovereignty is the environment's latest assessment (made now if it
// has none yet).
func (s *Server) envSovereignty(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	envID, _, full, _, ok := s.sovereigntyEnv(w, r)
	if !ok {
		return
	}
	rep, err := s.Sovereignty.Latest(r.Context(), envID)
	if fault.KindOf(err) == fault.NotFound {
		rep, err = s.Sovereignty.Assess(r.Context(), envID)
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if !full {
		writeJSON(w, http.StatusOK, map[string]any{"view": "score_only", "score": summaryOf(rep)})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// assessSovereignty assesses the environment now from its current facts
// and, with ?snapshot=true, signs the report with the audit log's key.
// Either is recorded in the audit log.
func (s *Server) assessSovereignty(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, oneOf("snapshot", "true", "false")) {
		return
	}
	snapshot := r.URL.Query().Get("snapshot")
	envID, orgID, full, grantID, ok := s.sovereigntyEnv(w, r)
	if !ok {
		return
	}
	if !full {
		writeError(w, r, s.Logger, fault.Forbiddenf("an environment's exposure report is its tenant's: central staff read scores, and the report only under a break-glass grant for %s", orgID))
		return
	}
	rep, err := s.Sovereignty.Assess(r.Context(), envID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	details := map[string]any{"score": rep.Score, "breaches": len(rep.Breaches), "profile": rep.Profile, "profile_version": rep.ProfileVersion}
	var body any = rep
	action := "sovereignty.assess"
	if snapshot == "true" {
		if s.SnapshotSigner == nil {
			writeError(w, r, s.Logger, &fault.Error{Kind: fault.Unavailable, Message: "this server has no audit signing key to sign snapshots with"})
			return
		}
		snap, err := sovereignty.Sign(rep, s.SnapshotSigner)
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		action, body = "sovereignty.snapshot", snap
	}
	err = s.DB.InTx(r.Context(), func(tx *store.Tx) error {
		return audit.Append(r.Context(), tx, audit.Entry{Actor: principal(r).PersonID, GrantID: grantID, Action: action, OrgID: orgID, Target: envID, Details: details})
	})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// sovereigntyScores lists the latest scores and floor breaches of the
// environments the caller may read.
func (s *Server) sovereigntyScores(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.sovereigntyOr503(w, r) {
		return
	}
	within, err := s.within(r.Context(), principal(r), authz.ReadSovereignty)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	scores, err := s.Sovereignty.Scores(r.Context(), within)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": scores, "floors": s.Sovereignty.Floors()})
}

// sovereigntyConcentration is the national view over the environments the
// caller may read: shares and the Herfindahl–Hirschman index per
// provider, region and zone, from each environment's latest assessment.
func (s *Server) sovereigntyConcentration(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) || !s.sovereigntyOr503(w, r) {
		return
	}
	ps, ok := s.placements(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"environments": len(ps), "views": sovereignty.Concentrations(ps)})
}

// historyDaysDefault is how far back the concentration's history goes
// when the caller does not say.
const historyDaysDefault = 90

// sovereigntyConcentrationHistory is the national concentration over
// time: one point a day for the dimension asked (central only; the
// history is kept for the whole country).
func (s *Server) sovereigntyConcentrationHistory(w http.ResponseWriter, r *http.Request) {
	maxDays := int(sovereignty.ConcentrationRetention / (24 * time.Hour))
	days := param{"days", func(v string) string {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > maxDays {
			return fmt.Sprintf("must be a whole number from 1 to %d (the history's retention)", maxDays)
		}
		return ""
	}}
	if !queryOK(w, r, oneOf("dimension", sovereignty.Dimensions...), days) || !s.sovereigntyOr503(w, r) {
		return
	}
	if _, err := s.decide(r, authz.ReadSovereigntyHistory, authz.Resource{}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	q := r.URL.Query()
	dimension := cmp.Or(q.Get("dimension"), "provider")
	n := historyDaysDefault
	if v := q.Get("days"); v != "" {
		n, _ = strconv.Atoi(v) // checked above
	}
	points, err := s.Sovereignty.ConcentrationHistory(r.Context(), dimension, n)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"dimension": dimension, "days": n, "items": points})
}

func (s *Server) placements(w http.ResponseWriter, r *http.Request) ([]sovereignty.Placement, bool) {
	within, err := s.within(r.Context(), principal(r), authz.ReadSovereignty)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return nil, false
	}
	ps, err := s.Sovereignty.Placements(r.Context(), within)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return nil, false
	}
	return ps, true
}

// sovereigntyBlastRadius answers "if this provider, region or zone
// fails": the systems that stop, by organisation, and whether each runs
// or is backed up elsewhere.
func (s *Server) sovereigntyBlastRadius(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, anyText("provider"), anyText("region"), anyText("zone")) || !s.sovereigntyOr503(w, r) {
		return
	}
	q := r.URL.Query()
	o := sovereignty.Outage{Provider: q.Get("provider"), Region: q.Get("region"), Zone: q.Get("zone")}
	if o.Provider == "" {
		writeError(w, r, s.Logger, fault.InvalidField("provider", "provider names the provider connection that fails"))
		return
	}
	if o.Region != "" && o.Zone != "" {
		writeError(w, r, s.Logger, fault.InvalidField("zone", "give a region or a zone, not both"))
		return
	}
	ps, ok := s.placements(w, r)
	if !ok {
		return
	}
	affected := sovereignty.BlastRadius(ps, o)
	orgs, without := map[string]bool{}, 0
	for _, a := range affected {
		orgs[a.Organization] = true
		if !a.Fallback {
			without++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"outage": o, "systems": len(affected), "organizations": len(orgs),
		"without_fallback": without, "affected": affected})
}
