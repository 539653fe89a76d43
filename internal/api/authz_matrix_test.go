package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The callers of the matrix. "tenant" roles belong to nat-digital (own);
// qp-small is the foreign tenant. operator+grant holds a break-glass grant
// for nat-digital only.
const (
	anon     = "anonymous"
	operator = "operator"
	granted  = "operator+grant"
	auditor  = "auditor"
	admin    = "tenant-admin"
	member   = "tenant-member"
	// owner is a tenant administrator who is its organisation's key owner,
	// with a session confirmed by a second factor. Rows that do not name
	// it give it the administrator's verdict.
	owner = "key-owner"
)

var callers = []string{anon, operator, granted, auditor, admin, member, owner}

// expect says who gets past authorization, for a resource of the caller's
// own tenant and for one of a foreign tenant. It is written out by hand,
// independently of authz's policy table, so a change to either that the
// other does not share fails here.
type expect struct {
	own, foreign []string
	body         string // {org} is replaced by the tenant's organisation
	query        string // likewise
}

var everyone = []string{anon, operator, granted, auditor, admin, member}
var signedIn = []string{operator, granted, auditor, admin, member}

var matrix = map[string]expect{
	"GET /api/v1/openapi.json":    {own: everyone, foreign: everyone},
	"GET /api/v1/system":          {own: signedIn, foreign: signedIn},
	"POST /api/v1/auth/challenge": {own: everyone, foreign: everyone},
	"POST /api/v1/auth/token":     {own: everyone, foreign: everyone, body: `{}`},
	"POST /api/v1/auth/logout":    {own: signedIn, foreign: signedIn},
	"GET /api/v1/me":              {own: signedIn, foreign: signedIn},
	"GET /api/v1/people":          {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor, admin}},
	"POST /api/v1/people":         {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, body: `{"org_id":"{org}","role":"tenant-admin","display_name":"新任 管理者"}`},
	"GET /api/v1/people/{id}":     {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor}},
	// The person in each tenant is a member: a tenant's administrator may
	// manage it, central operators may not (they manage central staff and
	// tenants' administrators).
	"POST /api/v1/people/{id}/disable":  {own: []string{admin}, foreign: nil},
	"POST /api/v1/people/{id}/enable":   {own: []string{admin}, foreign: nil},
	"GET /api/v1/organizations":         {own: signedIn, foreign: signedIn},
	"POST /api/v1/organizations":        {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"id":"nat-new-{n}","kind":"national","name_ja":"新しい庁"}`},
	"POST /api/v1/organizations/import": {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/organizations/{id}":    {own: signedIn, foreign: []string{operator, granted, auditor}},
	"PUT /api/v1/organizations/{id}/billing": {own: []string{granted, admin}, foreign: nil,
		body: `{"name":"会計課","email":"kaikei@example.lg.jp","phone":"+81-3-1234-5678"}`},
	"GET /api/v1/environments":                {own: signedIn, foreign: signedIn},
	"POST /api/v1/environments":               {own: []string{granted, admin}, foreign: nil, body: `{"org_id":"{org}","system_name":"sys{n}","purpose":"production","classification":"level2","provider":"sim"}`},
	"GET /api/v1/environments/{id}":           {own: signedIn, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/environments/{id}/approve":  {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"POST /api/v1/environments/{id}/reject":   {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"reason":"matrix"}`},
	"POST /api/v1/environments/{id}/retry":    {own: []string{operator, granted, admin}, foreign: []string{operator, granted}},
	"POST /api/v1/environments/{id}/transfer": {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"org_id":"{org}"}`},
	"POST /api/v1/environments/{id}/close":    {own: []string{granted, admin}, foreign: nil},
	"GET /api/v1/approvals":                   {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	// Who holds an environment's permission sets: read as the environment
	// is; changed by the tenant's administrators, and by a central operator
	// only under a grant — never on a foreign tenant's environment.
	// The environment is not ready, so the key owner is refused after
	// the guard (409).
	"POST /api/v1/environments/{id}/external-keys": {own: []string{owner}, foreign: nil, body: `{"key_id":"k1"}`},
	// Findings are read like the environment; a fresh collection is for
	// those who run it (no collector here: 503 after the guard).
	"GET /api/v1/environments/{id}/findings":  {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/environments/{id}/posture":   {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/environments/{id}/inventory": {own: []string{granted, admin, member}, foreign: nil},
	// Exit readiness: read like the posture; central staff without a grant
	// get the score and counts (view score_only), not the tenant's services.
	"GET /api/v1/environments/{id}/exit-readiness":   {own: signedIn, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/environments/{id}/posture/collect": {own: []string{operator, granted, admin}, foreign: []string{operator, granted}},
	// Collection rounds over every environment are the platform's
	// operations: central staff follow them, operators start them.
	"POST /api/v1/posture/rounds":            {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/posture/rounds":             {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/posture/rounds/{id}":        {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/organizations/{id}/posture": {own: signedIn, foreign: []string{operator, granted, auditor}},
	// Reports are read like the posture they are made of; coverage like
	// the catalog.
	"GET /api/v1/organizations/{id}/report": {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/organizations/{id}/oscal":  {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/environments/{id}/oscal":   {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/reports/coverage":          {own: signedIn, foreign: signedIn, query: "?framework=nist-800-53"},
	// Sovereignty: profiles are the platform's, read by everyone signed
	// in and changed by central operators (this body is refused after the
	// guard); scores like the posture; an environment's exposure report
	// is its tenant's (central staff get its score), and assessing or
	// signing one is for those who read the report.
	"GET /api/v1/providers":        {own: signedIn, foreign: signedIn},
	"GET /api/v1/placement-policy": {own: signedIn, foreign: signedIn},
	// Central operators only; the version is stale (the seed is 1), so
	// the matrix changes nothing.
	"PUT /api/v1/placement-policy": {own: []string{operator, granted}, foreign: []string{operator, granted},
		body: `{"version":0,"rules":[],"one_provider_per_system":{"enabled":false,"on_breach":"approve"}}`},
	"GET /api/v1/sovereignty/profiles":        {own: signedIn, foreign: signedIn},
	"GET /api/v1/sovereignty/profiles/{name}": {own: signedIn, foreign: signedIn},
	"PUT /api/v1/sovereignty/profiles/{name}": {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"document":"name: Not A Name"}`},
	"GET /api/v1/sovereignty/scores":          {own: signedIn, foreign: signedIn},
	"GET /api/v1/sovereignty/concentration":   {own: signedIn, foreign: signedIn},
	// The concentration's history is the country's, kept for it only:
	// central staff read it, a tenant does not.
	"GET /api/v1/sovereignty/concentration/history": {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/sovereignty/blast-radius":          {own: signedIn, foreign: signedIn, query: "?provider=sim"},
	"GET /api/v1/environments/{id}/sovereignty":     {own: signedIn, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/environments/{id}/sovereignty":    {own: []string{granted, admin, member}, foreign: nil},
	// Controls: read by everyone signed in; assigned and decided by
	// central operators; exceptions asked by the environment's tenant.
	"POST /api/v1/environments/{id}/exceptions": {own: []string{granted, admin}, foreign: nil,
		body: `{"control_id":"aws-iam-no-users","reason":"the matrix needs an exception","expires_at":"2099-01-01T00:00:00Z"}`},
	"GET /api/v1/controls":      {own: signedIn, foreign: signedIn},
	"POST /api/v1/scan":         {own: signedIn, foreign: signedIn, body: `{"files":[{"name":"t.yaml","content":"Resources:\n  U:\n    Type: AWS::IAM::User\n"}]}`},
	"GET /api/v1/controls/{id}": {own: signedIn, foreign: signedIn},
	// Custom controls are added and deleted by central operators only
	// (the body is refused after the guard; a built-in is not deleted: 409).
	"POST /api/v1/controls":                         {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"metadata":"id: Not An Id"}`},
	"DELETE /api/v1/controls/{id}":                  {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/control-assignments":               {own: signedIn, foreign: signedIn},
	"POST /api/v1/control-assignments":              {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"control_id":"aws-iam-no-users","org_id":"{org}"}`},
	"GET /api/v1/control-assignments/{id}/impact":   {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"POST /api/v1/control-assignments/{id}/promote": {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"DELETE /api/v1/control-assignments/{id}":       {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/control-exceptions":                {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor, admin}},
	"POST /api/v1/control-exceptions/{id}/approve":  {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"POST /api/v1/control-exceptions/{id}/reject":   {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/environments/{id}/access":          {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/environments/{id}/backup":          {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/environments/{id}/restore-tests":   {own: signedIn, foreign: []string{operator, granted, auditor}},
	// Evidence must be signed with the card: without a signature nobody
	// passes (TestRestoreTestEvidence covers those who sign).
	"POST /api/v1/environments/{id}/restore-tests":        {own: nil, foreign: nil, body: `{"performed_at":"2026-01-01T00:00:00Z","restored":"db","result":"succeeded"}`},
	"PUT /api/v1/environments/{id}/access/{person_id}":    {own: []string{granted, admin}, foreign: nil, body: `{"permission_set":"non_administrator"}`},
	"DELETE /api/v1/environments/{id}/access/{person_id}": {own: []string{granted, admin}, foreign: nil},

	"GET /api/v1/access-requests":      {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor, admin}},
	"POST /api/v1/access-requests":     {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"org_id":"{org}","reason":"the matrix test needs access","duration":"1h"}`},
	"GET /api/v1/access-requests/{id}": {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor}},
	// Approving and denying need a fresh WebAuthn assertion, which only a
	// console session can carry: through the API nobody may.
	// The key owner's session is confirmed, so it gets through.
	"POST /api/v1/access-requests/{id}/approve": {own: []string{owner}, foreign: nil},
	"POST /api/v1/access-requests/{id}/deny":    {own: []string{owner}, foreign: nil},
	"POST /api/v1/access-requests/{id}/revoke":  {own: []string{operator, granted, admin}, foreign: []string{operator, granted}},
	"GET /api/v1/audit/key":                     {own: signedIn, foreign: signedIn},
	"GET /api/v1/audit/consistency":             {own: signedIn, foreign: signedIn, query: "?from=1"},

	// The key service. A tenant's keys are changed by its key owner with a
	// second factor and by nobody else — no central role, not under a
	// grant; read by its administrators and the central auditors. Sealing
	// is an operator's (an emergency brake); a share needs no session (this
	// one is refused as malformed, after the guard). hatoba's own secrets
	// are the platform's.
	"PUT /api/v1/people/{id}/key-owner":                                          {own: []string{owner}, foreign: nil, body: `{"key_owner":true}`},
	"GET /api/v1/keys/service":                                                   {own: signedIn, foreign: signedIn},
	"POST /api/v1/keys/service/unseal":                                           {own: everyone, foreign: everyone, body: `{"share":"not-a-share"}`},
	"POST /api/v1/keys/service/seal":                                             {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/secrets":                                                        {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"PUT /api/v1/secrets/{name...}":                                              {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"value":"matrix-secret"}`},
	"GET /api/v1/organizations/{id}/keys":                                        {own: []string{auditor, admin}, foreign: []string{auditor}},
	"POST /api/v1/organizations/{id}/keys":                                       {own: []string{owner}, foreign: nil, body: `{"id":"new-{n}","usage":"encrypt_decrypt"}`},
	"GET /api/v1/organizations/{id}/keys/{key}":                                  {own: []string{auditor, admin}, foreign: []string{auditor}},
	"PUT /api/v1/organizations/{id}/keys/{key}/usage":                            {own: []string{owner}, foreign: nil, body: `{"usage":"encrypt_decrypt"}`},
	"POST /api/v1/organizations/{id}/keys/{key}/rotate":                          {own: []string{owner}, foreign: nil},
	"POST /api/v1/organizations/{id}/keys/{key}/disable":                         {own: []string{owner}, foreign: nil},
	"POST /api/v1/organizations/{id}/keys/{key}/enable":                          {own: []string{owner}, foreign: nil},
	"GET /api/v1/organizations/{id}/keystore":                                    {own: []string{auditor, admin}, foreign: []string{auditor}},
	"POST /api/v1/organizations/{id}/keystore/kill":                              {own: []string{owner}, foreign: nil, body: `{"confirm":"{org}"}`},
	"POST /api/v1/organizations/{id}/keystore/revive":                            {own: []string{owner}, foreign: nil},
	"POST /api/v1/organizations/{id}/keystore/xks-credentials":                   {own: []string{owner}, foreign: nil},
	"DELETE /api/v1/organizations/{id}/keystore/xks-credentials/{access_key_id}": {own: []string{owner}, foreign: nil},
	"GET /api/v1/organizations/{id}/keystore/usage":                              {own: []string{auditor, admin}, foreign: []string{auditor}},

	// Notifications: a tenant's setup is its own (a central operator
	// helps under a grant); central reads critical events, sends notices
	// about them, and keeps its own channels and digest. The ingestion
	// endpoints take no session: the matrix's callers hold no ingestion
	// token, so nobody gets through (notify_test.go sends one).
	"GET /api/v1/organizations/{id}/notify/channels":                      {own: []string{granted, auditor, admin, member}, foreign: []string{auditor}},
	"POST /api/v1/organizations/{id}/notify/channels":                     {own: []string{granted, admin}, foreign: nil, body: `{"name":"m{n}","kind":"email","recipients":["soc@example.lg.jp"]}`},
	"GET /api/v1/organizations/{id}/notify/channels/{channel}":            {own: []string{granted, auditor, admin, member}, foreign: []string{auditor}},
	"PATCH /api/v1/organizations/{id}/notify/channels/{channel}":          {own: []string{granted, admin}, foreign: nil, body: `{"min_severity":"critical"}`},
	"DELETE /api/v1/organizations/{id}/notify/channels/{channel}":         {own: []string{granted, admin}, foreign: nil},
	"POST /api/v1/organizations/{id}/notify/channels/{channel}/test":      {own: []string{granted, admin}, foreign: nil},
	"GET /api/v1/organizations/{id}/notify/deliveries":                    {own: []string{granted, auditor, admin, member}, foreign: []string{auditor}},
	"POST /api/v1/organizations/{id}/notify/deliveries/{delivery}/retry":  {own: []string{granted, admin}, foreign: nil},
	"GET /api/v1/organizations/{id}/notify/events":                        {own: []string{granted, auditor, admin, member}, foreign: []string{auditor}},
	"GET /api/v1/organizations/{id}/notify/critical-events":               {own: signedIn, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/organizations/{id}/notify/suppressions":                  {own: []string{granted, auditor, admin, member}, foreign: []string{auditor}},
	"POST /api/v1/organizations/{id}/notify/suppressions":                 {own: []string{granted, admin}, foreign: nil, body: `{"control_id":"aws-iam-no-users","reason":"the matrix suppresses this","expires_at":"2099-01-01T00:00:00Z"}`},
	"DELETE /api/v1/organizations/{id}/notify/suppressions/{suppression}": {own: []string{granted, admin}, foreign: nil},
	"POST /api/v1/organizations/{id}/notify/ingest-token":                 {own: []string{granted, admin}, foreign: nil},
	"GET /api/v1/organizations/{id}/notify/notices":                       {own: signedIn, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/organizations/{id}/notify/notices/{notice}/acknowledge": {own: []string{granted, admin}, foreign: nil},
	"POST /api/v1/organizations/{id}/notify/notices/{notice}/fix":         {own: []string{granted, admin}, foreign: nil, body: `{"note":"fixed for the matrix"}`},
	"POST /api/v1/notify/ingest/{org}/asff":                               {own: nil, foreign: nil, body: `{}`},
	"POST /api/v1/notify/ingest/{org}/ocsf":                               {own: nil, foreign: nil, body: `{}`},
	"GET /api/v1/notify/channels":                                         {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"POST /api/v1/notify/channels":                                        {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"name":"c{n}","kind":"email","recipients":["central@example.go.jp"]}`},
	"DELETE /api/v1/notify/channels/{channel}":                            {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"POST /api/v1/notify/channels/{channel}/test":                         {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/notify/deliveries":                                       {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"GET /api/v1/notify/settings":                                         {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"PUT /api/v1/notify/settings":                                         {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"digests":["daily"]}`},
	"GET /api/v1/notify/digests":                                          {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/notify/digests":                                         {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"period":"weekly"}`},
	"GET /api/v1/notify/digests/{digest}":                                 {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"GET /api/v1/notify/notices":                                          {own: []string{operator, granted, auditor}, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/notify/notices":                                         {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"event_id":"{event}","message":"matrix notice"}`},

	// Baselines: central publishes (this body is refused after the guard:
	// no changelog), everyone signed in browses; an environment's baseline
	// is read like the environment. Only the tenant's administrators start
	// a deploy session — with a fresh second factor, which only the key
	// owner's session carries here — and deploy; no central role, not
	// under a grant. The environments are not ready: 409 after the guard.
	"GET /api/v1/baselines":                                           {own: signedIn, foreign: signedIn},
	"GET /api/v1/baselines/{product}":                                 {own: signedIn, foreign: signedIn},
	"GET /api/v1/baselines/{product}/diff":                            {own: signedIn, foreign: signedIn, query: "?from=1.0.0&to=1.0.0"},
	"GET /api/v1/baselines/{product}/versions/{version}":              {own: signedIn, foreign: signedIn},
	"PUT /api/v1/baselines/{product}/versions/{version}":              {own: []string{operator, granted}, foreign: []string{operator, granted}, body: `{"format":"cloudformation","template":"x"}`},
	"GET /api/v1/environments/{id}/baseline":                          {own: signedIn, foreign: []string{operator, granted, auditor}},
	"POST /api/v1/environments/{id}/baseline/sessions":                {own: []string{owner}, foreign: nil},
	"POST /api/v1/environments/{id}/baseline/deployments":             {own: []string{admin}, foreign: nil, body: `{"session_id":"bls-none","product":"matrix-baseline","version":"1.0.0"}`},
	"GET /api/v1/environments/{id}/baseline/deployments/{deployment}": {own: signedIn, foreign: []string{operator, granted, auditor}},

	"GET /api/v1/audit/entries": {own: []string{auditor, admin, member}, foreign: []string{auditor}, query: "?org_id={org}"},
	"GET /api/v1/audit/export":  {own: []string{auditor, admin, member}, foreign: []string{auditor}, query: "?org_id={org}"},
}

// TestRouteRoleTenantMatrix calls every registered route as every role,
// on its own tenant's resources and on a foreign tenant's, and checks who
// gets through. A route added without a row here fails the test.
func TestRouteRoleTenantMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	tenants := map[string]string{"own": "nat-digital", "foreign": "qp-small"}
	// One environment, one person and one access request in each tenant.
	envOf, personOf, accessOf, credOf := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	ownerOf := map[string]authz.Principal{}
	exceptionOf, assignmentOf := map[string]string{}, map[string]string{}
	// A collection round to read: the latest one (the harness's source has
	// no environment, so each finishes at once).
	seedRound := func() string {
		rounds, err := h.api.Collector.Rounds(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(rounds) == 1 {
			return rounds[0].ID
		}
		r, err := h.api.Collector.Start(context.Background(), "p-seed")
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	// An assignment of another control per tenant, made again before each
	// call that may remove it.
	seedAssignment := func(side, orgID string) {
		as, err := h.api.Assignments.List(context.Background(), []string{orgID})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.ControlID == "aws-iam-no-users" && a.OrgID == orgID {
				assignmentOf[side] = a.ID
				return
			}
		}
		a, err := h.api.Assignments.Assign(context.Background(), authz.Principal{PersonID: "p-seed"}, "aws-iam-no-users", orgID)
		if err != nil {
			t.Fatal(err)
		}
		assignmentOf[side] = a.ID
	}
	for side, orgID := range tenants {
		en := h.call(t, "POST", "/api/v1/environments", strings.NewReplacer("nat-digital", orgID, "juminhyo", "matrix").Replace(goodRequest), nil)
		if en.status != http.StatusCreated {
			t.Fatalf("seed environment: %d %s", en.status, en.raw)
		}
		envOf[side] = en.body["id"].(string)
		if _, err := h.api.Posture.Record(context.Background(), envOf[side], orgID, nil); err != nil {
			t.Fatal(err)
		}
		ex, err := h.api.Assignments.RequestException(context.Background(), authz.Principal{PersonID: "p-seed"}, envOf[side], orgID,
			"aws-iam-no-users", "seed for the matrix", time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		exceptionOf[side] = ex.ID
		personOf[side], _ = h.person(t, authz.TenantMember, orgID)
		ar := h.call(t, "POST", "/api/v1/access-requests", `{"org_id":"`+orgID+`","reason":"seed for the matrix","duration":"1h"}`, nil)
		if ar.status != http.StatusCreated {
			t.Fatalf("seed access request: %d %s", ar.status, ar.raw)
		}
		accessOf[side] = ar.body["id"].(string)
		// A key and an XKS credential in each tenant's key store.
		ownerID, _ := h.keyOwner(t, orgID)
		ownerOf[side] = authz.Principal{PersonID: ownerID, Role: authz.TenantAdmin, OrgID: orgID, KeyOwner: true}
		if _, err := h.api.Keys.CreateKey(context.Background(), ownerOf[side], orgID, keys.KeySpec{ID: "k1"}); err != nil {
			t.Fatal(err)
		}
		akid, _, err := h.api.Keys.CreateXKSCredential(context.Background(), ownerOf[side], orgID)
		if err != nil {
			t.Fatal(err)
		}
		credOf[side] = akid
	}
	// Notifications: a critical event, a notice and a test delivery in
	// each tenant; channels and suppressions are made afresh for each call
	// that may remove them; one digest.
	eventOf, noticeOf, deliveryOf := map[string]string{}, map[string]string{}, map[string]string{}
	for side, orgID := range tenants {
		if _, err := h.api.Notify.Ingest(context.Background(), []notify.Incoming{{OrgID: orgID, EnvID: envOf[side], Source: notify.SourceHatoba,
			SourceID: "f-matrix", Severity: controls.Critical, Title: "matrix", ControlID: "aws-iam-no-users", ResourceID: "arn:aws:iam::1:user/m"}}); err != nil {
			t.Fatal(err)
		}
		evs, err := h.api.Notify.Events(context.Background(), orgID, true, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("seed event: %v", err)
		}
		eventOf[side] = evs[0].ID
		nt, err := h.api.Notify.SendNotice(context.Background(), "p-seed", evs[0].ID, "matrix")
		if err != nil {
			t.Fatal(err)
		}
		noticeOf[side] = nt.ID
		ch, err := h.api.Notify.CreateChannel(context.Background(), "p-seed", "", orgID, notify.ChannelSpec{Name: "seed", Kind: notify.Email, Recipients: []string{"a@example.lg.jp"}})
		if err != nil {
			t.Fatal(err)
		}
		dl, err := h.api.Notify.TestChannel(context.Background(), "p-seed", "", orgID, ch.ID)
		if err != nil {
			t.Fatal(err)
		}
		deliveryOf[side] = dl.ID
	}
	seedChannel := func(orgID string) string {
		ch, err := h.api.Notify.CreateChannel(context.Background(), "p-seed", "", orgID, notify.ChannelSpec{Name: fmt.Sprintf("s%d", serial.Add(1)),
			Kind: notify.Email, Recipients: []string{"a@example.lg.jp"}})
		if err != nil {
			t.Fatal(err)
		}
		return ch.ID
	}
	seedSuppression := func(orgID string) string {
		sp, err := h.api.Notify.Suppress(context.Background(), "p-seed", "", orgID, notify.Suppression{ControlID: "c", Reason: "seed for the matrix",
			ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return sp.ID
	}
	// A published baseline, and a deployment recorded in each tenant's
	// environment.
	if _, _, err := h.api.Baselines.Publish(context.Background(), "p-seed", "matrix-baseline", "1.0.0", baseline.Spec{Format: baseline.CloudFormation,
		Template: "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      KmsMasterKeyId: alias/q\n", Changelog: "matrix"}); err != nil {
		t.Fatal(err)
	}
	deploymentOf := map[string]string{}
	for side, orgID := range tenants {
		deploymentOf[side] = seedDeployment(t, h, envOf[side], orgID)
	}
	digest, err := h.api.Notify.MakeDigest(context.Background(), "p-seed", notify.Daily)
	if err != nil {
		t.Fatal(err)
	}
	roleOf := map[string]authz.Role{operator: authz.CentralOperator, granted: authz.CentralOperator, auditor: authz.CentralAuditor,
		admin: authz.TenantAdmin, member: authz.TenantMember}
	token := func(caller string) string {
		if caller == anon {
			return ""
		}
		if caller == owner {
			_, tok := h.keyOwner(t, "nat-digital")
			return tok
		}
		orgID := ""
		if !roleOf[caller].Central() {
			orgID = "nat-digital"
		}
		id, tok := h.person(t, roleOf[caller], orgID)
		if caller == granted {
			h.mu.Lock()
			h.grants[id] = []authz.Grant{{ID: "g-matrix", OrgID: "nat-digital", Expiry: time.Now().Add(time.Hour)}}
			h.mu.Unlock()
		}
		return tok
	}

	n := 0
	for _, rt := range api.Routes {
		key := rt.Method + " " + rt.Pattern
		ex, ok := matrix[key]
		if !ok {
			t.Errorf("%s has no row in the authorization matrix: add one saying who may call it", key)
			continue
		}
		for side, orgID := range tenants {
			allowed := ex.own
			if side == "foreign" {
				allowed = ex.foreign
			}
			if !slices.Contains(ex.own, owner) && !slices.Contains(ex.foreign, owner) && slices.Contains(allowed, admin) {
				allowed = append(slices.Clone(allowed), owner)
			}
			for _, caller := range callers {
				n++
				path := rt.Pattern
				switch {
				case strings.HasPrefix(path, "/api/v1/environments/{id}"):
					path = strings.Replace(path, "{id}", envOf[side], 1)
					path = strings.Replace(path, "{deployment}", deploymentOf[side], 1)
					path = strings.Replace(path, "{person_id}", personOf[side], 1)
				case strings.HasPrefix(path, "/api/v1/people/{id}"):
					path = strings.Replace(path, "{id}", personOf[side], 1)
				case strings.HasPrefix(path, "/api/v1/access-requests/{id}"):
					path = strings.Replace(path, "{id}", accessOf[side], 1)
				case strings.HasPrefix(path, "/api/v1/baselines/"):
					path = strings.Replace(path, "{product}", "matrix-baseline", 1)
					path = strings.Replace(path, "{version}", "1.0.0", 1)
				case strings.HasPrefix(path, "/api/v1/controls/{id}"):
					path = strings.Replace(path, "{id}", "aws-iam-no-users", 1)
				case strings.HasPrefix(path, "/api/v1/control-assignments/{id}"):
					seedAssignment(side, orgID)
					path = strings.Replace(path, "{id}", assignmentOf[side], 1)
				case strings.HasPrefix(path, "/api/v1/control-exceptions/{id}"):
					path = strings.Replace(path, "{id}", exceptionOf[side], 1)
				case strings.HasPrefix(path, "/api/v1/posture/rounds/{id}"):
					path = strings.Replace(path, "{id}", seedRound(), 1)
				case strings.HasPrefix(path, "/api/v1/notify/"):
					if strings.Contains(path, "{channel}") { //nolint:staticcheck // S1017: seed a channel only for a path that names one
						path = strings.Replace(path, "{channel}", seedChannel(notify.Central), 1)
					}
					path = strings.Replace(path, "{org}", orgID, 1)
					path = strings.Replace(path, "{digest}", digest.ID, 1)
				case strings.Contains(path, "/notify/"):
					path = strings.Replace(path, "{id}", orgID, 1)
					if strings.Contains(path, "{channel}") { //nolint:staticcheck // S1017: seed a channel only for a path that names one
						path = strings.Replace(path, "{channel}", seedChannel(orgID), 1)
					}
					if strings.Contains(path, "{suppression}") { //nolint:staticcheck // S1017: seed a suppression only for a path that names one
						path = strings.Replace(path, "{suppression}", seedSuppression(orgID), 1)
					}
					path = strings.Replace(path, "{delivery}", deliveryOf[side], 1)
					path = strings.Replace(path, "{notice}", noticeOf[side], 1)
				default:
					path = strings.Replace(path, "{id}", orgID, 1)
					path = strings.Replace(path, "{key}", "k1", 1)
					path = strings.Replace(path, "{access_key_id}", credOf[side], 1)
					path = strings.Replace(path, "{name...}", "provider/matrix", 1)
					path = strings.Replace(path, "{name}", "aws-example", 1)
				}
				fill := strings.NewReplacer("{org}", orgID, "{n}", fmt.Sprint(n), "{event}", eventOf[side])
				body := fill.Replace(ex.body)
				path += fill.Replace(ex.query)
				hdr := map[string]string{"Authorization": "Bearer " + token(caller)}
				if caller == anon {
					hdr["Authorization"] = ""
				}
				r := h.call(t, rt.Method, path, body, hdr)
				passed := r.status != http.StatusUnauthorized && r.status != http.StatusForbidden && r.status != http.StatusNotFound
				want := slices.Contains(allowed, caller)
				if passed != want {
					t.Errorf("%s on %s tenant's resource as %s: status %d, want allowed=%v: %s", key, side, caller, r.status, want, r.raw)
				}
				if !want && caller == anon && rt.Action != authz.Public && r.status != http.StatusUnauthorized {
					t.Errorf("%s as nobody: status %d, want 401", key, r.status)
				}
			}
		}
	}
	// The matrix must not describe routes that are gone.
	for key := range matrix {
		if !slices.ContainsFunc(api.Routes, func(rt api.Route) bool { return rt.Method+" "+rt.Pattern == key }) {
			t.Errorf("matrix row %s names no registered route", key)
		}
	}
}

// A foreign tenant's environments never show up in a tenant's listing.
func TestListingsStayInScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	for _, orgID := range []string{"nat-digital", "qp-small"} {
		if r := h.call(t, "POST", "/api/v1/environments", strings.Replace(goodRequest, "nat-digital", orgID, 1), nil); r.status != http.StatusCreated {
			t.Fatalf("seed: %d %s", r.status, r.raw)
		}
	}
	_, tok := h.person(t, authz.TenantMember, "nat-digital")
	r := h.call(t, "GET", "/api/v1/environments?limit=500", "", map[string]string{"Authorization": "Bearer " + tok})
	items := r.body["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["org_id"] != "nat-digital" {
		t.Fatalf("member of nat-digital sees %s", r.raw)
	}
	r = h.call(t, "GET", "/api/v1/environments?org_id=qp-small", "", map[string]string{"Authorization": "Bearer " + tok})
	if items := r.body["items"].([]any); len(items) != 0 {
		t.Fatalf("asking for a foreign org by id leaks: %s", r.raw)
	}
	r = h.call(t, "GET", "/api/v1/organizations?limit=500", "", map[string]string{"Authorization": "Bearer " + tok})
	if items := r.body["items"].([]any); len(items) != 1 {
		t.Fatalf("member sees %d organisations, want its own only: %s", len(items), r.raw)
	}
}
