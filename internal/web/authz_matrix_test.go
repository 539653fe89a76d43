package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The callers of the console's matrix. Tenant roles belong to lg-011002
// (Sapporo, the own tenant, with a ward under it); nat-digital is the
// foreign tenant. operator+grant holds a break-glass grant for lg-011002
// only.
const (
	anon     = "anonymous"
	operator = "operator"
	granted  = "operator+grant"
	auditor  = "auditor"
	admin    = "tenant-admin"
	member   = "tenant-member"
	// owner is a tenant administrator its organisation's key owner. Where
	// a row names no owner, the owner gets what an administrator gets.
	owner = "key-owner"
)

var callers = []string{anon, operator, granted, auditor, admin, member, owner}

var (
	everyone = []string{anon, operator, granted, auditor, admin, member}
	signedIn = []string{operator, granted, auditor, admin, member}
	central  = []string{operator, granted, auditor}
)

// consoleExpect says who gets through, on the own tenant's resource and on
// the foreign tenant's. Written out by hand, independently of authz's
// policy, so a change to either that the other does not share fails here.
type consoleExpect struct {
	own, foreign []string
	// form is the POST form ({org} is the tenant's organisation, {n} a
	// counter); json is a webauthn endpoint's body.
	form url.Values
	json string
}

var consoleMatrix = map[string]consoleExpect{
	"GET /{$}":       {own: signedIn, foreign: signedIn},
	"GET /orgs":      {own: signedIn, foreign: signedIn},
	"GET /orgs/{id}": {own: signedIn, foreign: central},
	"GET /envs":      {own: signedIn, foreign: signedIn},
	"GET /envs/new":  {own: []string{granted, admin}, foreign: []string{granted, admin}},
	"POST /envs":     {own: []string{granted, admin}, foreign: nil, form: url.Values{"org_id": {"{org}"}, "system_name": {"sys{n}"}, "purpose": {"production"}, "classification": {"level2"}, "provider": {"sim"}, "idempotency_key": {"matrix-{n}"}}},
	"GET /envs/{id}": {own: signedIn, foreign: central},
	"GET /approvals": {own: central, foreign: central},
	"GET /providers": {own: signedIn, foreign: signedIn},
	// Central operators only; the stale version changes nothing.
	"POST /providers/placement":      {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"version": {"0"}, "rules": {"0"}}},
	"GET /people":                    {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor, admin}},
	"POST /people":                   {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, form: url.Values{"role": {"tenant-admin"}, "org_id": {"{org}"}, "display_name": {"新任 {n}"}}},
	"POST /people/{id}/disable":      {own: []string{admin}, foreign: nil, form: url.Values{}},
	"POST /people/{id}/enable":       {own: []string{admin}, foreign: nil, form: url.Values{}},
	"GET /account":                   {own: signedIn, foreign: signedIn},
	"GET /login":                     {own: everyone, foreign: everyone},
	"POST /login":                    {own: everyone, foreign: everyone, form: url.Values{"next": {"/envs"}}},
	"POST /logout":                   {own: signedIn, foreign: signedIn, form: url.Values{}},
	"GET /static/":                   {own: everyone, foreign: everyone},
	"/":                              {own: everyone, foreign: everyone},
	"GET /login/second-factor":       {own: signedIn, foreign: signedIn},
	"GET /invitations/{token}":       {own: everyone, foreign: everyone},
	"POST /invitations/{token}":      {own: everyone, foreign: everyone, form: url.Values{}},
	"GET /static/webauthn.js":        {own: everyone, foreign: everyone},
	"POST /envs/{id}/approve":        {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"from": {"/approvals"}}},
	"POST /envs/{id}/reject":         {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"reason": {"matrix"}}},
	"POST /envs/{id}/retry":          {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, form: url.Values{}},
	"POST /envs/{id}/transfer":       {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"org_id": {"nat-digital"}}},
	"POST /envs/{id}/close":          {own: []string{granted, admin}, foreign: nil, form: url.Values{}},
	"POST /account/keys/{id}/remove": {own: signedIn, foreign: signedIn, form: url.Values{}},
	"POST /webauthn/register/begin":  {own: signedIn, foreign: signedIn, json: `{}`},
	"POST /webauthn/register/finish": {own: signedIn, foreign: signedIn, json: `{"ceremony":"matrix","credential":{"id":"x"}}`},
	"POST /webauthn/assert/begin":    {own: signedIn, foreign: signedIn, json: `{}`},
	"POST /webauthn/assert/finish":   {own: signedIn, foreign: signedIn, json: `{"ceremony":"matrix","credential":{"id":"x"}}`},

	// Who holds an environment's permission sets: read as the environment,
	// changed by the tenant's administrators or an operator under a grant.
	// The matrix's environments wait for approval, so an allowed
	// assignment gets as far as "not ready yet" (409).
	"GET /envs/{id}/access":                     {own: signedIn, foreign: central},
	"POST /envs/{id}/access":                    {own: []string{granted, admin}, foreign: nil, form: url.Values{"person_id": {"{person}"}, "permission_set": {"administrator"}}},
	"POST /envs/{id}/access/{person_id}/remove": {own: []string{granted, admin}, foreign: nil, form: url.Values{}},

	// Break-glass: operators and auditors see every request, a tenant's
	// administrators those about their subtree; operators file; operators
	// and the tenant's administrators decide (with a key they lack here:
	// 409) and revoke.
	"GET /access":                      {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor, admin}},
	"POST /access":                     {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"org_id": {"{org}"}, "reason": {"matrix: look at the failed vending"}, "duration": {"1h"}}},
	"GET /access/{id}":                 {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor}},
	"POST /access/{id}/approve":        {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, form: url.Values{"note": {"ok"}}},
	"POST /access/{id}/deny":           {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, form: url.Values{}},
	"POST /access/{id}/approve/begin":  {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, json: `{}`},
	"POST /access/{id}/approve/finish": {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, json: `{"ceremony":"matrix","credential":{"id":"x"}}`},
	"POST /access/{id}/deny/begin":     {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, json: `{}`},
	"POST /access/{id}/deny/finish":    {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, json: `{"ceremony":"matrix","credential":{"id":"x"}}`},
	"POST /access/{id}/revoke":         {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, form: url.Values{}},
	"GET /audit":                       {own: signedIn, foreign: signedIn},
	"GET /backups":                     {own: central, foreign: central},

	// Notifications: the inbox for the tenant's people and central staff;
	// channels, outbox and suppressions shown to the tenant, auditors and an
	// operator under a grant; test sends and resends (409: not dead) by
	// the tenant's administrators or an operator under a grant, who also
	// answer central's notices (a second answer clashes: 409).
	"GET /notify":           {own: signedIn, foreign: signedIn},
	"GET /orgs/{id}/notify": {own: signedIn, foreign: central},
	"POST /orgs/{id}/notify/channels/{channel}/test":      {own: []string{granted, admin}, foreign: nil, form: url.Values{}},
	"POST /orgs/{id}/notify/deliveries/{delivery}/retry":  {own: []string{granted, admin}, foreign: nil, form: url.Values{}},
	"POST /orgs/{id}/notify/notices/{notice}/acknowledge": {own: []string{granted, admin}, foreign: nil, form: url.Values{}},
	"POST /orgs/{id}/notify/notices/{notice}/fix":         {own: []string{granted, admin}, foreign: nil, form: url.Values{"note": {"fixed for the matrix"}}},

	// The key service: its state for everyone, sealing for operators; a
	// tenant's keys read by its administrators and the auditors, changed
	// only by its key owner — never by central staff, grant or not.
	"GET /keys":                                  {own: signedIn, foreign: signedIn},
	"POST /keys/seal":                            {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"confirm": {"yes"}}},
	"GET /keys/{org}":                            {own: []string{auditor, admin}, foreign: []string{auditor}},
	"POST /keys/{org}/keys":                      {own: []string{owner}, foreign: nil, form: url.Values{"id": {"new-{n}"}, "usage": {"encrypt_decrypt"}}},
	"POST /keys/{org}/keys/{key}/usage":          {own: []string{owner}, foreign: nil, form: url.Values{"usage": {"encrypt_only"}}},
	"POST /keys/{org}/keys/{key}/rotate":         {own: []string{owner}, foreign: nil, form: url.Values{}},
	"POST /keys/{org}/keys/{key}/disable":        {own: []string{owner}, foreign: nil, form: url.Values{}},
	"POST /keys/{org}/keys/{key}/enable":         {own: []string{owner}, foreign: nil, form: url.Values{}},
	"POST /keys/{org}/credentials":               {own: []string{owner}, foreign: nil, form: url.Values{}},
	"POST /keys/{org}/credentials/{akid}/revoke": {own: []string{owner}, foreign: nil, form: url.Values{}},
	"POST /keys/{org}/kill":                      {own: []string{owner}, foreign: nil, form: url.Values{"confirm": {"{org}"}}},
	"POST /keys/{org}/revive":                    {own: []string{owner}, foreign: nil, form: url.Values{}},
	// Designating key owners: the tenant's administrators (the matrix's
	// target is a member, so identity refuses with 400 after authz let
	// it through).
	"POST /people/{id}/key-owner": {own: []string{admin}, foreign: nil, form: url.Values{"owner": {"true"}}},

	// The controls: the catalog and the assignments for everyone signed
	// in; assigning, promoting (refused here for want of the confirmation:
	// 422), removing and deciding exceptions for central operators, on any
	// tenant; exceptions read by operators, auditors and the tenant's
	// administrators. Posture is read like the environment, collected by
	// operators and the tenant's administrators (this server runs no
	// collector: a notice), and exceptions are asked for by the tenant's
	// administrators or an operator under a grant (a second request for
	// the same control clashes: 409).
	"GET /controls":                           {own: signedIn, foreign: signedIn},
	"GET /controls/{id}":                      {own: signedIn, foreign: signedIn},
	"GET /controls/assignments":               {own: signedIn, foreign: signedIn},
	"POST /controls/assignments":              {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"control_id": {"aws-root-mfa"}, "org_id": {"{org}"}}},
	"GET /controls/assignments/{id}/impact":   {own: []string{operator, granted}, foreign: []string{operator, granted}},
	"POST /controls/assignments/{id}/promote": {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"confirm": {"not-the-id"}}},
	"POST /controls/assignments/{id}/remove":  {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{}},
	"GET /controls/exceptions":                {own: []string{operator, granted, auditor, admin}, foreign: []string{operator, granted, auditor, admin}},
	"POST /controls/exceptions/{id}/approve":  {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{"note": {"matrix"}}},
	"POST /controls/exceptions/{id}/reject":   {own: []string{operator, granted}, foreign: []string{operator, granted}, form: url.Values{}},
	"GET /envs/{id}/posture":                  {own: signedIn, foreign: central},
	"GET /envs/{id}/sovereignty":              {own: signedIn, foreign: central},
	"GET /sovereignty":                        {own: signedIn, foreign: signedIn},
	"POST /envs/{id}/posture/collect":         {own: []string{operator, granted, admin}, foreign: []string{operator, granted}, form: url.Values{}},
	"POST /envs/{id}/exceptions":              {own: []string{granted, admin}, foreign: nil, form: url.Values{"control_id": {"aws-root-mfa"}, "reason": {"matrix: the root account is shared"}, "expires": {"{tomorrow}"}}},
}

