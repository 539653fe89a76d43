package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// fakeStacks is the sim connection's stack capability in memory; the wire
// level is tested in internal/simcloud.
type fakeStacks struct {
	mu     sync.Mutex
	stacks map[string]string // stack id → template
}

func (f *fakeStacks) DeployStack(_ context.Context, account string, spec provider.StackSpec) (provider.StackStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := cmpOr(spec.StackID, "arn:aws:cloudformation:ap-northeast-1:"+account+":stack/"+spec.Name+"/1")
	f.stacks[id] = spec.Template
	return provider.StackStatus{ID: id, Name: spec.Name, Status: "CREATE_IN_PROGRESS"}, nil
}

func (f *fakeStacks) DescribeStack(_ context.Context, _, id string) (provider.StackStatus, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.stacks[id]
	return provider.StackStatus{ID: id, Status: "CREATE_COMPLETE"}, ok, nil
}

func (f *fakeStacks) StackEvents(context.Context, string, string) ([]provider.StackEvent, error) {
	return []provider.StackEvent{{At: time.Now().Add(time.Minute), LogicalID: "Q", ResourceType: "AWS::SQS::Queue", Status: "CREATE_COMPLETE"}}, nil
}

func (f *fakeStacks) StackTemplate(_ context.Context, _, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stacks[id], nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// seedDeployment records a finished deployment in envID.
func seedDeployment(t *testing.T, h *harness, envID, orgID string) string {
	t.Helper()
	id := store.NewID("bld")
	if _, err := h.db.ExecContext(context.Background(), `INSERT INTO baseline_deployments (id, env_id, org_id, product, version, template_sha256,
		stack_name, stack_id, operation, state, stack_status, reason, session_id, deployed_by, started_at, finished_at)
		VALUES ($1, $2, $3, 'matrix-baseline', '1.0.0', 'x', 'hatoba-baseline-matrix-baseline', '', 'create', 'failed', '', 'seed', 'bls-seed', 'p-seed', $4, $4)`,
		id, envID, orgID, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	return id
}

const baselineTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      KmsMasterKeyId: alias/baseline
`

func publishBody(template, changelog string) string {
	b, _ := json.Marshal(map[string]any{"format": "cloudformation", "template": template, "changelog": changelog,
		"controls":      []map[string]string{{"control_id": "aws-sqs-encrypted-kms", "mode": "detect"}},
		"notifications": []map[string]any{{"name": "critical-to-chat", "kinds": []string{"slack"}, "min_severity": "critical"}}})
	return string(b)
}

func TestBaselinePublishAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db.Dialect())
		path := "/api/v1/baselines/secure-baseline/versions/1.0.0"
		if r := h.call(t, "PUT", path, publishBody(baselineTemplate, "First release."), nil); r.status != http.StatusCreated || r.header.Get("Location") != path {
			t.Fatalf("publish: %d %s", r.status, r.raw)
		}
		if r := h.call(t, "PUT", path, publishBody(baselineTemplate, "First release."), nil); r.status != http.StatusOK {
			t.Fatalf("same content again: %d %s", r.status, r.raw)
		}
		if r := h.call(t, "PUT", path, publishBody(baselineTemplate+"# changed\n", "First release."), nil); r.status != http.StatusConflict {
			t.Fatalf("other content: %d %s", r.status, r.raw)
		}
		open := "Resources:\n  Open:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: ssh\n      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          CidrIp: 0.0.0.0/0\n"
		r := h.call(t, "PUT", "/api/v1/baselines/secure-baseline/versions/1.1.0", publishBody(open, "Open SSH."), nil)
		findings, _ := r.body["findings"].([]any)
		if r.status != http.StatusUnprocessableEntity || len(findings) != 1 || r.body["field"] != "template" {
			t.Fatalf("scan refusal: %d %s", r.status, r.raw)
		}
		if r := h.call(t, "PUT", "/api/v1/baselines/secure-baseline/versions/1.1.0", publishBody(baselineTemplate+"# 1.1.0\n", "A comment."), nil); r.status != http.StatusCreated {
			t.Fatalf("publish 1.1.0: %d %s", r.status, r.raw)
		}
		// A tenant reads the catalogue, a release (and verifies it offline), a diff.
		_, tok := h.person(t, authz.TenantMember, "nat-digital")
		as := map[string]string{"Authorization": "Bearer " + tok}
		r = h.call(t, "GET", "/api/v1/baselines", "", as)
		if items, _ := r.body["items"].([]any); r.status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["latest"] != "1.1.0" {
			t.Fatalf("catalogue: %d %s", r.status, r.raw)
		}
		r = h.call(t, "GET", path, "", as)
		rel, err := baseline.ParseRelease([]byte(r.raw))
		if err != nil {
			t.Fatal(err)
		}
		v, err := audit.ParseVerifierKey(h.auditKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := baseline.Verify(rel, v); err != nil {
			t.Fatalf("offline verification of the API's release: %v", err)
		}
		r = h.call(t, "GET", "/api/v1/baselines/secure-baseline/diff?from=1.0.0&to=1.1.0", "", as)
		if r.status != http.StatusOK || !strings.Contains(r.body["template"].(string), "+# 1.1.0") {
			t.Fatalf("diff: %d %s", r.status, r.raw)
		}
		// Tenants do not publish.
		_, adminTok := h.keyOwner(t, "nat-digital")
		if r := h.call(t, "PUT", "/api/v1/baselines/tenant-made/versions/1.0.0", publishBody(baselineTemplate, "x"), map[string]string{"Authorization": "Bearer " + adminTok}); r.status != http.StatusForbidden {
			t.Fatalf("a tenant published: %d %s", r.status, r.raw)
		}
	})
}

// TestBaselineDeployAPI: the environment's tenant administrator deploys
// through a deploy session; central operators — even under a break-glass
// grant for the tenant — cannot start a session or deploy; a member
// cannot; a foreign tenant does not see the environment.
func TestBaselineDeployAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db.Dialect())
		ctx := context.Background()
		if r := h.call(t, "PUT", "/api/v1/baselines/secure-baseline/versions/1.0.0", publishBody(baselineTemplate, "First release."), nil); r.status != http.StatusCreated {
			t.Fatalf("publish: %d %s", r.status, r.raw)
		}
		en := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
		envID := en.body["id"].(string)
		if _, err := h.db.ExecContext(ctx, `UPDATE environments SET state = 'ready', account_id = '111122223333' WHERE id = $1`, envID); err != nil {
			t.Fatal(err)
		}
		adminID, adminTok := h.keyOwner(t, "nat-digital")
		asAdmin := map[string]string{"Authorization": "Bearer " + adminTok}
		sessions := "/api/v1/environments/" + envID + "/baseline/sessions"
		deployments := "/api/v1/environments/" + envID + "/baseline/deployments"

		// Central: refused, with or without a grant (the harness's operator holds one for nat-digital).
		for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer " + h.token}} {
			if r := h.call(t, "POST", sessions, "", hdr); r.status != http.StatusForbidden {
				t.Fatalf("central operator's session: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "POST", deployments, `{"session_id":"bls-x","product":"secure-baseline","version":"1.0.0"}`, hdr); r.status != http.StatusForbidden {
				t.Fatalf("central operator's deploy: %d %s", r.status, r.raw)
			}
		}
		_, memberTok := h.person(t, authz.TenantMember, "nat-digital")
		if r := h.call(t, "POST", sessions, "", map[string]string{"Authorization": "Bearer " + memberTok}); r.status != http.StatusForbidden {
			t.Fatalf("member's session: %d %s", r.status, r.raw)
		}
		// An administrator without a fresh second factor is asked for one.
		_, plainAdmin := h.person(t, authz.TenantAdmin, "nat-digital")
		if r := h.call(t, "POST", sessions, "", map[string]string{"Authorization": "Bearer " + plainAdmin}); r.status != http.StatusForbidden || !strings.Contains(r.raw, "security key") {
			t.Fatalf("administrator without a second factor: %d %s", r.status, r.raw)
		}
		_, foreignTok := h.keyOwner(t, "qp-small")
		if r := h.call(t, "POST", sessions, "", map[string]string{"Authorization": "Bearer " + foreignTok}); r.status != http.StatusNotFound {
			t.Fatalf("foreign administrator's session: %d %s", r.status, r.raw)
		}
		ss := h.call(t, "POST", sessions, "", asAdmin)
		if ss.status != http.StatusCreated || ss.body["person_id"] != adminID || ss.body["permission_set"] != "Administrator" {
			t.Fatalf("session: %d %s", ss.status, ss.raw)
		}
		// Another administrator cannot ride on it.
		if r := h.call(t, "POST", deployments, fmt.Sprintf(`{"session_id":%q,"product":"secure-baseline","version":"1.0.0"}`, ss.body["id"]),
			map[string]string{"Authorization": "Bearer " + plainAdmin}); r.status != http.StatusForbidden {
			t.Fatalf("someone else's session: %d %s", r.status, r.raw)
		}
		d := h.call(t, "POST", deployments, fmt.Sprintf(`{"session_id":%q,"product":"secure-baseline","version":"1.0.0"}`, ss.body["id"]), asAdmin)
		if d.status != http.StatusCreated || d.body["state"] != "succeeded" || d.body["deployed_by"] != adminID {
			t.Fatalf("deploy: %d %s", d.status, d.raw)
		}
		r := h.call(t, "GET", d.header.Get("Location"), "", asAdmin)
		if evs, _ := r.body["events"].([]any); r.status != http.StatusOK || len(evs) != 1 {
			t.Fatalf("deployment: %d %s", r.status, r.raw)
		}
		r = h.call(t, "GET", "/api/v1/environments/"+envID+"/baseline", "", map[string]string{"Authorization": "Bearer " + memberTok})
		ad, _ := r.body["adoptions"].([]any)
		if r.status != http.StatusOK || len(ad) != 1 || ad[0].(map[string]any)["drift"] != "in_sync" || ad[0].(map[string]any)["version"] != "1.0.0" {
			t.Fatalf("environment's baseline: %d %s", r.status, r.raw)
		}
		if r := h.call(t, "GET", "/api/v1/environments/"+envID+"/baseline", "", map[string]string{"Authorization": "Bearer " + foreignTok}); r.status != http.StatusNotFound {
			t.Fatalf("foreign tenant reads the baseline: %d %s", r.status, r.raw)
		}
	})
}
