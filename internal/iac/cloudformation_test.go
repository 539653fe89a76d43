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
		// AWS's defaults for absent properties (docs/controls.md)
		{"ok/kms-rotation-absent-is-off", "AWS::KMS::Key", map[string]any{}, "aws_kms_key", "enable_key_rotation", false},
		{"ok/kms-origin", "AWS::KMS::Key", map[string]any{"Origin": "EXTERNAL"}, "aws_kms_key", "origin", "EXTERNAL"},
		{"ok/rds-backup-absent-is-one-day", "AWS::RDS::DBInstance", map[string]any{"Engine": "mysql"}, "aws_db_instance", "backup_retention_period", int64(1)},
		{"ok/rds-cluster-backup-absent-is-one-day", "AWS::RDS::DBCluster", map[string]any{}, "aws_rds_cluster", "backup_retention_period", int64(1)},
		{"ok/rds-backup-given", "AWS::RDS::DBInstance", map[string]any{"BackupRetentionPeriod": "14"}, "aws_db_instance", "backup_retention_period", int64(14)},
		{"ok/aurora-instance", "AWS::RDS::DBInstance", map[string]any{"Engine": "Aurora-MySQL", "PubliclyAccessible": "true"},
			"aws_rds_cluster_instance", "publicly_accessible", true},
		{"ok/instance-in-cluster", "AWS::RDS::DBInstance", map[string]any{"DBClusterIdentifier": "c"}, "aws_rds_cluster_instance", "cluster_identifier", "c"},
		{"ok/launch-template-imds", "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateData": map[string]any{
			"MetadataOptions": map[string]any{"HttpTokens": "required"}}},
			"aws_launch_template", "metadata_options", []any{map[string]any{"http_tokens": "required"}}},
		{"ok/launch-template-public-ip", "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateData": map[string]any{
			"NetworkInterfaces": []any{map[string]any{"AssociatePublicIpAddress": "true", "DeviceIndex": "0"}}}},
			"aws_launch_template", "network_interfaces", []any{map[string]any{"associate_public_ip_address": true, "device_index": int64(0)}}},
		{"ok/launch-template-without-data", "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateName": "x"},
			"aws_launch_template", "name", "x"},
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

