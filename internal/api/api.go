// Package api is hatoba's JSON API under /api/v1: a thin adapter that
// decodes requests, calls the capabilities and encodes their answers.
package api

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/secrets"
	"github.com/hatoba-cloud/hatoba/internal/sovereignty"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() []byte { return openAPIDocument }

// Server serves the API.
type Server struct {
	DB      *store.DB
	Envs    *env.Store
	Orgs    *org.Registry
	Vending *vending.Engine
	Version string
	Logger  *slog.Logger

	Identity *identity.Service
	Authz    *authz.Authorizer
	Certs    CertVerifier
	// Grants returns a person's active break-glass grants; nil until the
	// break-glass capability is wired.
	Grants func(ctx context.Context, personID string) ([]authz.Grant, error)
	// PublicURL starts the links hatoba hands out (invitations).
	PublicURL string

	// EnvAccess records who holds environments' permission sets; changes go
	// through Vending, which applies them to the provider.
	EnvAccess *envaccess.Service

	BreakGlass *breakglass.Service
	Audit      *audit.Log
	// AuditVerifierKey is the log's public key, "<name>+<hash>+<key>".
	AuditVerifierKey string

	// Keys is the key service when this server runs it (docs/keys.md);
	// nil answers its routes 503.
	Keys *keys.Service
	// KeyHSM reaches the HSM in HSM custody; an unseal request adds the PIN.
	KeyHSM keys.HSMConfig
	// KeyRecordFailing says whether the key service's usage records are
	// failing to be written, and since when: while they are, every key
	// request fails closed, and the console alerts those who run keys.
	// Nil when this server runs no key service.
	KeyRecordFailing func() (failing bool, since time.Time)
	// KeyRecordDB is the key service's own database when it keeps one, so
	// its record is read there; nil means DB.
	KeyRecordDB *store.DB
	// Secrets keeps hatoba's own secrets through the key service.
	Secrets *secrets.Store
	// XKSPublicURL and XKSStorePath are where clouds reach a tenant's
	// key store at the XKS proxy ("https://host:port",
	// "/xks/<org>/kms/xks/v1"), for their external key stores.
	XKSPublicURL string
	XKSStorePath func(orgID string) string

	// PublicRate limits the requests without a session that write (sign-in
	// challenges, token exchanges, unseal shares), per client address and
	// second: 0 means DefaultPublicRate, negative turns the limit off.
	PublicRate float64
	public     *limiter

	// Controls, Posture and Collector are the controls' catalog engine,
	// the detective findings and the inventory collector; nil answers
	// their routes 503.
	Controls *controls.Engine
	// Catalog, when set, holds the running catalog with the custom
	// controls; its engine then replaces Controls.
	Catalog     *controls.Catalog
	Posture     *posture.Service
	Collector   *posture.Collector
	Assignments *assignments.Service

	// Sovereignty assesses environments against their providers'
	// profiles; nil answers its routes 503. SnapshotSigner is the audit
	// log's key, which signs sovereignty snapshots.
	Sovereignty    *sovereignty.Service
	SnapshotSigner note.Signer
	// Notify routes findings to organisations' channels and keeps
	// central's digest; nil answers its routes 503.
	Notify *notify.Service
	// TenantBackups keeps environments' backup targets and restore tests
	// (docs/backup.md, "Tenants' backups"); nil answers their routes 503.
	// BackupObjectives are the RPO and restore-test objectives.
	TenantBackups    *tenantbackup.Store
	BackupObjectives tenantbackup.Objectives
	// Baselines is the baseline catalogue and its deployments; nil answers
	// its routes 503. HoldsAdministrator, when set, lets only the holders
	// of an environment's Administrator permission set start a deploy
	// session there.
	Baselines          *baseline.Service
	HoldsAdministrator baseline.HoldsAdministrator
}

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string
	// Action is what the route does, for the decision point; a route's
	// handler runs only for a principal whose role may do it somewhere, and
	// checks the resource itself.
	Action  authz.Action
	handler func(*Server, http.ResponseWriter, *http.Request)
}

