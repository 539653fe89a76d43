package web

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
)

// What the engine writes reads in the reader's language; what a person
// typed stays as typed, marked as data.
func TestSystemText(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.console
	tests := []struct {
		name, kind, msg, ja, en string
	}{
		{"ok/requested", "requested", `lg-011002 production environment for "税務システム" requested on sim (level2)`,
			"lg-011002 が 税務システム の本番環境を sim に申請しました(機密性2)", "lg-011002 requested a Production environment for 税務システム on sim (Level 2 (機密性2))"},
		{"ok/approved by the rules", "approved", "approved: within quota and classification allowed on sim",
			"上限内で、機密性区分も sim で扱えるため自動で承認されました", "Approved by the rules: within the quota, and the classification is allowed on sim"},
		{"ok/a state without reason", "provisioning", "provisioning", "「払い出し中」になりました", ""},
		{"ok/failed at a step", "failed", "failed: move_to_unit: AccessDenied: no", `「組織単位（OU）への移動」で失敗しました: <code lang="en">AccessDenied: no</code>`, ""},
		{"ok/two approval notes", "", "organisation lg-1 is at its quota: 3 of 3 live environments; classification level3 is not allowed on provider sim (allowed: [level1 level2])",
			"組織 lg-1 は上限に達しています(稼働中の環境 3 件 / 上限 3 件)。機密性3 はプロバイダー sim では扱えません(扱えるのは 機密性1、機密性2)", ""},
		{"ok/a placement rule", "", "classification level3 may not be placed on provider sim (tier hyperscaler): placement rule level3 allows tiers [domestic] and providers []",
			"機密性3 はプロバイダー sim(ハイパースケーラー)には置けません(配置規則 level3 で認められているのは区分:国内事業者、プロバイダー:なし)",
			"Level 3 (機密性3) may not be placed on provider sim (Hyperscaler): placement rule level3 allows tiers Domestic and providers None"},
		{"ok/one provider per system", "", `system "住民記録" of lg-1 stays on one provider, and its other environments are elsewhere: env-a (domestic), while this one is on sim`,
			"組織 lg-1 のシステム「住民記録」は1つのプロバイダーに置く規則ですが、ほかの環境が別のプロバイダーにあります:env-a (domestic)。この環境は sim です", ""},
		{"ok/a person's reason is data", "rejected", "rejected: 予算が<未定>", "<span data-data>予算が&lt;未定&gt;</span>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(c.eventText(ja, tt.kind, tt.msg)); got != tt.ja {
				t.Errorf("ja: %s\nwant %s", got, tt.ja)
			}
			if tt.en == "" {
				return
			}
			if got := string(c.eventText(en, tt.kind, tt.msg)); got != tt.en {
				t.Errorf("en: %s\nwant %s", got, tt.en)
			}
		})
	}
}

func TestSystemTextSignInRefusals(t *testing.T) {
	t.Parallel()
	c := newHarness(t).console
	for msg, want := range map[string]string{
		"this person is disabled and may not sign in": "この利用者は「無効」のため、ログインできません",
		"this card is not registered with hatoba; open the invitation link your administrator sent you while your card is in the reader": "このカードは hatoba に登録されていません。管理者から届いた招待リンクを、カードをリーダーに置いたまま開いてください",
	} {
		if got := string(c.systemText(ja, msg)); got != want {
			t.Errorf("%q:\n got %s\nwant %s", msg, got, want)
		}
	}
}

// A finding's message reads in the reader's language: the control's
// translation of its format, its parameters data as they are; English,
// marked, where the control has no translation.
func TestFindingText(t *testing.T) {
	t.Parallel()
	ctl := controls.Control{ID: "c", Messages: map[string]string{
		"bucket %q grants %s to %s":   "バケット %q が %s を %s に許可している",
		"the volume is not encrypted": "ボリュームが暗号化されていない",
	}}
	finding := func(message, format string, params ...any) posture.Finding {
		return posture.Finding{ResourceID: "r-1", Message: "r-1: " + message, MessageFormat: format, MessageParams: controls.Params(params)}
	}
	tests := []struct {
		name    string
		finding posture.Finding
		control controls.Control
		ja, en  string
	}{
		{"ok/parameters are data", finding(`bucket "logs<1>" grants READ to AllUsers`, "bucket %q grants %s to %s", "logs<1>", "READ", "AllUsers"), ctl,
			`バケット <span data-data>&#34;logs&lt;1&gt;&#34;</span> が <span data-data>READ</span> を <span data-data>AllUsers</span> に許可している`,
			`bucket <span data-data>&#34;logs&lt;1&gt;&#34;</span> grants <span data-data>READ</span> to <span data-data>AllUsers</span>`},
		{"ok/constant", finding("the volume is not encrypted", "the volume is not encrypted"), ctl,
			"ボリュームが暗号化されていない", "the volume is not encrypted"},
		{"ok/no translation: English, marked", finding("IAM user admin is shared", "IAM user %s is shared", "admin"), ctl,
			`<span lang="en" data-data>IAM user <span data-data>admin</span> is shared</span>`, `IAM user <span data-data>admin</span> is shared`},
		{"ok/a custom control without messages", finding("the volume is not encrypted", "the volume is not encrypted"), controls.Control{ID: "custom"},
			`<span lang="en" data-data>the volume is not encrypted</span>`, "the volume is not encrypted"},
		{"fail/parameters the format does not take: the stored English", finding("bucket x grants", "bucket %q grants %s to %s", "x"), ctl,
			`<span lang="en" data-data>r-1: bucket x grants</span>`, "r-1: bucket x grants"},
		{"fail/no format: the stored English", finding("a & b", ""), ctl,
			`<span lang="en" data-data>r-1: a &amp; b</span>`, "r-1: a &amp; b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(findingText(ja, tt.finding, tt.control)); got != tt.ja {
				t.Errorf("ja: %s\nwant %s", got, tt.ja)
			}
			if got := string(findingText(en, tt.finding, tt.control)); got != tt.en {
				t.Errorf("en: %s\nwant %s", got, tt.en)
			}
		})
	}
}
