package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// readyEnv is an environment of orgID that vending has finished.
func (h *harness) readyEnv(t *testing.T, orgID, system string) env.Environment {
	t.Helper()
	e := h.request(t, orgID, system, env.Level2)
	h.move(t, e.ID, env.Approved, env.Provisioning, "")
	h.move(t, e.ID, env.Provisioning, env.Ready, "")
	e.State = env.Ready
	return e
}

// assignment is the row of personID in envID.
func (h *harness) assignment(t *testing.T, envID, personID string) (envaccess.Assignment, bool) {
	t.Helper()
	items, err := h.api.EnvAccess.List(context.Background(), envID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range items {
		if a.PersonID == personID {
			return a, true
		}
	}
	return envaccess.Assignment{}, false
}

// TestEnvAccessJourney is a tenant administrator giving a colleague access
// to an environment, watching it apply, moving them to the other set and
// taking the access away.
func TestEnvAccessJourney(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			envAccessJourney(t, newHarnessOn(t, d))
		})
	}
}

func envAccessJourney(t *testing.T, h *harness) {
	ctx := context.Background()
	e := h.readyEnv(t, "lg-011002", "税務システム")
	admin := h.named(t, authz.TenantAdmin, "lg-011002", "札幌 管理者", true)
	colleague := h.named(t, authz.TenantMember, "lg-011011", "中央区 職員", true).person // a ward under the city
	outsider := h.named(t, authz.TenantMember, "nat-digital", "デジタル 職員", true).person
	invited, _ := h.invite(t, authz.TenantMember, "lg-011002", "招待中 職員")
	operator := h.named(t, authz.CentralOperator, "", "中央 運用者", true).person
	page := envAccessPath(e.ID)

	r := admin.get(t, page)
	if r.status != http.StatusOK {
		t.Fatalf("page: %d\n%s", r.status, r.body)
	}
	mustContain(t, r.body, "アクセスできる人", "管理者", "非管理者", "この権限セットを持つ人はいません。",
		`<option value="`+colleague.ID+`">中央区 職員`, `name="permission_set" value="administrator"`)
	mustNotContain(t, r.body, outsider.ID, invited.ID, operator.ID, "data-live-access=")

	t.Run("fail/no person chosen", func(t *testing.T) {
		r := admin.post(t, page, url.Values{csrfField: {admin.csrf()}, "permission_set": {"administrator"}})
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", r.status)
		}
		mustContain(t, r.body, "アクセスを付与する職員を選んでください。", `aria-invalid="true"`)
	})
	refusals := []struct {
		name, person, set string
		status            int
		want              string
	}{
		{"fail/central staff", operator.ID, "administrator", http.StatusUnprocessableEntity, "central staff never hold"},
		{"fail/another tenant's person", outsider.ID, "administrator", http.StatusUnprocessableEntity, "is not one of the people of organisation lg-011002"},
		{"fail/a person still invited", invited.ID, "administrator", http.StatusConflict, "only an active person"},
		{"fail/no such person", "p-nobody", "administrator", http.StatusUnprocessableEntity, "p-nobody"},
		{"fail/no such set", colleague.ID, "root", http.StatusUnprocessableEntity, "permission_set must be"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := admin.post(t, page, url.Values{csrfField: {admin.csrf()}, "person_id": {tt.person}, "permission_set": {tt.set}})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want, `role="alert"`)
			if _, found := h.assignment(t, e.ID, tt.person); found {
				t.Fatal("a refused assignment was stored")
			}
		})
	}

	// Give the colleague the non-administrator set: pending until the
	// provider has applied it, and the page says it will reload.
	r = admin.post(t, page, url.Values{csrfField: {admin.csrf()}, "person_id": {colleague.ID}, "permission_set": {"non_administrator"}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != page+"?notice=people_assigned" {
		t.Fatalf("assign: %d %q\n%s", r.status, r.header.Get("Location"), r.body)
	}
	a, found := h.assignment(t, e.ID, colleague.ID)
	if !found || a.State != envaccess.Pending || a.PermissionSet != envaccess.NonAdministrator || a.AssignedBy != admin.person.ID {
		t.Fatalf("after assigning: %+v %v", a, found)
	}
	r = admin.get(t, page+"?notice=people_assigned")
	mustContain(t, r.body, "権限セットを付与しました", "中央区 職員", "反映中", "札幌 管理者", `data-live-access="`+e.ID+`"`,
		`data-live-access-sig="`+colleague.ID+`:non_administrator:pending"`, "中央区 職員 を管理者に移す")
	mustNotContain(t, r.body, `<option value="`+colleague.ID+`"`)

	// The worker applies it.
	if ok, err := h.api.EnvAccess.Settle(ctx, audit.Acting{Actor: "system"}, a); err != nil || !ok {
		t.Fatalf("settle: %v %v", ok, err)
	}
	r = admin.get(t, page)
	mustContain(t, r.body, "反映済み")
	mustNotContain(t, r.body, "data-live-access=")

	// A permanent refusal shows its reason and offers to try again.
	a, _ = h.assignment(t, e.ID, colleague.ID)
	r = admin.post(t, page, url.Values{csrfField: {admin.csrf()}, "person_id": {colleague.ID}, "permission_set": {"administrator"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("move: %d\n%s", r.status, r.body)
	}
	if a, _ = h.assignment(t, e.ID, colleague.ID); a.PermissionSet != envaccess.Administrator || a.State != envaccess.Pending {
		t.Fatalf("after moving: %+v", a)
	}
	if ok, err := h.api.EnvAccess.Fail(ctx, audit.Acting{Actor: "system"}, a, "AccessDeniedException: not allowed to add group members"); err != nil || !ok {
		t.Fatalf("fail: %v %v", ok, err)
	}
	r = admin.get(t, page)
	mustContain(t, r.body, "失敗", "AccessDeniedException: not allowed to add group members", "中央区 職員 をもう一度反映する")

	// Remove: the row shows it is on its way out and offers nothing more.
	r = admin.post(t, page+"/"+colleague.ID+"/remove", url.Values{csrfField: {admin.csrf()}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != page+"?notice=people_removed" {
		t.Fatalf("remove: %d %q", r.status, r.header.Get("Location"))
	}
	r = admin.get(t, page)
	mustContain(t, r.body, "削除中", `data-live-access-sig="`+colleague.ID+`:administrator:removing"`)
	mustNotContain(t, r.body, "中央区 職員 を外す")
	if n := h.auditCount(t, "env.access.assign", admin.person.ID); n != 2 {
		t.Errorf("%d env.access.assign entries, want 2", n)
	}
	if n := h.auditCount(t, "env.access.unassign", admin.person.ID); n != 1 {
		t.Errorf("%d env.access.unassign entries, want 1", n)
	}
	// Removing what nobody holds is done already.
	r = admin.post(t, page+"/p-nobody/remove", url.Values{csrfField: {admin.csrf()}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("remove nobody: %d", r.status)
	}
}

// TestEnvAccessWhoSeesWhat: the page per caller and environment state.
func TestEnvAccessWhoSeesWhat(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ready := h.readyEnv(t, "lg-011002", "税務システム")
	waiting := h.request(t, "lg-011002", "福祉システム", env.Level3)
	h.as(t, authz.TenantMember, "lg-011002") // someone to offer
	grantee := h.as(t, authz.CentralOperator, "")
	h.grant(grantee.person.ID, "lg-011002")
	tests := []struct {
		name   string
		who    *browser
		env    env.Environment
		status int
		want   []string
		not    []string
	}{
		{"ok/administrator of a ready environment", h.as(t, authz.TenantAdmin, "lg-011002"), ready, http.StatusOK,
			[]string{"アクセスを付与する", `<select class="input" id="person_id"`}, nil},
		{"ok/operator under a grant", grantee, ready, http.StatusOK, []string{`id="person_id"`}, nil},
		{"ok/administrator of an environment not ready", h.as(t, authz.TenantAdmin, "lg-011002"), waiting, http.StatusOK,
			[]string{"この環境は「承認待ち」です"}, []string{`id="person_id"`}},
		{"ok/member reads only", h.as(t, authz.TenantMember, "lg-011002"), ready, http.StatusOK,
			[]string{"アクセスできる人"}, []string{"アクセスを付与する", `action="/envs/` + ready.ID + `/access"`}},
		{"ok/operator without a grant reads only", h.as(t, authz.CentralOperator, ""), ready, http.StatusOK,
			[]string{"アクセスできる人"}, []string{"アクセスを付与する"}},
		{"ok/auditor reads only", h.as(t, authz.CentralAuditor, ""), ready, http.StatusOK, nil, []string{"アクセスを付与する"}},
		{"fail/another tenant", h.as(t, authz.TenantAdmin, "nat-digital"), ready, http.StatusNotFound, nil, []string{"税務システム"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.who.get(t, envAccessPath(tt.env.ID))
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			mustContain(t, r.body, tt.want...)
			mustNotContain(t, r.body, tt.not...)
		})
	}
	t.Run("fail/assigning before the environment is ready", func(t *testing.T) {
		t.Parallel()
		admin := h.as(t, authz.TenantAdmin, "lg-011002")
		member := h.as(t, authz.TenantMember, "lg-011002")
		r := admin.post(t, envAccessPath(waiting.ID), url.Values{csrfField: {admin.csrf()}, "person_id": {member.person.ID}, "permission_set": {"administrator"}})
		if r.status != http.StatusConflict || !strings.Contains(r.body, "once it is ready") {
			t.Fatalf("status %d, want 409 saying it is not ready\n%s", r.status, r.body)
		}
	})
	t.Run("ok/the environment's page links here", func(t *testing.T) {
		t.Parallel()
		r := h.as(t, authz.TenantMember, "lg-011002").get(t, "/envs/"+ready.ID+"?lang=en")
		mustContain(t, r.body, `href="/envs/`+ready.ID+`/access">People with access to this environment`)
	})
}