// Routes is the API's route table: every endpoint, in one readable list.
var Routes = []Route{
	{"GET", "/api/v1/openapi.json", authz.Public, (*Server).openAPI},
	{"GET", "/api/v1/system", authz.ReadSystem, (*Server).system},
	{"POST", "/api/v1/auth/challenge", authz.Public, (*Server).newChallenge},
	{"POST", "/api/v1/auth/token", authz.Public, (*Server).issueToken},
	{"POST", "/api/v1/auth/logout", authz.Self, (*Server).logout},
	{"GET", "/api/v1/me", authz.Self, (*Server).me},
	{"GET", "/api/v1/people", authz.ReadPeople, (*Server).listPeople},
	{"POST", "/api/v1/people", authz.InvitePeople, (*Server).invitePerson},
	{"GET", "/api/v1/people/{id}", authz.ReadPeople, (*Server).getPerson},
	{"POST", "/api/v1/people/{id}/disable", authz.ManagePeople, (*Server).disablePerson},
	{"POST", "/api/v1/people/{id}/enable", authz.ManagePeople, (*Server).enablePerson},
	{"GET", "/api/v1/organizations", authz.ReadOrgs, (*Server).listOrgs},
	{"POST", "/api/v1/organizations", authz.WriteOrgs, (*Server).createOrg},
	{"POST", "/api/v1/organizations/import", authz.WriteOrgs, (*Server).importOrgs},
	{"GET", "/api/v1/organizations/{id}", authz.ReadOrgs, (*Server).getOrg},
	{"PUT", "/api/v1/organizations/{id}/billing", authz.WriteBilling, (*Server).setBilling},
	{"GET", "/api/v1/environments", authz.ReadEnvs, (*Server).listEnvs},
	{"POST", "/api/v1/environments", authz.RequestEnv, (*Server).requestEnv},
	{"GET", "/api/v1/environments/{id}", authz.ReadEnvs, (*Server).getEnv},
	{"POST", "/api/v1/environments/{id}/approve", authz.DecideEnv, (*Server).approveEnv},
	{"POST", "/api/v1/environments/{id}/reject", authz.DecideEnv, (*Server).rejectEnv},
	{"POST", "/api/v1/environments/{id}/retry", authz.RetryEnv, (*Server).retryEnv},
	{"POST", "/api/v1/environments/{id}/transfer", authz.TransferEnv, (*Server).transferEnv},
	{"POST", "/api/v1/environments/{id}/close", authz.CloseEnv, (*Server).closeEnv},
	{"POST", "/api/v1/environments/{id}/external-keys", authz.ManageKeys, (*Server).createExternalKey},
	{"GET", "/api/v1/environments/{id}/findings", authz.ReadPosture, (*Server).envFindings},
	{"GET", "/api/v1/environments/{id}/posture", authz.ReadPosture, (*Server).envPosture},
	{"GET", "/api/v1/environments/{id}/inventory", authz.ReadPosture, (*Server).envInventory},
	{"GET", "/api/v1/environments/{id}/exit-readiness", authz.ReadPosture, (*Server).envExitReadiness},
	{"POST", "/api/v1/environments/{id}/posture/collect", authz.CollectPosture, (*Server).collectPosture},
	{"POST", "/api/v1/posture/rounds", authz.CollectPosture, (*Server).startRound},
	{"GET", "/api/v1/posture/rounds", authz.ReadPosture, (*Server).listRounds},
	{"GET", "/api/v1/posture/rounds/{id}", authz.ReadPosture, (*Server).getRound},
	{"GET", "/api/v1/organizations/{id}/posture", authz.ReadPosture, (*Server).orgPosture},
	{"GET", "/api/v1/organizations/{id}/report", authz.ReadPosture, (*Server).orgReport},
	{"GET", "/api/v1/organizations/{id}/oscal", authz.ReadPosture, (*Server).orgOSCAL},
	{"GET", "/api/v1/environments/{id}/oscal", authz.ReadPosture, (*Server).envOSCAL},
	{"GET", "/api/v1/reports/coverage", authz.ReadControls, (*Server).coverage},
	{"GET", "/api/v1/providers", authz.ReadSystem, (*Server).listProviders},
	{"GET", "/api/v1/placement-policy", authz.ReadSystem, (*Server).getPlacementPolicy},
	{"PUT", "/api/v1/placement-policy", authz.WritePlacement, (*Server).putPlacementPolicy},
	{"GET", "/api/v1/sovereignty/profiles", authz.ReadSystem, (*Server).listSovereigntyProfiles},
	{"GET", "/api/v1/sovereignty/profiles/{name}", authz.ReadSystem, (*Server).getSovereigntyProfile},
	{"PUT", "/api/v1/sovereignty/profiles/{name}", authz.WriteSovereignty, (*Server).putSovereigntyProfile},
	{"GET", "/api/v1/sovereignty/scores", authz.ReadSovereignty, (*Server).sovereigntyScores},
	{"GET", "/api/v1/sovereignty/concentration", authz.ReadSovereignty, (*Server).sovereigntyConcentration},
	{"GET", "/api/v1/sovereignty/concentration/history", authz.ReadSovereigntyHistory, (*Server).sovereigntyConcentrationHistory},
	{"GET", "/api/v1/sovereignty/blast-radius", authz.ReadSovereignty, (*Server).sovereigntyBlastRadius},
	{"GET", "/api/v1/environments/{id}/sovereignty", authz.ReadSovereignty, (*Server).envSovereignty},
	{"POST", "/api/v1/environments/{id}/sovereignty", authz.ReadSovereignty, (*Server).assessSovereignty},
	{"POST", "/api/v1/environments/{id}/exceptions", authz.RequestException, (*Server).requestException},
	{"GET", "/api/v1/controls", authz.ReadControls, (*Server).listControls},
	{"POST", "/api/v1/scan", authz.ReadControls, (*Server).scan},
	{"GET", "/api/v1/controls/{id}", authz.ReadControls, (*Server).getControl},
	{"POST", "/api/v1/controls", authz.WriteControls, (*Server).addControl},
	{"DELETE", "/api/v1/controls/{id}", authz.WriteControls, (*Server).deleteControl},
	{"GET", "/api/v1/control-assignments", authz.ReadControls, (*Server).listAssignments},
	{"POST", "/api/v1/control-assignments", authz.AssignControls, (*Server).createAssignment},
	{"GET", "/api/v1/control-assignments/{id}/impact", authz.AssignControls, (*Server).assignmentImpact},
	{"POST", "/api/v1/control-assignments/{id}/promote", authz.AssignControls, (*Server).promoteAssignment},
	{"DELETE", "/api/v1/control-assignments/{id}", authz.AssignControls, (*Server).deleteAssignment},
	{"GET", "/api/v1/control-exceptions", authz.ReadExceptions, (*Server).listExceptions},
	{"POST", "/api/v1/control-exceptions/{id}/approve", authz.DecideException, (*Server).approveException},
	{"POST", "/api/v1/control-exceptions/{id}/reject", authz.DecideException, (*Server).rejectException},
	{"GET", "/api/v1/environments/{id}/backup", authz.ReadEnvs, (*Server).envBackup},
	{"GET", "/api/v1/environments/{id}/restore-tests", authz.ReadEnvs, (*Server).listRestoreTests},
	{"POST", "/api/v1/environments/{id}/restore-tests", authz.SubmitRestoreTest, (*Server).submitRestoreTest},
	{"GET", "/api/v1/environments/{id}/access", authz.ReadEnvs, (*Server).listEnvAccess},
	{"PUT", "/api/v1/environments/{id}/access/{person_id}", authz.AssignAccess, (*Server).assignEnvAccess},
	{"DELETE", "/api/v1/environments/{id}/access/{person_id}", authz.AssignAccess, (*Server).unassignEnvAccess},
	{"GET", "/api/v1/approvals", authz.ReadApproval, (*Server).listApprovals},
	{"GET", "/api/v1/access-requests", authz.ReadAccess, (*Server).listAccessRequests},
	{"POST", "/api/v1/access-requests", authz.RequestAccess, (*Server).fileAccessRequest},
	{"GET", "/api/v1/access-requests/{id}", authz.ReadAccess, (*Server).getAccessRequest},
	{"POST", "/api/v1/access-requests/{id}/approve", authz.ApproveAccess, (*Server).approveAccess},
	{"POST", "/api/v1/access-requests/{id}/deny", authz.ApproveAccess, (*Server).denyAccess},
	{"POST", "/api/v1/access-requests/{id}/revoke", authz.RevokeAccess, (*Server).revokeAccess},
	{"PUT", "/api/v1/people/{id}/key-owner", authz.AssignKeyOwner, (*Server).setKeyOwner},
	{"GET", "/api/v1/keys/service", authz.ReadSystem, (*Server).keyServiceStatus},
	{"POST", "/api/v1/keys/service/unseal", authz.Public, (*Server).unsealKeys},
	{"GET", "/api/v1/organizations/{id}/keys", authz.ReadKeys, (*Server).listKeys},
	{"POST", "/api/v1/organizations/{id}/keys", authz.ManageKeys, (*Server).createKey},
	{"GET", "/api/v1/organizations/{id}/keys/{key}", authz.ReadKeys, (*Server).getKey},
	{"PUT", "/api/v1/organizations/{id}/keys/{key}/usage", authz.ManageKeys, (*Server).setKeyUsage},
	{"POST", "/api/v1/organizations/{id}/keys/{key}/rotate", authz.ManageKeys, (*Server).rotateKey},
	{"POST", "/api/v1/organizations/{id}/keys/{key}/disable", authz.ManageKeys, (*Server).disableKey},
	{"POST", "/api/v1/organizations/{id}/keys/{key}/enable", authz.ManageKeys, (*Server).enableKey},
	{"GET", "/api/v1/organizations/{id}/keystore", authz.ReadKeys, (*Server).getKeyStore},
	{"POST", "/api/v1/organizations/{id}/keystore/kill", authz.ManageKeys, (*Server).killKeyStore},
	{"POST", "/api/v1/organizations/{id}/keystore/revive", authz.ManageKeys, (*Server).reviveKeyStore},
	{"POST", "/api/v1/organizations/{id}/keystore/xks-credentials", authz.ManageKeys, (*Server).createXKSCredential},
	{"DELETE", "/api/v1/organizations/{id}/keystore/xks-credentials/{access_key_id}", authz.ManageKeys, (*Server).revokeXKSCredential},
	{"GET", "/api/v1/organizations/{id}/keystore/usage", authz.ReadKeys, (*Server).keyUsage},
	{"GET", "/api/v1/secrets", authz.ReadSecrets, (*Server).listSecrets},
	{"PUT", "/api/v1/secrets/{name...}", authz.WriteSecrets, (*Server).putSecret},
	{"GET", "/api/v1/organizations/{id}/notify/channels", authz.ReadNotify, (*Server).listChannels},
	{"POST", "/api/v1/organizations/{id}/notify/channels", authz.ManageNotify, (*Server).createChannel},
	{"GET", "/api/v1/organizations/{id}/notify/channels/{channel}", authz.ReadNotify, (*Server).getChannel},
	{"PATCH", "/api/v1/organizations/{id}/notify/channels/{channel}", authz.ManageNotify, (*Server).updateChannel},
	{"DELETE", "/api/v1/organizations/{id}/notify/channels/{channel}", authz.ManageNotify, (*Server).deleteChannel},
	{"POST", "/api/v1/organizations/{id}/notify/channels/{channel}/test", authz.ManageNotify, (*Server).testChannel},
	{"GET", "/api/v1/organizations/{id}/notify/deliveries", authz.ReadNotify, (*Server).listDeliveries},
	{"POST", "/api/v1/organizations/{id}/notify/deliveries/{delivery}/retry", authz.ManageNotify, (*Server).redeliver},
	{"GET", "/api/v1/organizations/{id}/notify/events", authz.ReadNotify, (*Server).listNotifyEvents},
	{"GET", "/api/v1/organizations/{id}/notify/critical-events", authz.ReadNotices, (*Server).criticalEvents},
	{"GET", "/api/v1/organizations/{id}/notify/suppressions", authz.ReadNotify, (*Server).listSuppressions},
	{"POST", "/api/v1/organizations/{id}/notify/suppressions", authz.SuppressNotify, (*Server).createSuppression},
	{"DELETE", "/api/v1/organizations/{id}/notify/suppressions/{suppression}", authz.SuppressNotify, (*Server).liftSuppression},
	{"POST", "/api/v1/organizations/{id}/notify/ingest-token", authz.ManageNotify, (*Server).createIngestToken},
	{"GET", "/api/v1/organizations/{id}/notify/notices", authz.ReadNotices, (*Server).listNotices},
	{"POST", "/api/v1/organizations/{id}/notify/notices/{notice}/acknowledge", authz.AnswerNotice, (*Server).acknowledgeNotice},
	{"POST", "/api/v1/organizations/{id}/notify/notices/{notice}/fix", authz.AnswerNotice, (*Server).fixNotice},
	// Security Hub (through an EventBridge API destination) and OCSF
	// producers authenticate with the organisation's ingestion token.
	{"POST", "/api/v1/notify/ingest/{org}/asff", authz.IngestToken, (*Server).ingestASFF},
	{"POST", "/api/v1/notify/ingest/{org}/ocsf", authz.IngestToken, (*Server).ingestOCSF},
	{"GET", "/api/v1/notify/channels", authz.ManageCentralNotify, (*Server).listCentralChannels},
	{"POST", "/api/v1/notify/channels", authz.ManageCentralNotify, (*Server).createCentralChannel},
	{"DELETE", "/api/v1/notify/channels/{channel}", authz.ManageCentralNotify, (*Server).deleteCentralChannel},
	{"POST", "/api/v1/notify/channels/{channel}/test", authz.ManageCentralNotify, (*Server).testCentralChannel},
	{"GET", "/api/v1/notify/deliveries", authz.ManageCentralNotify, (*Server).listCentralDeliveries},
	{"GET", "/api/v1/notify/settings", authz.ManageCentralNotify, (*Server).getNotifySettings},
	{"PUT", "/api/v1/notify/settings", authz.ManageCentralNotify, (*Server).putNotifySettings},
	{"GET", "/api/v1/notify/digests", authz.ReadDigest, (*Server).listDigests},
	{"POST", "/api/v1/notify/digests", authz.ManageCentralNotify, (*Server).makeDigest},
	{"GET", "/api/v1/notify/digests/{digest}", authz.ReadDigest, (*Server).getDigest},
	{"GET", "/api/v1/notify/notices", authz.ReadDigest, (*Server).listAllNotices},
	{"POST", "/api/v1/notify/notices", authz.SendNotice, (*Server).sendNotice},
	{"GET", "/api/v1/baselines", authz.ReadBaselines, (*Server).listBaselines},
	{"GET", "/api/v1/baselines/{product}", authz.ReadBaselines, (*Server).getBaseline},
	{"GET", "/api/v1/baselines/{product}/diff", authz.ReadBaselines, (*Server).diffBaseline},
	{"GET", "/api/v1/baselines/{product}/versions/{version}", authz.ReadBaselines, (*Server).getBaselineVersion},
	{"PUT", "/api/v1/baselines/{product}/versions/{version}", authz.PublishBaseline, (*Server).publishBaseline},
	{"GET", "/api/v1/environments/{id}/baseline", authz.ReadEnvBaseline, (*Server).envBaseline},
	{"POST", "/api/v1/environments/{id}/baseline/sessions", authz.StartDeploySession, (*Server).startDeploySession},
	{"POST", "/api/v1/environments/{id}/baseline/deployments", authz.DeployBaseline, (*Server).deployBaseline},
	{"GET", "/api/v1/environments/{id}/baseline/deployments/{deployment}", authz.ReadEnvBaseline, (*Server).getDeployment},
	// Last of the key routes, so that the authorization matrix, which
	// walks this table in order, seals only after the others ran.
	{"POST", "/api/v1/keys/service/seal", authz.SealKeys, (*Server).sealKeys},
	{"GET", "/api/v1/audit/key", authz.ReadAudit, (*Server).auditKey},
	{"GET", "/api/v1/audit/consistency", authz.ReadAudit, (*Server).auditConsistency},
	{"GET", "/api/v1/audit/entries", authz.ReadAudit, (*Server).auditEntries},
	{"GET", "/api/v1/audit/export", authz.ReadAudit, (*Server).auditExport},
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	s.register(mux, func(Route) bool { return true })
}

