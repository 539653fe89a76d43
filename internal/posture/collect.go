package posture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
)

// Target is an environment whose inventory is collected.
type Target struct {
	EnvID, OrgID, Provider, AccountID string
}

// Source lists a target's resources from its provider.
type Source interface {
	// Targets are the environments to collect: ready, with an account,
	// on a provider that can list its resources.
	Targets(ctx context.Context) ([]Target, error)
	// List reads one target's resources, normalised.
	List(ctx context.Context, t Target) ([]controls.Resource, error)
}

// Collector collects every target's inventory on a schedule and records
// it. Detective controls are never "set and forget": each round
// re-evaluates everything.
type Collector struct {
	svc         *Service
	src         Source
	log         *slog.Logger
	concurrency int
	// retention is how long a resolved finding is kept; 0 keeps it.
	retention time.Duration
}

// SetRetention makes every round end by dropping findings resolved more
// than d ago (0 keeps them) and closed environments' inventories.
func (c *Collector) SetRetention(d time.Duration) { c.retention = d }

// NewCollector returns a Collector; concurrency bounds the provider calls
// in flight (default 4).
func NewCollector(svc *Service, src Source, log *slog.Logger, concurrency int) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if concurrency < 1 {
		concurrency = 4
	}
	return &Collector{svc: svc, src: src, log: log, concurrency: concurrency}
}

// Collect collects one target now.
func (c *Collector) Collect(ctx context.Context, t Target) (Summary, error) {
	rs, err := c.src.List(ctx, t)
	if err != nil {
		return Summary{}, fmt.Errorf("collect %s: %w", t.EnvID, err)
	}
	for i := range rs {
		rs[i].Environment = t.EnvID
	}
	return c.svc.Record(ctx, t.EnvID, t.OrgID, rs)
}

// Round collects every target once, recorded as a round requested by
// "system", and reports how many succeeded. While another round runs
// (another replica's, or an operator's) it does nothing.
func (c *Collector) Round(ctx context.Context) (ok, failed int, err error) {
	targets, err := c.src.Targets(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("collect: targets: %w", err)
	}
	r, err := c.beginRound(ctx, "system", len(targets))
	if errors.Is(err, ErrRoundRunning) {
		c.log.Debug("a collection round is running; this one is skipped", "round", r.ID)
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return c.collect(ctx, r, targets)
}

// Run collects a round every interval until ctx ends.
func (c *Collector) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		ok, failed, err := c.Round(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("collecting inventories", "err", err)
		} else if ok+failed > 0 {
			c.log.Info("inventories collected", "environments", ok, "failed", failed, "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
