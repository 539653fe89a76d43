package api

import (
	"net/http"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

// EnvBackup is an environment's backup target with what its tenant is
// held to, and the newest restore test.
type EnvBackup struct {
	Target            *tenantbackup.Target      `json:"target"`
	Locations         []tenantbackup.Location   `json:"locations"`
	Objectives        BackupObjectives          `json:"objectives"`
	LatestRestoreTest *tenantbackup.RestoreTest `json:"latest_restore_test"`
}

// BackupObjectives are the environment's RPO and restore-test age.
type BackupObjectives struct {
	RPOHours              float64 `json:"rpo_hours"`
	RestoreTestMaxAgeDays float64 `json:"restore_test_max_age_days"`
}

// RestoreTestList is an environment's restore tests, newest first.
type RestoreTestList struct {
	Items []tenantbackup.RestoreTest `json:"items"`
}

var errBackupsUnavailable = &fault.Error{Kind: fault.Unavailable, Message: "tenant backup targets are not available on this server"}

func (s *Server) envBackup(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	ctx := r.Context()
	en, err := s.Envs.Get(ctx, s.DB, r.PathValue("id"))
	if err == nil {
		_, err = s.decide(r, authz.ReadEnvs, authz.Resource{Kind: "environment", ID: en.ID, OrgID: en.OrgID})
	}
	if err == nil && s.TenantBackups == nil {
		err = errBackupsUnavailable
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	rpo, age := s.BackupObjectives.For(en.Purpose, en.Classification)
	out := EnvBackup{Locations: []tenantbackup.Location{}, Objectives: BackupObjectives{RPOHours: rpo.Hours(), RestoreTestMaxAgeDays: age.Hours() / 24}}
	t, err := s.TenantBackups.Target(ctx, nil, en.ID)
	switch {
	case err == nil:
		out.Target = &t
	case fault.KindOf(err) != fault.NotFound:
		writeError(w, r, s.Logger, err)
		return
	}
	if out.Locations, err = s.TenantBackups.Locations(ctx, en.ID); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	tests, err := s.TenantBackups.RestoreTests(ctx, en.ID, 1)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if len(tests) > 0 {
		out.LatestRestoreTest = &tests[0]
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listRestoreTests(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r) {
		return
	}
	id := r.PathValue("id")
	_, err := s.envDecision(r, authz.ReadEnvs, id)
	if err == nil && s.TenantBackups == nil {
		err = errBackupsUnavailable
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items, err := s.TenantBackups.RestoreTests(r.Context(), id, 100)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, RestoreTestList{Items: items})
}

// submitRestoreTest records restore-test evidence. It must come signed
// with the person's card (Hatoba-Action-Signature): the guard has checked
// the statement — this request, fresh, this session's card, never used —
// and the statement, signature and certificate are kept with the evidence.
// A WebAuthn step-up, which signs nothing a third party can check, does
// not do.
func (s *Server) submitRestoreTest(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	en, err := s.Envs.Get(ctx, s.DB, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	d, err := s.decide(r, authz.SubmitRestoreTest, authz.Resource{Kind: "environment", ID: en.ID, OrgID: en.OrgID})
	if err == nil && s.TenantBackups == nil {
		err = errBackupsUnavailable
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	p := principal(r)
	if p.CardConfirmation == "" {
		writeError(w, r, s.Logger, &fault.Error{Kind: fault.Forbidden, Field: pki.ActionSignatureHeader,
			Message: "restore-test evidence must be signed with your card (Hatoba-Action-Signature; hatoba env restore-test submit does it)"})
		return
	}
	raw, sig, der, err := pki.ParseActionHeader(r.Header.Get(pki.ActionSignatureHeader))
	if err != nil || pki.ActionStatementHash(raw) != p.CardConfirmation {
		writeError(w, r, s.Logger, fault.InvalidField(pki.ActionSignatureHeader, "the card-signed confirmation cannot be read again"))
		return
	}
	var ev tenantbackup.Evidence
	if !decodeJSON(w, r, &ev) {
		return
	}
	if _, err := s.TenantBackups.Target(ctx, nil, en.ID); err != nil {
		if fault.KindOf(err) == fault.NotFound {
			err = fault.Conflictf("environment %s has no backup target; request one (backup: true) before recording restore tests", en.ID)
		}
		writeError(w, r, s.Logger, err)
		return
	}
	if err := ev.Validate(s.TenantBackups.Now(), en.CreatedAt); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	rt, err := s.TenantBackups.AddRestoreTest(ctx, actor(r, d), en.ID, en.OrgID, ev,
		tenantbackup.Signature{StatementSHA256: p.CardConfirmation, Statement: raw, Signature: sig, Certificate: der})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, rt)
}
