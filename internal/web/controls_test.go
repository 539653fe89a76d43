package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// testOperator is who the harness's helpers assign controls as.
var testOperator = authz.Principal{PersonID: "test-operator", Role: authz.CentralOperator}

// assignControl assigns a control to an organisation ("" for every one)
// in detect mode and returns the assignment's id.
func (h *harness) assignControl(t testing.TB, controlID, orgID string) string {
	t.Helper()
	a, err := h.api.Assignments.Assign(context.Background(), testOperator, controlID, orgID)
	if err != nil {
		t.Fatalf("assign %s to %q: %v", controlID, orgID, err)
	}
	return a.ID
}

// askException files an exception for an environment from a control,
// for a day, and returns its id.
func (h *harness) askException(t testing.TB, envID, orgID, controlID string) string {
	t.Helper()
	x, err := h.api.Assignments.RequestException(context.Background(), authz.Principal{PersonID: "test-admin", Role: authz.TenantAdmin, OrgID: orgID},
		envID, orgID, controlID, "the test needs an exception", time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatalf("exception for %s: %v", envID, err)
	}
	return x.ID
}

// iamUser is a resource that fails aws-iam-no-users (preventive and
// detective).
func iamUser(name string) controls.Resource {
	return controls.Resource{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::111111111111:user/" + name,
		Region: "ap-northeast-1", Config: map[string]any{"name": name}}
}

