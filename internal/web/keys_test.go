package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// unsealedKeys is a key service in split mode (three shares, two unseal),
// initialised and unsealed, and its shares.
func unsealedKeys(t testing.TB, db *store.DB) (*keys.Service, []string) {
	t.Helper()
	ctx := context.Background()
	svc := keys.New(db, keys.Options{Logger: discardLogger()})
	shares, err := svc.InitSplit(ctx, authz.Principal{PersonID: "p-init", Role: authz.CentralOperator}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares[:2] {
		if _, err := svc.SubmitShare(ctx, audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	return svc, shares
}

// unsealKeys unseals the harness's key service again after a seal.
func (h *harness) unsealKeys(t testing.TB) {
	t.Helper()
	for _, sh := range h.keyShares[:2] {
		if _, err := h.api.Keys.SubmitShare(context.Background(), audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
}

// keyOwner is a confirmed tenant administrator of orgID whom another
// administrator designated its key owner.
func (h *harness) keyOwner(t testing.TB, orgID string) *browser {
	t.Helper()
	b := h.named(t, authz.TenantAdmin, orgID, "鍵 オーナー", true)
	by := authz.Principal{PersonID: "p-designator", Role: authz.TenantAdmin, OrgID: orgID}
	if _, err := h.ids.SetKeyOwner(context.Background(), by, b.person.ID, true); err != nil {
		t.Fatal(err)
	}
	return b
}

// ownerPrincipal acts as a key owner of orgID directly on the service.
func ownerPrincipal(orgID string) authz.Principal {
	return authz.Principal{PersonID: "p-owner-" + orgID, Role: authz.TenantAdmin, OrgID: orgID, KeyOwner: true}
}

// withTenantKey gives orgID a key k1 and an XKS credential, and returns the
// credential's access key id.
func (h *harness) withTenantKey(t testing.TB, orgID string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := h.api.Keys.CreateKey(ctx, ownerPrincipal(orgID), orgID, keys.KeySpec{ID: "k1", Description: "住民記録"}); err != nil {
		t.Fatal(err)
	}
	akid, _, err := h.api.Keys.CreateXKSCredential(ctx, ownerPrincipal(orgID), orgID)
	if err != nil {
		t.Fatal(err)
	}
	return akid
}

func (h *harness) killed(t testing.TB, orgID string) bool {
	t.Helper()
	k, err := h.api.Keys.Killed(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const sapporo = "lg-011002"

// ownerRoutes are the key owner's forms, with a form each would send.
var ownerRoutes = []struct {
	path string
	form url.Values
}{
	{"/keys/" + sapporo + "/keys", url.Values{"id": {"k2"}, "usage": {"encrypt_decrypt"}}},
	{"/keys/" + sapporo + "/keys/k1/usage", url.Values{"usage": {"encrypt_only"}}},
	{"/keys/" + sapporo + "/keys/k1/rotate", url.Values{}},
	{"/keys/" + sapporo + "/keys/k1/disable", url.Values{}},
	{"/keys/" + sapporo + "/keys/k1/enable", url.Values{}},
	{"/keys/" + sapporo + "/credentials", url.Values{}},
	{"/keys/" + sapporo + "/kill", url.Values{"confirm": {sapporo}}},
	{"/keys/" + sapporo + "/revive", url.Values{}},
}

func postForm(t testing.TB, b *browser, path string, form url.Values) response {
	t.Helper()
	f := url.Values{csrfField: {b.csrf()}, "from": {"/keys/" + sapporo}}
	for k, v := range form {
		f[k] = v
	}
	return b.post(t, path, f, "Accept-Language", "en")
}

// TestKillSwitchNeedsTheExactConfirmation: the kill switch is pulled only
// when the form repeats the organisation's id exactly.
func TestKillSwitchNeedsTheExactConfirmation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		confirm string
		killed  bool
	}{
		{"ok/the organisation's id", sapporo, true},
		{"ok/surrounding spaces are forgiven", " " + sapporo + " ", true},
		{"fail/empty", "", false},
		{"fail/another organisation", "nat-digital", false},
		{"fail/different case", strings.ToUpper(sapporo), false},
		{"fail/a prefix", "lg-0110", false},
		{"fail/yes", "yes", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withTenantKey(t, sapporo)
			owner := h.keyOwner(t, sapporo)
			r := postForm(t, owner, "/keys/"+sapporo+"/kill", url.Values{"confirm": {tc.confirm}})
			if got := h.killed(t, sapporo); got != tc.killed {
				t.Fatalf("killed = %v after confirm %q (status %d), want %v", got, tc.confirm, r.status, tc.killed)
			}
			if tc.killed {
				if r.status != http.StatusSeeOther || r.header.Get("Location") != "/keys/"+sapporo+"?notice=keys_killed" {
					t.Fatalf("status %d Location %q", r.status, r.header.Get("Location"))
				}
				page := owner.get(t, "/keys/"+sapporo+"?lang=en")
				mustContain(t, page.body, `data-killed="true"`, "Kill switch pulled", `action="/keys/`+sapporo+`/revive"`)
				mustNotContain(t, page.body, `action="/keys/`+sapporo+`/kill"`)
				return
			}
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", r.status)
			}
			mustContain(t, r.body, "Type the organisation id exactly", `aria-invalid="true"`, `data-killed="false"`)
		})
	}
}

// TestKeysAdministratorWhoIsNotKeyOwner sees the keys but no owner's
// forms, and the decision point refuses the forms' requests.
func TestKeysAdministratorWhoIsNotKeyOwner(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withTenantKey(t, sapporo)
	admin := h.as(t, authz.TenantAdmin, sapporo)
	h.integrate(t)
	page := admin.get(t, "/keys?lang=en")
	if page.status != http.StatusOK {
		t.Fatalf("GET /keys: %d", page.status)
	}
	mustContain(t, page.body, `id="keys-table"`, `data-key="k1"`, "住民記録", `data-killed="false"`, `id="usage-table"`,
		`id="become-owner"`, "first become its key owner", `<a href="/people">`)
	mustNotContain(t, page.body, `id="create-key"`, `id="kill"`, `id="create-credential"`, `/keys/`+sapporo+`/keys/k1/rotate`, `/revoke"`)
	for _, rt := range ownerRoutes {
		t.Run("fail"+strings.TrimPrefix(rt.path, "/keys/"+sapporo), func(t *testing.T) {
			r := postForm(t, admin, rt.path, rt.form)
			if r.status != http.StatusForbidden {
				t.Errorf("POST %s as an administrator who is not key owner: %d, want 403", rt.path, r.status)
			}
		})
	}
	if h.killed(t, sapporo) {
		t.Fatal("the kill switch was pulled")
	}
	ks, err := h.api.Keys.Keys(context.Background(), sapporo)
	if err != nil || len(ks) != 1 || ks[0].Version != 1 || ks[0].Usage != keys.UsageEncryptDecrypt || ks[0].State != keys.StateEnabled {
		t.Fatalf("keys changed: %+v %v", ks, err)
	}
}

// TestKeysCentralOperatorCannotActOnTenantKeys: an operator, even under a
// break-glass grant for the tenant, sees the service's state and may seal
// it, but neither sees nor changes a tenant's keys.
func TestKeysCentralOperatorCannotActOnTenantKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	akid := h.withTenantKey(t, sapporo)
	op := h.as(t, authz.CentralOperator, "")
	h.grant(op.person.ID, sapporo)
	page := op.get(t, "/keys?lang=en")
	if page.status != http.StatusOK {
		t.Fatalf("GET /keys: %d", page.status)
	}
	mustContain(t, page.body, `data-key-sealed="false"`, `action="/keys/seal"`)
	mustNotContain(t, page.body, `id="keys-table"`, `data-key="k1"`)
	if r := op.get(t, "/keys/"+sapporo); r.status != http.StatusForbidden {
		t.Errorf("GET /keys/%s as an operator: %d, want 403", sapporo, r.status)
	}
	routes := append(ownerRoutes[:len(ownerRoutes):len(ownerRoutes)], struct {
		path string
		form url.Values
	}{"/keys/" + sapporo + "/credentials/" + akid + "/revoke", url.Values{}})
	for _, rt := range routes {
		t.Run("fail"+strings.TrimPrefix(rt.path, "/keys/"+sapporo), func(t *testing.T) {
			if r := postForm(t, op, rt.path, rt.form); r.status != http.StatusForbidden {
				t.Errorf("POST %s as an operator: %d, want 403", rt.path, r.status)
			}
		})
	}
	if h.killed(t, sapporo) {
		t.Fatal("the kill switch was pulled")
	}
	// Sealing is theirs, with a tick in the box.
	if r := postForm(t, op, "/keys/seal", url.Values{}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("seal without the confirmation: %d, want 422", r.status)
	}
	if r := postForm(t, op, "/keys/seal", url.Values{"confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("seal: %d, want 303", r.status)
	}
	st, err := h.api.Keys.Status(context.Background())
	if err != nil || !st.Sealed {
		t.Fatalf("after sealing: %+v %v", st, err)
	}
}

var createdSecret = regexp.MustCompile(`id="created-secret" value="([^"]+)"`)

// TestKeysXKSSecretShownOnce: the answer that makes a credential shows its
// secret, uncached; the page never shows it again.
func TestKeysXKSSecretShownOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	owner := h.keyOwner(t, sapporo)
	r := postForm(t, owner, "/keys/"+sapporo+"/credentials", nil)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d\n%s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	m := createdSecret.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no secret on the answer:\n%s", r.body)
	}
	secret := m[1]
	mustContain(t, r.body, "it will not be shown again")
	creds, err := h.api.Keys.XKSCredentials(context.Background(), sapporo)
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials: %+v %v", creds, err)
	}
	for _, path := range []string{"/keys/" + sapporo, "/keys"} {
		page := owner.get(t, path)
		mustContain(t, page.body, `data-credential="`+creds[0].AccessKeyID+`"`)
		mustNotContain(t, page.body, secret, `id="created-secret"`)
	}
	// Revoking it.
	if r := postForm(t, owner, "/keys/"+sapporo+"/credentials/"+creds[0].AccessKeyID+"/revoke", nil); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	if creds, err := h.api.Keys.XKSCredentials(context.Background(), sapporo); err != nil || creds[0].RevokedAt == nil {
		t.Fatalf("after revoking: %+v %v", creds, err)
	}
}

