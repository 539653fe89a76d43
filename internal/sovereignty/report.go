package sovereignty

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Party is someone who can read the environment's data or act in it,
// and the path by which they can.
type Party struct {
	// Kind: provider (the operator), parent (who controls the operator),
	// authority (a foreign state, through a law), central (hatoba's
	// central staff through break-glass), tenant (the organisation's own
	// people).
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Country string `json:"country,omitempty"`
	// Path is a message key (sovereignty.path.<path>) for how they
	// reach the data: operates, controls, compelled, collection,
	// break_glass, administrator, non_administrator, key_owner.
	Path string `json:"path"`
	Law  string `json:"law,omitempty"`
	// Mitigations are message keys (sovereignty.mitigation.<m>):
	// hyok_armed, hyok_pulled, time_boxed, tenant_approved, none.
	Mitigations []string   `json:"mitigations"`
	PersonID    string     `json:"person_id,omitempty"`
	Grant       string     `json:"grant,omitempty"`
	At          *time.Time `json:"at,omitempty"`
}

// Report is an environment's exposure report: its assessment and every
// party that can reach its data.
type Report struct {
	Assessment
	Parties []Party `json:"parties"`
	// Summary is the report in one English paragraph, for a reader of
	// the JSON; the console renders the parties from message keys.
	Summary string `json:"summary"`
}

// Expose builds the exposure report of an assessed environment.
func Expose(a Assessment, p Profile, f Facts) Report {
	var keys []string
	switch {
	case f.HYOK.Connected && f.HYOK.KillSwitch == "pulled":
		keys = []string{"hyok_pulled"}
	case f.HYOK.Connected:
		keys = []string{"hyok_armed"}
	default:
		keys = []string{"none"}
	}
	r := Report{Assessment: a}
	r.Parties = append(r.Parties, Party{Kind: "provider", Name: p.Operator.LegalEntity.Value, Country: p.Operator.Country.Value,
		Path: "operates", Mitigations: keys})
	if p.Operator.Parent.Value != "" {
		r.Parties = append(r.Parties, Party{Kind: "parent", Name: p.Operator.Parent.Value, Country: p.Operator.ParentCountry.Value,
			Path: "controls", Mitigations: keys})
	}
	for _, e := range a.Exposures {
		path := "compelled"
		if !e.Compelled {
			path = "collection"
		}
		r.Parties = append(r.Parties, Party{Kind: "authority", Name: authorityOf(e.Country), Country: e.Country, Path: path, Law: e.Law,
			Mitigations: keys})
	}
	for _, person := range f.People {
		switch {
		case person.Role == "break-glass":
			at := person.At
			r.Parties = append(r.Parties, Party{Kind: "central", Name: person.Name, Country: "JP", Path: "break_glass", PersonID: person.ID,
				Grant: person.Grant, At: &at, Mitigations: []string{"time_boxed", "tenant_approved"}})
		default:
			path := strings.ReplaceAll(person.Role, "-", "_")
			r.Parties = append(r.Parties, Party{Kind: "tenant", Name: person.Name, Path: path, PersonID: person.ID, Mitigations: []string{}})
		}
	}
	r.Summary = summary(a, p, f)
	return r
}

func authorityOf(country string) string {
	switch country {
	case "US":
		return "United States government"
	case "CN":
		return "Government of the People's Republic of China"
	default:
		return "Government of " + country
	}
}

// summary is the report's English paragraph, e.g. "AWS Japan G.K., US
// parent Amazon.com, Inc.: CLOUD Act, FISA Section 702. Mitigated: …".
func summary(a Assessment, p Profile, f Facts) string {
	var b strings.Builder
	b.WriteString(p.Operator.LegalEntity.Value)
	if p.Operator.Parent.Value != "" {
		fmt.Fprintf(&b, ", parent %s (%s)", p.Operator.Parent.Value, p.Operator.ParentCountry.Value)
	}
	var laws []string
	for _, e := range a.Exposures {
		laws = append(laws, e.Law)
	}
	if len(laws) == 0 {
		b.WriteString(": no foreign law found that reaches the data.")
	} else {
		fmt.Fprintf(&b, ": %s.", strings.Join(laws, "; "))
		switch {
		case f.HYOK.Connected && f.HYOK.KillSwitch == "pulled":
			b.WriteString(" The environment's keys are in hatoba's external key store and its kill switch is pulled: nothing can be decrypted.")
		case f.HYOK.Connected:
			b.WriteString(" Mitigated: data keys are decryptable only while hatoba's XKS proxy answers; the kill switch is held by the tenant's key owner.")
		default:
			b.WriteString(" Not mitigated: the provider holds the keys.")
		}
	}
	for _, r := range a.Residency {
		if r.Country == "" {
			fmt.Fprintf(&b, " Resources in %s, a region the profile does not place.", r.Region)
		} else {
			fmt.Fprintf(&b, " Resources in %s (%s), outside Japan.", r.Region, r.Country)
		}
	}
	grants := slices.IndexFunc(f.People, func(p Person) bool { return p.Role == "break-glass" }) >= 0
	if grants {
		b.WriteString(" Central staff held break-glass access in the last 90 days.")
	}
	fmt.Fprintf(&b, " Score %.2f of 100", a.Score)
	if len(a.Breaches) > 0 {
		var objs []string
		for _, br := range a.Breaches {
			objs = append(objs, fmt.Sprintf("%s %d<%d", br.Objective, br.Level, br.Floor))
		}
		fmt.Fprintf(&b, "; below the %s floors: %s", a.Classification, strings.Join(objs, ", "))
	}
	b.WriteString(".")
	if p.Example {
		b.WriteString(" Assessed against an EXAMPLE profile whose facts nobody has verified.")
	}
	return b.String()
}

