// Package browsertest is the Chromium tooling the console's browser tests
// share (internal/web, cmd/hatoba): finding the browser, starting a tab that
// fails the test on any console error, waiting on the page, a DevTools
// virtual security key, and the pieces of a card sign-in without a person
// at the keyboard — an NSS database holding the card and trusting the test
// server's CA, a profile that presents the card without a dialog, and that
// CA with its localhost certificate. It is imported only by tests.
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
