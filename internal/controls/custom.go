package controls

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Custom controls: central operators add controls — metadata, a Rego
// module and its tests — to the catalog at run time. A control is kept
// only when its metadata is valid, its id is not a built-in's, the whole
// catalog compiles with it and its own tests pass (docs/controls.md,
// "Custom controls").

// Custom is a control an operator added.
type Custom struct {
	Control
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// forbiddenBuiltins are the Rego built-ins a custom control may not call:
// they reach the network or read the server's own environment, and a
// control only judges the input it is given.
var forbiddenBuiltins = []string{"http.send", "net.lookup_ip_addr", "opa.runtime"}

// Store keeps the custom controls in the database.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// NewStore returns a Store.
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// List returns the custom controls by id.
func (s *Store) List(ctx context.Context) ([]Custom, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, metadata, policy, tests, created_by, created_at, updated_at FROM custom_controls ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("custom controls: %w", err)
	}
	defer rows.Close()
	out := []Custom{}
	for rows.Next() {
		var c Custom
		var id, meta string
		if err := rows.Scan(&id, &meta, &c.Policy, &c.Tests, &c.CreatedBy, &c.CreatedAt, &c.UpdatedAt); err != nil {
			return nil, fmt.Errorf("custom controls: %w", err)
		}
		policy, tests := c.Policy, c.Tests
		if c.Control, err = ParseMetadata([]byte(meta)); err != nil {
			return nil, fmt.Errorf("custom control %s: stored metadata: %w", id, err)
		}
		c.Policy, c.Tests, c.CreatedAt, c.UpdatedAt = policy, tests, c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// Check refuses a control that may not join the catalog of builtin and
// custom controls: invalid metadata, an id already taken (Conflict), Rego
// that does not compile with the rest, or tests that fail (Invalid, with
// the compiler's or the test's message). It returns the engine of the
// catalog with the control.
func Check(ctx context.Context, builtin, custom []Control, c Control) (*Engine, []TestResult, error) {
	c.Builtin = false
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	if c.Policy == "" || c.Tests == "" {
		return nil, nil, &fault.Error{Kind: fault.Invalid, Message: "control " + c.ID + ": policy and tests are both required (policy.rego and policy_test.rego)"}
	}
	if slices.ContainsFunc(builtin, func(b Control) bool { return b.ID == c.ID }) {
		return nil, nil, fault.Conflictf("control %s is a built-in control; choose another id", c.ID)
	}
	if slices.ContainsFunc(custom, func(b Control) bool { return b.ID == c.ID }) {
		return nil, nil, fault.Conflictf("a custom control %s exists already; delete it first to replace it", c.ID)
	}
	// The control's own modules, with the built-ins that reach outside
	// the input taken away.
	modules, err := parseModules([]Control{c}, true)
	if err != nil {
		return nil, nil, err
	}
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = slices.DeleteFunc(slices.Clone(caps.Builtins), func(b *ast.Builtin) bool { return slices.Contains(forbiddenBuiltins, b.Name) })
	compiler := ast.NewCompiler().WithCapabilities(caps)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, nil, &fault.Error{Kind: fault.Invalid, Message: "control " + c.ID + " does not compile: " + compiler.Errors.Error()}
	}
	e, err := NewEngine(ctx, append(append(slices.Clone(builtin), custom...), c))
	if err != nil {
		return nil, nil, err
	}
	results, err := RunTests(ctx, []Control{c})
	if err != nil {
		return nil, results, err
	}
	return e, results, nil
}

// Catalog is the running catalog: the built-in controls and the custom
// ones, compiled into the Engine every evaluation uses. Adding or
// deleting a custom control compiles a new Engine and swaps it in
// atomically; evaluations already running finish with the old one.
type Catalog struct {
	store   *Store
	builtin []Control
	engine  atomic.Pointer[Engine]
	mu      sync.Mutex // one change at a time
	// loaded fingerprints the custom controls the engine was compiled
	// with, so a Reload that finds nothing new compiles nothing.
	loaded string
}

// OpenCatalog loads the built-in and custom controls and compiles them.
func OpenCatalog(ctx context.Context, st *Store) (*Catalog, error) {
	builtin, err := Builtin()
	if err != nil {
		return nil, err
	}
	c := &Catalog{store: st, builtin: builtin}
	if err := c.Reload(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Engine is the current engine.
func (c *Catalog) Engine() *Engine { return c.engine.Load() }

// Control finds a control of the current engine.
func (c *Catalog) Control(id string) (Control, bool) { return c.Engine().Control(id) }

// Reload compiles the catalog again from the database: after another
// replica changed it.
func (c *Catalog) Reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reload(ctx)
}

func (c *Catalog) reload(ctx context.Context) error {
	customs, err := c.store.List(ctx)
	if err != nil {
		return err
	}
	var fp strings.Builder
	for _, cu := range customs {
		fmt.Fprintf(&fp, "%s@%d;", cu.ID, cu.UpdatedAt.UnixNano())
	}
	if c.engine.Load() != nil && fp.String() == c.loaded {
		return nil
	}
	e, err := NewEngine(ctx, append(slices.Clone(c.builtin), controlsOf(customs)...))
	if err != nil {
		return fmt.Errorf("controls: the custom controls no longer compile: %w", err)
	}
	c.engine.Store(e)
	c.loaded = fp.String()
	return nil
}

func controlsOf(cs []Custom) []Control {
	out := make([]Control, len(cs))
	for i, c := range cs {
		out[i] = c.Control
	}
	return out
}

// Custom lists the custom controls.
func (c *Catalog) Custom(ctx context.Context) ([]Custom, error) { return c.store.List(ctx) }

// Add adds a custom control for person by (see Check), records it in the
// audit log and makes the engine evaluate it from now on.
func (c *Catalog) Add(ctx context.Context, by string, ctl Control) (Custom, []TestResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	customs, err := c.store.List(ctx)
	if err != nil {
		return Custom{}, nil, err
	}
	e, results, err := Check(ctx, c.builtin, controlsOf(customs), ctl)
	if err != nil {
		return Custom{}, results, err
	}
	ctl.Builtin = false
	meta, err := json.Marshal(ctl)
	if err != nil {
		return Custom{}, nil, fmt.Errorf("custom control %s: %w", ctl.ID, err)
	}
	// The metadata column holds control.yaml's fields only.
	var fields map[string]any
	if err := json.Unmarshal(meta, &fields); err != nil {
		return Custom{}, nil, err
	}
	delete(fields, "policy")
	delete(fields, "tests")
	delete(fields, "builtin")
	if meta, err = json.Marshal(fields); err != nil {
		return Custom{}, nil, err
	}
	now := c.store.now().UTC()
	err = c.store.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO custom_controls (id, metadata, policy, tests, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`, ctl.ID, string(meta), ctl.Policy, ctl.Tests, by, now); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.Conflictf("a custom control %s exists already", ctl.ID)
			}
			return err
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by, Action: "control.custom.add", Target: ctl.ID,
			Details: map[string]any{"severity": ctl.Severity, "kinds": ctl.Kinds, "resource_types": ctl.ResourceTypes}})
	})
	if err != nil {
		return Custom{}, results, fmt.Errorf("add control %s: %w", ctl.ID, err)
	}
	c.engine.Store(e)
	c.loaded = "\x00changed" // compiled here, not by reload: the next reload recompiles
	return Custom{Control: ctl, CreatedBy: by, CreatedAt: now, UpdatedAt: now}, results, nil
}

// Delete removes a custom control; built-in ones cannot be (Conflict).
// Its assignments stay and match nothing; its open findings resolve at
// their environments' next evaluation.
func (c *Catalog) Delete(ctx context.Context, by, id string) error {
	if slices.ContainsFunc(c.builtin, func(b Control) bool { return b.ID == id }) {
		return fault.Conflictf("control %s is built in and cannot be deleted; unassign it instead", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.store.now().UTC()
	err := c.store.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM custom_controls WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fault.NotFoundf("no control %s", id)
		}
		return audit.Append(ctx, tx, audit.Entry{At: now, Actor: by, Action: "control.custom.delete", Target: id})
	})
	if err != nil {
		return fmt.Errorf("delete control %s: %w", id, err)
	}
	return c.reload(ctx)
}
