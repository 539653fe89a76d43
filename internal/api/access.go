package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// AccessRequestInput files a break-glass request.
type AccessRequestInput struct {
	OrgID  string `json:"org_id"`
	Reason string `json:"reason"`
	// Duration is a Go duration ("2h", "90m").
	Duration string `json:"duration"`
}

func (s *Server) fileAccessRequest(w http.ResponseWriter, r *http.Request) {
	var in AccessRequestInput
	if !decodeJSON(w, r, &in) {
		return
	}
	d, err := time.ParseDuration(in.Duration)
	if err != nil {
		writeError(w, r, s.Logger, fault.InvalidField("duration", "duration %q is not a duration like 2h or 90m", in.Duration))
		return
	}
	req, err := s.BreakGlass.File(r.Context(), principal(r), in.OrgID, in.Reason, d)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/access-requests/"+req.ID)
	writeJSON(w, http.StatusCreated, req)
}

func (s *Server) listAccessRequests(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	within, err := s.within(r.Context(), principal(r), authz.ReadAccess)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items, err := s.BreakGlass.List(r.Context(), within, within == nil, 200)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) getAccessRequest(w http.ResponseWriter, r *http.Request) {
	req, err := s.BreakGlass.Get(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

type accessDecision struct {
	Note string `json:"note,omitempty"`
}

func (s *Server) accessStep(w http.ResponseWriter, r *http.Request,
	step func(s *breakglass.Service, r *http.Request, p authz.Principal, id, note string) (breakglass.Request, error)) {
	var d accessDecision
	if !decodeOptional(w, r, &d) {
		return
	}
	req, err := step(s.BreakGlass, r, principal(r), r.PathValue("id"), d.Note)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

func (s *Server) approveAccess(w http.ResponseWriter, r *http.Request) {
	s.accessStep(w, r, func(b *breakglass.Service, r *http.Request, p authz.Principal, id, note string) (breakglass.Request, error) {
		return b.Approve(r.Context(), p, id, note)
	})
}

func (s *Server) denyAccess(w http.ResponseWriter, r *http.Request) {
	s.accessStep(w, r, func(b *breakglass.Service, r *http.Request, p authz.Principal, id, note string) (breakglass.Request, error) {
		return b.Deny(r.Context(), p, id, note)
	})
}

func (s *Server) revokeAccess(w http.ResponseWriter, r *http.Request) {
	s.accessStep(w, r, func(b *breakglass.Service, r *http.Request, p authz.Principal, id, note string) (breakglass.Request, error) {
		return b.Revoke(r.Context(), p, id, note)
	})
}

// auditFilter reads the audit listing's query within the caller's scope.
func (s *Server) auditFilter(r *http.Request) (audit.Filter, error) {
	p := principal(r)
	sc := s.Authz.ScopeOf(p, authz.ReadAudit)
	var f audit.Filter
	if sc.All {
		f.AllOrgs = true
	} else {
		ids, err := s.Orgs.SubtreeIDs(r.Context(), sc.Roots)
		if err != nil {
			return f, err
		}
		f.OrgIDs = ids
		if sc.Platform {
			// Operators see the platform's own entries: those of no
			// organisation.
			f.OrgIDs = append(f.OrgIDs, "")
		}
	}
	q := r.URL.Query()
	if v := q.Get("org_id"); v != "" {
		if _, err := s.decide(r, authz.ReadAudit, authz.Resource{Kind: "organisation", ID: v, OrgID: v}); err != nil {
			return f, err
		}
		ids, err := s.Orgs.SubtreeIDs(r.Context(), []string{v})
		if err != nil {
			return f, err
		}
		f.AllOrgs, f.OrgIDs = false, ids
	}
	for _, tp := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(tp.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fault.InvalidField(tp.name, "%s must be an RFC 3339 time like 2026-11-25T09:00:00Z, not %q", tp.name, v)
			}
			*tp.dst = t
		}
	}
	if v := q.Get("from_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return f, fault.InvalidField("from_seq", "from_seq must be a whole number, not %q", v)
		}
		f.FromSeq = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, fault.InvalidField("limit", "limit must be a whole number from 1 to 1000, not %q", v)
		}
		f.Limit = n
	}
	if !f.AllOrgs && len(f.OrgIDs) == 0 {
		return f, fault.Forbiddenf("no organisation's audit entries are in your scope")
	}
	return f, nil
}

