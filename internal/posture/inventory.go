package posture

import (
	"bytes"
	"compress/flate"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// An environment's inventory is stored as one row: the resources as a
// JSON array, compressed. It is only ever replaced and read whole, and one
// row per resource cost ten times the space in repeated keys and index
// entries (docs/performance.md).

// inventoryFormatDeflate marks data as DEFLATE of the JSON array.
const inventoryFormatDeflate = 1

// maxInventory bounds an inventory read back (a decompression bomb in a
// tampered row must not take the process down): far beyond the ~75
// resources of an environment.
const maxInventory = 256 << 20

// storedResource is a resource as the inventory row keeps it.
type storedResource struct {
	Provider string         `json:"p"`
	Type     string         `json:"t"`
	ID       string         `json:"i"`
	Region   string         `json:"r,omitempty"`
	Config   map[string]any `json:"c,omitempty"`
}

// encodeInventory sorts the resources as the inventory is listed (type,
// then id) and compresses them.
func encodeInventory(resources []controls.Resource) ([]byte, error) {
	rs := make([]storedResource, len(resources))
	for i, r := range resources {
		rs[i] = storedResource{Provider: r.Provider, Type: r.Type, ID: r.ID, Region: r.Region, Config: r.Config}
	}
	slices.SortFunc(rs, func(a, b storedResource) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	raw, err := json.Marshal(rs)
	if err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteByte(inventoryFormatDeflate)
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeInventory(envID string, data []byte) ([]controls.Resource, error) {
	if len(data) == 0 || data[0] != inventoryFormatDeflate {
		return nil, fmt.Errorf("inventory of %s: unknown storage format", envID)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data[1:])), maxInventory+1))
	if err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", envID, err)
	}
	if len(raw) > maxInventory {
		return nil, fmt.Errorf("inventory of %s: more than %d bytes", envID, maxInventory)
	}
	var rs []storedResource
	if err := json.Unmarshal(raw, &rs); err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", envID, err)
	}
	out := make([]controls.Resource, len(rs))
	for i, r := range rs {
		out[i] = controls.Resource{Provider: r.Provider, Type: r.Type, ID: r.ID, Region: r.Region, Environment: envID, Config: r.Config}
	}
	return out, nil
}

// saveInventory replaces envID's inventory in tx, and drops its rows of
// the per-resource table written before inventories were compacted.
func saveInventory(ctx context.Context, tx *store.Tx, envID string, resources []controls.Resource, now time.Time) error {
	data, err := encodeInventory(resources)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM inventory_resources WHERE env_id = $1`, envID); err != nil {
		return fmt.Errorf("inventory of %s: %w", envID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO inventories (env_id, resources, data, observed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (env_id) DO UPDATE SET resources = excluded.resources, data = excluded.data, observed_at = excluded.observed_at`,
		envID, len(resources), data, now)
	if err != nil {
		return fmt.Errorf("inventory of %s: %w", envID, err)
	}
	return nil
}

// Inventory is an environment's resources as last collected, by type
// and id.
func (s *Service) Inventory(ctx context.Context, envID string) ([]controls.Resource, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM inventories WHERE env_id = $1`, envID).Scan(&data)
	switch {
	case err == nil:
		return decodeInventory(envID, data)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("inventory of %s: %w", envID, err)
	}
	return s.legacyInventory(ctx, envID)
}

// legacyInventory reads an inventory collected before inventories were
// compacted; the environment's next collection replaces it.
func (s *Service) legacyInventory(ctx context.Context, envID string) ([]controls.Resource, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT provider, type, resource_id, region, config FROM inventory_resources WHERE env_id = $1 ORDER BY type, resource_id`, envID)
	if err != nil {
		return nil, fmt.Errorf("inventory of %s: %w", envID, err)
	}
	defer rows.Close()
	out := []controls.Resource{}
	for rows.Next() {
		r := controls.Resource{Environment: envID}
		var cfg string
		if err := rows.Scan(&r.Provider, &r.Type, &r.ID, &r.Region, &cfg); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(cfg), &r.Config); err != nil {
			return nil, fmt.Errorf("inventory of %s: resource %s: %w", envID, r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Prune drops what no longer describes a live environment: the inventories,
// findings and scores of closed environments (their accounts are gone, and
// their open findings would count in their organisation's reports) and
// findings resolved before resolvedBefore (the zero time keeps them all).
// Each collection round ends with it, so the database holds the estate as
// it is, not as it ever was; the audit log keeps the history.
func (s *Service) Prune(ctx context.Context, resolvedBefore time.Time) (inventories, findings int64, err error) {
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, table := range []string{"inventories", "inventory_resources"} {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE env_id IN (SELECT id FROM environments WHERE state = 'closed')`)
			if err != nil {
				return fmt.Errorf("prune %s: %w", table, err)
			}
			n, _ := res.RowsAffected()
			inventories += n
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM findings WHERE env_id IN (SELECT id FROM environments WHERE state = 'closed')`)
		if err != nil {
			return fmt.Errorf("prune findings: %w", err)
		}
		findings, _ = res.RowsAffected()
		for _, table := range []string{"posture", "posture_history"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE env_id IN (SELECT id FROM environments WHERE state = 'closed')`); err != nil {
				return fmt.Errorf("prune scores: %w", err)
			}
		}
		if resolvedBefore.IsZero() {
			return nil
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM findings WHERE status = $1 AND resolved_at < $2`, Resolved, resolvedBefore.UTC())
		if err != nil {
			return fmt.Errorf("prune findings: %w", err)
		}
		n, _ := res.RowsAffected()
		findings += n
		return nil
	})
	return inventories, findings, err
}

// Reevaluate evaluates an environment's stored inventory again with the
// resources of one type replaced by r — a resource hatoba derives rather
// than collects (the sovereignty assessment) that changed between
// collections — and records it as Record does: its findings open and
// resolve, and reach the notifier, the same way as a collection's. An
// environment never collected has nothing to evaluate: ok is false, and
// its first collection carries r.
func (s *Service) Reevaluate(ctx context.Context, envID, orgID string, r controls.Resource) (sum Summary, ok bool, err error) {
	inv, err := s.Inventory(ctx, envID)
	if err != nil || len(inv) == 0 {
		return Summary{}, false, err
	}
	inv = slices.DeleteFunc(inv, func(x controls.Resource) bool { return x.Type == r.Type })
	r.Environment = envID
	sum, err = s.Record(ctx, envID, orgID, append(inv, r))
	return sum, err == nil, err
}
