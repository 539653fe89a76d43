// Package browsertest finds the headless browser the console's tests drive.
// It is imported only by tests.
package browsertest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// names are the executables looked for on PATH, in order.
var names = []string{"chromium", "chromium-browser", "google-chrome"}

// Path returns a Chromium's (or Chrome's) path. Without one the test is
// skipped, except where the browser tests must run (CI=true or
// HATOBA_REQUIRE_BROWSER=1, as scripts/test.sh sets): there it fails.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no " + strings.Join(names, ", ") + " on PATH; scripts/install-test-deps.sh installs Chromium"
	if os.Getenv("CI") == "true" || os.Getenv("HATOBA_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (CI=true or HATOBA_REQUIRE_BROWSER=1: the browser tests must run)")
	}
	t.Skip(msg + "; skipping the browser test")
	return ""
}
