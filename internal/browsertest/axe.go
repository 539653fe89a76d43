package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxeVersion is the axe-core scripts/install-axe.sh fetches.
const AxeVersion = "4.14.1"

// AxeTags are the rules Axe runs: WCAG 2.1 levels A and AA (JIS X
// 8341-3:2016 is WCAG 2.0, which 2.1 contains).
var AxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

// AxeViolation is one rule a page breaks, with where.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any  `json:"target"`
		HTML   string `json:"html"`
		// FailureSummary says what to fix.
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for i, n := range v.Nodes {
		if i == 3 {
			fmt.Fprintf(&b, "\n    … and %d more", len(v.Nodes)-3)
			break
		}
		fmt.Fprintf(&b, "\n    %v %s", n.Target, n.HTML)
	}
	return b.String()
}

var axeSource = sync.OnceValues(func() ([]byte, error) {
	_, file, _, _ := runtime.Caller(0)
	return os.ReadFile(filepath.Join(filepath.Dir(file), "testdata", "axe", "axe-"+AxeVersion+".min.js"))
})

// AxeScript returns axe-core's source. Without it the test is skipped,
// except where the browser tests must run (CI=true or
// HATOBA_REQUIRE_BROWSER=1): there it fails.
func AxeScript(t testing.TB) []byte {
	t.Helper()
	src, err := axeSource()
	if err == nil {
		return src
	}
	msg := fmt.Sprintf("axe-core %s is not installed (%v); scripts/install-axe.sh (run by scripts/install-test-deps.sh) fetches it", AxeVersion, err)
	if os.Getenv("CI") == "true" || os.Getenv("HATOBA_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; skipping the accessibility test")
	return nil
}

// Axe runs axe-core's WCAG 2.1 A and AA rules over the page the tab shows
// and returns what it breaks. Details elements are opened first, so what
// they hide is checked too.
func Axe(ctx context.Context, src []byte) ([]AxeViolation, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === "object" || (function () { `+string(src)+`
; return true })()`)); err != nil {
		return nil, fmt.Errorf("inject axe-core: %w", err)
	}
	tags := `["` + strings.Join(AxeTags, `", "`) + `"]`
	return chromedp.Run(ctx, chromedp.Evaluate[[]AxeViolation](`(async () => {
		document.querySelectorAll("details").forEach(d => d.open = true);
		const r = await axe.run(document, {runOnly: {type: "tag", values: `+tags+`}, resultTypes: ["violations"]});
		return r.violations;
	})()`, chromedp.EvalAwaitPromise))
}
