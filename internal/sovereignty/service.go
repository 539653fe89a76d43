package sovereignty

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// FactsFunc gathers an environment's facts from the capabilities that own
// them (cmd/hatoba wires it: the environment, its inventory, its key
// store, its people and break-glass grants). inventory, when not nil, is
// the inventory just collected, to read instead of the stored one.
type FactsFunc func(ctx context.Context, envID string, inventory []controls.Resource) (Facts, error)

// DriftFunc hears of an assessment made between collections (a profile
// change, the periodic rescore, a person asking) whose enforced floor
// breaches differ from the environment's previous assessment: cmd/hatoba
// hands it to the detective controls with the stored inventory, so the
// hatoba-sovereignty-floor finding opens or resolves — and reaches the
// organisation's channels — now, not at the next collection.
type DriftFunc func(ctx context.Context, r Report) error

// EnvironmentsFunc lists the environments to assess on a provider
// connection ("" for every connection): the ready ones.
type EnvironmentsFunc func(ctx context.Context, connection string) ([]string, error)

// Service keeps the profiles and the assessments.
type Service struct {
	db           *store.DB
	engine       *Engine
	floors       map[string]Floor
	facts        FactsFunc
	environments EnvironmentsFunc
	drift        DriftFunc
	log          *slog.Logger
	now          func() time.Time
	// rescore wakes Run for a connection whose profile changed.
	rescore chan string
}

// Options configure a Service.
type Options struct {
	Engine       *Engine
	Floors       map[string]Floor // DefaultFloors when nil
	Facts        FactsFunc
	Environments EnvironmentsFunc
	Drift        DriftFunc // optional
	Logger       *slog.Logger
	Now          func() time.Time
}

// NewService builds the service.
func NewService(db *store.DB, o Options) *Service {
	if o.Floors == nil {
		o.Floors = DefaultFloors()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{db: db, engine: o.Engine, floors: o.Floors, facts: o.Facts, environments: o.Environments,
		drift: o.Drift, log: o.Logger, now: o.Now, rescore: make(chan string, 64)}
}

// Floors are the floors per classification.
func (s *Service) Floors() map[string]Floor { return s.floors }

// StoredProfile is one version of a profile as kept.
type StoredProfile struct {
	Profile   Profile   `json:"profile"`
	Document  string    `json:"document"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at"`
}

// Import stores a profile read from the configuration when it is newer
// than the stored one (a restart with the same file changes nothing), as
// the system's change.
func (s *Service) Import(ctx context.Context, doc []byte) (imported bool, err error) {
	p, err := ParseProfile(doc)
	if err != nil {
		return false, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		latest, err := latestVersion(ctx, tx, p.Name)
		if err != nil || latest >= p.Version {
			return err
		}
		imported = true
		return s.insert(ctx, tx, p, doc, "system", "sovereignty.profile.import")
	})
	if err != nil {
		return false, fmt.Errorf("import sovereignty profile %s: %w", p.Name, err)
	}
	if imported {
		s.wake(p.Connection)
	}
	return imported, nil
}

// Put stores a new version of a profile, changed by a central operator.
// The document's version must be the stored one plus one: a change based
// on an older version is refused, not silently overwriting another's.
func (s *Service) Put(ctx context.Context, by string, doc []byte) (StoredProfile, error) {
	p, err := ParseProfile(doc)
	if err != nil {
		return StoredProfile{}, err
	}
	var sp StoredProfile
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		latest, err := latestVersion(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		if p.Version != latest+1 {
			return fault.Conflictf("profile %s is at version %d; a change must say version: %d", p.Name, latest, latest+1)
		}
		if latest > 0 {
			prev, err := s.version(ctx, tx, p.Name, latest)
			if err != nil {
				return err
			}
			if prev.Profile.Connection != p.Connection {
				return fault.InvalidField("connection", "profile %s describes connection %q; a new version cannot move it to %q", p.Name, prev.Profile.Connection, p.Connection)
			}
		}
		if err := s.insert(ctx, tx, p, doc, by, "sovereignty.profile.update"); err != nil {
			return err
		}
		sp = StoredProfile{Profile: p, Document: string(doc), ChangedBy: by, ChangedAt: s.now().UTC().Truncate(time.Microsecond)}
		return nil
	})
	if err != nil {
		return StoredProfile{}, fmt.Errorf("update sovereignty profile %s: %w", p.Name, err)
	}
	s.wake(p.Connection)
	return sp, nil
}

