package web

import (
	"io/fs"
	"regexp"
	"sort"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/breakglass"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/envaccess"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// TestCataloguesHaveTheSameKeys fails when a message exists in one language only.
func TestCataloguesHaveTheSameKeys(t *testing.T) {
	t.Parallel()
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	base := cats[languages[0]]
	for _, l := range languages[1:] {
		for k := range base {
			if _, ok := cats[l][k]; !ok {
				t.Errorf("%q is in %s but not in %s", k, languages[0], l)
			}
		}
		for k := range cats[l] {
			if _, ok := base[k]; !ok {
				t.Errorf("%q is in %s but not in %s", k, l, languages[0])
			}
		}
	}
	for _, l := range languages {
		for k, v := range cats[l] {
			if v == "" {
				t.Errorf("%s: %q is empty", l, k)
			}
		}
	}
}

// TestCatalogueNamesTheDomain fails when a state, step, kind or other value
// the pages show has no name in the catalogue (the page would show the raw
// value).
func TestCatalogueNamesTheDomain(t *testing.T) {
	t.Parallel()
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	add := func(prefix string, values ...string) {
		for _, v := range values {
			keys = append(keys, prefix+"."+v)
		}
	}
	for _, s := range env.States {
		add("state", string(s))
		add("event", string(s))
	}
	add("event", "requested", "account_active", "moved", "transferred")
	add("stepstate", string(env.StepPending), string(env.StepRunning), string(env.StepDone), string(env.StepFailed))
	add("step", vending.StepNames()...)
	for _, p := range env.Purposes {
		add("purpose", string(p))
	}
	for _, c := range env.Classifications {
		add("classification", string(c))
		add("classification_help", string(c))
	}
	for _, k := range org.Kinds {
		add("kind", string(k))
	}
	for n := range notices {
		add("notice", n)
	}
	for n := range plainNotices {
		add("notice", n)
	}
	for _, r := range authz.Roles {
		add("role", string(r))
	}
	add("personstate", string(identity.Invited), string(identity.Active), string(identity.Disabled))
	for _, code := range refusalCodes {
		add("cert.refused", string(code))
	}
	for _, st := range []string{"open", "unknown", "used", "expired", "registered", "refused"} {
		add("invitation."+st, "title", "text")
	}
	for _, e := range []string{"not_found", "invalid", "conflict", "forbidden", "unavailable", "internal", "csrf", "too_large", "bad_form",
		"unauthenticated", "second_factor", "second_factor_again"} {
		add("error."+e, "title", "text")
	}
	for _, st := range []breakglass.State{breakglass.Pending, breakglass.Active, breakglass.Denied, breakglass.Revoked, breakglass.Expired, breakglass.Withdrew} {
		add("accessstate", string(st))
	}
	for _, st := range []envaccess.State{envaccess.Pending, envaccess.Applied, envaccess.Removing, envaccess.Failed} {
		add("assignstate", string(st))
	}
	for _, set := range envaccess.Sets {
		add("permset", string(set))
		add("permset_help", string(set))
	}
	add("access.step", "filed", "tenant_approved", "operator_approved", "granted", "expires", "expired",
		string(breakglass.Denied), string(breakglass.Revoked), string(breakglass.Withdrew))
	for _, d := range []string{"approve", "deny"} {
		add("access", "confirm_"+d, "confirm_"+d+"_lead", "confirm_"+d+"_submit")
	}
	add("audit.scope", "all", "tenant", "platform")
	// Every action the log records has a name on the audit page; env's
	// history events are logged as env.<event>.
	for _, st := range env.States {
		add("auditaction", "env."+string(st))
	}
	add("auditaction", "env.requested", "env.account_active", "env.moved", "env.transferred", "env.step.done", "env.step.failed",
		"env.access.assign", "env.access.unassign", "env.access.applied", "env.access.removed", "env.access.failed",
		"access.request", "access.approve", "access.deny", "access.grant", "access.revoke", "access.expire",
		"session.login", "session.logout", "session.second_factor", "person.invite", "person.certificate.bind",
		"mfa.credential.register", "mfa.credential.remove", "mfa.assertion", "org.create", "org.billing", "org.quota", "org.import")
	for _, s := range controls.Severities {
		add("severity", string(s))
	}
	for _, k := range controlKinds {
		add("controlkind", string(k))
	}
	add("mode", string(assignments.Detect), string(assignments.Enforce))
	add("exceptionstatus", string(assignments.Requested), string(assignments.Approved), string(assignments.Rejected), string(assignments.Expired))
	add("auditaction", "control.assign", "control.promote", "control.unassign",
		"control.exception.request", "control.exception.approve", "control.exception.reject")
	add("auditaction", "notify.channel.create", "notify.channel.update", "notify.channel.delete", "notify.channel.test",
		"notify.delivery.retry", "notify.suppression.create", "notify.suppression.lift", "notify.ingest-token.create",
		"notify.notice.send", "notify.notice.acknowledge", "notify.notice.fix", "notify.digest.create", "notify.settings.update")
	add("notifystate", notify.Pending, notify.Sending, notify.Delivered, notify.Dead)
	add("notifykind", string(notify.Webhook), string(notify.Slack), string(notify.Teams), string(notify.Email))
	add("notifyperiod", notify.Daily, notify.Weekly)
	add("noticestate", "sent", "acknowledged", "fixed")
	add("notifydeliverykind", "events", "test", "digest", "notice")
	add("lang", "name")
	for _, l := range languages {
		for _, k := range keys {
			if _, ok := cats[l][k]; !ok {
				t.Errorf("%s: no message %q", l, k)
			}
		}
	}
}

// TestTemplatesUseKnownKeys fails when a template asks for a message the
// catalogue lacks.
func TestTemplatesUseKnownKeys(t *testing.T) {
	t.Parallel()
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\{\{-?\s*tf? "([^"]+)"|\(tf? "([^"]+)"`)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := fs.ReadFile(templateFS, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			key := m[1] + m[2]
			seen[key] = true
			if _, ok := cats[languages[0]][key]; !ok {
				t.Errorf("%s uses %q, which is not in the catalogue", f, key)
			}
		}
	}
	if len(seen) < 100 {
		keys := make([]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("found only %d keys in the templates; is the pattern stale? %v", len(seen), keys)
	}
}
