// Package baseline is the secure baseline as a product that tenants pull:
// central operators publish versioned releases — infrastructure code, the
// control assignments and notification rules it carries, a changelog —
// each signed with the platform's key and immutable; publishing scans the
// code with the proactive controls and refuses a release with findings at
// or above a severity. Tenants browse the catalogue, read the diff between
// two versions and deploy a release into their own environment themselves,
// through a short-lived deploy session a tenant administrator starts; on
// AWS a release becomes a CloudFormation stack. Per environment it keeps
// the adopted version, the deployment history and the drift of the
// deployed template (docs/baselines.md).
package baseline

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/assignments"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/iac"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/provider"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Format is the kind of a release's infrastructure code.
type Format string

const (
	// CloudFormation templates (YAML or JSON) are scanned and deployed.
	CloudFormation Format = "cloudformation"
	// Terraform modules and Heat templates are stored and signed but not
	// deployed: no driver runs them yet, and deploying one is refused.
	Terraform Format = "terraform"
	Heat      Format = "heat"
)

// ControlRef is a control assignment a release carries.
type ControlRef struct {
	ControlID string           `json:"control_id"`
	Mode      assignments.Mode `json:"mode"`
}

// NotifyRule is a notification rule a release carries: the shape of a
// notify channel without its target, which the tenant supplies.
type NotifyRule struct {
	Name         string            `json:"name"`
	Kinds        []notify.Kind     `json:"kinds"`
	MinSeverity  controls.Severity `json:"min_severity"`
	GroupSeconds int               `json:"group_seconds,omitempty"`
}

// Spec is what central publishes as one version of a product.
type Spec struct {
	Format        Format       `json:"format"`
	Template      string       `json:"template"`
	Controls      []ControlRef `json:"controls"`
	Notifications []NotifyRule `json:"notifications"`
	Changelog     string       `json:"changelog"`
}

// Finding is a scan result kept with a release (below the threshold, or
// the reason of a refusal).
type Finding struct {
	ControlID string            `json:"control_id"`
	Severity  controls.Severity `json:"severity"`
	Resource  string            `json:"resource"`
	Line      int               `json:"line,omitempty"`
	Message   string            `json:"message"`
}

// ScanSummary is what publishing's scan found.
type ScanSummary struct {
	Scanned   bool      `json:"scanned"`
	Resources int       `json:"resources"`
	RefuseAt  string    `json:"refuse_at"`
	Findings  []Finding `json:"findings"`
}

// Release is a published, signed, immutable version of a product.
type Release struct {
	Product        string       `json:"product"`
	Version        string       `json:"version"`
	Format         Format       `json:"format"`
	Template       string       `json:"template"`
	TemplateSHA256 string       `json:"template_sha256"`
	Controls       []ControlRef `json:"controls"`
	Notifications  []NotifyRule `json:"notifications"`
	Changelog      string       `json:"changelog"`
	Scan           ScanSummary  `json:"scan"`
	PublishedBy    string       `json:"published_by"`
	PublishedAt    time.Time    `json:"published_at"`
	// Manifest is the signed statement of the release (canonical JSON)
	// and Note the signed note over its SHA-256: Verify checks both
	// offline with the platform's public key.
	Manifest json.RawMessage `json:"manifest"`
	Note     string          `json:"note"`
}

// Product is a product of the catalogue with its versions, newest first.
type Product struct {
	Name      string    `json:"name"`
	Latest    string    `json:"latest"`
	Versions  []Summary `json:"versions"`
	CreatedAt time.Time `json:"created_at"`
}

// Summary is one version in a listing.
type Summary struct {
	Version        string    `json:"version"`
	Format         Format    `json:"format"`
	TemplateSHA256 string    `json:"template_sha256"`
	Changelog      string    `json:"changelog"`
	PublishedBy    string    `json:"published_by"`
	PublishedAt    time.Time `json:"published_at"`
}

// ScanRefusal is a release refused by publishing's scan: fault.Invalid
// (422) with the findings at or above the threshold.
type ScanRefusal struct {
	RefuseAt controls.Severity
	Findings []Finding
}