// The resolver decides what the template decides before it is deployed,
// and keeps the rest as intrinsics.
func TestIaCCloudFormationResolve(t *testing.T) {
	t.Parallel()
	tmpl := map[string]any{
		"Parameters": map[string]any{
			"Env":     map[string]any{"Type": "String", "Default": "dev"},
			"Port":    map[string]any{"Type": "Number", "Default": 22},
			"Subnets": map[string]any{"Type": "List<AWS::EC2::Subnet::Id>", "Default": "subnet-a, subnet-b"},
			"NoDef":   map[string]any{"Type": "String"},
		},
		"Conditions": map[string]any{
			"IsProd":   map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Env"}, "prod"}},
			"NotProd":  map[string]any{"Fn::Not": []any{map[string]any{"Condition": "IsProd"}}},
			"Unknown":  map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "NoDef"}, "x"}},
			"Either":   map[string]any{"Fn::Or": []any{map[string]any{"Condition": "Unknown"}, map[string]any{"Condition": "NotProd"}}},
			"Both":     map[string]any{"Fn::And": []any{map[string]any{"Condition": "Unknown"}, map[string]any{"Condition": "NotProd"}}},
			"Loop":     map[string]any{"Fn::Not": []any{map[string]any{"Condition": "Loop"}}},
			"Selected": map[string]any{"Fn::Equals": []any{map[string]any{"Fn::Select": []any{"1", map[string]any{"Ref": "Subnets"}}}, "subnet-b"}},
		},
		"Mappings": map[string]any{"Ports": map[string]any{"dev": map[string]any{"ssh": "2222"}}},
	}
	ref := func(n string) any { return map[string]any{"Ref": n} }
	for _, tc := range []struct {
		name      string
		overrides map[string]string
		in, want  any
	}{
		{"ok/default", nil, ref("Env"), "dev"},
		{"ok/override", map[string]string{"Env": "prod"}, ref("Env"), "prod"},
		{"ok/number-default", nil, ref("Port"), 22},
		{"ok/list-parameter", nil, ref("Subnets"), []any{"subnet-a", "subnet-b"}},
		{"ok/no-default-stays", nil, ref("NoDef"), ref("NoDef")},
		{"ok/resource-ref-stays", nil, ref("Bucket"), ref("Bucket")},
		{"ok/if-false", nil, map[string]any{"Fn::If": []any{"IsProd", "a", "b"}}, "b"},
		{"ok/if-true-by-override", map[string]string{"Env": "prod"}, map[string]any{"Fn::If": []any{"IsProd", "a", "b"}}, "a"},
		{"ok/if-unknown-same-branches", nil, map[string]any{"Fn::If": []any{"Unknown", "a", "a"}}, "a"},
		{"ok/if-unknown-stays", nil, map[string]any{"Fn::If": []any{"Unknown", "a", ref("Env")}},
			map[string]any{"Fn::If": []any{"Unknown", "a", "dev"}}},
		{"ok/or-with-unknown-true", nil, map[string]any{"Fn::If": []any{"Either", "a", "b"}}, "a"},
		{"ok/and-with-unknown-unknown", nil, map[string]any{"Fn::If": []any{"Both", "a", "b"}},
			map[string]any{"Fn::If": []any{"Both", "a", "b"}}},
		{"ok/cycle-is-unknown", nil, map[string]any{"Fn::If": []any{"Loop", "a", "b"}},
			map[string]any{"Fn::If": []any{"Loop", "a", "b"}}},
		{"ok/select-in-condition", nil, map[string]any{"Fn::If": []any{"Selected", "a", "b"}}, "a"},
		{"ok/novalue-drops-the-property", nil, map[string]any{"P": map[string]any{"Fn::If": []any{"IsProd", "a", ref("AWS::NoValue")}}, "Q": 1},
			map[string]any{"Q": 1}},
		{"ok/sub", nil, map[string]any{"Fn::Sub": "app-${Env}-${!Literal}"}, "app-dev-${Literal}"},
		{"ok/sub-with-variables", nil, map[string]any{"Fn::Sub": []any{"${A}-${Env}", map[string]any{"A": "x"}}}, "x-dev"},
		{"ok/sub-partly-known", nil, map[string]any{"Fn::Sub": "${Bucket.Arn}/${Env}"}, map[string]any{"Fn::Sub": "${Bucket.Arn}/dev"}},
		{"ok/join", nil, map[string]any{"Fn::Join": []any{",", ref("Subnets")}}, "subnet-a,subnet-b"},
		{"ok/find-in-map", nil, map[string]any{"Fn::FindInMap": []any{"Ports", ref("Env"), "ssh"}}, "2222"},
		{"ok/select-out-of-range", nil, map[string]any{"Fn::Select": []any{"9", ref("Subnets")}},
			map[string]any{"Fn::Select": []any{"9", []any{"subnet-a", "subnet-b"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := newCFNResolver(tmpl, tc.overrides, "").value(tc.in, 0)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// Unresolved intrinsics are written as a person writes them in YAML.
func TestIaCShortForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"ok/ref", map[string]any{"Ref": "S3Bucket"}, "!Ref S3Bucket"},
		{"ok/getatt-list", map[string]any{"Fn::GetAtt": []any{"Key", "Arn"}}, "!GetAtt Key.Arn"},
		{"ok/getatt-string", map[string]any{"Fn::GetAtt": "Key.Arn"}, "!GetAtt Key.Arn"},
		{"ok/sub", map[string]any{"Fn::Sub": "arn:aws:s3:::${Bucket}/*"}, "!Sub arn:aws:s3:::${Bucket}/*"},
		{"ok/import", map[string]any{"Fn::ImportValue": map[string]any{"Fn::Sub": "${Net}-vpc"}}, "!ImportValue !Sub ${Net}-vpc"},
		{"ok/if", map[string]any{"Fn::If": []any{"C", map[string]any{"Ref": "A"}, ""}}, `!If [C, !Ref A, ""]`},
		{"ok/nested-map", map[string]any{"Fn::If": []any{"C", map[string]any{"K": "v, w"}, 1}}, `!If [C, {K: "v, w"}, 1]`},
		{"ok/condition", map[string]any{"Condition": "IsProd"}, "!Condition IsProd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := shortForm(tc.in); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