// auditEntries returns the caller's entries with inclusion proofs and the
// signed checkpoint they prove against: a bundle the caller can verify
// offline with the log's public key (hatoba audit check-bundle).
func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, auditParams...) {
		return
	}
	f, err := s.auditFilter(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	b, err := s.Audit.Bundle(r.Context(), f)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// auditExport streams the caller's entries as JSON Lines.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, auditParams...) {
		return
	}
	f, err := s.auditFilter(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if r.URL.Query().Get("limit") == "" {
		f.Limit = 0 // an export is everything unless asked otherwise
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Content-Disposition", `attachment; filename="hatoba-audit.jsonl"`)
	if _, err := audit.Export(r.Context(), s.DB, w, f); err != nil {
		// Headers are gone; the truncated stream and the log say it.
		s.Logger.ErrorContext(r.Context(), "audit export failed", "err", err)
	}
}

// AuditKey is what an outsider needs to verify the log.
type AuditKey struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
	Checkpoint  string `json:"checkpoint"`
}

// AuditConsistency proves that the log's tree of To entries extends its
// tree of From entries (docs/audit.md): whoever kept an older checkpoint
// checks the log was not rewritten since, with the public key alone.
type AuditConsistency struct {
	From       uint64       `json:"from"`
	To         uint64       `json:"to"`
	Checkpoint string       `json:"checkpoint"`
	Proof      []audit.Hash `json:"proof"`
}

func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request) {
	size := func(name string, least uint64) param {
		return param{name, func(v string) string {
			if n, err := strconv.ParseUint(v, 10, 63); err != nil || n < least {
				return fmt.Sprintf("must be a tree size, a whole number from %d", least)
			}
			return ""
		}}
	}
	if !queryOK(w, r, size("from", 0), size("to", 1)) {
		return
	}
	badSize := func(field, detail string) {
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: "Bad Request", Status: http.StatusBadRequest,
			Detail: detail, Instance: r.URL.Path, Field: field})
	}
	q := r.URL.Query()
	if q.Get("from") == "" {
		badSize("from", "from, the size of the checkpoint you kept, is required")
		return
	}
	from, _ := strconv.ParseUint(q.Get("from"), 10, 63) // checked by queryOK
	latest, err := audit.LatestCheckpoint(r.Context(), s.DB, s.Audit.Origin())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	cp := latest
	if v := q.Get("to"); v != "" {
		to, _ := strconv.ParseUint(v, 10, 63)
		if to > latest.Size {
			badSize("to", fmt.Sprintf("to %d is larger than the log's tree of %d entries", to, latest.Size))
			return
		}
		if cp, err = audit.CheckpointAt(r.Context(), s.DB, s.Audit.Origin(), to); err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
	}
	if from > cp.Size {
		badSize("from", fmt.Sprintf("from %d is larger than the tree of %d entries: a checkpoint that large was never signed here, or the log was truncated", from, cp.Size))
		return
	}
	if cp.Size == 0 {
		writeError(w, r, s.Logger, fault.NotFoundf("the audit log is empty: no checkpoint is signed yet"))
		return
	}
	proof, err := audit.ConsistencyProof(r.Context(), s.DB, from, cp.Size)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := AuditConsistency{From: from, To: cp.Size, Checkpoint: string(cp.Note), Proof: make([]audit.Hash, len(proof))}
	for i, h := range proof {
		out.Proof[i] = h
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request) {
	cp, err := audit.LatestCheckpoint(r.Context(), s.DB, s.Audit.Origin())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditKey{Origin: s.Audit.Origin(), VerifierKey: s.AuditVerifierKey, Checkpoint: string(cp.Note)})
}
