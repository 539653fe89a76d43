package notify

import (
	"context"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

// PostureHook hands hatoba's own detective findings to the service, in
// posture's transaction (posture.Notifier).
type PostureHook struct{ S *Service }

// FindingsChanged records opened findings as events and resolves the
// events of resolved ones.
func (h PostureHook) FindingsChanged(ctx context.Context, q store.Querier, opened []posture.Finding, resolved []string) error {
	in := make([]Incoming, 0, len(opened))
	for _, f := range opened {
		in = append(in, Incoming{OrgID: f.OrgID, EnvID: f.EnvID, Source: SourceHatoba, SourceID: f.ID, Severity: f.Severity,
			Title: f.Message, ControlID: f.ControlID, ResourceID: f.ResourceID, At: f.FirstSeen})
	}
	if len(in) > 0 {
		if _, err := h.S.Record(ctx, q, in); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	now := h.S.now().UTC()
	for _, id := range resolved {
		if _, err := q.ExecContext(ctx, `UPDATE notify_events SET status = 'resolved', last_seen = $1
			WHERE source = 'hatoba' AND source_id = $2 AND status = 'open'`, now, id); err != nil {
			return fmt.Errorf("notify: resolve %s: %w", id, err)
		}
	}
	return nil
}