// postureEnv makes an environment of orgID whose inventory holds an IAM
// user, evaluated as the collector would.
func (h *harness) postureEnv(t testing.TB, orgID, system string) env.Environment {
	t.Helper()
	e := h.request(t, orgID, system, env.Level2)
	if _, err := h.api.Posture.Record(context.Background(), e.ID, orgID, []controls.Resource{iamUser("alice")}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestControlCatalog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	member := h.as(t, authz.TenantMember, sapporo)
	tests := []struct {
		name    string
		path    string
		status  int
		want    []string
		notWant []string
	}{
		{"ok/japanese", "/controls?lang=ja", http.StatusOK,
			[]string{"<h1>管理策</h1>", "IAM ユーザーを作らない", `href="/controls/aws-iam-no-users"`, "予防的", "NIST SP 800-53"}, nil},
		{"ok/english", "/controls?lang=en", http.StatusOK,
			[]string{"<h1>Controls</h1>", "No IAM users", "Preventive", "ISMAP"}, []string{"IAM ユーザーを作らない"}},
		{"ok/kind filter", "/controls?lang=en&kind=preventive", http.StatusOK,
			[]string{`data-control="aws-iam-no-users"`}, []string{`data-control="aws-root-mfa"`}},
		{"ok/kind filter detective only", "/controls?lang=en&kind=detective", http.StatusOK,
			[]string{`data-control="aws-root-mfa"`, `data-control="aws-iam-no-users"`}, nil},
		{"ok/severity filter", "/controls?lang=en&severity=informational", http.StatusOK,
			nil, []string{`data-control="aws-iam-no-users"`}},
		{"fail/unknown kind", "/controls?lang=en&kind=magic", http.StatusBadRequest,
			[]string{"There is no such kind of control"}, []string{`data-control=`}},
		{"fail/unknown severity", "/controls?lang=en&severity=dire", http.StatusBadRequest,
			[]string{"There is no such severity"}, nil},
		{"ok/detail japanese", "/controls/aws-iam-no-users?lang=ja", http.StatusOK,
			[]string{"是正方法", "package hatoba.controls.aws_iam_no_users", `id="control-policy"`, "この管理策はどこにも割り当てられていません。",
				`data-unverified="9.2.1"`, "未検証", "公表されている ISMAP 管理基準との対応を確認していない"}, nil},
		{"ok/detail english", "/controls/aws-iam-no-users?lang=en", http.StatusOK,
			[]string{"Remediation", "Delete the IAM user", "Policy (Rego)",
				`data-unverified="9.2.1"`, "Unverified", "Not traced to the published ISMAP control criteria"}, nil},
		{"fail/unknown control", "/controls/no-such-control", http.StatusNotFound, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := member.get(t, tt.path)
			if r.status != tt.status {
				t.Fatalf("GET %s: status %d, want %d\n%s", tt.path, r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want...)
			mustNotContain(t, r.body, tt.notWant...)
		})
	}
	// The severity filter keeps only that severity.
	r := member.get(t, "/controls?lang=en&severity=critical")
	for _, c := range h.api.Controls.Controls() {
		shown := strings.Contains(r.body, `data-control="`+c.ID+`"`)
		if shown != (c.Severity == controls.Critical) {
			t.Errorf("severity=critical: %s (%s) shown=%v", c.ID, c.Severity, shown)
		}
	}
	// A custom control an operator added is in the catalog at once.
	custom, err := controls.ParseMetadata([]byte(customControlMeta))
	if err != nil {
		t.Fatal(err)
	}
	custom.Policy, custom.Tests = customControlPolicy, customControlTests
	if _, _, err := h.api.Catalog.Add(context.Background(), "test-operator", custom); err != nil {
		t.Fatal(err)
	}
	mustContain(t, member.get(t, "/controls?lang=en").body, `data-control="custom-iam-user-no-admin-name"`, "No IAM user named admin")
	mustContain(t, member.get(t, "/controls/custom-iam-user-no-admin-name?lang=ja").body, "この環境で追加", "管理者という名前の IAM ユーザーを作らない")
	// Everyone signed in finds the page in the menu.
	mustContain(t, member.get(t, "/?lang=ja").body, `<a href="/controls">管理策</a>`)
}

// An operator assigns a control, reviews the impact of enforcing it,
// is refused without the exact confirmation and promotes it with it.
func TestOperatorPromotesAfterReviewingImpact(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	op := h.as(t, authz.CentralOperator, "")
	e := h.postureEnv(t, sapporo, "promote")

	page := op.get(t, "/controls/assignments?lang=en")
	mustContain(t, page.body, `id="assign"`, "No assignments yet.")
	form := formFields(t, page.body)
	form.Set("control_id", "aws-iam-no-users")
	form.Set("org_id", sapporo)
	if r := op.post(t, "/controls/assignments", form); r.status != http.StatusSeeOther {
		t.Fatalf("assign: status %d\n%s", r.status, r.body)
	}
	as, err := h.api.Assignments.List(context.Background(), nil)
	if err != nil || len(as) != 1 || as[0].Mode != assignments.Detect || as[0].OrgID != sapporo {
		t.Fatalf("assignments after assigning: %+v, %v", as, err)
	}
	id := as[0].ID

	tests := []struct {
		name   string
		form   url.Values
		status int
		want   []string
	}{
		{"assign/fail/again", url.Values{"control_id": {"aws-iam-no-users"}, "org_id": {sapporo}}, http.StatusConflict, []string{"already assigned"}},
		{"assign/fail/unknown org", url.Values{"control_id": {"aws-iam-no-users"}, "org_id": {"lg-999999"}}, http.StatusUnprocessableEntity, []string{"no organisation lg-999999"}},
		{"assign/fail/unknown control", url.Values{"control_id": {"nope"}, "org_id": {sapporo}}, http.StatusUnprocessableEntity, []string{`no control &#34;nope&#34;`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := formFields(t, page.body)
			for k, v := range tt.form {
				f[k] = v
			}
			r := op.post(t, "/controls/assignments?lang=en", f)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want...)
		})
	}

	list := op.get(t, "/controls/assignments?lang=en")
	mustContain(t, list.body, `data-assignment="`+id+`"`, `data-mode="detect"`, `href="/controls/assignments/`+id+`/impact"`, "Review impact")

	impact := op.get(t, "/controls/assignments/"+id+"/impact?lang=en")
	if impact.status != http.StatusOK {
		t.Fatalf("impact: status %d", impact.status)
	}
	mustContain(t, impact.body, `data-environments="1"`, `data-resources="1"`, `data-env="`+e.ID+`"`,
		"arn:aws:iam::111111111111:user/alice", `id="promote"`, "Failing this control: environments 1, resources 1.")

	promote := formFields(t, impact.body)
	for _, tt := range []struct {
		name    string
		confirm string
		status  int
		mode    assignments.Mode
	}{
		{"promote/fail/empty", "", http.StatusUnprocessableEntity, assignments.Detect},
		{"promote/fail/other id", "as-something", http.StatusUnprocessableEntity, assignments.Detect},
		{"promote/fail/the control's id", "aws-iam-no-users", http.StatusUnprocessableEntity, assignments.Detect},
		{"promote/ok", id, http.StatusSeeOther, assignments.Enforce},
	} {
		t.Run(tt.name, func(t *testing.T) {
			promote.Set("confirm", tt.confirm)
			r := op.post(t, "/controls/assignments/"+id+"/promote?lang=en", promote)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if tt.status == http.StatusUnprocessableEntity {
				mustContain(t, r.body, "The id typed is not the assignment&#39;s id", `aria-invalid="true"`)
			}
			a, err := h.api.Assignments.Get(context.Background(), id)
			if err != nil || a.Mode != tt.mode {
				t.Fatalf("mode %s (%v), want %s", a.Mode, err, tt.mode)
			}
		})
	}
	after := op.get(t, "/controls/assignments?lang=en&notice=control_promoted")
	mustContain(t, after.body, `data-mode="enforce"`, "The assignment now enforces.", "試験 central-operator")
	mustNotContain(t, after.body, `href="/controls/assignments/`+id+`/impact"`)
	mustContain(t, op.get(t, "/controls/assignments/"+id+"/impact?lang=en").body, `id="impact-enforced"`)

	// A control that only detects offers no promotion, and the service
	// refuses one.
	mfa := h.assignControl(t, "aws-root-mfa", "")
	list = op.get(t, "/controls/assignments?lang=en")
	mustContain(t, list.body, `data-assignment="`+mfa+`"`, "Every organisation")
	mustNotContain(t, list.body, `href="/controls/assignments/`+mfa+`/impact"`)
	detectOnly := op.get(t, "/controls/assignments/"+mfa+"/impact?lang=en")
	mustContain(t, detectOnly.body, `id="impact-detect-only"`)
	mustNotContain(t, detectOnly.body, `id="promote"`)
	promote.Set("confirm", mfa)
	if r := op.post(t, "/controls/assignments/"+mfa+"/promote", promote); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "not preventive") {
		t.Fatalf("promoting a detective control: status %d", r.status)
	}

	// The control's page says where it applies; removing it works.
	mustContain(t, op.get(t, "/controls/aws-iam-no-users?lang=en").body, `data-assignment="`+id+`"`, "Enforce")
	if r := op.post(t, "/controls/assignments/"+mfa+"/remove", promote); r.status != http.StatusSeeOther {
		t.Fatalf("remove: status %d", r.status)
	}
	if _, err := h.api.Assignments.Get(context.Background(), mfa); err == nil {
		t.Fatal("the assignment was not removed")
	}

	// A tenant sees the assignments that apply to it, and no forms.
	admin := h.as(t, authz.TenantAdmin, sapporo)
	seen := admin.get(t, "/controls/assignments?lang=en")
	mustContain(t, seen.body, `data-assignment="`+id+`"`)
	mustNotContain(t, seen.body, `id="assign"`, "/remove", "Review impact")
	if r := admin.get(t, "/controls/assignments/"+id+"/impact"); r.status != http.StatusForbidden {
		t.Errorf("a tenant's administrator on the impact page: status %d", r.status)
	}
}

