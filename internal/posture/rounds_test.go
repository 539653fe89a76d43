package posture_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// gatedSource serves two environments' inventories; env-2's waits until
// the gate opens, so a test can look at a round in the middle.
type gatedSource struct {
	gate chan struct{}
}

func (s *gatedSource) Targets(context.Context) ([]posture.Target, error) {
	return []posture.Target{{EnvID: "env-1", OrgID: "nat-digital", Provider: "sim", AccountID: "1"},
		{EnvID: "env-2", OrgID: "nat-digital", Provider: "sim", AccountID: "2"}}, nil
}

func (s *gatedSource) List(_ context.Context, t posture.Target) ([]controls.Resource, error) {
	if t.EnvID == "env-2" {
		<-s.gate
		return nil, errors.New("the provider is down")
	}
	return []controls.Resource{{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/alice", Config: map[string]any{"name": "alice"}}}, nil
}

// TestCollectionRounds: an operator's round runs in the background with
// its progress readable; a second one meanwhile is refused naming the
// first; a round whose replica stopped counts as interrupted and lets the
// next one start.
func TestCollectionRounds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		src := &gatedSource{gate: make(chan struct{})}
		c := posture.NewCollector(s, src, nil, 2)
		r, err := c.Start(ctx, "p-operator")
		if err != nil {
			t.Fatal(err)
		}
		if r.State != posture.RoundRunning || r.Total != 2 || r.RequestedBy != "p-operator" {
			t.Fatalf("started %+v", r)
		}
		running, err := c.Start(ctx, "p-other")
		if fault.KindOf(err) != fault.Conflict || !errors.Is(err, posture.ErrRoundRunning) || running.ID != r.ID {
			t.Fatalf("a second round while one runs: %+v, %v; want a conflict naming %s", running, err, r.ID)
		}
		if ok, failed, err := c.Round(ctx); ok+failed != 0 || err != nil {
			t.Fatalf("a scheduled round while one runs collected %d+%d (%v); want it skipped", ok, failed, err)
		}
		close(src.gate)
		var got posture.Round
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if got, err = c.GetRound(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
			if got.State != posture.RoundRunning || time.Now().After(deadline) {
				break
			}
		}
		if got.State != posture.RoundFinished || got.Done != 1 || got.Failed != 1 || got.FinishedAt == nil {
			t.Fatalf("finished round %+v; want 1 done, 1 failed", got)
		}
		if inv, err := s.Inventory(ctx, "env-1"); err != nil || len(inv) != 1 {
			t.Fatalf("the round did not record env-1's inventory: %v %v", inv, err)
		}

		// A round left running by a replica that stopped.
		old := clk.now().Add(-time.Hour)
		if _, err := db.ExecContext(ctx, `INSERT INTO collect_rounds (id, requested_by, state, total, done, failed, started_at, updated_at)
			VALUES ('cr-stale', 'system', 'running', 10, 3, 0, $1, $1)`, old); err != nil {
			t.Fatal(err)
		}
		if st, err := c.GetRound(ctx, "cr-stale"); err != nil || st.State != posture.RoundInterrupted {
			t.Fatalf("a stale round reads as %+v, %v; want interrupted", st, err)
		}
		src2 := &gatedSource{gate: make(chan struct{})}
		close(src2.gate)
		c2 := posture.NewCollector(s, src2, nil, 2)
		if _, err := c2.Start(ctx, "p-operator"); err != nil {
			t.Fatalf("a round after a stale one: %v", err)
		}
		rounds, err := c2.Rounds(ctx, 10)
		if err != nil || len(rounds) != 3 {
			t.Fatalf("rounds: %d, %v", len(rounds), err)
		}
		if _, err := c.GetRound(ctx, "cr-nothere"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("an unknown round: %v", err)
		}
	})
}