func (s *Service) insert(ctx context.Context, tx *store.Tx, p Profile, doc []byte, by, action string) error {
	now := s.now().UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO sovereignty_profiles (name, version, connection, document, changed_by, changed_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.Name, p.Version, p.Connection, string(doc), by, now); err != nil {
		if store.IsUniqueViolation(err) {
			return fault.Conflictf("profile %s version %d exists already", p.Name, p.Version)
		}
		return err
	}
	return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by, Action: action, Target: p.Name,
		Details: map[string]any{"version": p.Version, "connection": p.Connection, "example": p.Example}})
}

func latestVersion(ctx context.Context, q store.Querier, name string) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM sovereignty_profiles WHERE name = $1`, name).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

func (s *Service) version(ctx context.Context, q store.Querier, name string, version int) (StoredProfile, error) {
	var sp StoredProfile
	err := q.QueryRowContext(ctx, `SELECT document, changed_by, changed_at FROM sovereignty_profiles WHERE name = $1 AND version = $2`,
		name, version).Scan(&sp.Document, &sp.ChangedBy, &sp.ChangedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredProfile{}, fault.NotFoundf("no sovereignty profile %s version %d", name, version)
	}
	if err != nil {
		return StoredProfile{}, err
	}
	sp.ChangedAt = sp.ChangedAt.UTC()
	if sp.Profile, err = ParseProfile([]byte(sp.Document)); err != nil {
		return StoredProfile{}, fmt.Errorf("stored profile %s version %d no longer parses: %w", name, version, err)
	}
	return sp, nil
}

// Profiles lists the latest version of every profile.
func (s *Service) Profiles(ctx context.Context) ([]StoredProfile, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, MAX(version) FROM sovereignty_profiles GROUP BY name ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sovereignty profiles: %w", err)
	}
	type nv struct {
		name string
		v    int
	}
	var latest []nv
	for rows.Next() {
		var x nv
		if err := rows.Scan(&x.name, &x.v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sovereignty profiles: %w", err)
		}
		latest = append(latest, x)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sovereignty profiles: %w", err)
	}
	out := make([]StoredProfile, 0, len(latest))
	for _, x := range latest {
		sp, err := s.version(ctx, s.db, x.name, x.v)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// Profile returns a profile's latest version, or the given one.
func (s *Service) Profile(ctx context.Context, name string, version int) (StoredProfile, error) {
	if version == 0 {
		v, err := latestVersion(ctx, s.db, name)
		if err != nil {
			return StoredProfile{}, fmt.Errorf("sovereignty profile %s: %w", name, err)
		}
		if v == 0 {
			return StoredProfile{}, fault.NotFoundf("no sovereignty profile %s", name)
		}
		version = v
	}
	return s.version(ctx, s.db, name, version)
}

// ForConnection returns the latest profile of a provider connection.
func (s *Service) ForConnection(ctx context.Context, connection string) (StoredProfile, error) {
	var name string
	var version int
	err := s.db.QueryRowContext(ctx, `SELECT name, version FROM sovereignty_profiles WHERE connection = $1
		ORDER BY version DESC, changed_at DESC LIMIT 1`, connection).Scan(&name, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredProfile{}, fault.NotFoundf("provider connection %q has no sovereignty profile; a central operator adds one (docs/sovereignty.md)", connection)
	}
	if err != nil {
		return StoredProfile{}, fmt.Errorf("sovereignty profile of %s: %w", connection, err)
	}
	return s.version(ctx, s.db, name, version)
}

// Assess assesses one environment now from its current facts, keeps the
// result as its latest assessment and returns the exposure report.
func (s *Service) Assess(ctx context.Context, envID string) (Report, error) {
	return s.assess(ctx, envID, nil)
}

// AssessInventory is Assess with the inventory just collected, before it
// is recorded: the collector adds the assessment to what the detective
// controls evaluate (docs/sovereignty.md, "Floors").
func (s *Service) AssessInventory(ctx context.Context, envID string, inventory []controls.Resource) (Report, error) {
	if inventory == nil {
		inventory = []controls.Resource{}
	}
	return s.assess(ctx, envID, inventory)
}

func (s *Service) assess(ctx context.Context, envID string, inventory []controls.Resource) (Report, error) {
	f, err := s.facts(ctx, envID, inventory)
	if err != nil {
		return Report{}, fmt.Errorf("sovereignty of %s: facts: %w", envID, err)
	}
	sp, err := s.ForConnection(ctx, f.Connection)
	if err != nil {
		return Report{}, err
	}
	a, err := s.engine.Assess(ctx, sp.Profile, f, s.floors[f.Classification], s.now())
	if err != nil {
		return Report{}, err
	}
	r := Expose(a, sp.Profile, f)
	raw, err := json.Marshal(r)
	if err != nil {
		return Report{}, fmt.Errorf("sovereignty of %s: %w", envID, err)
	}
	placement, err := json.Marshal(a.Placement)
	if err != nil {
		return Report{}, fmt.Errorf("sovereignty of %s: %w", envID, err)
	}
	// A collection hands its assessment to the detective controls itself;
	// between collections, a change of what the floor control would find
	// goes to Drift.
	drifted := false
	if inventory == nil && s.drift != nil {
		before, err := s.Latest(ctx, envID)
		if err != nil && fault.KindOf(err) != fault.NotFound {
			return Report{}, err
		}
		drifted = enforcedBreaches(before) != enforcedBreaches(r)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sovereignty_assessments (env_id, org_id, connection, profile, profile_version, classification,
			score, breaches, report, placement, assessed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (env_id) DO UPDATE SET org_id = excluded.org_id, connection = excluded.connection, profile = excluded.profile,
			profile_version = excluded.profile_version, classification = excluded.classification, score = excluded.score,
			breaches = excluded.breaches, report = excluded.report, placement = excluded.placement, assessed_at = excluded.assessed_at`,
		envID, f.Organization, f.Connection, sp.Profile.Name, sp.Profile.Version, f.Classification, a.Score, len(a.Breaches), string(raw),
		string(placement), a.AssessedAt)
	if err != nil {
		return Report{}, fmt.Errorf("sovereignty of %s: keep: %w", envID, err)
	}
	if drifted {
		// The assessment is kept whatever happens here: the next
		// collection evaluates it again.
		if err := s.drift(ctx, r); err != nil {
			s.log.Warn("sovereignty drift not evaluated; the next collection will", "env", envID, "err", err)
		}
	}
	return r, nil
}

