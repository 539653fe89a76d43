package web

import (
	"context"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/browsertest"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
)

// The crawl: every console page each role reaches by following links
// from the dashboard, over an estate that gives every page something to
// show. TestBrowserAccessibility runs axe-core over each page in both
// languages at 320 px; TestBrowserSpeaksJapanese reads each Japanese page
// for English sentences.

// crawlRole is a role the crawl signs in as; start are pages the crawl
// visits before those it finds (one per pattern), so it reads the pages
// the estate filled for it.
type crawlRole struct {
	name  string
	b     *browser
	start []string
}

// crawlSite seeds the estate and signs in every role.
func crawlSite(t *testing.T) (*harness, []crawlRole) {
	t.Helper()
	h := newHarness(t)
	ctx := context.Background()
	operator := h.browser(t)
	ready := h.postureEnv(t, sapporo, "住民記録システム")
	// The national sovereignty view draws its map and its trend.
	if _, err := h.api.Sovereignty.Assess(ctx, ready.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.api.Sovereignty.RecordConcentration(ctx); err != nil {
		t.Fatal(err)
	}
	// Findings whose messages have values in them: the posture page says
	// them in Japanese, the values as data.
	if _, err := h.api.Posture.Record(ctx, ready.ID, sapporo, []controls.Resource{iamUser("alice"),
		{Provider: "aws", Type: "aws_default_security_group", ID: "sg-0a1b2c3d", Region: "ap-northeast-1",
			Config: map[string]any{"ingress": []any{map[string]any{"protocol": "-1"}}, "egress": []any{}}},
		{Provider: "aws", Type: "aws_s3_bucket", ID: "arn:aws:s3:::juminkiroku-backup", Region: "us-east-1", Config: map[string]any{"bucket": "juminkiroku-backup"}},
		{Provider: "aws", Type: "aws_ebs_volume", ID: "vol-0a1b2c3d", Region: "ap-northeast-1", Config: map[string]any{"encrypted": false}},
	}); err != nil {
		t.Fatal(err)
	}
	posture := []string{"/envs/" + ready.ID + "/posture"}
	h.askException(t, ready.ID, sapporo, "aws-iam-no-users")
	h.assignControl(t, "aws-iam-no-users", sapporo)
	failed := h.request(t, sapporo, "税務システム", env.Level2)
	h.move(t, failed.ID, env.Approved, env.Provisioning, "")
	h.move(t, failed.ID, env.Provisioning, env.Failed, "move_to_unit: AccessDeniedException: the caller is not allowed to move accounts")
	h.request(t, "lg-011011", "福祉総合システム", env.Level3) // waits for approval
	rejected := h.request(t, "nat-digital", "検証基盤", env.Level3)
	h.move(t, rejected.ID, env.Requested, env.Rejected, "予算の承認が取れていないため")
	if _, err := h.api.BreakGlass.File(ctx, authz.Principal{PersonID: operator.person.ID, Role: authz.CentralOperator}, sapporo,
		"税務システムの払い出しが失敗した原因を調べるため", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	h.integrate(t)
	return h, []crawlRole{
		{"central-operator", operator, posture},
		{"central-auditor", h.as(t, authz.CentralAuditor, ""), posture},
		{"tenant-admin", h.named(t, authz.TenantAdmin, sapporo, "札幌 管理者", true), posture},
		{"tenant-member", h.named(t, authz.TenantMember, sapporo, "札幌 利用者", true), posture},
	}
}

var (
	hrefAttr = regexp.MustCompile(`<a [^>]*href="(/[^"#]*)[^"]*"([^>]*)>`)
	// idSegment is a path segment that names one thing: it has a digit
	// and a dash or is long (env-…, lg-011002, a request id, a token).
	idSegment = regexp.MustCompile(`^(?:[^/]*[0-9][^/]*-[^/]*|[^/]*-[^/]*[0-9][^/]*|[^/]{24,})$`)
)

// pattern is a path with its ids replaced, so the crawl visits one
// environment's page, not every environment's.
func pattern(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		// The segment after a collection names one of it (a control's id
		// has no digit), but for the collection's own pages.
		named := i == 2 && slices.Contains([]string{"controls", "envs", "orgs", "access", "keys"}, parts[1]) &&
			!slices.Contains([]string{"new", "assignments", "exceptions"}, s)
		if named || idSegment.MatchString(s) {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// crawl follows b's links from the dashboard (and the start pages) and
// returns one address per page pattern, in the order found.
func crawl(t *testing.T, b *browser, start ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	queue := append([]string{"/"}, start...)
	for _, p := range start {
		seen[pattern(p)] = true
	}
	var pages []string
	for len(queue) > 0 && len(pages) < 80 {
		p := queue[0]
		queue = queue[1:]
		res := b.get(t, p+"?lang=ja")
		if res.status != 200 {
			continue // a redirect or a refusal: not a page of this role's
		}
		pages = append(pages, p)
		for _, m := range hrefAttr.FindAllStringSubmatch(res.body, -1) {
			link, attrs := m[1], m[2]
			u, err := url.Parse(link)
			if err != nil || strings.Contains(attrs, "download") {
				continue
			}
			path := u.Path
			if strings.HasPrefix(path, "/static/") || strings.HasPrefix(path, "/api/") || path == "/logout" || path == "/login" {
				continue
			}
			if pt := pattern(path); !seen[pt] {
				seen[pt] = true
				queue = append(queue, path)
			}
		}
	}
	return pages
}

func TestBrowserAccessibility(t *testing.T) {
	t.Parallel()
	axe := browsertest.AxeScript(t)
	h, roles := crawlSite(t)
	runs := 0
	pagesSeen := map[string]bool{}
	for _, role := range roles {
		// A tab a role: each has its own time limit.
		ctx := browsertest.NewTab(t, 320, 720)
		withSession(t, ctx, h.srv.URL, role.b)
		pages := crawl(t, role.b, role.start...)
		if len(pages) < 5 {
			t.Fatalf("%s: the crawl found only %v", role.name, pages)
		}
		for _, p := range pages {
			for _, lang := range []string{"ja", "en"} {
				addr := p + "?lang=" + lang
				if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+addr), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
					t.Fatalf("%s %s: %v", role.name, addr, err)
				}
				vs, err := browsertest.Axe(ctx, axe)
				if err != nil {
					t.Fatalf("%s %s: %v", role.name, addr, err)
				}
				runs++
				for _, v := range vs {
					t.Errorf("%s %s at 320 px: %s", role.name, addr, v)
				}
				pagesSeen[pattern(p)] = true
			}
		}
	}
	// The pages nobody links to from inside: signing in, an invitation,
	// the security-key step. (The 404 page is the same layout; the tab
	// would count its status as a console error.)
	_, token := h.invite(t, authz.TenantMember, sapporo, "招待 太郎")
	pending := h.person(t, authz.CentralOperator, "", false)
	for _, visit := range []struct {
		b     *browser
		paths []string
	}{
		{h.anonymous(t), []string{"/login", "/invitations/" + token}},
		{pending, []string{"/login/second-factor"}},
	} {
		ctx := browsertest.NewTab(t, 320, 720)
		if visit.b.session != "" {
			withSession(t, ctx, h.srv.URL, visit.b)
		}
		for _, p := range visit.paths {
			for _, lang := range []string{"ja", "en"} {
				addr := p + "?lang=" + lang
				if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+addr), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				vs, err := browsertest.Axe(ctx, axe)
				if err != nil {
					t.Fatalf("%s: %v", addr, err)
				}
				runs++
				pagesSeen[pattern(p)] = true
				for _, v := range vs {
					t.Errorf("%s at 320 px: %s", addr, v)
				}
			}
		}
	}
	t.Logf("axe-core %s: %d page runs over %d pages (WCAG 2.1 A and AA): %v", browsertest.AxeVersion, runs, len(pagesSeen), slices.Sorted(maps.Keys(pagesSeen)))
}

// englishSentences lists the English a person reads on the page outside
// code and data: a run of three English words, in text or in the
// attributes a screen reader speaks.
const englishSentences = `(() => {
	const skip = "code, pre, script, style, textarea, .mono, [data-data], [hreflang]";
	const sentence = /[A-Za-z][a-z']+(?:[ ,:;]+[A-Za-z][a-z']*){2,}/;
	const out = [];
	const where = el => el.outerHTML.slice(0, 160);
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	while (w.nextNode()) {
		const el = w.currentNode.parentElement;
		const m = w.currentNode.textContent.match(sentence);
		if (el && m && !el.closest(skip)) out.push(m[0] + "  in  " + where(el));
	}
	for (const el of document.querySelectorAll("[title], [aria-label], [placeholder], [alt]")) {
		for (const a of ["title", "aria-label", "placeholder", "alt"]) {
			const m = (el.getAttribute(a) || "").match(sentence);
			if (m && !el.closest(skip)) out.push(m[0] + "  in @" + a + " of " + where(el));
		}
	}
	const tm = document.title.match(sentence);
	if (tm) out.push(tm[0] + "  in the title");
	return out;
})()`

// TestBrowserSpeaksJapanese reads every page each role reaches, in
// Japanese, and fails on English outside code and data (names, ids and
// reasons as people typed them, marked data-data).
func TestBrowserSpeaksJapanese(t *testing.T) {
	t.Parallel()
	h, roles := crawlSite(t)
	for _, role := range roles {
		ctx := browsertest.NewTab(t, 1280, 800)
		withSession(t, ctx, h.srv.URL, role.b)
		for _, p := range crawl(t, role.b, role.start...) {
			addr := p + "?lang=ja"
			if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+addr), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
				t.Fatalf("%s %s: %v", role.name, addr, err)
			}
			found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](englishSentences))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range slices.Compact(found) {
				t.Errorf("%s %s: English: %s", role.name, addr, f)
			}
		}
	}
}

// TestBrowserLayout: the English navigation of the role with the most
// entries fits one line at 1,280 px, and no id in a table nor a state
// badge breaks over two lines, in either language.
func TestBrowserLayout(t *testing.T) {
	t.Parallel()
	h, roles := crawlSite(t)
	ctx := browsertest.NewTab(t, 1280, 800)
	withSession(t, ctx, h.srv.URL, roles[0].b)
	for _, p := range crawl(t, roles[0].b, roles[0].start...) {
		for _, lang := range []string{"en", "ja"} {
			addr := p + "?lang=" + lang
			if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+addr), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
				t.Fatal(err)
			}
			rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Set([...document.querySelectorAll(".site-nav__list li")].map(li => li.offsetTop)).size`))
			if err != nil || rows != 1 {
				t.Errorf("%s: the navigation takes %d lines (%v), want 1", addr, rows, err)
			}
			broken, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".table .mono, .table .badge")]
				.filter(el => el.getClientRects().length > 1).map(el => el.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range broken {
				t.Errorf("%s: %q breaks over two lines", addr, b)
			}
		}
	}
}