// RegisterKeyService adds only the key service's routes: what hatoba keyd
// serves on a host of its own (custody, tenants' keys, key owners' record).
func (s *Server) RegisterKeyService(mux *http.ServeMux) {
	s.register(mux, func(rt Route) bool {
		return strings.HasPrefix(rt.Pattern, "/api/v1/keys/") || strings.Contains(rt.Pattern, "/keys") ||
			strings.Contains(rt.Pattern, "/keystore")
	})
}

func (s *Server) register(mux *http.ServeMux, keep func(Route) bool) {
	if s.PublicRate >= 0 && s.public == nil {
		rate := s.PublicRate
		if rate == 0 {
			rate = DefaultPublicRate
		}
		s.public = newLimiter(rate, DefaultPublicBurst, nil)
	}
	for _, rt := range Routes {
		if keep(rt) {
			mux.HandleFunc(rt.Method+" "+rt.Pattern, s.guard(rt, rt.handler))
		}
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/not-found", Title: "Not Found", Status: http.StatusNotFound,
			Detail: "no API endpoint " + r.Method + " " + r.URL.Path + "; see /api/v1/openapi.json", Instance: r.URL.Path})
	})
}

func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}

// SystemInfo describes this hatoba.
type SystemInfo struct {
	Version       string            `json:"version"`
	SchemaVersion int               `json:"schema_version"`
	Database      string            `json:"database"`
	Providers     []string          `json:"providers"`
	Environments  map[env.State]int `json:"environments"`
	Organizations int               `json:"organizations"`
}

