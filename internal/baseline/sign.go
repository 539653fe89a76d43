package baseline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// A release is signed as the sovereignty snapshots and the audit log's
// checkpoints are: a signed note (golang.org/x/mod/sumdb/note) with the
// platform's key over the SHA-256 of the release's manifest. The
// manifest names the template by its SHA-256, so a release as the API
// returns it (GET …/versions/{version}, saved to a file) is verified
// offline with nothing but the platform's public key: hatoba baseline
// verify --key KEY FILE.

// Manifest is the signed statement of a release.
type Manifest struct {
	Product        string       `json:"product"`
	Version        string       `json:"version"`
	Format         Format       `json:"format"`
	TemplateSHA256 string       `json:"template_sha256"`
	Controls       []ControlRef `json:"controls"`
	Notifications  []NotifyRule `json:"notifications"`
	Changelog      string       `json:"changelog"`
	PublishedBy    string       `json:"published_by"`
	PublishedAt    time.Time    `json:"published_at"`
}

const noteHeader = "hatoba baseline release v1"

func noteText(product, version string, manifestSum [32]byte) string {
	return fmt.Sprintf("%s\n%s\n%s\nsha256:%s\n", noteHeader, product, version, hex.EncodeToString(manifestSum[:]))
}

func manifestOf(r Release) Manifest {
	return Manifest{Product: r.Product, Version: r.Version, Format: r.Format, TemplateSHA256: r.TemplateSHA256, Controls: r.Controls,
		Notifications: r.Notifications, Changelog: r.Changelog, PublishedBy: r.PublishedBy, PublishedAt: r.PublishedAt}
}

func sign(r Release, signer note.Signer) (json.RawMessage, string, error) {
	raw, err := json.Marshal(manifestOf(r))
	if err != nil {
		return nil, "", fmt.Errorf("sign %s %s: %w", r.Product, r.Version, err)
	}
	msg, err := note.Sign(&note.Note{Text: noteText(r.Product, r.Version, sha256.Sum256(raw))}, signer)
	if err != nil {
		return nil, "", fmt.Errorf("sign %s %s: %w", r.Product, r.Version, err)
	}
	return raw, string(msg), nil
}

// Verify checks a release offline: the note is signed by v's key and
// names the manifest's hash, the manifest is the release's, and the
// template is the one the manifest names. It returns the manifest.
func Verify(r Release, v note.Verifier) (Manifest, error) {
	n, err := note.Open([]byte(r.Note), note.VerifierList(v))
	if err != nil {
		return Manifest{}, fault.Invalidf("baseline release: the signature does not verify: %v", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(r.Manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fault.Invalidf("baseline release: the manifest is not a release manifest: %v", err)
	}
	// The hash is over the manifest's canonical encoding (Go's), not the
	// bytes as they travelled: a JSON encoder may indent them.
	canonical, err := json.Marshal(m)
	if err != nil {
		return Manifest{}, fault.Invalidf("baseline release: %v", err)
	}
	if n.Text != noteText(m.Product, m.Version, sha256.Sum256(canonical)) {
		return Manifest{}, fault.Invalidf("baseline release: the manifest does not match its signature (changed after signing?)")
	}
	if r.Product != "" && (r.Product != m.Product || r.Version != m.Version) {
		return Manifest{}, fault.Invalidf("baseline release: the file says %s %s, its signed manifest %s %s", r.Product, r.Version, m.Product, m.Version)
	}
	if got := sum(r.Template); got != m.TemplateSHA256 {
		return Manifest{}, fault.Invalidf("baseline release: the template's SHA-256 is %s, the signed manifest says %s (changed after signing?)", got, m.TemplateSHA256)
	}
	return m, nil
}

// ParseRelease reads a release as the API returns it.
func ParseRelease(b []byte) (Release, error) {
	var r Release
	if err := json.Unmarshal(b, &r); err != nil {
		return Release{}, fault.Invalidf("not a baseline release (JSON as GET /api/v1/baselines/{product}/versions/{version} returns it): %v", err)
	}
	if r.Note == "" || len(r.Manifest) == 0 {
		return Release{}, fault.Invalidf("not a baseline release: it has no manifest and note")
	}
	return r, nil
}
