package controls_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

func TestFrameworkData(t *testing.T) {
	t.Parallel()
	csf := controls.CSFIDs()
	if len(csf) != 106 {
		t.Errorf("NIST CSF 2.0 has 106 subcategories; the list has %d", len(csf))
	}
	csfID := regexp.MustCompile(`^(GV|ID|PR|DE|RS|RC)\.[A-Z]{2}-\d{2}$`)
	for _, id := range csf {
		if !csfID.MatchString(id) {
			t.Errorf("CSF id %q is malformed", id)
		}
		if title, ok := controls.CSFTitle(id); !ok || title == "" {
			t.Errorf("CSF %s has no text", id)
		}
	}
	if first, last := csf[0], csf[len(csf)-1]; first != "GV.OC-01" || last != "RC.RP-06" {
		t.Errorf("CSF order (NIST's OSCAL catalog): first %s, last %s; want GV.OC-01 … RC.RP-06", first, last)
	}
	// The texts are NIST's (scripts/oscal-csf), not paraphrases.
	if title, _ := controls.CSFTitle("PR.DS-01"); title != "The confidentiality, integrity, and availability of data-at-rest are protected" {
		t.Errorf("CSF PR.DS-01 is %q", title)
	}
	for _, withdrawn := range []string{"PR.AC-01", "ID.AM-06", "PR.DS-05", "DE.CM-04"} {
		if _, ok := controls.CSFTitle(withdrawn); ok {
			t.Errorf("%s is a CSF 1.1 subcategory that 2.0 withdrew", withdrawn)
		}
	}
	nist := controls.NISTIDs()
	if len(nist) < 300 {
		t.Errorf("only %d NIST SP 800-53 ids; the HIGH baseline alone has more than 300", len(nist))
	}
	for _, id := range []string{"AC-2", "AC-2(1)", "SC-28(1)", "AU-2"} {
		if _, ok := controls.NISTTitle(id); !ok {
			t.Errorf("NIST %s is missing", id)
		}
	}
	if title, _ := controls.NISTTitle("AC-2"); title != "Account Management" {
		t.Errorf("NIST AC-2 is %q", title)
	}
}

// Every built-in control's framework ids are well formed and name real
// requirements: a CSF id must be a CSF 2.0 subcategory; a NIST id outside
// the shipped baselines is logged, not failed (the full catalog has more
// enhancements than the baselines select).
func TestBuiltinFrameworkMappings(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	unverified := controls.ISMAPUnverified()
	nistID := regexp.MustCompile(`^[A-Z]{2}-\d{1,2}(\(\d{1,2}\))?$`)
	for _, c := range cs {
		for _, id := range c.Frameworks.NISTCSF {
			if _, ok := controls.CSFTitle(id); !ok {
				t.Errorf("%s: nist_csf %q is not a NIST CSF 2.0 subcategory", c.ID, id)
			}
		}
		// Every ISMAP id is either traced to the published criteria or
		// listed as unverified in frameworks/ismap.json.
		for _, id := range c.Frameworks.ISMAP {
			_, verified := controls.ISMAPVerified(id)
			if verified == slices.Contains(unverified, id) {
				t.Errorf("%s: ismap %q must be in exactly one of frameworks/ismap.json's verified and unverified", c.ID, id)
			}
		}
		for _, id := range c.Frameworks.NIST80053 {
			if !nistID.MatchString(id) {
				t.Errorf("%s: nist_800_53 %q is malformed", c.ID, id)
				continue
			}
			if _, ok := controls.NISTTitle(id); !ok {
				t.Logf("%s: nist_800_53 %s is not in the shipped baselines (HIGH, PRIVACY)", c.ID, id)
			}
		}
	}
}

// docs/controls.md lists every built-in control (the list and the
// framework mappings are written from the catalog; rewrite them when a
// control is added).
func TestDocsListBuiltinControls(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/controls.md")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		row := "| `" + c.ID + "` | " + string(c.Severity) + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/controls.md does not list %s as %q", c.ID, row)
		}
	}
}

// A control (a custom one, say) may map only CSF 2.0 subcategories: the
// CSF 1.1 ids that 2.0 withdrew match the id pattern but are refused.
func TestValidateCSFIDs(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		ids  []string
		want string
	}{
		{"ok/csf 2.0", []string{"PR.DS-01", "GV.SC-01"}, ""},
		{"fail/withdrawn in 2.0", []string{"PR.AC-01"}, `"PR.AC-01" is not a NIST CSF 2.0 subcategory`},
		{"fail/malformed", []string{"PR.DS-1"}, `"PR.DS-1" is not an id of that framework`},
	} {
		c := cs[0]
		c.Frameworks.NISTCSF = tt.ids
		err := c.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
