package iac

import (
	"reflect"
	"testing"
)

type attrWant struct {
	key  string // type and id
	line int
	attr string
	want any
}

func checkAttrs(t *testing.T, rs []Resource, file string, wants []attrWant) {
	t.Helper()
	got := byKey(rs)
	for _, w := range wants {
		r, ok := got[w.key]
		if !ok {
			t.Errorf("%s: missing; have %v", w.key, keys(got))
			continue
		}
		if r.File != file || r.Line != w.line || r.Provider != "aws" {
			t.Errorf("%s: at %s:%d (provider %q), want line %d", w.key, r.File, r.Line, r.Provider, w.line)
		}
		if w.attr == "" {
			continue
		}
		if !reflect.DeepEqual(r.Config[w.attr], w.want) {
			t.Errorf("%s: %s = %#v, want %#v", w.key, w.attr, r.Config[w.attr], w.want)
		}
	}
}

func TestIaCReadCloudFormationJSON(t *testing.T) {
	t.Parallel()
	f := readTestdata(t, "template.json")
	rs, format, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != CloudFormation {
		t.Fatalf("format %q", format)
	}
	// Env's default (prod) decides the bucket's name.
	bucket := "juminhyo-records-prod"
	checkAttrs(t, rs, f.Name, []attrWant{
		{"aws_s3_bucket RecordsBucket", 8, "bucket", bucket},
		{"aws_s3_bucket RecordsBucket", 8, "tags", map[string]any{"system": "juminhyo"}},
		{"aws_s3_bucket_acl RecordsBucket/acl", 12, "acl", "public-read"},
		{"aws_s3_bucket_acl RecordsBucket/acl", 12, "bucket", bucket},
		{"aws_s3_bucket_server_side_encryption_configuration RecordsBucket/server_side_encryption_configuration", 13, "rule", []any{
			map[string]any{"bucket_key_enabled": true, "apply_server_side_encryption_by_default": []any{
				map[string]any{"sse_algorithm": "aws:kms", "kms_master_key_id": "!Ref RecordsKey"}}}}},
		{"aws_s3_bucket_public_access_block RecordsBucket/public_access_block", 18, "block_public_acls", true},
		{"aws_s3_bucket_public_access_block RecordsBucket/public_access_block", 18, "restrict_public_buckets", false},
		{"aws_s3_bucket_versioning RecordsBucket/versioning", 24, "versioning_configuration", []any{map[string]any{"status": "Suspended"}}},
		{"aws_s3_bucket_logging RecordsBucket/logging", 25, "target_bucket", "juminhyo-logs"},
		{"aws_kms_key RecordsKey", 29, "policy", `{"Statement":[],"Version":"2012-10-17"}`},
		{"aws_kms_key RecordsKey", 29, "enable_key_rotation", true},
		{"aws_db_instance Database", 33, "storage_encrypted", false},
		{"aws_db_instance Database", 33, "backup_retention_period", int64(7)},
		{"aws_db_instance Database", 33, "multi_az", true},
		{"aws_security_group AppSecurityGroup", 45, "ingress", []any{
			map[string]any{"from_port": float64(22), "to_port": float64(22), "protocol": "tcp", "cidr_blocks": []any{"0.0.0.0/0"},
				"ipv6_cidr_blocks": []any{}, "security_groups": []any{}, "prefix_list_ids": []any{}, "self": false, "description": ""},
			map[string]any{"from_port": int64(0), "to_port": int64(0), "protocol": "-1", "cidr_blocks": []any{},
				"ipv6_cidr_blocks": []any{}, "security_groups": []any{"sg-0fedcba9876543210"}, "prefix_list_ids": []any{}, "self": false, "description": ""},
		}},
	})
	if len(rs) != 9 {
		t.Errorf("%d resources, want 9: %v", len(rs), keys(byKey(rs)))
	}
}

func TestIaCReadCloudFormationYAML(t *testing.T) {
	t.Parallel()
	f := readTestdata(t, "template.yaml")
	rs, format, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if format != CloudFormation {
		t.Fatalf("format %q", format)
	}
	checkAttrs(t, rs, f.Name, []attrWant{
		{"aws_iam_user Deployer", 9, "name", "!Sub deployer-${Env}"},
		{"aws_iam_access_key DeployerKey", 14, "user", "!Ref Deployer"},
		{"aws_instance Worker", 18, "instance_type", "!If [IsProd, m7g.large, t4g.small]"},
		{"aws_instance Worker", 18, "metadata_options", []any{map[string]any{"http_tokens": "optional"}}},
		{"aws_instance Worker", 18, "associate_public_ip_address", true},
		{"aws_sqs_queue Queue", 29, "kms_master_key_id", "!GetAtt QueueKey.Arn"},
		{"aws_dynamodb_table Table", 35, "server_side_encryption", []any{map[string]any{"enabled": true}}},
		{"aws_dynamodb_table Table", 35, "point_in_time_recovery", []any{map[string]any{"enabled": false}}},
		{"aws_cloudtrail Trail", 43, "s3_bucket_name", "!ImportValue audit-bucket"},
		{"aws_cloudtrail Trail", 43, "is_multi_region_trail", false},
		{"aws_vpc_security_group_ingress_rule OpenSsh", 50, "security_group_id", "!GetAtt AppSecurityGroup.GroupId"},
		{"aws_vpc_security_group_ingress_rule OpenSsh", 50, "cidr_ipv4", "0.0.0.0/0"},
		{"aws_vpc_security_group_ingress_rule OpenSsh", 50, "from_port", 22},
		{"cfn:AWS::CloudFormation::Stack Network", 58, "TemplateURL", `!Join ["", [https://s3.amazonaws.com/templates/, !Ref Env, /network.yaml]]`},
	})
	if len(rs) != 8 {
		t.Errorf("%d resources, want 8: %v", len(rs), keys(byKey(rs)))
	}
}