func (e *ScanRefusal) Error() string {
	return fmt.Sprintf("the template has %d findings at %s severity or above; fix them and publish again", len(e.Findings), e.RefuseAt)
}

// Stacks finds the stack capability of an environment's provider
// connection: ok is false when the server has no such connection.
type Stacks func(providerName string) (st provider.Stacks, supported, ok bool)

// Options configure the service.
type Options struct {
	// Signer is the platform's key (the audit log's), which signs
	// releases.
	Signer note.Signer
	// Engine returns the running controls engine (the catalogue with the
	// custom controls); nil leaves releases unscanned and control
	// references unchecked.
	Engine func() *controls.Engine
	// RefuseAt is the severity from which a scan finding refuses a
	// release; empty means high.
	RefuseAt controls.Severity
	// Stacks reaches the providers that deploy; nil deploys nothing.
	Stacks Stacks
	// Region is where stacks' resources land when the template names
	// none (the scan's region).
	Region string
	// SessionTTL is how long a deploy session lasts; zero means 15
	// minutes.
	SessionTTL time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service is the baseline catalogue and its deployments.
type Service struct {
	db   *store.DB
	envs *env.Store
	opts Options
}

// New returns a Service.
func New(db *store.DB, envs *env.Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RefuseAt == "" {
		opts.RefuseAt = controls.High
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	return &Service{db: db, envs: envs, opts: opts}
}

// DefaultSessionTTL is how long a deploy session lasts.
const DefaultSessionTTL = 15 * time.Minute

// RefuseAt is the severity from which publishing refuses a release.
func (s *Service) RefuseAt() controls.Severity { return s.opts.RefuseAt }

// Limits on what a release may hold.
const (
	maxTemplate  = 512 << 10
	maxChangelog = 20000
	maxRefs      = 200
)

var productPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}[a-z0-9]$`)

// CheckProductName refuses a name that is not a lower-case slug.
func CheckProductName(name string) error {
	if !productPattern.MatchString(name) {
		return fault.InvalidField("product", "a product name is 3 to 64 lower-case letters, digits and hyphens, starting with a letter (for example secure-baseline), not %q", clip(name))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// validate checks a spec against the catalogue and normalises it.
func (s *Service) validate(spec *Spec) error {
	switch spec.Format {
	case CloudFormation, Terraform, Heat:
	case "":
		return fault.InvalidField("format", "format is required: cloudformation, terraform or heat")
	default:
		return fault.InvalidField("format", "format must be cloudformation, terraform or heat, not %q", clip(string(spec.Format)))
	}
	switch {
	case strings.TrimSpace(spec.Template) == "":
		return fault.InvalidField("template", "the template is empty")
	case len(spec.Template) > maxTemplate:
		return fault.InvalidField("template", "the template is larger than %d KiB", maxTemplate>>10)
	case !utf8.ValidString(spec.Template):
		return fault.InvalidField("template", "the template is not UTF-8 text")
	case strings.TrimSpace(spec.Changelog) == "":
		return fault.InvalidField("changelog", "say what changed in this version (changelog)")
	case len(spec.Changelog) > maxChangelog:
		return fault.InvalidField("changelog", "the changelog is longer than %d bytes", maxChangelog)
	case len(spec.Controls) > maxRefs || len(spec.Notifications) > maxRefs:
		return fault.Invalidf("a release carries at most %d controls and %d notification rules", maxRefs, maxRefs)
	}
	if spec.Format == CloudFormation {
		if f, err := iac.Detect("template", []byte(spec.Template)); err != nil || f != iac.CloudFormation {
			msg := "the template is not a CloudFormation template (no AWSTemplateFormatVersion or Resources with a Type)"
			if err != nil {
				msg = err.Error()
			}
			return fault.InvalidField("template", "%s", msg)
		}
	}
	if spec.Controls == nil {
		spec.Controls = []ControlRef{}
	}
	if spec.Notifications == nil {
		spec.Notifications = []NotifyRule{}
	}
	var engine *controls.Engine
	if s.opts.Engine != nil {
		engine = s.opts.Engine()
	}
	seen := map[string]bool{}
	for i, c := range spec.Controls {
		field := fmt.Sprintf("controls[%d]", i)
		if c.Mode == "" {
			spec.Controls[i].Mode = assignments.Detect
		} else if c.Mode != assignments.Detect && c.Mode != assignments.Enforce {
			return fault.InvalidField(field+".mode", "mode must be detect or enforce, not %q", clip(string(c.Mode)))
		}
		if seen[c.ControlID] {
			return fault.InvalidField(field+".control_id", "control %s is listed twice", clip(c.ControlID))
		}
		seen[c.ControlID] = true
		if engine != nil {
			if _, ok := engine.Control(c.ControlID); !ok {
				return fault.InvalidField(field+".control_id", "no control %q in the catalogue", clip(c.ControlID))
			}
		} else if c.ControlID == "" {
			return fault.InvalidField(field+".control_id", "control_id is required")
		}
	}
	slices.SortFunc(spec.Controls, func(a, b ControlRef) int { return strings.Compare(a.ControlID, b.ControlID) })
	names := map[string]bool{}
	for i, n := range spec.Notifications {
		field := fmt.Sprintf("notifications[%d]", i)
		switch {
		case strings.TrimSpace(n.Name) == "" || len(n.Name) > 100:
			return fault.InvalidField(field+".name", "a notification rule needs a name of at most 100 characters")
		case names[n.Name]:
			return fault.InvalidField(field+".name", "notification rule %q is listed twice", n.Name)
		case len(n.Kinds) == 0:
			return fault.InvalidField(field+".kinds", "name the channel kinds the rule is for: webhook, slack, teams, email")
		case n.MinSeverity.Rank() < 0:
			return fault.InvalidField(field+".min_severity", "min_severity must be critical, high, medium, low or informational, not %q", clip(string(n.MinSeverity)))
		case n.GroupSeconds < 0 || n.GroupSeconds > 86400:
			return fault.InvalidField(field+".group_seconds", "group_seconds is from 0 to 86400")
		}
		names[n.Name] = true
		for _, k := range n.Kinds {
			if !slices.Contains([]notify.Kind{notify.Webhook, notify.Slack, notify.Teams, notify.Email}, k) {
				return fault.InvalidField(field+".kinds", "kind must be webhook, slack, teams or email, not %q", clip(string(k)))
			}
		}
	}
	return nil
}

// contentSum identifies what was published, whoever published it when:
// the same content again is the same release.
func contentSum(spec Spec) string {
	b, _ := json.Marshal(struct {
		Format        Format       `json:"format"`
		Template      string       `json:"template"`
		Controls      []ControlRef `json:"controls"`
		Notifications []NotifyRule `json:"notifications"`
		Changelog     string       `json:"changelog"`
	}{spec.Format, spec.Template, spec.Controls, spec.Notifications, spec.Changelog})
	return sum(string(b))
}

// scan runs the proactive controls over a CloudFormation template.
func (s *Service) scan(ctx context.Context, product, version string, spec Spec) (ScanSummary, error) {
	out := ScanSummary{RefuseAt: string(s.opts.RefuseAt), Findings: []Finding{}}
	if spec.Format != CloudFormation || s.opts.Engine == nil {
		return out, nil
	}
	rep, err := iac.Scan(ctx, s.opts.Engine(), []iac.File{{Name: product + "@" + version, Data: []byte(spec.Template), Region: s.opts.Region}})
	if err != nil {
		return ScanSummary{}, err
	}
	out.Scanned, out.Resources = true, rep.Resources
	var refused []Finding
	for _, r := range rep.Results {
		f := Finding{ControlID: r.ControlID, Severity: r.Severity, Resource: r.Resource, Line: r.Line, Message: r.Message}
		if r.Severity.AtLeast(s.opts.RefuseAt) {
			refused = append(refused, f)
		}
		out.Findings = append(out.Findings, f)
	}
	if len(refused) > 0 {
		return ScanSummary{}, &fault.Error{Kind: fault.Invalid, Field: "template", Message: (&ScanRefusal{RefuseAt: s.opts.RefuseAt, Findings: refused}).Error(),
			Err: &ScanRefusal{RefuseAt: s.opts.RefuseAt, Findings: refused}}
	}
	return out, nil
}

// Publish publishes version of product. A version already published
// with the same content answers that release (created false); with other
// content it is a conflict: releases are immutable.
func (s *Service) Publish(ctx context.Context, actor, product, version string, spec Spec) (Release, bool, error) {
	if err := CheckProductName(product); err != nil {
		return Release{}, false, err
	}
	v, err := ParseVersion(version)
	if err != nil {
		return Release{}, false, fault.InvalidField("version", "%v", err)
	}
	if err := s.validate(&spec); err != nil {
		return Release{}, false, err
	}
	content := contentSum(spec)
	if existing, err := s.Release(ctx, product, version); err == nil {
		return sameOrConflict(ctx, s.db, existing, content)
	} else if fault.KindOf(err) != fault.NotFound {
		return Release{}, false, err
	}
	summary, err := s.scan(ctx, product, version, spec)
	if err != nil {
		return Release{}, false, fmt.Errorf("publish %s %s: %w", product, version, err)
	}
	if s.opts.Signer == nil {
		return Release{}, false, &fault.Error{Kind: fault.Unavailable, Message: "no signing key is configured; releases cannot be signed"}
	}
	now := s.opts.Now().UTC().Truncate(time.Second)
	rel := Release{Product: product, Version: v.String(), Format: spec.Format, Template: spec.Template, TemplateSHA256: sum(spec.Template),
		Controls: spec.Controls, Notifications: spec.Notifications, Changelog: spec.Changelog, Scan: summary, PublishedBy: actor, PublishedAt: now}
	if rel.Manifest, rel.Note, err = sign(rel, s.opts.Signer); err != nil {
		return Release{}, false, err
	}
	controlsJSON, _ := json.Marshal(rel.Controls)
	notifyJSON, _ := json.Marshal(rel.Notifications)
	scanJSON, _ := json.Marshal(rel.Scan)
	var raced bool
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO baseline_products (name, created_by, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, product, actor, now); err != nil {
			return fmt.Errorf("publish %s: %w", product, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO baseline_releases (product, version, major, minor, patch, prerelease, format, template,
			template_sha256, content_sha256, controls, notifications, changelog, manifest, note, scan, published_by, published_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (product, version) DO NOTHING`,
			product, rel.Version, v.Major, v.Minor, v.Patch, v.Pre, string(rel.Format), rel.Template, rel.TemplateSHA256, content,
			string(controlsJSON), string(notifyJSON), rel.Changelog, string(rel.Manifest), rel.Note, string(scanJSON), actor, now)
		if err != nil {
			return fmt.Errorf("publish %s %s: %w", product, version, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			raced = true // another publisher won; compare with theirs after this
			return nil
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: actor, Action: "baseline.publish", Target: product + "@" + rel.Version,
			Details: map[string]any{"format": rel.Format, "template_sha256": rel.TemplateSHA256, "controls": len(rel.Controls),
				"notifications": len(rel.Notifications), "findings": len(summary.Findings)}})
	})
	if err != nil {
		return Release{}, false, err
	}
	if raced {
		existing, err := s.Release(ctx, product, version)
		if err != nil {
			return Release{}, false, err
		}
		return sameOrConflict(ctx, s.db, existing, content)
	}
	return rel, true, nil
}