// TestKeysSealedService: while sealed, the page says what custodians must
// do instead of failing, and the kill switch still shows.
func TestKeysSealedService(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withTenantKey(t, sapporo)
	if err := h.api.Keys.Seal(context.Background(), authz.Principal{PersonID: "p-op", Role: authz.CentralOperator}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    *browser
		want []string
	}{
		{"ok/administrator", h.as(t, authz.TenantAdmin, sapporo), []string{`id="keys-sealed"`, "hatoba keyd unseal", `data-killed="false"`, "0 of 2 shares submitted (3 made)"}},
		{"ok/key owner", h.keyOwner(t, sapporo), []string{`id="keys-sealed"`, `id="kill"`}},
		{"ok/member", h.as(t, authz.TenantMember, sapporo), []string{`data-key-sealed="true"`, "hatoba keyd unseal"}},
		{"ok/operator", h.as(t, authz.CentralOperator, ""), []string{`data-key-sealed="true"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.b.get(t, "/keys?lang=en")
			if r.status != http.StatusOK {
				t.Fatalf("GET /keys: %d\n%s", r.status, r.body)
			}
			mustContain(t, r.body, tc.want...)
			mustNotContain(t, r.body, `action="/keys/seal"`, `id="keys-table"`)
		})
	}
	// An owner's change while sealed is answered on the page, too.
	owner := h.keyOwner(t, sapporo)
	r := postForm(t, owner, "/keys/"+sapporo+"/keys/k1/rotate", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("rotate while sealed: %d", r.status)
	}
	mustContain(t, r.body, "custodians must submit their shares")
	// The kill switch works while sealed: a tenant can always stop its keys.
	if r := postForm(t, owner, "/keys/"+sapporo+"/kill", url.Values{"confirm": {sapporo}}); r.status != http.StatusSeeOther || !h.killed(t, sapporo) {
		t.Fatalf("kill while sealed: %d", r.status)
	}
}

// TestKeysOwnerActions: a key owner's forms do what they say.
func TestKeysOwnerActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withTenantKey(t, sapporo)
	owner := h.keyOwner(t, sapporo)
	page := owner.get(t, "/keys")
	mustContain(t, page.body, `id="create-key"`, `id="kill"`, `id="create-credential"`, `/keys/`+sapporo+`/keys/k1/rotate`)
	mustNotContain(t, page.body, `id="become-owner"`)
	for _, tc := range []struct {
		name  string
		path  string
		form  url.Values
		check func(keys.Key) bool
	}{
		{"ok/usage", "/keys/" + sapporo + "/keys/k1/usage", url.Values{"usage": {"decrypt_only"}}, func(k keys.Key) bool { return k.Usage == keys.UsageDecryptOnly }},
		{"ok/rotate", "/keys/" + sapporo + "/keys/k1/rotate", nil, func(k keys.Key) bool { return k.Version == 2 }},
		{"ok/disable", "/keys/" + sapporo + "/keys/k1/disable", nil, func(k keys.Key) bool { return k.State == keys.StateDisabled }},
		{"ok/enable", "/keys/" + sapporo + "/keys/k1/enable", nil, func(k keys.Key) bool { return k.State == keys.StateEnabled }},
	} {
		r := postForm(t, owner, tc.path, tc.form)
		if r.status != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", tc.name, r.status, r.body)
		}
		k, err := h.api.Keys.Key(context.Background(), sapporo, "k1")
		if err != nil || !tc.check(k) {
			t.Fatalf("%s: key %+v %v", tc.name, k, err)
		}
	}
	// Creating: a refused id is answered on the form.
	r := postForm(t, owner, "/keys/"+sapporo+"/keys", url.Values{"id": {"bad id/"}, "usage": {"encrypt_decrypt"}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad key id: %d", r.status)
	}
	mustContain(t, r.body, `class="error-summary"`, `value="bad id/"`)
	if r := postForm(t, owner, "/keys/"+sapporo+"/keys", url.Values{"id": {"k2"}, "description": {"税務"}, "usage": {"encrypt_only"}}); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, r.body)
	}
	if k, err := h.api.Keys.Key(context.Background(), sapporo, "k2"); err != nil || k.Usage != keys.UsageEncryptOnly || k.Description != "税務" {
		t.Fatalf("k2: %+v %v", k, err)
	}
	// The record shows the owner's changes.
	h.integrate(t)
	page = owner.get(t, "/keys/"+sapporo)
	mustContain(t, page.body, `data-action="key.rotate"`, `data-action="key.create"`, "鍵 オーナー")
}

// TestKeysNeedAFreshSecondFactor: an owner whose confirmation is stale is
// led to the security-key page, which returns to the keys.
func TestKeysNeedAFreshSecondFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withTenantKey(t, sapporo)
	owner := h.keyOwner(t, sapporo)
	h.clock.Add(10 * time.Minute)
	page := owner.get(t, "/keys")
	mustContain(t, page.body, `id="kill"`) // still offered: the key is asked for on the way
	r := postForm(t, owner, "/keys/"+sapporo+"/keys/k1/rotate", nil)
	if r.status != http.StatusForbidden {
		t.Fatalf("rotate with a stale confirmation: %d", r.status)
	}
	mustContain(t, r.body, `/login/second-factor?next=%2Fkeys%2F`+sapporo)
	if k, err := h.api.Keys.Key(context.Background(), sapporo, "k1"); err != nil || k.Version != 1 {
		t.Fatalf("rotated anyway: %+v %v", k, err)
	}
}

// TestKeyOwnerDesignation: on the people page a tenant's administrator
// designates another administrator key owner; members are not offered.
func TestKeyOwnerDesignation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	admin := h.as(t, authz.TenantAdmin, sapporo)
	other := h.named(t, authz.TenantAdmin, sapporo, "札幌 二郎", true)
	member := h.as(t, authz.TenantMember, sapporo)
	page := admin.get(t, "/people")
	mustContain(t, page.body, `action="/people/`+other.person.ID+`/key-owner"`)
	mustNotContain(t, page.body, `action="/people/`+member.person.ID+`/key-owner"`)
	r := admin.post(t, "/people/"+other.person.ID+"/key-owner", url.Values{csrfField: {admin.csrf()}, "owner": {"true"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("designate: %d\n%s", r.status, r.body)
	}
	p, err := h.ids.Person(context.Background(), other.person.ID)
	if err != nil || !p.KeyOwner {
		t.Fatalf("after designating: %+v %v", p, err)
	}
	page = admin.get(t, "/people")
	mustContain(t, page.body, `data-key-owner="`+other.person.ID+`"`)
	// The new owner now has the owner's forms.
	mustContain(t, other.get(t, "/keys").body, `id="kill"`)
	// Neither operators nor members are offered the button, and refused.
	for _, b := range []*browser{h.as(t, authz.CentralOperator, ""), member} {
		if page := b.get(t, "/people"); strings.Contains(page.body, "/key-owner") {
			t.Errorf("%s is offered the key owner button", b.person.Role)
		}
		if r := b.post(t, "/people/"+other.person.ID+"/key-owner", url.Values{csrfField: {b.csrf()}, "owner": {"false"}}); r.status != http.StatusForbidden {
			t.Errorf("%s designating: %d, want 403", b.person.Role, r.status)
		}
	}
}

// TestKeysAuditor: a central auditor reads any organisation's keys,
// chosen by id, and is offered nothing to change.
func TestKeysAuditor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withTenantKey(t, sapporo)
	aud := h.as(t, authz.CentralAuditor, "")
	page := aud.get(t, "/keys?lang=en")
	mustContain(t, page.body, `<form class="filter" method="get" action="/keys">`, `data-key-sealed="false"`)
	mustNotContain(t, page.body, `id="keys-table"`, `action="/keys/seal"`)
	r := aud.get(t, "/keys?org="+sapporo)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/keys/"+sapporo {
		t.Fatalf("choosing %s: %d %q", sapporo, r.status, r.header.Get("Location"))
	}
	page = aud.get(t, "/keys/"+sapporo)
	mustContain(t, page.body, `data-key="k1"`, `data-killed="false"`, `id="xks-table"`)
	mustNotContain(t, page.body, `id="kill"`, `id="create-key"`, `/rotate"`, `id="become-owner"`) // an auditor cannot become one
	if r := postForm(t, aud, "/keys/"+sapporo+"/kill", url.Values{"confirm": {sapporo}}); r.status != http.StatusForbidden {
		t.Fatalf("auditor pulling the kill switch: %d", r.status)
	}
}