// Every mapped type yields resources of Terraform types, and the
// conversions read CloudFormation's strings.
func TestIaCCloudFormationMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ string
		props     map[string]any
		wantType  string
		attr      string
		want      any
	}{
		{"ok/ebs", "AWS::EC2::Volume", map[string]any{"Encrypted": "TRUE", "KmsKeyId": "k"}, "aws_ebs_volume", "encrypted", true},
		{"ok/rds-cluster", "AWS::RDS::DBCluster", map[string]any{"StorageEncrypted": true}, "aws_rds_cluster", "storage_encrypted", true},
		{"ok/efs", "AWS::EFS::FileSystem", map[string]any{"Encrypted": false}, "aws_efs_file_system", "encrypted", false},
		{"ok/sns", "AWS::SNS::Topic", map[string]any{"KmsMasterKeyId": "alias/aws/sns"}, "aws_sns_topic", "kms_master_key_id", "alias/aws/sns"},
		{"ok/sqs", "AWS::SQS::Queue", map[string]any{"SqsManagedSseEnabled": "false"}, "aws_sqs_queue", "sqs_managed_sse_enabled", false},
		{"ok/eks", "AWS::EKS::Cluster", map[string]any{"ResourcesVpcConfig": map[string]any{"EndpointPublicAccess": true, "SubnetIds": []any{"s"}}},
			"aws_eks_cluster", "vpc_config", []any{map[string]any{"endpoint_public_access": true, "subnet_ids": []any{"s"}}}},
		{"ok/ecr", "AWS::ECR::Repository", map[string]any{"ImageScanningConfiguration": map[string]any{"ScanOnPush": true}},
			"aws_ecr_repository", "image_scanning_configuration", []any{map[string]any{"scan_on_push": true}}},
		{"ok/lambda-permission", "AWS::Lambda::Permission", map[string]any{"Principal": "*"}, "aws_lambda_permission", "principal", "*"},
		{"ok/kms", "AWS::KMS::Key", map[string]any{"EnableKeyRotation": "false"}, "aws_kms_key", "enable_key_rotation", false},
		{"ok/instance-from-launch-template", "AWS::EC2::Instance", map[string]any{"LaunchTemplate": map[string]any{"LaunchTemplateId": "lt-1"}},
			"aws_instance", "metadata_options", nil},
		{"ok/sg-egress", "AWS::EC2::SecurityGroupEgress", map[string]any{"IpProtocol": -1, "CidrIp": "0.0.0.0/0"},
			"aws_vpc_security_group_egress_rule", "cidr_ipv4", "0.0.0.0/0"},
		{"ok/acl-kebab", "AWS::S3::Bucket", map[string]any{"AccessControl": "BucketOwnerFullControl"}, "aws_s3_bucket_acl", "acl", "bucket-owner-full-control"},
		{"ok/lambda-url", "AWS::Lambda::Url", map[string]any{"AuthType": "NONE"}, "aws_lambda_function_url", "authorization_type", "NONE"},
		{"ok/elasticache", "AWS::ElastiCache::ReplicationGroup", map[string]any{"TransitEncryptionEnabled": "false"},
			"aws_elasticache_replication_group", "transit_encryption_enabled", false},
		{"ok/redshift", "AWS::Redshift::Cluster", map[string]any{"PubliclyAccessible": true}, "aws_redshift_cluster", "publicly_accessible", true},
		{"ok/lb-listener", "AWS::ElasticLoadBalancingV2::Listener", map[string]any{"Protocol": "HTTP", "DefaultActions": []any{
			map[string]any{"Type": "redirect", "RedirectConfig": map[string]any{"Protocol": "HTTPS", "Port": "443"}}}},
			"aws_lb_listener", "default_action", []any{map[string]any{"type": "redirect",
				"redirect": []any{map[string]any{"protocol": "HTTPS", "port": "443"}}}}},
		{"ok/config-recorder", "AWS::Config::ConfigurationRecorder", map[string]any{"RecordingGroup": map[string]any{"AllSupported": true}},
			"aws_config_configuration_recorder", "recording_group", []any{map[string]any{"all_supported": true}}},
		{"ok/guardduty", "AWS::GuardDuty::Detector", map[string]any{"Enable": "false"}, "aws_guardduty_detector", "enable", false},
		{"ok/unknown-type", "AWS::Foo::Bar", map[string]any{"X": 1}, "cfn:AWS::Foo::Bar", "X", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, d := range mapCFN("R", tc.typ, tc.props) {
				if d.typ == tc.wantType {
					if !reflect.DeepEqual(d.config[tc.attr], tc.want) {
						t.Fatalf("%s = %#v, want %#v", tc.attr, d.config[tc.attr], tc.want)
					}
					return
				}
			}
			t.Fatalf("no %s from %s", tc.wantType, tc.typ)
		})
	}
}
