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
