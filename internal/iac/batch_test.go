package iac

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/iac/iactest"
)

// The built-in controls' classes: the S3 bucket controls join buckets and
// companions by name; every other proactive control judges each resource
// on its own. A control that changes class changes how scans batch it —
// check that it still finds the same (TestIaCBatchedScanFindsTheSame).
func TestIaCClassifyBuiltin(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	joins := map[string]bool{"aws-s3-access-logging": true, "aws-s3-encryption-kms": true,
		"aws-s3-public-access-block": true, "aws-s3-versioning": true}
	for _, c := range cs {
		if !c.Has(controls.Proactive) {
			continue
		}
		want := perResource
		if joins[c.ID] {
			want = byBucket
		}
		if got := classify(c); got != want {
			t.Errorf("%s: class %d, want %d", c.ID, got, want)
		}
	}
}

func TestIaCClassifyRego(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		types      []string
		want       evalClass
	}{
		{"ok/one-resource", `deny contains f if { some r in lib.of_type("x_a"); f := lib.finding(r, "a") }`, []string{"x_a"}, perResource},
		{"ok/params", `deny contains f if { some r in lib.of_type("x_a"); r.config.n > data.hatoba.params.n; f := lib.finding(r, "a") }`, []string{"x_a"}, perResource},
		{"fail/two-resources", `deny contains f if { some r in lib.of_type("x_a"); some s in lib.of_type("x_b"); r.id == s.id; f := lib.finding(r, "a") }`, []string{"x_a", "x_b"}, whole},
		{"fail/count", `deny contains f if { count(lib.of_type("x_a")) > 1; f := "many" }`, []string{"x_a"}, whole},
		{"fail/helper", `others := lib.of_type("x_a")
deny contains f if { some r in lib.of_type("x_a"); count(others) > 1; f := lib.finding(r, "a") }`, []string{"x_a"}, whole},
		{"fail/input", `deny contains f if { some r in input.hatoba_resources; f := lib.finding(r, "a") }`, []string{"x_a"}, whole},
		{"fail/unknown-library-rule", `deny contains f if { some r in lib.of_type("x_a"); lib.resources[_]; f := lib.finding(r, "a") }`, []string{"x_a"}, whole},
		{"ok/s3-join", `deny contains f if { some b in lib.of_type("aws_s3_bucket"); not b.config.bucket in {c.config.bucket | some c in lib.of_type("aws_s3_bucket_logging")}; f := lib.finding(b, "a") }`,
			[]string{"aws_s3_bucket", "aws_s3_bucket_logging"}, byBucket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testControl("test-classify", controls.Low, tc.types, tc.body)
			if got := classify(c); got != tc.want {
				t.Fatalf("class %d, want %d", got, tc.want)
			}
		})
	}
}

// A scan in batches finds exactly what one evaluation of all the plan's
// resources finds (the engine's own grouping, as scans did before
// batches): per-resource controls over several batches, S3 controls
// over batches of buckets, with companions that name their bucket only
// after the apply in every batch or, when many, all in one.
func TestIaCBatchedScanFindsTheSame(t *testing.T) {
	t.Parallel()
	e, err := builtinEngine()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []iactest.PlanOptions{
		{Resources: 2*batchSize + 100, Lean: true},
		{Resources: 1200, UnknownBucketEvery: 25},              // a few shared companions, in every batch
		{Resources: 1500, UnknownBucketEvery: 3, Indent: true}, // many: one batch
	} {
		t.Run(fmt.Sprintf("ok/%d-unknown-every-%d", o.Resources, o.UnknownBucketEvery), func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := iactest.WritePlan(&buf, o); err != nil {
				t.Fatal(err)
			}
			rs, err := ReadTerraformPlan("plan.json", buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			plain := make([]controls.Resource, len(rs))
			for i, r := range rs {
				plain[i] = r.Resource
			}
			vs, err := e.Evaluate(context.Background(), plain, func(c controls.Control) bool { return c.Has(controls.Proactive) })
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, v := range vs {
				want = append(want, v.ControlID+" "+v.ResourceID+" "+v.Message)
			}
			data := buf.Bytes()
			rep, err := Scan(context.Background(), e, []File{{Name: "plan.json", Open: func() (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(data)), nil
			}}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			lines := map[int]bool{}
			for _, r := range rep.Results {
				got = append(got, r.ControlID+" "+r.Resource+" "+r.Message)
				lines[r.Line] = true
			}
			slices.Sort(want)
			slices.Sort(got)
			if len(want) < o.Resources/10 {
				t.Fatalf("only %d findings: the plan plants more", len(want))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("batched scan: %d findings, one evaluation: %d", len(got), len(want))
			}
			if o.Indent && len(lines) < len(rep.Results)/4 {
				t.Errorf("findings on %d distinct lines of an indented plan", len(lines))
			}
		})
	}
}
