package controls_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

const customMeta = `id: custom-iam-user-no-admin-name
title: {ja: 管理者という名前の IAM ユーザーを作らない, en: No IAM user named admin}
description: {ja: 共有アカウントを避ける。, en: Shared accounts hide who did what.}
severity: medium
kinds: [detective]
resource_types: [aws_iam_user]
remediation: {ja: 個人のユーザーに置き換える。, en: Replace it with personal access.}
frameworks:
  nist_800_53: [AC-2]
`

const customPolicy = `package hatoba.controls.custom_iam_user_no_admin_name

import data.hatoba.lib
import rego.v1

deny contains f if {
	some r in lib.of_type("aws_iam_user")
	object.get(r.config, "name", "") == "admin"
	f := lib.finding(r, "IAM user admin is a shared account")
}
`

const customTests = `package hatoba.controls.custom_iam_user_no_admin_name_test

import data.hatoba.controls.custom_iam_user_no_admin_name as c
import rego.v1

test_admin_is_denied if {
	count(c.deny) == 1 with input as {"hatoba_resources": [{"type": "aws_iam_user", "id": "u1", "config": {"name": "admin"}}]}
}

test_alice_passes if {
	count(c.deny) == 0 with input as {"hatoba_resources": [{"type": "aws_iam_user", "id": "u2", "config": {"name": "alice"}}]}
}
`

// CustomControl is a good custom control with its policy and tests.
func customControl(t *testing.T) controls.Control {
	t.Helper()
	c, err := controls.ParseMetadata([]byte(customMeta))
	if err != nil {
		t.Fatal(err)
	}
	c.Policy, c.Tests = customPolicy, customTests
	return c
}

func TestCustomControls(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cat, err := controls.OpenCatalog(ctx, controls.NewStore(db, func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }))
		if err != nil {
			t.Fatal(err)
		}
		before := cat.Engine()
		good := customControl(t)
		tests := []struct {
			name   string
			change func(*controls.Control)
			kind   fault.Kind
			want   string
		}{
			{"fail/does not parse", func(c *controls.Control) {
				c.Policy = strings.Replace(c.Policy, "deny contains f if {", "deny contains f if {{", 1)
			}, fault.Invalid, "rego_parse_error"},
			{"fail/does not compile", func(c *controls.Control) {
				c.Policy = strings.Replace(c.Policy, "lib.finding(", "lib.no_such_rule(", 1)
			}, fault.Invalid, "rego_type_error"},
			{"fail/reaches the network", func(c *controls.Control) {
				c.Policy = strings.Replace(c.Policy, `object.get(r.config, "name", "") == "admin"`, `http.send({"method": "GET", "url": "http://example.invalid"}).status_code == 200`, 1)
			}, fault.Invalid, "http.send"},
			{"fail/test fails", func(c *controls.Control) {
				c.Tests = strings.Replace(c.Tests, `count(c.deny) == 0`, `count(c.deny) == 1`, 1)
			}, fault.Invalid, "test_alice_passes"},
			{"fail/no tests", func(c *controls.Control) { c.Tests = "package hatoba.controls.custom_iam_user_no_admin_name_test\n" }, fault.Invalid, "has no test"},
			{"fail/built-in id", func(c *controls.Control) {
				c.ID = "aws-iam-no-users"
				c.Policy = strings.Replace(c.Policy, "custom_iam_user_no_admin_name", "aws_iam_no_users", 1)
			}, fault.Conflict, "built-in"},
			{"fail/bad metadata", func(c *controls.Control) { c.Severity = "severe" }, fault.Invalid, `severity "severe"`},
			{"ok/added", func(*controls.Control) {}, "", ""},
			{"fail/added twice", func(*controls.Control) {}, fault.Conflict, "exists already"},
		}
		for _, tt := range tests {
			c := good
			tt.change(&c)
			added, _, err := cat.Add(ctx, "p-op", c)
			if tt.kind == "" {
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if added.CreatedBy != "p-op" || added.Builtin {
					t.Errorf("%s: %+v", tt.name, added)
				}
				continue
			}
			if fault.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v (%s), want %s naming %q", tt.name, err, fault.KindOf(err), tt.kind, tt.want)
			}
		}
		if _, ok := before.Control(good.ID); ok {
			t.Error("the old engine changed under its users")
		}
		v, err := cat.Engine().Evaluate(ctx, []controls.Resource{{Type: "aws_iam_user", ID: "u1", Config: map[string]any{"name": "admin"}}},
			func(c controls.Control) bool { return c.ID == good.ID })
		if err != nil || len(v) != 1 {
			t.Fatalf("the new control evaluates at once: %v %v", v, err)
		}
		// Another catalog on the same database (another replica, a restart)
		// loads it.
		other, err := controls.OpenCatalog(ctx, controls.NewStore(db, nil))
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := other.Control(good.ID); !ok || c.Policy != customPolicy || c.Builtin || c.Title.En != "No IAM user named admin" {
			t.Fatalf("reloaded: %+v %v", c, ok)
		}
		if err := cat.Delete(ctx, "p-op", "aws-iam-no-users"); fault.KindOf(err) != fault.Conflict {
			t.Errorf("deleting a built-in: %v", err)
		}
		if err := cat.Delete(ctx, "p-op", "nope"); fault.KindOf(err) != fault.NotFound {
			t.Errorf("deleting nothing: %v", err)
		}
		if err := cat.Delete(ctx, "p-op", good.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok := cat.Control(good.ID); ok {
			t.Error("deleted control still evaluated")
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_queue WHERE action IN ('control.custom.add', 'control.custom.delete')`).Scan(&n); err != nil || n != 2 {
			t.Errorf("audit entries: %d %v", n, err)
		}
	})
}