func (s *Server) system(w http.ResponseWriter, r *http.Request) {
	info, err := s.Info(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// Info gathers SystemInfo.
func (s *Server) Info(ctx context.Context) (SystemInfo, error) {
	v, err := s.DB.SchemaVersion(ctx)
	if err != nil {
		return SystemInfo{}, err
	}
	counts, err := s.Envs.CountByState(ctx)
	if err != nil {
		return SystemInfo{}, err
	}
	n, err := s.Orgs.Count(ctx)
	if err != nil {
		return SystemInfo{}, err
	}
	return SystemInfo{Version: s.Version, SchemaVersion: v, Database: string(s.DB.Dialect()),
		Providers: s.Vending.ConnectionNames(), Environments: counts, Organizations: n}, nil
}

func limitParam(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, fault.InvalidField("limit", "limit must be a whole number from 1 to 500, not %q", raw)
	}
	return n, nil
}

func (s *Server) listOrgs(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, orgListParams...) {
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	within, err := s.within(r.Context(), principal(r), authz.ReadOrgs)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	q := r.URL.Query()
	page, err := s.Orgs.List(r.Context(), org.ListParams{Query: q.Get("q"), ParentID: q.Get("parent_id"),
		Kind: org.Kind(q.Get("kind")), Limit: limit, Cursor: q.Get("cursor"), Within: within})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.decide(r, authz.ReadOrgs, authz.Resource{Kind: "organisation", ID: id, OrgID: id}); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	o, err := s.Orgs.Get(r.Context(), id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) createOrg(w http.ResponseWriter, r *http.Request) {
	d, err := s.decide(r, authz.WriteOrgs, authz.Resource{})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var o org.Organization
	if !decodeJSON(w, r, &o) {
		return
	}
	created, err := s.Orgs.Create(r.Context(), acting(r, d), o)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/organizations/"+created.ID)
	writeJSON(w, http.StatusCreated, created)
}

func (s *Server) setBilling(w http.ResponseWriter, r *http.Request) {
	var c org.Contact
	if !decodeJSON(w, r, &c) {
		return
	}
	id := r.PathValue("id")
	d, err := s.decide(r, authz.WriteBilling, authz.Resource{Kind: "organisation", ID: id, OrgID: id})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := s.Orgs.SetBilling(r.Context(), acting(r, d), id, c); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	s.getOrg(w, r)
}

// maxImport bounds an uploaded CSV (the full national data is ~400 KB).
const maxImport = 16 << 20

func (s *Server) importOrgs(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, oneOf("embedded", "true", "false"), anyText("name"), oneOf("dry_run", "true", "false")) {
		return
	}
	d, err := s.decide(r, authz.WriteOrgs, authz.Resource{})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var sources []org.Source
	if r.URL.Query().Get("embedded") == "true" {
		sources = org.EmbeddedSources()
	} else {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			badRequest(w, r, "send a CSV file with Content-Type text/csv, or use ?embedded=true to import the built-in data of Japan's local governments")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImport))
		if err != nil {
			writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: "Request Entity Too Large",
				Status: http.StatusRequestEntityTooLarge, Detail: "a CSV upload may be at most 16 MiB", Instance: r.URL.Path})
			return
		}
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "upload.csv"
		}
		sources = []org.Source{{Name: name, R: strings.NewReader(string(body))}}
	}
	var report org.ImportReport
	if r.URL.Query().Get("dry_run") == "true" {
		report, err = s.Orgs.DryRun(r.Context(), sources...)
	} else {
		report, err = s.Orgs.Import(r.Context(), acting(r, d), sources...)
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if !report.DryRun && len(report.Errors) > 0 {
		// All or nothing: the file was refused whole; the rows say why.
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/invalid", Title: http.StatusText(http.StatusUnprocessableEntity),
			Status: http.StatusUnprocessableEntity, Instance: r.URL.Path, Errors: report.Errors,
			Detail: fmt.Sprintf("%d rows cannot be imported, so nothing was: fix them and import the file again (?dry_run=true shows what would change)", len(report.Errors))})
		return
	}
	writeJSON(w, http.StatusOK, report)
}