// splitPattern is a route pattern's method (GET when it names none) and path.
func splitPattern(pattern string) (string, string) {
	if method, path, ok := strings.Cut(pattern, " "); ok {
		return method, path
	}
	return http.MethodGet, pattern
}

// TestRouteRoleTenantMatrix calls every route of the console as every
// role, on the own tenant's resources and on a foreign tenant's, and
// checks who gets through the guard and the handler's own decision. A
// route added without a row fails the test.
func TestRouteRoleTenantMatrix(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			routeRoleTenantMatrix(t, newHarnessOn(t, d))
		})
	}
}

func routeRoleTenantMatrix(t *testing.T, h *harness) {
	tenants := map[string]string{"own": "lg-011002", "foreign": "nat-digital"}
	// One environment waiting for approval, one member and one
	// break-glass request (filed by an operator who calls nothing) in each
	// tenant.
	envOf, personOf, accessOf, akidOf := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	assignmentOf, exceptionOf := map[string]string{}, map[string]string{}
	filer := h.as(t, authz.CentralOperator, "")
	for side, orgID := range tenants {
		envOf[side] = h.request(t, orgID, "matrix "+side, env.Level3).ID
		personOf[side] = h.as(t, authz.TenantMember, orgID).person.ID
		req, err := h.api.BreakGlass.File(context.Background(), authz.Principal{PersonID: filer.person.ID, Role: authz.CentralOperator},
			orgID, "matrix: look at the failed vending", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		accessOf[side] = req.ID
		akidOf[side] = h.withTenantKey(t, orgID)
		assignmentOf[side] = h.assignControl(t, "aws-iam-no-users", orgID)
		exceptionOf[side] = h.askException(t, envOf[side], orgID, "aws-iam-no-users")
	}
	roleOf := map[string]authz.Role{operator: authz.CentralOperator, granted: authz.CentralOperator, auditor: authz.CentralAuditor,
		admin: authz.TenantAdmin, member: authz.TenantMember, owner: authz.TenantAdmin}
	// Each call gets a fresh person: some routes sign out or change them.
	caller := func(who string) *browser {
		if who == anon {
			return h.anonymous(t)
		}
		if who == owner {
			return h.keyOwner(t, tenants["own"])
		}
		orgID := ""
		if !roleOf[who].Central() {
			orgID = tenants["own"]
		}
		b := h.as(t, roleOf[who], orgID)
		if who == granted {
			h.grant(b.person.ID, tenants["own"])
		}
		return b
	}

	n := 0
	for _, rt := range routes {
		ex, ok := consoleMatrix[rt.pattern]
		if !ok {
			t.Errorf("%s has no row in the console's authorization matrix: add one saying who may use it", rt.pattern)
			continue
		}
		method, path := splitPattern(rt.pattern)
		switch {
		case strings.HasPrefix(path, "/envs/{id}"), strings.HasPrefix(path, "/orgs/{id}"),
			path == "/invitations/{token}", path == "/account/keys/{id}/remove", strings.HasPrefix(path, "/people/{id}/"):
		case path == "/{$}":
			path = "/"
		case path == "/static/":
			path = "/static/console.css"
		case path == "/":
			path = "/nowhere"
		}
		for _, side := range []string{"own", "foreign"} {
			allowed := ex.own
			if side == "foreign" {
				allowed = ex.foreign
			}
			if !slices.Contains(ex.own, owner) && !slices.Contains(ex.foreign, owner) && slices.Contains(allowed, admin) {
				allowed = append(slices.Clone(allowed), owner)
			}
			for _, who := range callers {
				n++
				if rt.pattern == "POST /controls/assignments/{id}/remove" {
					// The last caller may have removed it.
					if _, err := h.api.Assignments.Get(context.Background(), assignmentOf[side]); err != nil {
						assignmentOf[side] = h.assignControl(t, "aws-iam-no-users", tenants[side])
					}
				}
				p := path
				p = strings.Replace(p, "/controls/assignments/{id}", "/controls/assignments/"+assignmentOf[side], 1)
				p = strings.Replace(p, "/controls/exceptions/{id}", "/controls/exceptions/"+exceptionOf[side], 1)
				p = strings.Replace(p, "/controls/{id}", "/controls/aws-iam-no-users", 1)
				p = strings.Replace(p, "/envs/{id}", "/envs/"+envOf[side], 1)
				p = strings.Replace(p, "/orgs/{id}", "/orgs/"+tenants[side], 1)
				p = strings.Replace(p, "{token}", "hbi_matrix", 1)
				p = strings.Replace(p, "/keys/{id}/", "/keys/AAAA/", 1)
				p = strings.Replace(p, "/access/{id}", "/access/"+accessOf[side], 1)
				p = strings.Replace(p, "{person_id}", personOf[side], 1)
				p = strings.Replace(p, "/people/{id}/", "/people/"+personOf[side]+"/", 1)
				p = strings.Replace(p, "/keys/{org}", "/keys/"+tenants[side], 1)
				p = strings.Replace(p, "{key}", "k1", 1)
				p = strings.Replace(p, "{akid}", akidOf[side], 1)
				if strings.Contains(p, "/notify/") {
					ch, dl, nt := h.seedNotify(t, tenants[side], envOf[side])
					p = strings.NewReplacer("{channel}", ch, "{delivery}", dl, "{notice}", nt).Replace(p)
				}
				b := caller(who)
				var r response
				switch {
				case method == http.MethodGet:
					r = b.get(t, p)
				case ex.json != "":
					r = b.postJSON(t, p, []byte(ex.json))
				default:
					form := url.Values{csrfField: {b.csrf()}}
					for k, vs := range ex.form {
						for _, v := range vs {
							form.Add(k, strings.NewReplacer("{org}", tenants[side], "{n}", fmt.Sprint(n), "{person}", personOf[side],
								"{tomorrow}", time.Now().In(jst).AddDate(0, 0, 1).Format(time.DateOnly)).Replace(v))
						}
					}
					r = b.post(t, p, form)
				}
				if rt.pattern == "POST /keys/seal" && r.status == http.StatusSeeOther {
					b.h.unsealKeys(t) // the rest of the matrix needs the keys
				}
				loc := r.header.Get("Location")
				guarded := r.status == http.StatusUnauthorized ||
					(r.status == http.StatusSeeOther && (strings.HasPrefix(loc, "/login?next=") || strings.HasPrefix(loc, "/login/second-factor")))
				passed := !guarded
				if rt.action != authz.Public {
					passed = passed && r.status != http.StatusForbidden && r.status != http.StatusNotFound
				}
				want := slices.Contains(allowed, who)
				if passed != want {
					t.Errorf("%s on the %s tenant's resource as %s: status %d (Location %q), want allowed=%v", rt.pattern, side, who, r.status, loc, want)
				}
				if who == anon && rt.action != authz.Public {
					wantStatus := http.StatusUnauthorized
					if method == http.MethodGet {
						wantStatus = http.StatusSeeOther
					}
					if r.status != wantStatus {
						t.Errorf("%s as nobody: status %d, want %d", rt.pattern, r.status, wantStatus)
					}
				}
			}
		}
	}
	// The matrix must not describe routes that are gone.
	for pattern := range consoleMatrix {
		if !slices.ContainsFunc(routes, func(rt route) bool { return rt.pattern == pattern }) {
			t.Errorf("matrix row %s names no route", pattern)
		}
	}
}

// TestEveryRouteNamesAnAction keeps the route table honest: an action
// authz knows (or Public), and a pattern registered once.
func TestEveryRouteNamesAnAction(t *testing.T) {
	t.Parallel()
	known := authz.Actions()
	seen := map[string]bool{}
	for _, rt := range routes {
		if rt.action != authz.Public && !slices.Contains(known, rt.action) {
			t.Errorf("%s names %q, which authz has no rule for", rt.pattern, rt.action)
		}
		if seen[rt.pattern] {
			t.Errorf("%s is in the route table twice", rt.pattern)
		}
		seen[rt.pattern] = true
		method, _ := splitPattern(rt.pattern)
		if rt.flags&jsonReplies != 0 && method != http.MethodPost {
			t.Errorf("%s answers JSON but is not a POST", rt.pattern)
		}
	}
}