// A tenant's administrator asks for an exception from a finding's
// control; an operator approves it.
func TestTenantAsksAndOperatorApprovesAnException(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e := h.postureEnv(t, sapporo, "exception")
	admin := h.as(t, authz.TenantAdmin, sapporo)
	page := admin.get(t, "/envs/"+e.ID+"/posture?lang=en")
	if page.status != http.StatusOK {
		t.Fatalf("posture: status %d", page.status)
	}
	mustContain(t, page.body, `action="/envs/`+e.ID+`/exceptions"`, "Ask for an exception", `id="collect"`,
		"arn:aws:iam::111111111111:user/alice", `href="/controls/aws-iam-no-users"`, `id="posture-score"`)

	tomorrow := time.Now().In(jst).AddDate(0, 0, 7).Format(time.DateOnly)
	tests := []struct {
		name   string
		form   url.Values
		status int
		want   string
		lang   string
	}{
		{"fail/short reason", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"because"}, "expires": {tomorrow}}, http.StatusUnprocessableEntity, "in 10 to 2,000 characters", "en"},
		// In the reader's language, on the form's field: not the
		// capability's English about expires_at.
		{"fail/short reason in japanese", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"because"}, "expires": {tomorrow}}, http.StatusUnprocessableEntity, "<li>例外が必要な理由を 10 文字以上 2,000 文字以内で書いてください。", "ja"},
		{"fail/too long in japanese", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"the batch job still needs its user"}, "expires": {"2099-01-01"}}, http.StatusUnprocessableEntity, "<li>期限は明日から 1 年以内の日付にしてください。", "ja"},
		{"fail/no date", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"the batch job still needs its user"}, "expires": {""}}, http.StatusUnprocessableEntity, "Give the expiry as a date", "en"},
		{"fail/too long", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"the batch job still needs its user"}, "expires": {"2099-01-01"}}, http.StatusUnprocessableEntity, "a year from now", "en"},
		{"ok", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"the batch job still needs its user"}, "expires": {tomorrow}}, http.StatusSeeOther, "", "en"},
		{"fail/again", url.Values{"control_id": {"aws-iam-no-users"}, "reason": {"the batch job still needs its user"}, "expires": {tomorrow}}, http.StatusConflict, "already has a requested or approved exception", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := formFields(t, page.body)
			for k, v := range tt.form {
				f[k] = v
			}
			r := admin.post(t, "/envs/"+e.ID+"/exceptions?lang="+tt.lang, f)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if tt.want != "" {
				mustContain(t, r.body, tt.want)
			}
		})
	}
	exs, err := h.api.Assignments.Exceptions(context.Background(), nil)
	if err != nil || len(exs) != 1 || exs[0].Status != assignments.Requested || exs[0].EnvID != e.ID {
		t.Fatalf("exceptions: %+v, %v", exs, err)
	}
	x := exs[0]
	if want := time.Now().In(jst).AddDate(0, 0, 8).Format(time.DateOnly); x.ExpiresAt.In(jst).Format(time.DateOnly) != want {
		t.Errorf("expires %s, want the end of the chosen day (%s 00:00 JST)", x.ExpiresAt.In(jst), want)
	}
	mustContain(t, admin.get(t, "/envs/"+e.ID+"/posture?lang=en").body, "badge--exception-requested")
	own := admin.get(t, "/controls/exceptions?lang=en")
	mustContain(t, own.body, `data-exception="`+x.ID+`"`, `data-status="requested"`, "the batch job still needs its user")
	mustNotContain(t, own.body, "/approve")

	op := h.as(t, authz.CentralOperator, "")
	queue := op.get(t, "/controls/exceptions?lang=ja")
	mustContain(t, queue.body, `action="/controls/exceptions/`+x.ID+`/approve"`, "申請中")
	f := formFields(t, queue.body)
	f.Set("note", "until the batch is rewritten")
	if r := op.post(t, "/controls/exceptions/"+x.ID+"/approve", f); r.status != http.StatusSeeOther {
		t.Fatalf("approve: status %d\n%s", r.status, r.body)
	}
	if r := op.post(t, "/controls/exceptions/"+x.ID+"/reject", f); r.status != http.StatusConflict {
		t.Errorf("rejecting a decided exception: status %d", r.status)
	}
	x, err = h.api.Assignments.GetException(context.Background(), x.ID)
	if err != nil || x.Status != assignments.Approved || x.Note != "until the batch is rewritten" {
		t.Fatalf("after approving: %+v, %v", x, err)
	}
	mustContain(t, admin.get(t, "/controls/exceptions?lang=en").body, `data-status="approved"`, "until the batch is rewritten")
	mustContain(t, admin.get(t, "/envs/"+e.ID+"/posture?lang=en").body, "badge--exception-approved")

	// The operator may not file one without a grant; the foreign tenant's
	// administrator sees nothing of it.
	if r := op.post(t, "/envs/"+e.ID+"/exceptions", f); r.status != http.StatusForbidden && r.status != http.StatusNotFound {
		t.Errorf("an operator without a grant asking: status %d", r.status)
	}
	foreign := h.as(t, authz.TenantAdmin, "nat-digital")
	mustNotContain(t, foreign.get(t, "/controls/exceptions").body, x.ID)
}