func (s *Server) listEnvs(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, envListParams...) {
		return
	}
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	within, err := s.within(r.Context(), principal(r), authz.ReadEnvs)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	q := r.URL.Query()
	page, err := s.Envs.List(r.Context(), env.ListParams{OrgID: q.Get("org_id"), State: env.State(q.Get("state")),
		Limit: limit, Cursor: q.Get("cursor"), Within: within})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) {
	if !queryOK(w, r, approvalParams...) {
		return
	}
	q := r.URL.Query()
	q.Set("state", string(env.Requested))
	r.URL.RawQuery = q.Encode()
	s.listEnvs(w, r)
}

// EnvironmentDetail is an environment with its steps and history.
type EnvironmentDetail struct {
	env.Environment
	Steps  []env.Step  `json:"steps"`
	Events []env.Event `json:"events"`
}

// Detail loads an environment with its steps and history.
func (s *Server) Detail(ctx context.Context, id string) (EnvironmentDetail, error) {
	en, err := s.Envs.Get(ctx, s.DB, id)
	if err != nil {
		return EnvironmentDetail{}, err
	}
	steps, err := s.Envs.Steps(ctx, s.DB, id)
	if err != nil {
		return EnvironmentDetail{}, err
	}
	events, err := s.Envs.Events(ctx, id)
	if err != nil {
		return EnvironmentDetail{}, err
	}
	return EnvironmentDetail{Environment: en, Steps: steps, Events: events}, nil
}

