package api

import (
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

func (s *Server) auditKey(w http.ResponseWriter, r *http.Request) {
	cp, err := audit.LatestCheckpoint(r.Context(), s.DB, s.Audit.Origin())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, AuditKey{Origin: s.Audit.Origin(), VerifierKey: s.AuditVerifierKey, Checkpoint: string(cp.Note)})
}