func TestPosturePage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e := h.postureEnv(t, sapporo, "posture")
	// Fixed since: alice is gone, bob is new.
	if _, err := h.api.Posture.Record(context.Background(), e.ID, sapporo, []controls.Resource{iamUser("bob")}); err != nil {
		t.Fatal(err)
	}
	member := h.as(t, authz.TenantMember, sapporo)
	admin := h.as(t, authz.TenantAdmin, sapporo)
	op := h.as(t, authz.CentralOperator, "")
	foreignAdmin := h.as(t, authz.TenantAdmin, "nat-digital")
	tests := []struct {
		name    string
		who     *browser
		path    string
		status  int
		want    []string
		notWant []string
	}{
		{"ok/member sees findings but no forms", member, "/envs/" + e.ID + "/posture?lang=en", http.StatusOK,
			[]string{"user/bob", `id="resolved"`, "Resolved findings (1)", "Open findings (1)", "No IAM users"},
			[]string{`/exceptions"`, `id="collect"`, "Ask for an exception"}},
		{"ok/japanese", member, "/envs/" + e.ID + "/posture?lang=ja", http.StatusOK,
			[]string{"コンプライアンス状況", "未解決の検出事項（1 件）",
				// The finding's message in Japanese, the user's name as data.
				`IAM ユーザー <span data-data>&#34;bob&#34;</span> がある（人は ID センターからサインインする）`},
			[]string{"people sign in through the identity center"}},
		{"ok/english message", member, "/envs/" + e.ID + "/posture?lang=en", http.StatusOK,
			[]string{`IAM user <span data-data>&#34;bob&#34;</span> exists; people sign in through the identity center`}, nil},
		{"ok/operator collects but asks for no exception", op, "/envs/" + e.ID + "/posture?lang=en", http.StatusOK,
			[]string{`id="collect"`}, []string{"Ask for an exception"}},
		// bob's finding is high, not critical: central staff without a
		// grant see the score and critical findings only, and are told.
		{"ok/operator sees critical findings only", op, "/envs/" + e.ID + "/posture?lang=en", http.StatusOK,
			[]string{`id="posture-critical-only"`, "critical findings only", `id="posture-score"`}, []string{"user/bob"}},
		{"ok/operator is told in japanese", op, "/envs/" + e.ID + "/posture?lang=ja", http.StatusOK,
			[]string{"重大度「緊急」の検出結果のみ"}, nil},
		{"ok/the tenant sees no such notice", member, "/envs/" + e.ID + "/posture?lang=en", http.StatusOK,
			[]string{"user/bob"}, []string{`id="posture-critical-only"`}},
		{"ok/admin", admin, "/envs/" + e.ID + "/posture?lang=en", http.StatusOK,
			[]string{`id="collect"`, "Ask for an exception"}, nil},
		{"fail/foreign tenant", foreignAdmin, "/envs/" + e.ID + "/posture", http.StatusNotFound, nil, []string{"user/bob"}},
		{"fail/no such environment", admin, "/envs/env-nothere/posture", http.StatusNotFound, nil, nil},
		{"ok/environment links to it", member, "/envs/" + e.ID + "?lang=en", http.StatusOK,
			[]string{`href="/envs/` + e.ID + `/posture"`}, nil},
		{"ok/organisation's score", admin, "/orgs/" + sapporo + "?lang=en", http.StatusOK,
			[]string{`id="org-posture"`, "1 environment:"}, nil},
		{"ok/parent's score counts the city", op, "/orgs/lg-010006?lang=en", http.StatusOK,
			[]string{`id="org-posture"`, "1 environment:"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.who.get(t, tt.path)
			if r.status != tt.status {
				t.Fatalf("GET %s: status %d, want %d\n%s", tt.path, r.status, tt.status, r.body)
			}
			mustContain(t, r.body, tt.want...)
			mustNotContain(t, r.body, tt.notWant...)
		})
	}

	// This server runs no collector: "collect now" says so.
	page := admin.get(t, "/envs/"+e.ID+"/posture")
	r := admin.post(t, "/envs/"+e.ID+"/posture/collect", formFields(t, page.body))
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "notice=posture_no_collector") {
		t.Fatalf("collect: status %d, Location %q", r.status, r.header.Get("Location"))
	}
	mustContain(t, admin.get(t, r.header.Get("Location")+"&lang=en").body, "This server runs no collector")
	if r := member.post(t, "/envs/"+e.ID+"/posture/collect", formFields(t, page.body)); r.status != http.StatusForbidden {
		t.Errorf("a member collecting: status %d", r.status)
	}

	// A never evaluated environment says so.
	fresh := h.request(t, sapporo, "fresh", env.Level2)
	mustContain(t, member.get(t, "/envs/"+fresh.ID+"/posture?lang=en").body, "has not been evaluated yet", "No open findings.")
}

// A custom control, as an operator would add it (internal/controls'
// custom_test.go has the same).
const customControlMeta = `id: custom-iam-user-no-admin-name
title: {ja: 管理者という名前の IAM ユーザーを作らない, en: No IAM user named admin}
description: {ja: 共有アカウントを避ける。, en: Shared accounts hide who did what.}
severity: medium
kinds: [detective]
resource_types: [aws_iam_user]
remediation: {ja: 個人のユーザーに置き換える。, en: Replace it with personal access.}
frameworks:
  nist_800_53: [AC-2]
`

const customControlPolicy = `package hatoba.controls.custom_iam_user_no_admin_name

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_iam_user")
	object.get(r.config, "name", "") == "admin"
	f := lib.finding(r, "IAM user admin is a shared account")
}
`

const customControlTests = `package hatoba.controls.custom_iam_user_no_admin_name_test

import data.hatoba.controls.custom_iam_user_no_admin_name as c
import rego.v1

test_admin_is_denied if {
	count(c.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_iam_user", "id": "u1", "config": {"name": "admin"}}]}
}

test_alice_passes if {
	count(c.deny) == 0 with input as {"hatoba_resources": [{"type": "aws_iam_user", "id": "u2", "config": {"name": "alice"}}]}
}
`
