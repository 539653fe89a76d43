package portability_test

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/portability"
)

func res(typ string, config map[string]any) controls.Resource {
	return controls.Resource{Provider: "aws", Type: typ, ID: typ, Config: config}
}

func TestAssess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		in          []controls.Resource
		score       float64
		rework      []string
		portable    int
		proprietary int
	}{
		{"ok/empty", nil, 100, nil, 0, 0},
		{"ok/portable-only", []controls.Resource{res("aws_instance", nil), res("aws_ebs_volume", nil), res("aws_s3_bucket", nil),
			res("aws_db_instance", map[string]any{"engine": "postgres"}), res("aws_iam_role", nil), res("aws_kms_key", nil)}, 100, nil, 4, 0},
		{"ok/mixed", []controls.Resource{res("aws_instance", nil), res("aws_dynamodb_table", nil), res("aws_dynamodb_table", nil),
			res("aws_lambda_function", nil), res("aws_db_instance", map[string]any{"engine": "aurora-postgresql"}),
			res("aws_s3_bucket_versioning", nil), res("aws_something_new", nil)}, 20, []string{"aws_dynamodb_table", "aws_db_instance", "aws_lambda_function"}, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := portability.Assess(tc.in)
			if got.Score != tc.score || got.Portable != tc.portable || got.Proprietary != tc.proprietary {
				t.Fatalf("score %.1f (%d portable, %d proprietary), want %.1f (%d, %d)", got.Score, got.Portable, got.Proprietary,
					tc.score, tc.portable, tc.proprietary)
			}
			if len(got.Rework) != len(tc.rework) {
				t.Fatalf("rework = %+v, want %v", got.Rework, tc.rework)
			}
			for i, r := range got.Rework {
				if r.Type != tc.rework[i] {
					t.Fatalf("rework[%d] = %s, want %s", i, r.Type, tc.rework[i])
				}
			}
			var unknown int
			for _, s := range got.Services {
				if s.Class == portability.Unknown {
					unknown += s.Count
				}
			}
			if tc.name == "ok/mixed" && unknown != 1 {
				t.Fatalf("an unknown type is listed for review: %+v", got.Services)
			}
		})
	}
}
