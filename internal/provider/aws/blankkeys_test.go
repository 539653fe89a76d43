package aws

import (
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// A key attribute naming a key AWS manages is emptied, by ARN or by id,
// nested or not; a customer managed or unknown key stays.
func TestBlankAWSManagedKeys(t *testing.T) {
	t.Parallel()
	awsKey := "arn:aws:kms:ap-northeast-1:111122223333:key/aws-1"
	own := "arn:aws:kms:ap-northeast-1:111122223333:key/own-1"
	rs := []provider.Resource{
		{Type: "aws_kms_key", ID: awsKey, Config: map[string]any{"key_manager": "AWS"}},
		{Type: "aws_kms_key", ID: own, Config: map[string]any{"key_manager": "CUSTOMER"}},
		{Type: "aws_ebs_volume", ID: "v1", Config: map[string]any{"encrypted": true, "kms_key_id": awsKey}},
		{Type: "aws_ebs_volume", ID: "v2", Config: map[string]any{"encrypted": true, "kms_key_id": own}},
		{Type: "aws_db_instance", ID: "d1", Config: map[string]any{"kms_key_id": "aws-1"}},
		{Type: "aws_s3_bucket_server_side_encryption_configuration", ID: "b1", Config: map[string]any{"rule": []any{
			map[string]any{"apply_server_side_encryption_by_default": []any{map[string]any{"sse_algorithm": "aws:kms", "kms_master_key_id": awsKey}}}}}},
		{Type: "aws_efs_file_system", ID: "e1", Config: map[string]any{"kms_key_id": "arn:aws:kms:ap-northeast-1:111122223333:key/elsewhere"}},
	}
	blankAWSManagedKeys(rs)
	want := map[string]string{"v1": "", "v2": own, "d1": "", "e1": "arn:aws:kms:ap-northeast-1:111122223333:key/elsewhere"}
	for _, r := range rs {
		if w, ok := want[r.ID]; ok && r.Config["kms_key_id"] != w {
			t.Errorf("%s: kms_key_id %v, want %q", r.ID, r.Config["kms_key_id"], w)
		}
	}
	nested := rs[5].Config["rule"].([]any)[0].(map[string]any)["apply_server_side_encryption_by_default"].([]any)[0].(map[string]any)
	if nested["kms_master_key_id"] != "" {
		t.Errorf("nested key %v not emptied", nested["kms_master_key_id"])
	}
	if rs[0].ID != awsKey || rs[0].Config["key_manager"] != "AWS" {
		t.Error("the key itself was changed")
	}
}