// enforcedBreaches is what the floor control finds in a report: its
// breaches when its floor is enforced, nothing otherwise.
func enforcedBreaches(r Report) string {
	if r.FloorMode != ModeEnforce {
		return ""
	}
	var b strings.Builder
	for _, x := range r.Breaches {
		fmt.Fprintf(&b, "%s %d<%d;", x.Objective, x.Level, x.Floor)
	}
	return b.String()
}

// Admit says whether a new environment of classification may be placed on
// connection: with the classification's floor in enforce mode, the
// provider's profile must reach it for an environment that has no
// resources yet (what the environment later does — a resource abroad —
// is the drift finding's). A floor in report mode admits everything.
func (s *Service) Admit(ctx context.Context, connection, classification string) error {
	floor, ok := s.floors[classification]
	if !ok || floor.Mode != ModeEnforce || len(floor.Levels) == 0 {
		return nil
	}
	sp, err := s.ForConnection(ctx, connection)
	if fault.KindOf(err) == fault.NotFound {
		return fault.InvalidField("provider", "%s environments need a sovereignty floor that is enforced, and provider connection %q has no sovereignty profile to judge it by", classification, connection)
	}
	if err != nil {
		return err
	}
	a, err := s.engine.Assess(ctx, sp.Profile, Facts{Connection: connection, Classification: classification}, floor, s.now())
	if err != nil {
		return err
	}
	if len(a.Breaches) == 0 {
		return nil
	}
	var parts []string
	for _, b := range a.Breaches {
		parts = append(parts, fmt.Sprintf("%s %d < %d", b.Objective, b.Level, b.Floor))
	}
	return fault.InvalidField("provider", "provider %q does not reach the enforced sovereignty floor of %s environments (%s; profile %s v%d): choose a provider that does",
		connection, classification, strings.Join(parts, ", "), sp.Profile.Name, sp.Profile.Version)
}

// Latest returns an environment's latest kept report.
func (s *Service) Latest(ctx context.Context, envID string) (Report, error) {
	var raw string
	err := s.db.QueryRowContext(ctx, `SELECT report FROM sovereignty_assessments WHERE env_id = $1`, envID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return Report{}, fault.NotFoundf("environment %s has not been assessed yet", envID)
	}
	if err != nil {
		return Report{}, fmt.Errorf("sovereignty of %s: %w", envID, err)
	}
	var r Report
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Report{}, fmt.Errorf("sovereignty of %s: stored report: %w", envID, err)
	}
	return r, nil
}

