package web

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
)

// While the key service cannot write its usage record, those who run keys
// — the operators, a tenant's administrators — see an alert on every page,
// in their language; a member does not, and it goes once records are
// written again.
func TestKeyRecordAlert(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var failing atomic.Bool
	since := time.Date(2026, 12, 7, 3, 4, 5, 0, time.UTC)
	h.api.KeyRecordFailing = func() (bool, time.Time) { return failing.Load(), since }
	op := h.as(t, authz.CentralOperator, "")
	admin := h.as(t, authz.TenantAdmin, "nat-digital")
	member := h.as(t, authz.TenantMember, "nat-digital")

	mustNotContain(t, op.get(t, "/?lang=en").body, `id="key-record-alert"`)
	failing.Store(true)
	mustContain(t, op.get(t, "/?lang=en").body, `id="key-record-alert"`, "cannot write its usage record (since 2026-12-07 12:04:05 JST)")
	mustContain(t, op.get(t, "/envs?lang=ja").body, "鍵サービスが利用記録を書き込めません（2026-12-07 12:04:05 から）")
	mustContain(t, admin.get(t, "/?lang=en").body, `id="key-record-alert"`)
	mustNotContain(t, member.get(t, "/?lang=en").body, `id="key-record-alert"`)
	failing.Store(false)
	mustNotContain(t, op.get(t, "/?lang=en").body, `id="key-record-alert"`)
}