func sameOrConflict(ctx context.Context, db *store.DB, existing Release, content string) (Release, bool, error) {
	var stored string
	if err := db.QueryRowContext(ctx, `SELECT content_sha256 FROM baseline_releases WHERE product = $1 AND version = $2`,
		existing.Product, existing.Version).Scan(&stored); err != nil {
		return Release{}, false, fmt.Errorf("release %s %s: %w", existing.Product, existing.Version, err)
	}
	if stored != content {
		return Release{}, false, fault.Conflictf("%s %s is already published with other content, and a release never changes: publish a new version", existing.Product, existing.Version)
	}
	return existing, false, nil
}

const releaseColumns = `product, version, format, template, template_sha256, controls, notifications, changelog, manifest, note, scan, published_by, published_at`

func scanRelease(row interface{ Scan(...any) error }) (Release, error) {
	var r Release
	var format, ctl, nt, manifest, scan string
	if err := row.Scan(&r.Product, &r.Version, &format, &r.Template, &r.TemplateSHA256, &ctl, &nt, &r.Changelog, &manifest, &r.Note, &scan,
		&r.PublishedBy, &r.PublishedAt); err != nil {
		return Release{}, err
	}
	r.Format, r.Manifest, r.PublishedAt = Format(format), json.RawMessage(manifest), r.PublishedAt.UTC()
	for _, x := range []struct {
		raw string
		v   any
	}{{ctl, &r.Controls}, {nt, &r.Notifications}, {scan, &r.Scan}} {
		if err := json.Unmarshal([]byte(x.raw), x.v); err != nil {
			return Release{}, fmt.Errorf("release %s %s: %w", r.Product, r.Version, err)
		}
	}
	return r, nil
}