func (s *Server) getEnv(w http.ResponseWriter, r *http.Request) {
	if _, err := s.envDecision(r, authz.ReadEnvs, r.PathValue("id")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	d, err := s.Detail(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 200

func (s *Server) requestEnv(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		badRequest(w, r, "the Idempotency-Key header may be at most 200 characters")
		return
	}
	var req env.Request
	if !decodeJSON(w, r, &req) {
		return
	}
	d, err := s.decide(r, authz.RequestEnv, authz.Resource{Kind: "organisation", OrgID: req.OrgID})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	req.RequestedBy = actor(r, d)
	en, created, err := s.Vending.Request(r.Context(), req, key)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Location", "/api/v1/environments/"+en.ID)
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, en)
}

type decision struct {
	Note   string `json:"note,omitempty"`
	Reason string `json:"reason,omitempty"`
	OrgID  string `json:"org_id,omitempty"`
}

// decodeOptional decodes a body that may be absent.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 {
		return true
	}
	return decodeJSON(w, r, v)
}

// envDecision loads the environment id names just far enough to ask the
// decision point about it.
func (s *Server) envDecision(r *http.Request, action authz.Action, id string) (authz.Decision, error) {
	en, err := s.Envs.Get(r.Context(), s.DB, id)
	if err != nil {
		return authz.Decision{}, err
	}
	return s.decide(r, action, authz.Resource{Kind: "environment", ID: id, OrgID: en.OrgID})
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, action authz.Action, required bool,
	fn func(ctx context.Context, id string, d decision, who string) (env.Environment, error)) {
	dec, err := s.envDecision(r, action, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var d decision
	if required {
		if !decodeJSON(w, r, &d) {
			return
		}
	} else if !decodeOptional(w, r, &d) {
		return
	}
	en, err := fn(r.Context(), r.PathValue("id"), d, actor(r, dec))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, en)
}

