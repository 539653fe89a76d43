package backup

import (
	"context"
	"fmt"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// The exit drill (docs/exit.md): export an installation, verify the export
// offline, import it into a new installation — typically SQLite into
// PostgreSQL — and compare what matters: organisations, environments and
// their states, assignments and exceptions, findings, people, keys, and
// the audit log, which must verify against the original's checkpoint.

// exitDomains are the tables the drill's report names.
var exitDomains = []string{"organizations", "environments", "vend_steps", "env_access", "people", "control_assignments",
	"control_exceptions", "findings", "key_stores", "tenant_keys", "tenant_key_versions", "sealed_secrets", "audit_entries"}

// DomainCheck compares one table across the drill.
type DomainCheck struct {
	Table    string `json:"table"`
	Source   int64  `json:"source_rows"`
	Imported int64  `json:"imported_rows"`
	Same     bool   `json:"same"` // count and checksum
}

// StateCount is how many environments are in a state on each side.
type StateCount struct {
	State    string `json:"state"`
	Source   int64  `json:"source"`
	Imported int64  `json:"imported"`
}

// ExitReport is the drill's result.
type ExitReport struct {
	From, To  string
	Export    ExportManifest
	Import    ImportReport
	Domains   []DomainCheck
	EnvStates []StateCount
	// CheckpointHeld: the imported log verifies and contains the original
	// installation's latest signed checkpoint.
	CheckpointHeld bool
	Omitted        []Omission
	Took           time.Duration
}

// OK reports whether everything carried over.
func (r ExitReport) OK() bool {
	for _, d := range r.Domains {
		if !d.Same {
			return false
		}
	}
	for _, s := range r.EnvStates {
		if s.Source != s.Imported {
			return false
		}
	}
	return r.Import.OK() && r.CheckpointHeld
}

// ExitDrill exports src into dir, imports it into the empty database into
// and compares the two.
func ExitDrill(ctx context.Context, src, into *store.DB, dir string, signer note.Signer, v note.Verifier, origin, version string,
	config []byte, now func() time.Time) (ExitReport, error) {
	return ExitDrillWith(ctx, src, into, dir, ExportOptions{Signer: signer, Origin: origin, Version: version, Config: config}, v, now)
}

// ExitDrillWith is ExitDrill with every export option (o.Now is set from
// now).
func ExitDrillWith(ctx context.Context, src, into *store.DB, dir string, o ExportOptions, v note.Verifier, now func() time.Time) (ExitReport, error) {
	start := now()
	rep := ExitReport{From: src.String(), To: into.String(), Omitted: omitted}
	o.Now, o.OrgID = now(), ""
	m, err := ExportWith(ctx, src, dir, o)
	if err != nil {
		return rep, err
	}
	rep.Export, rep.Omitted = m, m.Omitted
	if rep.Import, err = Import(ctx, dir, into, v, now); err != nil {
		return rep, err
	}
	rep.CheckpointHeld = rep.Import.Audit.OK() && rep.Import.Audit.Size >= m.Audit.Size
	got, err := Checksums(ctx, into)
	if err != nil {
		return rep, err
	}
	imported := map[string]TableSum{}
	for _, s := range got {
		imported[s.Name] = s
	}
	source := map[string]TableSum{}
	for _, s := range m.Tables {
		source[s.Name] = s
	}
	for _, name := range exitDomains {
		s, ok := source[name]
		if !ok {
			continue
		}
		i := imported[name]
		rep.Domains = append(rep.Domains, DomainCheck{Table: name, Source: s.Rows, Imported: i.Rows, Same: s.Rows == i.Rows && s.Checksum == i.Checksum})
	}
	srcStates, err := envStates(ctx, src)
	if err != nil {
		return rep, err
	}
	dstStates, err := envStates(ctx, into)
	if err != nil {
		return rep, err
	}
	var states []string
	for st := range srcStates {
		states = append(states, st)
	}
	for st := range dstStates {
		if _, ok := srcStates[st]; !ok {
			states = append(states, st)
		}
	}
	sort.Strings(states)
	for _, st := range states {
		rep.EnvStates = append(rep.EnvStates, StateCount{State: st, Source: srcStates[st], Imported: dstStates[st]})
	}
	rep.Took = now().Sub(start)
	return rep, nil
}

func envStates(ctx context.Context, db *store.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT state, COUNT(*) FROM environments GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("environment states: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
