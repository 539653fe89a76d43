package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/api/apitest"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// newAccessHarness is a harness whose workers run, against the simulated
// cloud, with the access capability wired as serve wires it.
func newAccessHarness(t *testing.T, d store.Dialect) (*harness, *simcloud.Server) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t, d)
	orgs := org.New(db, time.Now)
	for _, o := range []org.Organization{
		{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"},
		{ID: "qp-small", Kind: org.KindQuasiPublic, NameJa: "小さな法人", NameEn: "Small Body"},
	} {
		if _, err := orgs.Create(ctx, audit.Acting{Actor: "system"}, o); err != nil {
			t.Fatal(err)
		}
	}
	sim, err := simcloud.Open(simcloud.Config{Latency: 30 * time.Millisecond, AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { simSrv.Close(); _ = sim.Close() })
	drv, err := awsdriver.New(ctx, awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: simSrv.URL, AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret"})
	if err != nil {
		t.Fatal(err)
	}

	h := &harness{db: db, orgs: orgs}
	h.ids = identity.New(db, identity.Options{SessionTTL: time.Hour, TokenTTL: time.Hour, InvitationTTL: time.Hour}, nil)
	envs := env.NewStore(db, time.Now)
	access := envaccess.New(db, envs, h.ids, orgs, time.Now)
	engine, err := vending.New(db, envs, orgs, vending.Config{
		Connections: []vending.Connection{{Name: "sim", Provider: drv, PollInterval: 10 * time.Millisecond,
			Allowed: []env.Classification{env.Level1, env.Level2}}},
		DefaultBilling: provider.Contact{Name: "desk", Email: "desk@example.jp", Phone: "+81-3-0000-0000"},
		RetryBase:      20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond, ResumeInterval: time.Second, JobTimeout: 20 * time.Second,
		Logger: discardLogger(), Access: access,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Stop(context.Background()) })

	h.operatorID, h.token = h.person(t, authz.CentralOperator, "")
	exp := time.Now().Add(time.Hour)
	h.grants = map[string][]authz.Grant{h.operatorID: {{ID: "g-nat", OrgID: "nat-digital", Expiry: exp}}}
	s := &api.Server{DB: db, Envs: envs, Orgs: orgs, Vending: engine, EnvAccess: access, Version: "test", Logger: discardLogger(),
		Identity: h.ids, Authz: authz.New(orgs, time.Minute, nil)}
	s.Grants = func(_ context.Context, personID string) ([]authz.Grant, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.grants[personID], nil
	}
	h.api = s
	mux := http.NewServeMux()
	s.Register(mux)
	// Every exchange is held to openapi.json (apitest).
	h.srv = httptest.NewServer(apitest.MustLoad(t).Handler(t, mux))
	t.Cleanup(h.srv.Close)
	return h, sim
}

// pollUntil calls GET path as token until done accepts the answer.
func (h *harness) pollUntil(t *testing.T, path, token string, done func(response) bool) response {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := h.call(t, "GET", path, "", map[string]string{"Authorization": "Bearer " + token})
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
		}
		if done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never got there: %s", path, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// accessOf returns the person's entry in an access listing, if any.
func accessOf(r response, personID string) map[string]any {
	items, _ := r.body["items"].([]any)
	for _, it := range items {
		if a := it.(map[string]any); a["person_id"] == personID {
			return a
		}
	}
	return nil
}

// TestEnvironmentAccessThroughTheAPI: a tenant administrator gives a
// member a permission set of a vended environment; the answer is pending,
// the worker applies it and the simulated cloud's group holds the member;
// unassigning removes it. Central staff, other tenants' people and unknown
// sets are refused.
func TestEnvironmentAccessThroughTheAPI(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h, sim := newAccessHarness(t, d)
			ctx := context.Background()
			r := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
			if r.status != http.StatusCreated {
				t.Fatalf("request: %d %s", r.status, r.raw)
			}
			envID := r.body["id"].(string)
			adminID, adminTok := h.person(t, authz.TenantAdmin, "nat-digital")
			memberID, memberTok := h.person(t, authz.TenantMember, "nat-digital")
			foreignID, foreignTok := h.person(t, authz.TenantAdmin, "qp-small")
			as := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
			accessPath := "/api/v1/environments/" + envID + "/access"

			// Before the environment is ready, nobody can be assigned.
			if r := h.call(t, "PUT", accessPath+"/"+memberID, `{"permission_set":"non_administrator"}`, as(adminTok)); r.status != http.StatusConflict {
				t.Fatalf("assigning before ready: %d %s", r.status, r.raw)
			}
			h.pollUntil(t, "/api/v1/environments/"+envID, adminTok, func(r response) bool {
				if r.body["state"] == "failed" {
					t.Fatalf("vending failed: %s", r.raw)
				}
				return r.body["state"] == "ready"
			})
			groups := vending.AccessGroups(envID)
			members := func(group string) string {
				got, err := sim.GroupMembers(ctx, group)
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(got, ",")
			}

			r = h.call(t, "PUT", accessPath+"/"+memberID, `{"permission_set":"non_administrator"}`, as(adminTok))
			if r.status != http.StatusAccepted || r.body["state"] != "pending" || r.body["permission_set"] != "non_administrator" || r.body["assigned_by"] != adminID {
				t.Fatalf("assign: %d %s", r.status, r.raw)
			}
			// The member sees their own environment's access, applied once
			// the worker has run.
			h.pollUntil(t, accessPath, memberTok, func(r response) bool {
				a := accessOf(r, memberID)
				return a != nil && a["state"] == "applied"
			})
			if got := members(groups.MemberGroup); got != memberID {
				t.Fatalf("members group holds %q, want %s", got, memberID)
			}
			if r := h.call(t, "PUT", accessPath+"/"+memberID, `{"permission_set":"non_administrator"}`, as(adminTok)); r.status != http.StatusOK || r.body["state"] != "applied" {
				t.Fatalf("assigning the same set again: %d %s", r.status, r.raw)
			}

			refusals := []struct {
				name, method, person, body, token string
				status                            int
				field                             string
			}{
				{"fail/central person", "PUT", h.operatorID, `{"permission_set":"administrator"}`, adminTok, http.StatusNotFound, "person_id"},
				{"fail/person of another tenant", "PUT", foreignID, `{"permission_set":"non_administrator"}`, adminTok, http.StatusNotFound, "person_id"},
				{"fail/unknown set", "PUT", memberID, `{"permission_set":"PowerUser"}`, adminTok, http.StatusUnprocessableEntity, "permission_set"},
				{"fail/set missing", "PUT", memberID, `{}`, adminTok, http.StatusUnprocessableEntity, "permission_set"},
				{"fail/unknown field", "PUT", memberID, `{"permission_set":"administrator","role":"admin"}`, adminTok, http.StatusBadRequest, ""},
				{"fail/unknown person", "PUT", "p-nobody", `{"permission_set":"administrator"}`, adminTok, http.StatusNotFound, "person_id"},
				{"fail/a member assigns", "PUT", memberID, `{"permission_set":"administrator"}`, memberTok, http.StatusForbidden, ""},
				{"fail/another tenant's administrator", "PUT", memberID, `{"permission_set":"administrator"}`, foreignTok, http.StatusNotFound, ""},
				{"fail/another tenant's administrator unassigns", "DELETE", memberID, "", foreignTok, http.StatusNotFound, ""},
				{"fail/another tenant's administrator reads", "GET", "", "", foreignTok, http.StatusNotFound, ""},
			}
			for _, tt := range refusals {
				path := accessPath
				if tt.person != "" {
					path += "/" + tt.person
				}
				r := h.call(t, tt.method, path, tt.body, as(tt.token))
				if r.status != tt.status || (tt.field != "" && r.body["field"] != tt.field) {
					t.Errorf("%s: %d %s, want %d on field %q", tt.name, r.status, r.raw, tt.status, tt.field)
				}
			}

			// The operator under the tenant's grant moves the member to the
			// Administrator set; the audit entry names the grant.
			r = h.call(t, "PUT", accessPath+"/"+memberID, `{"permission_set":"administrator"}`, nil)
			if r.status != http.StatusAccepted || r.body["assigned_by"] != h.operatorID+" under g-nat" {
				t.Fatalf("move under a grant: %d %s", r.status, r.raw)
			}
			h.pollUntil(t, accessPath, adminTok, func(r response) bool {
				a := accessOf(r, memberID)
				return a != nil && a["state"] == "applied" && a["permission_set"] == "administrator"
			})
			if admins, mems := members(groups.AdminGroup), members(groups.MemberGroup); admins != memberID || mems != "" {
				t.Fatalf("after the move: administrators %q, members %q", admins, mems)
			}
			var grant string
			if err := h.db.QueryRowContext(ctx, `SELECT grant_id FROM audit_queue WHERE action = 'env.access.assign' AND actor = $1`, h.operatorID).Scan(&grant); err != nil || grant != "g-nat" {
				t.Fatalf("the move's audit entry: grant %q, %v", grant, err)
			}

			r = h.call(t, "DELETE", accessPath+"/"+memberID, "", as(adminTok))
			if r.status != http.StatusAccepted || r.body["state"] != "removing" {
				t.Fatalf("unassign: %d %s", r.status, r.raw)
			}
			h.pollUntil(t, accessPath, adminTok, func(r response) bool { return accessOf(r, memberID) == nil })
			if admins, mems := members(groups.AdminGroup), members(groups.MemberGroup); admins != "" || mems != "" {
				t.Fatalf("after unassigning: administrators %q, members %q", admins, mems)
			}
			if r := h.call(t, "DELETE", accessPath+"/"+memberID, "", as(adminTok)); r.status != http.StatusNoContent {
				t.Fatalf("unassigning again: %d %s", r.status, r.raw)
			}

			// Disabling a person takes their cloud access away too: the
			// group membership is access to the account itself.
			if r := h.call(t, "PUT", accessPath+"/"+memberID, `{"permission_set":"non_administrator"}`, as(adminTok)); r.status != http.StatusAccepted {
				t.Fatalf("assign again: %d %s", r.status, r.raw)
			}
			h.pollUntil(t, accessPath, adminTok, func(r response) bool {
				a := accessOf(r, memberID)
				return a != nil && a["state"] == "applied"
			})
			if r := h.call(t, "POST", "/api/v1/people/"+memberID+"/disable", "", as(adminTok)); r.status != http.StatusOK || r.body["state"] != "disabled" {
				t.Fatalf("disable: %d %s", r.status, r.raw)
			}
			if r := h.call(t, "GET", accessPath, "", as(memberTok)); r.status != http.StatusUnauthorized {
				t.Fatalf("a disabled member's token still works: %d", r.status)
			}
			h.pollUntil(t, accessPath, adminTok, func(r response) bool { return accessOf(r, memberID) == nil })
			if mems := members(groups.MemberGroup); mems != "" {
				t.Fatalf("a disabled person is still in the members group: %q", mems)
			}

			// A transfer to another organisation takes the old one's people
			// out of the account.
			otherID, _ := h.person(t, authz.TenantMember, "nat-digital")
			if r := h.call(t, "PUT", accessPath+"/"+otherID, `{"permission_set":"non_administrator"}`, as(adminTok)); r.status != http.StatusAccepted {
				t.Fatalf("assign: %d %s", r.status, r.raw)
			}
			h.pollUntil(t, accessPath, adminTok, func(r response) bool {
				a := accessOf(r, otherID)
				return a != nil && a["state"] == "applied"
			})
			if r := h.call(t, "POST", "/api/v1/environments/"+envID+"/transfer", `{"org_id":"qp-small"}`, nil); r.status != http.StatusOK {
				t.Fatalf("transfer: %d %s", r.status, r.raw)
			}
			h.pollUntil(t, accessPath, h.token, func(r response) bool { return accessOf(r, otherID) == nil })
			if mems := members(groups.MemberGroup); mems != "" {
				t.Fatalf("after the transfer the old organisation's member is still in the group: %q", mems)
			}
		})
	}
}

