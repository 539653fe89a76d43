package iac

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// derived is one Terraform-shaped resource made from a CloudFormation
// resource; prop names the property it comes from, for its line.
type derived struct {
	typ, id, prop string
	config        map[string]any
}

// prop maps one CloudFormation property to a Terraform attribute.
type prop struct {
	cfn, tf string
	conv    func(any) any
}

func p(cfn, tf string) prop      { return prop{cfn, tf, nil} }
func pBool(cfn, tf string) prop  { return prop{cfn, tf, boolish} }
func pNum(cfn, tf string) prop   { return prop{cfn, tf, numish} }
func pList(cfn, tf string) prop  { return prop{cfn, tf, listOf} }
func pJSON(cfn, tf string) prop  { return prop{cfn, tf, jsonText} }
func pLower(cfn, tf string) prop { return prop{cfn, tf, lower} }
func pBlock(cfn, tf string, ps ...prop) prop {
	return prop{cfn, tf, func(v any) any { return block(v, ps...) }}
}

// attrs copies the properties that are set, converted, under their
// Terraform names.
func attrs(props map[string]any, ps ...prop) map[string]any {
	out := map[string]any{}
	for _, p := range ps {
		v, ok := props[p.cfn]
		if !ok || v == nil {
			continue
		}
		if p.conv != nil {
			v = p.conv(v)
		}
		if v != nil {
			out[p.tf] = v
		}
	}
	return out
}

// block is a nested block in Terraform's shape: a list of one object. A
// value that is not a mapping (an intrinsic function's result) stays as
// it is.
func block(v any, ps ...prop) any {
	m, ok := v.(map[string]any)
	if !ok || isIntrinsic(m) {
		return v
	}
	return []any{attrs(m, ps...)}
}

// blocks maps a list of mappings to a list of blocks.
func blocks(v any, ps ...prop) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok && !isIntrinsic(m) {
			out = append(out, attrs(m, ps...))
		} else {
			out = append(out, e)
		}
	}
	return out
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// boolish reads CloudFormation's "true"/"false" strings as booleans.
func boolish(v any) any {
	if s, ok := v.(string); ok {
		if b, err := strconv.ParseBool(strings.ToLower(s)); err == nil {
			return b
		}
	}
	return v
}

// numish reads numbers written as strings ("7") as numbers.
func numish(v any) any {
	if s, ok := v.(string); ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			return n
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !isInfOrNaN(f) {
			return f
		}
	}
	return v
}

func isInfOrNaN(f float64) bool { return f != f || f > 1e308 || f < -1e308 }

func listOf(v any) any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// jsonText turns a policy document into the JSON text Terraform holds.
func jsonText(v any) any {
	if _, ok := v.(string); ok {
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	return string(b)
}

func lower(v any) any {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return v
}

// kebab turns a canned ACL's CloudFormation name into the S3 API's
// (PublicRead → public-read).
func kebab(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tags turns CloudFormation's [{Key, Value}] into Terraform's map.
func tags(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return v
		}
		k, ok := m["Key"].(string)
		if !ok {
			return v
		}
		out[k] = m["Value"]
	}
	return out
}