// Score is an environment's latest score and floor breaches: what central
// staff see for every environment.
type Score struct {
	Environment    string         `json:"environment"`
	Organization   string         `json:"organization"`
	Connection     string         `json:"connection"`
	Classification string         `json:"classification"`
	Profile        string         `json:"profile"`
	ProfileVersion int            `json:"profile_version"`
	Score          float64        `json:"score"`
	Levels         map[string]int `json:"levels"`
	Breaches       []Breach       `json:"breaches"`
	AssessedAt     time.Time      `json:"assessed_at"`
}

// Scores lists the latest scores of the given organisations'
// environments (every one when orgIDs is nil), by environment id.
func (s *Service) Scores(ctx context.Context, orgIDs []string) ([]Score, error) {
	q := `SELECT report FROM sovereignty_assessments`
	var args []any
	if orgIDs != nil {
		if len(orgIDs) == 0 {
			return []Score{}, nil
		}
		q += ` WHERE org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY env_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sovereignty scores: %w", err)
	}
	defer rows.Close()
	out := []Score{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("sovereignty scores: %w", err)
		}
		var r Report
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("sovereignty scores: stored report: %w", err)
		}
		out = append(out, Score{Environment: r.Environment, Organization: r.Organization, Connection: r.Connection,
			Classification: r.Classification, Profile: r.Profile, ProfileVersion: r.ProfileVersion, Score: r.Score,
			Levels: r.Levels, Breaches: nonNil(r.Breaches), AssessedAt: r.AssessedAt})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sovereignty scores: %w", err)
	}
	return out, nil
}

// Placements lists where the given organisations' environments (every
// one when orgIDs is nil) run, as their latest assessments found.
func (s *Service) Placements(ctx context.Context, orgIDs []string) ([]Placement, error) {
	q := `SELECT placement FROM sovereignty_assessments`
	var args []any
	if orgIDs != nil {
		if len(orgIDs) == 0 {
			return []Placement{}, nil
		}
		q += ` WHERE org_id IN (` + store.In(&args, orgIDs) + `)`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY env_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("placements: %w", err)
	}
	defer rows.Close()
	out := []Placement{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("placements: %w", err)
		}
		var p Placement
		if err := json.Unmarshal([]byte(raw), &p); err != nil {
			return nil, fmt.Errorf("placements: stored placement: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("placements: %w", err)
	}
	return out, nil
}

// Rescore assesses every environment on connection ("" for all) again;
// an environment that cannot be assessed is logged and counted, and the
// rest go on.
func (s *Service) Rescore(ctx context.Context, connection string) (done, failed int, err error) {
	ids, err := s.environments(ctx, connection)
	if err != nil {
		return 0, 0, fmt.Errorf("sovereignty rescore: %w", err)
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return done, failed, ctx.Err()
		}
		if _, err := s.Assess(ctx, id); err != nil {
			failed++
			if fault.KindOf(err) != fault.NotFound {
				s.log.Warn("sovereignty assessment failed", "env", id, "err", err)
			}
			continue
		}
		done++
	}
	return done, failed, nil
}

// Wake asks Run to rescore a connection's environments soon ("" for
// all): after a profile change, or an inventory collection.
func (s *Service) Wake(connection string) { s.wake(connection) }

func (s *Service) wake(connection string) {
	select {
	case s.rescore <- connection:
	default: // a rescore is pending already; the periodic one catches up
	}
}

// Run rescores every environment every interval, and a connection's
// environments as soon as Wake asks, until ctx ends. After each full
// rescore it keeps the day's national concentration (RecordConcentration).
func (s *Service) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var conn string
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case conn = <-s.rescore:
		}
		start := time.Now()
		done, failed, err := s.Rescore(ctx, conn)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sovereignty rescore failed", "connection", conn, "err", err)
			continue
		}
		s.log.Debug("sovereignty rescored", "connection", conn, "environments", done, "failed", failed, "took", time.Since(start))
		// A full rescore is the day's national figure (the last one of
		// the day stays): the concentration's history.
		if conn == "" {
			if err := s.RecordConcentration(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("sovereignty concentration history", "err", err)
			}
		}
	}
}

// KeyStoreOf reads, from an inventory's KMS keys, whether the
// environment's keys are held outside the provider: at least one customer
// key, and every one of them in an external key store.
func KeyStoreOf(kmsKeyStores []string) bool {
	if len(kmsKeyStores) == 0 {
		return false
	}
	for _, ks := range kmsKeyStores {
		if strings.TrimSpace(ks) == "" {
			return false
		}
	}
	return true
}
