package controls

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The requirement ids and titles of the frameworks controls map to, so a
// coverage report can name what the catalog covers and what it does not
// (frameworks/README.md says where the data comes from).
//
//go:embed frameworks/nist-800-53r5.json frameworks/nist-csf-2.0.json frameworks/ismap.json
var frameworksFS embed.FS

// requirements is one framework's ids, in the framework's own order, and
// their titles.
type requirements struct {
	ids    []string
	titles map[string]string
}

var (
	nistOnce = sync.OnceValue(func() requirements { return mustLoadRequirements("frameworks/nist-800-53r5.json") })
	csfOnce  = sync.OnceValue(func() requirements { return mustLoadRequirements("frameworks/nist-csf-2.0.json") })
)

// NISTTitle is the title of a NIST SP 800-53 rev5 control or enhancement
// ("AC-2", "SC-28(1)"); ok is false for an id that is not in the shipped
// baselines (HIGH and PRIVACY), which is not necessarily a wrong id.
func NISTTitle(id string) (string, bool) {
	t, ok := nistOnce().titles[id]
	return t, ok
}

// NISTIDs are the ids of the shipped NIST SP 800-53 rev5 baselines, by
// family, then control, then enhancement (AC-2, AC-2(1), …, AC-10).
func NISTIDs() []string { return slices.Clone(nistOnce().ids) }

// CSFTitle is the outcome text of a NIST CSF 2.0 subcategory ("PR.DS-01").
func CSFTitle(id string) (string, bool) {
	t, ok := csfOnce().titles[id]
	return t, ok
}

// CSFIDs are the 106 NIST CSF 2.0 subcategories in the order of NIST's
// OSCAL catalog (Govern, Identify, Protect, Detect, Respond, Recover; the
// categories of each function alphabetically).
func CSFIDs() []string { return slices.Clone(csfOnce().ids) }

// ismapStatus is frameworks/ismap.json: the ISMAP criteria ids hatoba's
// mappings use, split into those traced to the published criteria
// (verified: id → the criterion's title) and those not (unverified).
type ismapStatus struct {
	Source     string            `json:"source"`
	Verified   map[string]string `json:"verified"`
	Unverified []string          `json:"unverified"`
}

var ismapOnce = sync.OnceValue(func() ismapStatus {
	var s ismapStatus
	b, err := frameworksFS.ReadFile("frameworks/ismap.json")
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		panic(fmt.Errorf("controls: frameworks/ismap.json: %w", err))
	}
	return s
})

// ISMAPVerified reports whether an ISMAP id has been traced to the
// published ISMAP control criteria, and the criterion's title if so. Every
// other ISMAP id a control maps — today all of them — is unverified: a
// claim to check, not a fact to present.
func ISMAPVerified(id string) (string, bool) {
	t, ok := ismapOnce().Verified[id]
	return t, ok
}

// ISMAPUnverified are the ISMAP ids the built-in catalog maps that are
// listed as not traced to the published criteria.
func ISMAPUnverified() []string { return slices.Clone(ismapOnce().Unverified) }

// mustLoadRequirements reads an embedded JSON object of id → title,
// keeping the order of its keys. The files are part of the binary and
// checked by the tests, so a failure is a build defect.
func mustLoadRequirements(name string) requirements {
	r, err := loadRequirements(name)
	if err != nil {
		panic(err)
	}
	return r
}

func loadRequirements(name string) (requirements, error) {
	b, err := frameworksFS.ReadFile(name)
	if err != nil {
		return requirements{}, fmt.Errorf("controls: %w", err)
	}
	r := requirements{titles: map[string]string{}}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := dec.Token(); err != nil { // {
		return requirements{}, fmt.Errorf("controls: %s: %w", name, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return requirements{}, fmt.Errorf("controls: %s: %w", name, err)
		}
		id, _ := tok.(string)
		var title string
		if err := dec.Decode(&title); err != nil {
			return requirements{}, fmt.Errorf("controls: %s: %s: %w", name, id, err)
		}
		if _, dup := r.titles[id]; dup {
			return requirements{}, fmt.Errorf("controls: %s: %s appears twice", name, id)
		}
		r.ids = append(r.ids, id)
		r.titles[id] = title
	}
	return r, nil
}
