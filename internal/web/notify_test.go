package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/notify"
)

var notifySeed int

// seedNotify gives orgID a channel, a delivery and a notice about a
// critical event, and answers their ids.
func (h *harness) seedNotify(t *testing.T, orgID, envID string) (channel, delivery, notice string) {
	t.Helper()
	ctx := context.Background()
	notifySeed++
	ch, err := h.api.Notify.CreateChannel(ctx, "p-seed", "", orgID, notify.ChannelSpec{Name: fmt.Sprintf("seed%d", notifySeed), Kind: notify.Email,
		Recipients: []string{"soc@example.lg.jp"}})
	if err != nil {
		t.Fatal(err)
	}
	dl, err := h.api.Notify.TestChannel(ctx, "p-seed", "", orgID, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.api.Notify.Ingest(ctx, []notify.Incoming{{OrgID: orgID, EnvID: envID, Source: notify.SourceHatoba, SourceID: fmt.Sprintf("f-seed-%d", notifySeed),
		Severity: controls.Critical, Title: "公開されたバケット", ControlID: "aws-s3-no-public", ResourceID: fmt.Sprintf("arn:aws:s3:::seed-%d", notifySeed)}}); err != nil {
		t.Fatal(err)
	}
	evs, err := h.api.Notify.Events(ctx, orgID, true, 1)
	if err != nil || len(evs) == 0 {
		t.Fatalf("seed event: %v", err)
	}
	nt, err := h.api.Notify.SendNotice(ctx, "p-seed", evs[0].ID, "至急確認してください")
	if err != nil {
		t.Fatal(err)
	}
	return ch.ID, dl.ID, nt.ID
}

// A tenant's administrator sees its inbox, channels and outbox in
// Japanese, acknowledges central's notice and reports the fix; another
// tenant's administrator gets nothing of it.
func TestNotifyPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	ch, _, nt := h.seedNotify(t, "lg-011002", "env-none")
	admin := h.as(t, authz.TenantAdmin, "lg-011002")
	r := admin.get(t, "/notify")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/orgs/lg-011002/notify" {
		t.Fatalf("/notify for a tenant: %d %s", r.status, r.header.Get("Location"))
	}
	r = admin.get(t, "/orgs/lg-011002/notify")
	if r.status != http.StatusOK {
		t.Fatalf("page: %d %s", r.status, r.body)
	}
	for _, want := range []string{"中央からの連絡", "至急確認してください", ch, "テスト送信", "確認しました", "soc@example.lg.jp"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if r := admin.post(t, "/orgs/lg-011002/notify/notices/"+nt+"/acknowledge", url.Values{csrfField: {admin.csrf()}}); r.status != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d %s", r.status, r.body)
	}
	if r := admin.post(t, "/orgs/lg-011002/notify/notices/"+nt+"/fix", url.Values{csrfField: {admin.csrf()}, "note": {"非公開にしました"}}); r.status != http.StatusSeeOther {
		t.Fatalf("fix: %d %s", r.status, r.body)
	}
	ns, err := h.api.Notify.Notices(ctx, "lg-011002")
	if err != nil || ns[0].State != "fixed" || ns[0].FixNote != "非公開にしました" {
		t.Fatalf("notices %+v, %v", ns, err)
	}
	other := h.as(t, authz.TenantAdmin, "nat-digital")
	if r := other.get(t, "/orgs/lg-011002/notify"); r.status != http.StatusNotFound {
		t.Fatalf("another tenant's page: %d", r.status)
	}
	// Central reads the digest and the notices, in English too.
	if _, err := h.api.Notify.MakeDigest(ctx, "p-op", notify.Daily); err != nil {
		t.Fatal(err)
	}
	op := h.as(t, authz.CentralOperator, "")
	r = op.get(t, "/notify?lang=en")
	if r.status != http.StatusOK || !strings.Contains(r.body, "Critical digest") || !strings.Contains(r.body, "hatoba-digest/v1") {
		t.Fatalf("central page: %d %s", r.status, r.body)
	}
}