// ResourceType is the type of the resource that carries an environment's
// assessment to the detective controls (hatoba-sovereignty-floor).
const ResourceType = "hatoba_sovereignty_assessment"

// Resource is the assessment as one resource of the environment's
// inventory, in the shape the controls read.
func (r Report) Resource() controls.Resource {
	breaches := make([]any, 0, len(r.Breaches))
	for _, b := range r.Breaches {
		breaches = append(breaches, map[string]any{"objective": b.Objective, "level": b.Level, "floor": b.Floor})
	}
	residency := make([]any, 0, len(r.Residency))
	for _, x := range r.Residency {
		residency = append(residency, map[string]any{"region": x.Region, "country": x.Country})
	}
	levels := make(map[string]any, len(r.Levels))
	for k, v := range r.Levels {
		levels[k] = v
	}
	return controls.Resource{Provider: "hatoba", Type: ResourceType, ID: "hatoba:sovereignty:" + r.Environment, Region: "global",
		Environment: r.Environment, Config: map[string]any{"classification": r.Classification, "floor_mode": r.FloorMode,
			"score": r.Score, "levels": levels, "breaches": breaches, "residency": residency,
			"profile": r.Profile, "profile_version": r.ProfileVersion}}
}

// Snapshot is a report signed with the audit log's key: proof of what was
// assessed on a date, verifiable offline with the log's public key.
type Snapshot struct {
	Report json.RawMessage `json:"report"`
	// Note is a signed note (golang.org/x/mod/sumdb/note) over the
	// report's SHA-256, the environment and the time of assessment.
	Note string `json:"note"`
}

const snapshotHeader = "hatoba sovereignty snapshot v1"

func snapshotText(env string, at time.Time, sum [32]byte) string {
	return fmt.Sprintf("%s\n%s\n%s\nsha256:%s\n", snapshotHeader, env, at.UTC().Format(time.RFC3339), hex.EncodeToString(sum[:]))
}

// Sign makes the report's snapshot.
func Sign(r Report, signer note.Signer) (Snapshot, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return Snapshot{}, fmt.Errorf("sovereignty snapshot %s: %w", r.Environment, err)
	}
	msg, err := note.Sign(&note.Note{Text: snapshotText(r.Environment, r.AssessedAt, sha256.Sum256(raw))}, signer)
	if err != nil {
		return Snapshot{}, fmt.Errorf("sovereignty snapshot %s: sign: %w", r.Environment, err)
	}
	return Snapshot{Report: raw, Note: string(msg)}, nil
}

// Verify checks a snapshot against the log's verifier and returns its
// report; a report changed after signing, or a note of another key, is
// refused.
func Verify(s Snapshot, v note.Verifier) (Report, error) {
	n, err := note.Open([]byte(s.Note), note.VerifierList(v))
	if err != nil {
		return Report{}, fault.Invalidf("sovereignty snapshot: the signature does not verify: %v", err)
	}
	var r Report
	if err := json.Unmarshal(s.Report, &r); err != nil {
		return Report{}, fault.Invalidf("sovereignty snapshot: the report is not JSON: %v", err)
	}
	// The hash is over the report's canonical encoding (Go's, with sorted
	// map keys), not over the bytes as they travelled: an HTTP encoder may
	// indent or escape them without changing a value.
	canonical, err := json.Marshal(r)
	if err != nil {
		return Report{}, fault.Invalidf("sovereignty snapshot: %v", err)
	}
	if n.Text != snapshotText(r.Environment, r.AssessedAt, sha256.Sum256(canonical)) {
		return Report{}, fault.Invalidf("sovereignty snapshot: the report does not match its signature (changed after signing?)")
	}
	return r, nil
}
