package iac

import (
	"encoding/json"
	"testing"
)

func TestBucketReference(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, expr, want string }{
		{"ok/attribute of a bucket", `{"references": ["aws_s3_bucket.archive.id", "aws_s3_bucket.archive"]}`, "aws_s3_bucket.archive"},
		{"ok/an instance", `{"references": ["aws_s3_bucket.logs[0].bucket", "aws_s3_bucket.logs[0]", "aws_s3_bucket.logs"]}`, "aws_s3_bucket.logs[0]"},
		{"ok/an instance by key", `{"references": ["aws_s3_bucket.site[\"www\"].id"]}`, `aws_s3_bucket.site["www"]`},
		{"ok/the first that names a bucket", `{"references": ["var.prefix", "aws_s3_bucket.b.id"]}`, "aws_s3_bucket.b"},
		{"ok/a variable is no bucket", `{"references": ["var.bucket"]}`, ""},
		{"ok/another type is no bucket", `{"references": ["aws_s3_bucket_policy.p.bucket"]}`, ""},
		{"ok/a constant", `{"constant_value": "b"}`, ""},
		{"ok/absent", ``, ""},
		{"ok/a nested block", `[{"x": {}}]`, ""},
	} {
		if got := bucketReference(json.RawMessage(tt.expr)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPlanReferences(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, exprs, want string }{
		{"ok/key by reference", `{"kms_key_id": {"references": ["aws_kms_key.k.arn", "aws_kms_key.k"]}}`,
			`{"kms_key_arn":"","kms_key_id":"aws_kms_key.k.arn","kms_master_key_id":""}`},
		{"ok/key left to the provider", `{"encrypted": {"constant_value": true}}`, `{"kms_key_arn":"","kms_key_id":"","kms_master_key_id":""}`},
		{"ok/key as a constant", `{"kms_key_id": {"constant_value": "arn:aws:kms:ap-northeast-1:1:key/x"}}`, `{"kms_key_arn":"","kms_master_key_id":""}`},
		{"ok/bucket by reference", `{"bucket": {"references": ["aws_s3_bucket.b.id", "aws_s3_bucket.b"]}}`,
			`{"bucket":"aws_s3_bucket.b","kms_key_arn":"","kms_key_id":"","kms_master_key_id":""}`},
		{"ok/no expressions says nothing", ``, `{}`},
	} {
		var exprs map[string]json.RawMessage
		if tt.exprs != "" {
			if err := json.Unmarshal([]byte(tt.exprs), &exprs); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := json.Marshal(planReferences(exprs))
		if string(got) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