// TestAccessAnswerHidesOtherPeople: assigning a person the caller cannot
// see — another tenant's people whatever their state or role, central
// staff, an id that names nobody — answers exactly the same (status and
// problem body, less the id the caller sent), before and after the
// environment is ready, for a tenant administrator and for an operator
// under a grant. Only the environment's own people get specific answers.
func TestAccessAnswerHidesOtherPeople(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h, _ := newAccessHarness(t, d)
			ctx := context.Background()
			r := h.call(t, "POST", "/api/v1/environments", goodRequest, nil)
			if r.status != http.StatusCreated {
				t.Fatalf("request: %d %s", r.status, r.raw)
			}
			envID := r.body["id"].(string)
			accessPath := "/api/v1/environments/" + envID + "/access/"
			_, adminTok := h.person(t, authz.TenantAdmin, "nat-digital")
			ownInvited, _, err := h.ids.Bootstrap(ctx, identity.Invitation{Role: authz.TenantMember, OrgID: "nat-digital", DisplayName: "invited here"})
			if err != nil {
				t.Fatal(err)
			}
			foreignActive, _ := h.person(t, authz.TenantMember, "qp-small")
			foreignAdmin, _ := h.person(t, authz.TenantAdmin, "qp-small")
			foreignInvited, _, err := h.ids.Bootstrap(ctx, identity.Invitation{Role: authz.TenantMember, OrgID: "qp-small", DisplayName: "invited there"})
			if err != nil {
				t.Fatal(err)
			}
			foreignDisabled, _ := h.person(t, authz.TenantMember, "qp-small")
			if _, err := h.db.ExecContext(ctx, `UPDATE people SET state = 'disabled' WHERE id = $1`, foreignDisabled); err != nil {
				t.Fatal(err)
			}
			auditorID, _ := h.person(t, authz.CentralAuditor, "")
			hidden := []struct{ name, id string }{
				{"fail/another tenant's active member", foreignActive},
				{"fail/another tenant's administrator", foreignAdmin},
				{"fail/another tenant's invited person", foreignInvited.ID},
				{"fail/another tenant's disabled person", foreignDisabled},
				{"fail/central operator", h.operatorID},
				{"fail/central auditor", auditorID},
				{"fail/no such person", "p-aaaaaaaaaaaaaaaa"},
				{"fail/not an id at all", "nobody"},
			}
			callers := []struct{ name, token string }{{"tenant administrator", adminTok}, {"operator under a grant", h.token}}
			check := func(phase string) {
				t.Helper()
				for _, c := range callers {
					var first string
					for _, p := range hidden {
						r := h.call(t, "PUT", accessPath+p.id, `{"permission_set":"non_administrator"}`,
							map[string]string{"Authorization": "Bearer " + c.token})
						body := strings.ReplaceAll(r.raw, p.id, "{person}")
						got := fmt.Sprintf("%d %s", r.status, body)
						if r.status != http.StatusNotFound || r.body["field"] != "person_id" {
							t.Errorf("%s, %s, %s: %s, want 404 on person_id", phase, c.name, p.name, got)
						}
						if first == "" {
							first = got
						} else if got != first {
							t.Errorf("%s, %s, %s answers differently:\n%s\nwant\n%s", phase, c.name, p.name, got, first)
						}
					}
				}
			}
			check("before ready")
			// The environment's own invited person is visible to the caller
			// (GET /people lists them), so the answer may say why.
			if r := h.call(t, "PUT", accessPath+ownInvited.ID, `{"permission_set":"non_administrator"}`,
				map[string]string{"Authorization": "Bearer " + adminTok}); r.status != http.StatusConflict {
				t.Errorf("own invited person: %d %s, want 409", r.status, r.raw)
			}
			h.pollUntil(t, "/api/v1/environments/"+envID, adminTok, func(r response) bool {
				if r.body["state"] == "failed" {
					t.Fatalf("vending failed: %s", r.raw)
				}
				return r.body["state"] == "ready"
			})
			check("when ready")
		})
	}
}