// Release returns one release.
func (s *Service) Release(ctx context.Context, product, version string) (Release, error) {
	r, err := scanRelease(s.db.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM baseline_releases WHERE product = $1 AND version = $2`, product, version))
	if errors.Is(err, sql.ErrNoRows) {
		return Release{}, fault.NotFoundf("no release %s of baseline product %s", clip(version), clip(product))
	}
	if err != nil {
		return Release{}, fmt.Errorf("release %s %s: %w", product, version, err)
	}
	return r, nil
}

// Products lists the catalogue, each product with its versions newest
// first.
func (s *Service) Products(ctx context.Context) ([]Product, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.name, p.created_at, r.version, r.format, r.template_sha256, r.changelog, r.published_by, r.published_at,
		r.major, r.minor, r.patch, r.prerelease
		FROM baseline_products p JOIN baseline_releases r ON r.product = p.name ORDER BY p.name`)
	if err != nil {
		return nil, fmt.Errorf("baseline products: %w", err)
	}
	defer rows.Close()
	type row struct {
		sum Summary
		v   Version
	}
	var out []Product
	versions := map[string][]row{}
	for rows.Next() {
		var name, format string
		var created time.Time
		var x row
		if err := rows.Scan(&name, &created, &x.sum.Version, &format, &x.sum.TemplateSHA256, &x.sum.Changelog, &x.sum.PublishedBy, &x.sum.PublishedAt,
			&x.v.Major, &x.v.Minor, &x.v.Patch, &x.v.Pre); err != nil {
			return nil, fmt.Errorf("baseline products: %w", err)
		}
		x.sum.Format, x.sum.PublishedAt = Format(format), x.sum.PublishedAt.UTC()
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, Product{Name: name, CreatedAt: created.UTC()})
		}
		versions[name] = append(versions[name], x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("baseline products: %w", err)
	}
	for i := range out {
		vs := versions[out[i].Name]
		slices.SortFunc(vs, func(a, b row) int { return b.v.Compare(a.v) })
		for _, x := range vs {
			out[i].Versions = append(out[i].Versions, x.sum)
		}
		out[i].Latest = latest(vs, func(x row) Version { return x.v })
	}
	if out == nil {
		out = []Product{}
	}
	return out, nil
}

// latest is the newest release that is not a pre-release, or the newest
// pre-release when there is nothing else; vs is sorted newest first.
func latest[T any](vs []T, version func(T) Version) string {
	for _, x := range vs {
		if v := version(x); v.Pre == "" {
			return v.String()
		}
	}
	if len(vs) > 0 {
		return version(vs[0]).String()
	}
	return ""
}

// GetProduct returns one product of the catalogue.
func (s *Service) GetProduct(ctx context.Context, name string) (Product, error) {
	ps, err := s.Products(ctx)
	if err != nil {
		return Product{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return Product{}, fault.NotFoundf("no baseline product %s", clip(name))
}