func (s *Server) approveEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, authz.DecideEnv, false, func(ctx context.Context, id string, d decision, who string) (env.Environment, error) {
		return s.Vending.Approve(ctx, id, who, d.Note)
	})
}

func (s *Server) rejectEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, authz.DecideEnv, true, func(ctx context.Context, id string, d decision, who string) (env.Environment, error) {
		return s.Vending.Reject(ctx, id, who, d.Reason)
	})
}

func (s *Server) retryEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, authz.RetryEnv, false, func(ctx context.Context, id string, _ decision, who string) (env.Environment, error) {
		return s.Vending.Retry(ctx, id, who)
	})
}

func (s *Server) transferEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, authz.TransferEnv, true, func(ctx context.Context, id string, d decision, who string) (env.Environment, error) {
		if d.OrgID == "" {
			return env.Environment{}, fault.InvalidField("org_id", "org_id of the receiving organisation is required")
		}
		return s.Vending.Transfer(ctx, id, d.OrgID, who)
	})
}

func (s *Server) closeEnv(w http.ResponseWriter, r *http.Request) {
	s.act(w, r, authz.CloseEnv, false, func(ctx context.Context, id string, d decision, who string) (env.Environment, error) {
		return s.Vending.Close(ctx, id, who, d.Reason)
	})
}
