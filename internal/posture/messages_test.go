package posture_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// A finding keeps its message's English format and parameters beside the
// English message, through the insert, the update of a finding seen
// again with other values, and every listing.
func TestFindingMessageRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		sg := func(rules int) controls.Resource {
			var ingress []any
			for range rules {
				ingress = append(ingress, map[string]any{"protocol": "-1"})
			}
			return controls.Resource{Provider: "aws", Type: "aws_default_security_group", ID: "sg-1", Region: "ap-northeast-1",
				Config: map[string]any{"ingress": ingress, "egress": []any{}}}
		}
		vol := controls.Resource{Provider: "aws", Type: "aws_ebs_volume", ID: "vol-1", Region: "ap-northeast-1", Config: map[string]any{"encrypted": false}}
		want := map[string]posture.Finding{
			"aws-default-sg-closed": {Message: "sg-1: the default security group has 1 rules; it must have none",
				MessageFormat: "the default security group has %d rules; it must have none", MessageParams: controls.Params{int64(1)}},
			"aws-ebs-encrypted-kms": {Message: "vol-1: the volume is not encrypted", MessageFormat: "the volume is not encrypted", MessageParams: controls.Params{}},
		}
		check := func(step string, fs []posture.Finding) {
			t.Helper()
			if len(fs) != len(want) {
				t.Fatalf("%s: findings %+v", step, fs)
			}
			for _, f := range fs {
				w := want[f.ControlID]
				if f.Message != w.Message || f.MessageFormat != w.MessageFormat || !reflect.DeepEqual(f.MessageParams, w.MessageParams) {
					t.Errorf("%s: %s: %q %q %#v, want %q %q %#v", step, f.ControlID, f.Message, f.MessageFormat, f.MessageParams,
						w.Message, w.MessageFormat, w.MessageParams)
				}
			}
		}
		if _, err := s.Record(ctx, "env-1", "nat-digital", []controls.Resource{sg(1), vol}); err != nil {
			t.Fatal(err)
		}
		fs, err := s.Findings(ctx, "env-1", false)
		if err != nil {
			t.Fatal(err)
		}
		check("opened", fs)

		// Seen again with three rules: the same finding, its values now.
		if _, err := s.Record(ctx, "env-1", "nat-digital", []controls.Resource{sg(3), vol}); err != nil {
			t.Fatal(err)
		}
		w := want["aws-default-sg-closed"]
		w.Message, w.MessageParams = "sg-1: the default security group has 3 rules; it must have none", controls.Params{int64(3)}
		want["aws-default-sg-closed"] = w
		if fs, err = s.Findings(ctx, "env-1", true); err != nil {
			t.Fatal(err)
		}
		check("seen again", fs)
		of, err := s.OpenFindingsOf(ctx, "aws-default-sg-closed", nil)
		if err != nil || len(of) != 1 || !reflect.DeepEqual(of[0].MessageParams, controls.Params{int64(3)}) {
			t.Fatalf("open findings of the control: %+v %v", of, err)
		}
	})
}

// Rows from before the message's format was kept: the format is the
// English message without the resource's id (a "%" doubled), with no
// parameters; a message that does not start with its resource's id is
// kept whole.
func TestFindingMessageMigration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		ms, err := store.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		version := 0
		for _, m := range ms {
			if m.Name == "finding_message_params" {
				version = m.Version
			}
		}
		up, err := store.Statement(version, db.Dialect())
		if err != nil {
			t.Fatal(err)
		}
		// Back to the shape before the migration, with its rows.
		for _, q := range []string{`ALTER TABLE findings DROP COLUMN message_format`, `ALTER TABLE findings DROP COLUMN message_params`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		rows := []struct{ id, resource, message, format string }{
			{"f-1", "vol-1", "vol-1: the volume is not encrypted", "the volume is not encrypted"},
			{"f-2", "sg_1", "sg_1: the default security group has 2 rules; it must have none", "the default security group has 2 rules; it must have none"},
			{"f-3", "x-1", "100% wrong", "100%% wrong"},
			{"f-4", "x%1", "x%1: x%1 is 5% off", "x%%1 is 5%% off"},
		}
		for _, r := range rows {
			if _, err := db.ExecContext(ctx, `INSERT INTO findings (id, env_id, org_id, control_id, resource_id, resource_type, severity, message, status, first_seen, last_seen)
				VALUES ($1, 'env-1', 'nat-digital', 'c', $2, 't', 'high', $3, 'open', $4, $4)`, r.id, r.resource, r.message, time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, up); return err }); err != nil {
			t.Fatalf("migrate %04d: %v", version, err)
		}
		fs, err := s.Findings(ctx, "env-1", false)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]posture.Finding{}
		for _, f := range fs {
			got[f.ID] = f
		}
		for _, r := range rows {
			f := got[r.id]
			if f.Message != r.message || f.MessageFormat != r.format || f.MessageParams == nil || len(f.MessageParams) != 0 {
				t.Errorf("%s: %q %q %#v, want %q %q and no parameters", r.id, f.Message, f.MessageFormat, f.MessageParams, r.message, r.format)
			}
		}
	})
}
