package web

import (
	"context"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// An environment's posture page shows its exit readiness — the portable
// share of its services and what would need rework — to those who read
// its inventory, and not to central staff without a grant.
func TestExitReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	e := h.request(t, sapporo, "exit-sys", env.Level2)
	res := func(typ string, cfg map[string]any) controls.Resource {
		return controls.Resource{Provider: "aws", Type: typ, ID: "arn:" + typ, Region: "ap-northeast-1", Config: cfg}
	}
	inv := []controls.Resource{res("aws_instance", map[string]any{}), res("aws_s3_bucket", map[string]any{"bucket": "b"}),
		res("aws_db_instance", map[string]any{"engine": "postgres"}), res("aws_dynamodb_table", map[string]any{"name": "t"}), iamUser("carol")}
	if _, err := h.api.Posture.Record(context.Background(), e.ID, sapporo, inv); err != nil {
		t.Fatal(err)
	}
	admin := h.as(t, authz.TenantAdmin, sapporo)
	page := admin.get(t, "/envs/"+e.ID+"/posture?lang=ja")
	for _, want := range []string{`id="exit-readiness"`, "移行準備度", `data-portability="75.0%"`, `data-rework="aws_dynamodb_table"`,
		"キーバリュー型データベース（DynamoDB）"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the posture page lacks %q", want)
		}
	}
	en := admin.get(t, "/envs/"+e.ID+"/posture?lang=en")
	if !strings.Contains(en.body, "Exit readiness") || !strings.Contains(en.body, "Would need rework to leave") {
		t.Error("the English page lacks exit readiness")
	}
	op := h.as(t, authz.CentralOperator, "")
	if page := op.get(t, "/envs/"+e.ID+"/posture"); page.status != 200 || !strings.Contains(page.body, "posture-critical-only") ||
		strings.Contains(page.body, "exit-readiness") {
		t.Errorf("central staff without a grant: %d, sees the inventory's services: %v", page.status, strings.Contains(page.body, "exit-readiness"))
	}
}
