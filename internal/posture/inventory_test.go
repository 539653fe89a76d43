package posture_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/posture"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

// TestInventoryKeptWhole: an inventory reads back as collected, ordered
// by type and id; an inventory stored per resource before compaction is
// still read until the next collection replaces it; a damaged row is an
// error, not a crash or an empty inventory.
func TestInventoryKeptWhole(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := setup(t, db)
		var rs []controls.Resource
		for i := 9; i >= 0; i-- {
			rs = append(rs, controls.Resource{Provider: "aws", Type: []string{"aws_s3_bucket", "aws_iam_user"}[i%2],
				ID: fmt.Sprintf("arn:aws:x:::%02d", i), Region: "ap-northeast-1", Config: map[string]any{"name": fmt.Sprint(i), "tags": map[string]any{"課": "税務"}}})
		}
		if _, err := s.Record(ctx, "env-1", "nat-digital", rs); err != nil {
			t.Fatal(err)
		}
		got, err := s.Inventory(ctx, "env-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 || got[0].Type != "aws_iam_user" || got[0].ID != "arn:aws:x:::01" || got[9].ID != "arn:aws:x:::08" ||
			got[0].Environment != "env-1" || got[0].Config["tags"].(map[string]any)["課"] != "税務" {
			b, _ := json.Marshal(got)
			t.Fatalf("inventory read back as %s", b)
		}

		// An inventory stored per resource, before 0017.
		if _, err := db.ExecContext(ctx, `INSERT INTO inventory_resources (env_id, type, resource_id, provider, region, config, observed_at)
			VALUES ('env-2', 'aws_iam_user', 'arn:aws:iam::1:user/bob', 'aws', 'ap-northeast-1', '{"name":"bob"}', $1)`, timeNow()); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Inventory(ctx, "env-2"); err != nil || len(got) != 1 || got[0].Config["name"] != "bob" {
			t.Fatalf("the inventory stored per resource: %v, %v", got, err)
		}
		if _, err := s.Record(ctx, "env-2", "nat-digital", rs[:1]); err != nil {
			t.Fatal(err)
		}
		var legacy int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inventory_resources`).Scan(&legacy); err != nil || legacy != 0 {
			t.Fatalf("%d rows per resource left after the next collection (%v)", legacy, err)
		}

		if _, err := db.ExecContext(ctx, `UPDATE inventories SET data = $1 WHERE env_id = 'env-1'`, []byte{1, 0xff, 0xfe}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Inventory(ctx, "env-1"); err == nil || !strings.Contains(err.Error(), "inventory of env-1") {
			t.Fatalf("a damaged inventory row: %v", err)
		}
	})
}

func timeNow() time.Time { return time.Now().UTC() }

// TestPrune drops closed environments' inventories, findings and scores,
// and findings resolved before the retention, and keeps everything else.
func TestPrune(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := setup(t, db)
		user := func(name string) controls.Resource {
			return controls.Resource{Provider: "aws", Type: "aws_iam_user", ID: "arn:aws:iam::1:user/" + name, Config: map[string]any{"name": name}}
		}
		for _, id := range []string{"env-1", "env-2"} {
			if _, err := s.Record(ctx, id, "nat-digital", []controls.Resource{user("alice"), user("bob")}); err != nil {
				t.Fatal(err)
			}
		}
		clk.t = clk.t.Add(time.Hour)
		if _, err := s.Record(ctx, "env-1", "nat-digital", []controls.Resource{user("alice")}); err != nil { // bob's finding resolves
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE environments SET state = 'closed' WHERE id = 'env-2'`); err != nil {
			t.Fatal(err)
		}
		// Keep what was resolved in the last 30 minutes: nothing is that old yet.
		inv, fs, err := s.Prune(ctx, clk.t.Add(-30*time.Minute))
		if err != nil || inv != 1 || fs != 2 {
			t.Fatalf("prune: %d inventories, %d findings, %v; want env-2's inventory and its two findings", inv, fs, err)
		}
		if _, err := s.EnvScore(ctx, "env-2"); fault.KindOf(err) != fault.NotFound {
			t.Fatalf("the closed env-2 keeps a score: %v", err)
		}
		if got, err := s.Inventory(ctx, "env-1"); err != nil || len(got) != 1 {
			t.Fatalf("env-1's inventory: %v %v", got, err)
		}
		if got, err := s.Inventory(ctx, "env-2"); err != nil || len(got) != 0 {
			t.Fatalf("the closed env-2's inventory: %v %v", got, err)
		}
		_, fs, err = s.Prune(ctx, clk.t.Add(time.Minute))
		if err != nil || fs != 1 {
			t.Fatalf("prune after the retention: %d findings, %v; want bob's resolved one", fs, err)
		}
		if open, err := s.Findings(ctx, "env-1", true); err != nil || len(open) != 1 || open[0].Status != posture.Open {
			t.Fatalf("env-1 keeps its open finding: %v %v", open, err)
		}
	})
}
