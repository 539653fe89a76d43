package tenantbackup_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/org"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/tenantbackup"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := org.New(db, time.Now).Create(ctx, audit.Acting{Actor: "system"}, org.Organization{ID: "nat-digital", Kind: org.KindNational, NameJa: "デジタル庁", NameEn: "Digital Agency"}); err != nil {
			t.Fatal(err)
		}
		envs := env.NewStore(db, time.Now)
		en := env.Environment{ID: env.NewID(time.Now()), OrgID: "nat-digital", SystemName: "s", Purpose: env.Production, Classification: env.Level3,
			Provider: "aws", State: env.Requested, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		s := tenantbackup.NewStore(db, time.Now)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := envs.Insert(ctx, tx, en, nil); err != nil {
				return err
			}
			return s.InsertTarget(ctx, tx, tenantbackup.Target{EnvID: en.ID, Provider: "dom", Tier: "domestic", Jurisdiction: "JP",
				Bucket: tenantbackup.BucketName(en.ID), LockMode: "COMPLIANCE", RetentionDays: 30, CreatedAt: time.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		if locs, err := s.Locations(ctx, en.ID); err != nil || len(locs) != 0 {
			t.Fatalf("a pending target is a location: %v %v", locs, err)
		}
		for i := range 2 {
			changed, err := s.MarkReady(ctx, db, en.ID, "jp-east-1")
			if err != nil || changed != (i == 0) {
				t.Fatalf("MarkReady #%d = %v, %v", i, changed, err)
			}
		}
		if locs, err := s.Locations(ctx, en.ID); err != nil || len(locs) != 1 || locs[0].Region != "jp-east-1" {
			t.Fatalf("locations = %v %v", locs, err)
		}
		sig := tenantbackup.Signature{StatementSHA256: strings.Repeat("ab", 32), Statement: []byte("hatoba action v1\n"), Signature: []byte{1}, Certificate: []byte{2}}
		ev := tenantbackup.Evidence{PerformedAt: time.Now().Add(-time.Hour), Restored: "db", Result: tenantbackup.Succeeded}
		rt, err := s.AddRestoreTest(ctx, "p-1", en.ID, en.OrgID, ev, sig)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddRestoreTest(ctx, "p-1", en.ID, en.OrgID, ev, sig); fault.KindOf(err) != fault.Conflict {
			t.Fatalf("the same statement recorded twice: %v", err)
		}
		if _, err := s.AddRestoreTest(ctx, "p-1", en.ID, en.OrgID, ev, tenantbackup.Signature{}); fault.KindOf(err) != fault.Invalid {
			t.Fatalf("evidence without a signature: %v", err)
		}
		list, err := s.RestoreTests(ctx, en.ID, 0)
		if err != nil || len(list) != 1 || list[0].ID != rt.ID || list[0].SubmittedBy != "p-1" || list[0].Result != tenantbackup.Succeeded {
			t.Fatalf("list = %+v, %v", list, err)
		}
		got, err := s.SignedEvidence(ctx, rt.ID)
		if err != nil || string(got.Statement) != "hatoba action v1\n" {
			t.Fatalf("signed evidence = %+v, %v", got, err)
		}
	})
}
