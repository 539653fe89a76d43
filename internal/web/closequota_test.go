package web

import (
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/vending"
)

// TestCloseWaitingForQuota: an environment whose closure waits for AWS's
// closure quota says so in the page's language, not only in the
// workflow's English state reason.
func TestCloseWaitingForQuota(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	waiting := h.request(t, "nat-digital", "住民記録", env.Level1)
	h.move(t, waiting.ID, waiting.State, env.Closing, vending.CloseWaitingForQuota+" (CloseAccount ConstraintViolationException:CLOSE_ACCOUNT_QUOTA_EXCEEDED)")
	other := h.request(t, "nat-digital", "税・料金", env.Level1)
	h.move(t, other.ID, other.State, env.Closing, vending.CloseRetrying+" (CloseAccount ServiceException)")
	b := h.browser(t)

	page := b.get(t, "/envs/"+waiting.ID)
	mustContain(t, page.body, `id="close-quota"`, "上限に達しているため、アカウントの閉鎖を待っています")
	page = b.get(t, "/envs/"+waiting.ID, "Accept-Language", "en")
	mustContain(t, page.body, "Closing waits for AWS&#39;s closure quota")
	if page := b.get(t, "/envs/"+other.ID); strings.Contains(page.body, `id="close-quota"`) {
		t.Fatal("a closure retried for another cause shows the quota notice")
	}
}