func get(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// cfnTypes maps the common CloudFormation types to Terraform's: each
// returns the resources a CloudFormation resource stands for.
var cfnTypes = map[string]func(id string, props map[string]any) []derived{
	"AWS::IAM::User": simple("aws_iam_user", p("UserName", "name"), p("Path", "path"),
		p("PermissionsBoundary", "permissions_boundary"), pList("ManagedPolicyArns", "managed_policy_arns")),
	"AWS::IAM::AccessKey": simple("aws_iam_access_key", p("UserName", "user"), p("Status", "status")),
	"AWS::IAM::Role": simple("aws_iam_role", p("RoleName", "name"), p("Path", "path"),
		pJSON("AssumeRolePolicyDocument", "assume_role_policy"), p("PermissionsBoundary", "permissions_boundary"),
		pNum("MaxSessionDuration", "max_session_duration"), pList("ManagedPolicyArns", "managed_policy_arns")),
	"AWS::S3::Bucket": s3Bucket,
	"AWS::S3::BucketPolicy": simple("aws_s3_bucket_policy", p("Bucket", "bucket"),
		pJSON("PolicyDocument", "policy")),
	"AWS::EC2::Volume": simple("aws_ebs_volume", pBool("Encrypted", "encrypted"), p("KmsKeyId", "kms_key_id"),
		p("AvailabilityZone", "availability_zone"), pNum("Size", "size"), p("VolumeType", "type"),
		p("SnapshotId", "snapshot_id"), pNum("Iops", "iops"), pNum("Throughput", "throughput")),
	"AWS::RDS::DBInstance": dbInstance,
	"AWS::RDS::DBCluster": withDefaults(map[string]any{"backup_retention_period": int64(1)}, "aws_rds_cluster", p("DBClusterIdentifier", "cluster_identifier"),
		p("Engine", "engine"), p("EngineVersion", "engine_version"),
		pBool("StorageEncrypted", "storage_encrypted"), p("KmsKeyId", "kms_key_id"),
		pBool("PubliclyAccessible", "publicly_accessible"), pNum("BackupRetentionPeriod", "backup_retention_period"),
		pBool("DeletionProtection", "deletion_protection"),
		pBool("EnableIAMDatabaseAuthentication", "iam_database_authentication_enabled"),
		pBool("CopyTagsToSnapshot", "copy_tags_to_snapshot"),
		pList("EnableCloudwatchLogsExports", "enabled_cloudwatch_logs_exports")),
	"AWS::DynamoDB::Table": simple("aws_dynamodb_table", p("TableName", "name"), p("BillingMode", "billing_mode"),
		pBlock("SSESpecification", "server_side_encryption", pBool("SSEEnabled", "enabled"), p("KMSMasterKeyId", "kms_key_arn")),
		pBlock("PointInTimeRecoverySpecification", "point_in_time_recovery", pBool("PointInTimeRecoveryEnabled", "enabled")),
		pBool("DeletionProtectionEnabled", "deletion_protection_enabled")),
	"AWS::CloudTrail::Trail": simple("aws_cloudtrail", p("TrailName", "name"), p("S3BucketName", "s3_bucket_name"),
		pBool("IsMultiRegionTrail", "is_multi_region_trail"), pBool("EnableLogFileValidation", "enable_log_file_validation"),
		p("KMSKeyId", "kms_key_id"), pBool("IncludeGlobalServiceEvents", "include_global_service_events"),
		pBool("IsLogging", "enable_logging"), pBool("IsOrganizationTrail", "is_organization_trail"),
		p("CloudWatchLogsLogGroupArn", "cloud_watch_logs_group_arn"), p("CloudWatchLogsRoleArn", "cloud_watch_logs_role_arn")),
	"AWS::EC2::SecurityGroup": securityGroup,
	"AWS::EC2::SecurityGroupIngress": simple("aws_vpc_security_group_ingress_rule", p("GroupId", "security_group_id"),
		pNum("FromPort", "from_port"), pNum("ToPort", "to_port"), pLower("IpProtocol", "ip_protocol"),
		p("CidrIp", "cidr_ipv4"), p("CidrIpv6", "cidr_ipv6"), p("SourceSecurityGroupId", "referenced_security_group_id"),
		p("SourcePrefixListId", "prefix_list_id"), p("Description", "description")),
	"AWS::EC2::SecurityGroupEgress": simple("aws_vpc_security_group_egress_rule", p("GroupId", "security_group_id"),
		pNum("FromPort", "from_port"), pNum("ToPort", "to_port"), pLower("IpProtocol", "ip_protocol"),
		p("CidrIp", "cidr_ipv4"), p("CidrIpv6", "cidr_ipv6"), p("DestinationSecurityGroupId", "referenced_security_group_id"),
		p("DestinationPrefixListId", "prefix_list_id"), p("Description", "description")),
	"AWS::EC2::Instance":       ec2Instance,
	"AWS::KMS::Key":            kmsKey,
	"AWS::EC2::LaunchTemplate": launchTemplate,
	"AWS::EFS::FileSystem": simple("aws_efs_file_system", pBool("Encrypted", "encrypted"), p("KmsKeyId", "kms_key_id"),
		p("PerformanceMode", "performance_mode"), p("ThroughputMode", "throughput_mode")),
	"AWS::SNS::Topic": simple("aws_sns_topic", p("TopicName", "name"), p("KmsMasterKeyId", "kms_master_key_id"),
		pBool("FifoTopic", "fifo_topic")),
	"AWS::SQS::Queue": simple("aws_sqs_queue", p("QueueName", "name"), p("KmsMasterKeyId", "kms_master_key_id"),
		pBool("SqsManagedSseEnabled", "sqs_managed_sse_enabled"), pBool("FifoQueue", "fifo_queue"),
		pNum("MessageRetentionPeriod", "message_retention_seconds"), pNum("VisibilityTimeout", "visibility_timeout_seconds"),
		pNum("KmsDataKeyReusePeriodSeconds", "kms_data_key_reuse_period_seconds")),
	"AWS::EKS::Cluster": eksCluster,
	"AWS::ECR::Repository": simple("aws_ecr_repository", p("RepositoryName", "name"),
		p("ImageTagMutability", "image_tag_mutability"),
		pBlock("ImageScanningConfiguration", "image_scanning_configuration", pBool("ScanOnPush", "scan_on_push")),
		pBlock("EncryptionConfiguration", "encryption_configuration", p("EncryptionType", "encryption_type"), p("KmsKey", "kms_key"))),
	"AWS::Lambda::Permission": simple("aws_lambda_permission", p("Principal", "principal"), p("Action", "action"),
		p("FunctionName", "function_name"), p("SourceArn", "source_arn"), p("SourceAccount", "source_account"),
		p("PrincipalOrgID", "principal_org_id"), p("FunctionUrlAuthType", "function_url_auth_type")),
	"AWS::Lambda::Url": simple("aws_lambda_function_url", p("TargetFunctionArn", "function_name"),
		p("AuthType", "authorization_type"), p("Qualifier", "qualifier")),
	"AWS::Lambda::Function": simple("aws_lambda_function", p("FunctionName", "function_name"), p("Runtime", "runtime"),
		p("Role", "role"), p("KmsKeyArn", "kms_key_arn")),
	"AWS::ElastiCache::ReplicationGroup": simple("aws_elasticache_replication_group",
		p("ReplicationGroupId", "replication_group_id"), p("Engine", "engine"),
		pBool("AtRestEncryptionEnabled", "at_rest_encryption_enabled"), pBool("TransitEncryptionEnabled", "transit_encryption_enabled"),
		p("TransitEncryptionMode", "transit_encryption_mode"),
		p("KmsKeyId", "kms_key_id"), pBool("MultiAZEnabled", "multi_az_enabled")),
	"AWS::Redshift::Cluster": simple("aws_redshift_cluster", p("ClusterIdentifier", "cluster_identifier"),
		pBool("Encrypted", "encrypted"), p("KmsKeyId", "kms_key_id"), pBool("PubliclyAccessible", "publicly_accessible")),
	"AWS::ElasticLoadBalancingV2::Listener": simple("aws_lb_listener", p("LoadBalancerArn", "load_balancer_arn"),
		p("Protocol", "protocol"), pNum("Port", "port"), p("SslPolicy", "ssl_policy"),
		prop{"DefaultActions", "default_action", func(v any) any {
			return blocks(v, p("Type", "type"), p("TargetGroupArn", "target_group_arn"),
				pBlock("RedirectConfig", "redirect", p("Protocol", "protocol"), p("Port", "port"), p("StatusCode", "status_code")))
		}}),
	"AWS::Config::ConfigurationRecorder": simple("aws_config_configuration_recorder", p("Name", "name"), p("RoleARN", "role_arn"),
		pBlock("RecordingGroup", "recording_group", pBool("AllSupported", "all_supported"),
			pBool("IncludeGlobalResourceTypes", "include_global_resource_types"))),
	"AWS::GuardDuty::Detector": simple("aws_guardduty_detector", pBool("Enable", "enable"),
		p("FindingPublishingFrequency", "finding_publishing_frequency")),
	"AWS::EC2::VPC": simple("aws_vpc", p("CidrBlock", "cidr_block")),
	"AWS::Logs::LogGroup": simple("aws_cloudwatch_log_group", p("LogGroupName", "name"),
		pNum("RetentionInDays", "retention_in_days"), p("KmsKeyId", "kms_key_id")),
}

// mapCFN returns the Terraform-shaped resources of one CloudFormation
// resource; a type without a mapping passes through as "cfn:<type>".
func mapCFN(id, typ string, props map[string]any) []derived {
	f, ok := cfnTypes[typ]
	if !ok {
		return []derived{{typ: "cfn:" + typ, id: id, config: props}}
	}
	out := f(id, props)
	if t, ok := props["Tags"]; ok && len(out) > 0 {
		out[0].config["tags"] = tags(t)
	}
	return out
}

func simple(typ string, ps ...prop) func(string, map[string]any) []derived {
	return func(id string, props map[string]any) []derived {
		return []derived{{typ: typ, id: id, config: attrs(props, ps...)}}
	}
}

// withDefaults is simple with AWS's defaults for the properties the
// template leaves out (docs/controls.md, "AWS defaults for absent
// properties"): BackupRetentionPeriod is 1 day for RDS instances and
// clusters ("Default: 1").
func withDefaults(defaults map[string]any, typ string, ps ...prop) func(string, map[string]any) []derived {
	return func(id string, props map[string]any) []derived {
		c := attrs(props, ps...)
		for k, v := range defaults {
			if _, ok := c[k]; !ok {
				c[k] = v
			}
		}
		return []derived{{typ: typ, id: id, config: c}}
	}
}

// s3Bucket is a bucket and the resources Terraform's AWS provider v4+
// splits its configuration into, each named <id>/<part> and bound to the
// bucket by the same bucket value (its name, or {"Ref": id}).
func s3Bucket(id string, props map[string]any) []derived {
	bucket := props["BucketName"]
	if bucket == nil {
		bucket = map[string]any{"Ref": id}
	}
	b := attrs(props, pBool("ObjectLockEnabled", "object_lock_enabled"))
	b["bucket"] = bucket
	out := []derived{{typ: "aws_s3_bucket", id: id, config: b}}
	part := func(typ, prop string, config map[string]any) {
		config["bucket"] = bucket
		out = append(out, derived{typ: typ, id: id + "/" + strings.TrimPrefix(typ, "aws_s3_bucket_"), prop: prop, config: config})
	}
	if pab, ok := props["PublicAccessBlockConfiguration"].(map[string]any); ok {
		part("aws_s3_bucket_public_access_block", "PublicAccessBlockConfiguration", attrs(pab,
			pBool("BlockPublicAcls", "block_public_acls"), pBool("BlockPublicPolicy", "block_public_policy"),
			pBool("IgnorePublicAcls", "ignore_public_acls"), pBool("RestrictPublicBuckets", "restrict_public_buckets")))
	}
	if enc := get(props, "BucketEncryption"); enc != nil {
		part("aws_s3_bucket_server_side_encryption_configuration", "BucketEncryption", map[string]any{
			"rule": blocks(enc["ServerSideEncryptionConfiguration"],
				pBlock("ServerSideEncryptionByDefault", "apply_server_side_encryption_by_default",
					p("SSEAlgorithm", "sse_algorithm"), p("KMSMasterKeyID", "kms_master_key_id")),
				pBool("BucketKeyEnabled", "bucket_key_enabled")),
		})
	}
	if v, ok := props["VersioningConfiguration"]; ok {
		part("aws_s3_bucket_versioning", "VersioningConfiguration", map[string]any{
			"versioning_configuration": block(v, p("Status", "status")),
		})
	}
	if l, ok := props["LoggingConfiguration"].(map[string]any); ok {
		part("aws_s3_bucket_logging", "LoggingConfiguration", attrs(l,
			p("DestinationBucketName", "target_bucket"), p("LogFilePrefix", "target_prefix")))
	}
	if acl, ok := props["AccessControl"]; ok {
		part("aws_s3_bucket_acl", "AccessControl", map[string]any{"acl": kebab(acl)})
	}
	return out
}

// securityGroup maps the inline rules to Terraform's ingress and egress
// blocks, every list attribute present as Terraform shows them.
func securityGroup(id string, props map[string]any) []derived {
	c := attrs(props, p("GroupName", "name"), p("GroupDescription", "description"), p("VpcId", "vpc_id"))
	rules := func(v any, peer string) any {
		l, ok := v.([]any)
		if !ok {
			return v
		}
		out := make([]any, 0, len(l))
		for _, e := range l {
			m, ok := e.(map[string]any)
			if !ok || isIntrinsic(m) {
				out = append(out, e)
				continue
			}
			r := attrs(m, pNum("FromPort", "from_port"), pNum("ToPort", "to_port"), pLower("IpProtocol", "protocol"))
			if proto, ok := r["protocol"]; ok {
				r["protocol"] = lower(jsonNumberText(proto))
			}
			if r["protocol"] == "-1" {
				// all traffic: Terraform writes ports 0 to 0
				for _, k := range []string{"from_port", "to_port"} {
					if _, ok := r[k]; !ok {
						r[k] = int64(0)
					}
				}
			}
			r["cidr_blocks"] = present(m["CidrIp"])
			r["ipv6_cidr_blocks"] = present(m["CidrIpv6"])
			r["security_groups"] = present(m[peer])
			r["prefix_list_ids"] = present(m["SourcePrefixListId"], m["DestinationPrefixListId"])
			r["self"] = false
			r["description"] = m["Description"]
			if r["description"] == nil {
				r["description"] = ""
			}
			out = append(out, r)
		}
		return out
	}
	if v, ok := props["SecurityGroupIngress"]; ok {
		c["ingress"] = rules(v, "SourceSecurityGroupId")
	}
	if v, ok := props["SecurityGroupEgress"]; ok {
		c["egress"] = rules(v, "DestinationSecurityGroupId")
	}
	return []derived{{typ: "aws_security_group", id: id, config: c}}
}

// present lists the values that are set.
func present(vs ...any) []any {
	out := []any{}
	for _, v := range vs {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// jsonNumberText writes a protocol given as a number (-1, 6) as Terraform
// holds it, a string.
func jsonNumberText(v any) any {
	switch n := v.(type) {
	case int:
		return strconv.Itoa(n)
	case int64:
		return strconv.FormatInt(n, 10)
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return v
}

// ec2Instance maps an instance; its metadata options are unknown when it
// takes them from a launch template, and then stay absent.
func ec2Instance(id string, props map[string]any) []derived {
	c := attrs(props, p("ImageId", "ami"), p("InstanceType", "instance_type"), p("SubnetId", "subnet_id"),
		p("IamInstanceProfile", "iam_instance_profile"), pBool("EbsOptimized", "ebs_optimized"),
		pBool("Monitoring", "monitoring"), pList("SecurityGroupIds", "vpc_security_group_ids"),
		pBlock("MetadataOptions", "metadata_options", p("HttpTokens", "http_tokens"), p("HttpEndpoint", "http_endpoint"),
			pNum("HttpPutResponseHopLimit", "http_put_response_hop_limit")),
		pBlock("LaunchTemplate", "launch_template", p("LaunchTemplateId", "id"), p("LaunchTemplateName", "name"), p("Version", "version")))
	if nis, ok := props["NetworkInterfaces"].([]any); ok {
		for _, ni := range nis {
			m, ok := ni.(map[string]any)
			if !ok {
				continue
			}
			if v, ok := m["AssociatePublicIpAddress"]; ok {
				v = boolish(v)
				if cur, set := c["associate_public_ip_address"]; !set || cur == false {
					c["associate_public_ip_address"] = v
				}
			}
		}
	}
	if bdm, ok := props["BlockDeviceMappings"].([]any); ok {
		var devices []any
		for _, d := range bdm {
			m, ok := d.(map[string]any)
			if !ok {
				continue
			}
			ebs := get(m, "Ebs")
			if ebs == nil {
				continue
			}
			dev := attrs(ebs, pBool("Encrypted", "encrypted"), p("KmsKeyId", "kms_key_id"),
				pNum("VolumeSize", "volume_size"), p("VolumeType", "volume_type"), pBool("DeleteOnTermination", "delete_on_termination"))
			if n, ok := m["DeviceName"]; ok {
				dev["device_name"] = n
			}
			devices = append(devices, dev)
		}
		if devices != nil {
			c["ebs_block_device"] = devices
		}
	}
	return []derived{{typ: "aws_instance", id: id, config: c}}
}

func eksCluster(id string, props map[string]any) []derived {
	c := attrs(props, p("Name", "name"), p("Version", "version"), p("RoleArn", "role_arn"),
		pBlock("ResourcesVpcConfig", "vpc_config", pBool("EndpointPublicAccess", "endpoint_public_access"),
			pBool("EndpointPrivateAccess", "endpoint_private_access"), pList("PublicAccessCidrs", "public_access_cidrs"),
			pList("SubnetIds", "subnet_ids"), pList("SecurityGroupIds", "security_group_ids")),
	)
	if enc, ok := props["EncryptionConfig"]; ok {
		c["encryption_config"] = blocks(enc, pBlock("Provider", "provider", p("KeyArn", "key_arn")), pList("Resources", "resources"))
	}
	if lg := get(get(props, "Logging"), "ClusterLogging"); lg != nil {
		if types, ok := lg["EnabledTypes"].([]any); ok {
			var names []any
			for _, t := range types {
				if m, ok := t.(map[string]any); ok && m["Type"] != nil {
					names = append(names, m["Type"])
				}
			}
			c["enabled_cluster_log_types"] = names
		}
	}
	return []derived{{typ: "aws_eks_cluster", id: id, config: c}}
}

// dbInstance maps a DB instance. An Aurora instance (an aurora* engine, or
// one that names its cluster) keeps no storage, backups or deletion
// protection of its own — AWS::RDS::DBInstance's StorageEncrypted "is
// managed by the DB cluster" — so it is Terraform's aws_rds_cluster_instance
// and the cluster (AWS::RDS::DBCluster) is judged for those.
func dbInstance(id string, props map[string]any) []derived {
	engine, _ := props["Engine"].(string)
	_, inCluster := props["DBClusterIdentifier"]
	if strings.HasPrefix(strings.ToLower(engine), "aurora") || inCluster {
		return simple("aws_rds_cluster_instance", p("DBInstanceIdentifier", "identifier"),
			p("Engine", "engine"), p("EngineVersion", "engine_version"), p("DBInstanceClass", "instance_class"),
			p("DBClusterIdentifier", "cluster_identifier"), pBool("PubliclyAccessible", "publicly_accessible"),
			pBool("AutoMinorVersionUpgrade", "auto_minor_version_upgrade"),
			pBool("EnablePerformanceInsights", "performance_insights_enabled"),
			pNum("MonitoringInterval", "monitoring_interval"))(id, props)
	}
	return withDefaults(map[string]any{"backup_retention_period": int64(1)}, "aws_db_instance", p("DBInstanceIdentifier", "identifier"),
		p("Engine", "engine"), p("EngineVersion", "engine_version"), p("DBInstanceClass", "instance_class"),
		pBool("StorageEncrypted", "storage_encrypted"), p("KmsKeyId", "kms_key_id"),
		pBool("PubliclyAccessible", "publicly_accessible"), pNum("BackupRetentionPeriod", "backup_retention_period"),
		pBool("DeletionProtection", "deletion_protection"), pBool("MultiAZ", "multi_az"),
		pBool("EnableIAMDatabaseAuthentication", "iam_database_authentication_enabled"),
		pBool("AutoMinorVersionUpgrade", "auto_minor_version_upgrade"),
		pBool("CopyTagsToSnapshot", "copy_tags_to_snapshot"),
		pBool("EnablePerformanceInsights", "performance_insights_enabled"),
		pList("EnableCloudwatchLogsExports", "enabled_cloudwatch_logs_exports"),
		pNum("MonitoringInterval", "monitoring_interval"))(id, props)
}

// kmsKey maps a key. EnableKeyRotation absent is AWS's default, off
// (AWS::KMS::Key: "default false"), written out as Terraform's plans do,
// so aws-kms-rotation judges a template as it judges a plan.
func kmsKey(id string, props map[string]any) []derived {
	c := attrs(props, pBool("EnableKeyRotation", "enable_key_rotation"),
		p("Description", "description"), p("KeyUsage", "key_usage"), p("KeySpec", "customer_master_key_spec"),
		p("Origin", "origin"), pNum("PendingWindowInDays", "deletion_window_in_days"), pBool("Enabled", "is_enabled"),
		pBool("MultiRegion", "multi_region"), pJSON("KeyPolicy", "policy"))
	if _, ok := c["enable_key_rotation"]; !ok {
		c["enable_key_rotation"] = false
	}
	return []derived{{typ: "aws_kms_key", id: id, config: c}}
}

// launchTemplate maps a launch template's data to Terraform's
// aws_launch_template: the metadata options (IMDSv2), the network
// interfaces (public IPs) and the block devices the EC2 controls read.
func launchTemplate(id string, props map[string]any) []derived {
	c := attrs(props, p("LaunchTemplateName", "name"))
	data := get(props, "LaunchTemplateData")
	if data == nil || isIntrinsic(data) {
		return []derived{{typ: "aws_launch_template", id: id, config: c}}
	}
	for k, v := range attrs(data, p("ImageId", "image_id"), p("InstanceType", "instance_type"),
		pBool("EbsOptimized", "ebs_optimized"), pList("SecurityGroupIds", "vpc_security_group_ids"),
		pBlock("MetadataOptions", "metadata_options", p("HttpTokens", "http_tokens"), p("HttpEndpoint", "http_endpoint"),
			pNum("HttpPutResponseHopLimit", "http_put_response_hop_limit"), p("InstanceMetadataTags", "instance_metadata_tags"))) {
		c[k] = v
	}
	if nis, ok := data["NetworkInterfaces"]; ok {
		c["network_interfaces"] = blocks(nis, pBool("AssociatePublicIpAddress", "associate_public_ip_address"),
			pNum("DeviceIndex", "device_index"), p("SubnetId", "subnet_id"), pList("Groups", "security_groups"),
			pBool("DeleteOnTermination", "delete_on_termination"))
	}
	if bdm, ok := data["BlockDeviceMappings"]; ok {
		c["block_device_mappings"] = blocks(bdm, p("DeviceName", "device_name"),
			pBlock("Ebs", "ebs", pBool("Encrypted", "encrypted"), p("KmsKeyId", "kms_key_id"),
				pNum("VolumeSize", "volume_size"), p("VolumeType", "volume_type")))
	}
	return []derived{{typ: "aws_launch_template", id: id, config: c}}
}
