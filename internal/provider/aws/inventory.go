package aws

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// The inventory: every member account's resources, read as a landing zone
// reads them, through an AWS Config aggregator in the management account
// (SelectAggregateResourceConfig), and mapped from Config's configuration
// items to Terraform's resource types and attributes, the shape hatoba's
// controls read.

var _ provider.Inventory = (*Driver)(nil)

// DefaultConfigAggregator is the aggregator's name when Config leaves it
// empty: an organisation-wide aggregator created with the landing zone.
const DefaultConfigAggregator = "hatoba-organization"

var reAccountID = regexp.MustCompile(`^\d{12}$`)

// inventoryQuery is the advanced query for one account; the account id is
// checked to be twelve digits before it is put in.
const inventoryQuery = "SELECT resourceId, resourceName, resourceType, arn, awsRegion, accountId, configuration, supplementaryConfiguration WHERE accountId = '%s'"

// configItem is one result of the query.
type configItem struct {
	ResourceID    string         `json:"resourceId"`
	ResourceName  string         `json:"resourceName"`
	ResourceType  string         `json:"resourceType"`
	ARN           string         `json:"arn"`
	AWSRegion     string         `json:"awsRegion"`
	AccountID     string         `json:"accountId"`
	Configuration map[string]any `json:"configuration"`
	Supplementary map[string]any `json:"supplementaryConfiguration"`
}

// mappers turn a configuration item into Terraform resources, by Config's
// resource type. AWS::::Account is not a type AWS Config records: it is
// the simulated cloud's account summary (root MFA, root access keys); see
// docs/simcloud.md.
var mappers = map[string]func(configItem) []provider.Resource{
	"AWS::::Account":          mapRootAccount,
	"AWS::IAM::User":          mapIAMUser,
	"AWS::S3::Bucket":         mapS3Bucket,
	"AWS::EC2::SecurityGroup": mapSecurityGroup,
	"AWS::EC2::Instance":      mapInstance,
	"AWS::EC2::Volume":        mapVolume,
	"AWS::RDS::DBInstance":    mapDBInstance,
	"AWS::CloudTrail::Trail":  mapTrail,
	"AWS::KMS::Key":           mapKMSKey,
	"AWS::DynamoDB::Table":    mapDynamoDBTable,
	"AWS::EFS::FileSystem":    mapEFSFileSystem,
}

// ListResources implements provider.Inventory.
func (d *Driver) ListResources(ctx context.Context, accountID string) ([]provider.Resource, error) {
	const op = "SelectAggregateResourceConfig"
	if !reAccountID.MatchString(accountID) {
		return nil, &provider.Error{Op: op, Class: provider.Permanent, Err: fmt.Errorf("%q is not an AWS account id", accountID)}
	}
	pages := configservice.NewSelectAggregateResourceConfigPaginator(d.config, &configservice.SelectAggregateResourceConfigInput{
		ConfigurationAggregatorName: awssdk.String(d.aggregator),
		Expression:                  awssdk.String(fmt.Sprintf(inventoryQuery, accountID)),
		Limit:                       100,
	})
	out := []provider.Resource{}
	skipped := map[string]int{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify(op, err)
		}
		for _, raw := range page.Results {
			rs, account, typ, err := NormaliseConfigItem([]byte(raw))
			if err != nil {
				return nil, &provider.Error{Op: op, Class: provider.Permanent, Err: err}
			}
			if account != "" && account != accountID {
				return nil, &provider.Error{Op: op, Class: provider.Permanent, Err: fmt.Errorf("asked for account %s, got an item of account %s", accountID, account)}
			}
			if rs == nil {
				skipped[typ]++
				continue
			}
			out = append(out, rs...)
		}
	}
	if len(skipped) > 0 {
		d.log.DebugContext(ctx, "inventory: resource types without a mapping skipped", "connection", d.name, "account", accountID, "skipped", skipped)
	}
	blankAWSManagedKeys(out)
	return out, nil
}

// keyAttributes are the attributes that name a KMS key in the Terraform
// shapes the mappers make.
var keyAttributes = map[string]bool{"kms_key_id": true, "kms_master_key_id": true, "kms_key_arn": true}

// blankAWSManagedKeys empties every key attribute that names a key AWS
// manages (keyManager AWS in the account's own key items): Config gives
// only an ARN, which does not say whose key it is, and the controls'
// convention is that a key attribute names a customer managed key or is
// empty (docs/controls.md). Keys not in the account's items are left as
// they are.
func blankAWSManagedKeys(rs []provider.Resource) {
	managed := map[string]bool{}
	for _, r := range rs {
		if r.Type == "aws_kms_key" && r.Config["key_manager"] == "AWS" {
			managed[r.ID] = true
			if _, id, ok := strings.Cut(r.ID, ":key/"); ok {
				managed[id] = true
			}
		}
	}
	if len(managed) == 0 {
		return
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && keyAttributes[k] && managed[s] {
					x[k] = ""
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case []map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, r := range rs {
		if r.Type != "aws_kms_key" {
			walk(r.Config)
		}
	}
}

// NormaliseConfigItem maps one AWS Config configuration item (JSON, as
// SelectAggregateResourceConfig returns it) to the Terraform-shaped
// resources the controls read; nil for a type without a mapping. It also
// names the item's account and Config type.
func NormaliseConfigItem(raw []byte) (rs []provider.Resource, accountID, resourceType string, err error) {
	var it configItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, "", "", fmt.Errorf("a result is not a configuration item: %w", err)
	}
	m := mappers[it.ResourceType]
	if m == nil {
		return nil, it.AccountID, it.ResourceType, nil
	}
	return m(it), it.AccountID, it.ResourceType, nil
}

// resource is a Terraform resource made from the item: its id is the ARN
// where Config gives one. Resources derived from one item (a bucket's
// public access block, …) share its id and differ in type.
func (it configItem) resource(typ string, cfg map[string]any) provider.Resource {
	return provider.Resource{Type: typ, ID: cmp.Or(it.ARN, it.ResourceID), Region: it.AWSRegion, Config: cfg}
}

func mapRootAccount(it configItem) []provider.Resource {
	c := it.Configuration
	return []provider.Resource{it.resource("aws_root_account", map[string]any{
		"mfa_enabled": boolean(c, "accountMFAEnabled"), "access_keys_present": boolean(c, "accountAccessKeysPresent"),
	})}
}

func mapIAMUser(it configItem) []provider.Resource {
	return []provider.Resource{it.resource("aws_iam_user", map[string]any{
		"name": cmp.Or(str(it.Configuration, "userName"), it.ResourceName),
	})}
}

func mapS3Bucket(it configItem) []provider.Resource {
	sup := it.Supplementary
	name := cmp.Or(str(it.Configuration, "name"), it.ResourceName, it.ResourceID)
	rs := []provider.Resource{it.resource("aws_s3_bucket", map[string]any{"bucket": name})}
	if pab := obj(field(sup, "PublicAccessBlockConfiguration")); pab != nil {
		rs = append(rs, it.resource("aws_s3_bucket_public_access_block", map[string]any{
			"bucket":                  name,
			"block_public_acls":       boolean(pab, "blockPublicAcls"),
			"block_public_policy":     boolean(pab, "blockPublicPolicy"),
			"ignore_public_acls":      boolean(pab, "ignorePublicAcls"),
			"restrict_public_buckets": boolean(pab, "restrictPublicBuckets"),
		}))
	}
	if sse := obj(field(sup, "ServerSideEncryptionConfiguration")); sse != nil {
		rules := []any{}
		for _, r := range list(field(sse, "rules")) {
			rule := obj(r)
			byDefault := []any{}
			if def := obj(field(rule, "applyServerSideEncryptionByDefault")); def != nil {
				byDefault = append(byDefault, map[string]any{"sse_algorithm": str(def, "sseAlgorithm"), "kms_master_key_id": str(def, "kmsMasterKeyID")})
			}
			rules = append(rules, map[string]any{"apply_server_side_encryption_by_default": byDefault, "bucket_key_enabled": boolean(rule, "bucketKeyEnabled")})
		}
		rs = append(rs, it.resource("aws_s3_bucket_server_side_encryption_configuration", map[string]any{"bucket": name, "rule": rules}))
	}
	if v := obj(field(sup, "BucketVersioningConfiguration")); v != nil {
		// Config says Off for a bucket that never had versioning;
		// Terraform says Disabled.
		status := str(v, "status")
		if status == "" || status == "Off" {
			status = "Disabled"
		}
		rs = append(rs, it.resource("aws_s3_bucket_versioning", map[string]any{
			"bucket": name, "versioning_configuration": []any{map[string]any{"status": status}},
		}))
	}
	if l := obj(field(sup, "BucketLoggingConfiguration")); str(l, "destinationBucketName") != "" {
		rs = append(rs, it.resource("aws_s3_bucket_logging", map[string]any{
			"bucket": name, "target_bucket": str(l, "destinationBucketName"), "target_prefix": str(l, "logFilePrefix"),
		}))
	}
	if acl := obj(field(sup, "AccessControlList")); acl != nil {
		rs = append(rs, it.resource("aws_s3_bucket_acl", map[string]any{"bucket": name, "acl": cannedACL(acl)}))
	}
	return rs
}

// cannedACL names the canned ACL an access control list amounts to, as
// far as the public is concerned: grants to everyone or to every AWS user
// are what controls look for.
func cannedACL(acl map[string]any) string {
	grants := map[string]map[string]bool{} // group → permissions
	for _, g := range list(field(acl, "grantList")) {
		grant := obj(g)
		var group string
		switch grantee := field(grant, "grantee").(type) {
		case string: // Config's rendering of a group grantee
			group = grantee
		case map[string]any: // S3's: {"type":"Group","uri":"http://acs.amazonaws.com/groups/global/AllUsers"}
			group = str(grantee, "uri")
			if i := strings.LastIndexByte(group, '/'); i >= 0 {
				group = group[i+1:]
			}
		}
		perm := strings.ToUpper(strings.ReplaceAll(str(grant, "permission"), "_", ""))
		if grants[group] == nil {
			grants[group] = map[string]bool{}
		}
		grants[group][perm] = true
	}
	all, authenticated := grants["AllUsers"], grants["AuthenticatedUsers"]
	switch {
	case all["FULLCONTROL"] || all["READ"] && all["WRITE"]:
		return "public-read-write"
	case all["READ"]:
		return "public-read"
	case authenticated["READ"] || authenticated["FULLCONTROL"]:
		return "authenticated-read"
	case grants["LogDelivery"]["WRITE"]:
		return "log-delivery-write"
	default:
		return "private"
	}
}

func mapSecurityGroup(it configItem) []provider.Resource {
	c := it.Configuration
	ingress := []any{}
	for _, p := range list(field(c, "ipPermissions")) {
		perm := obj(p)
		proto := str(perm, "ipProtocol")
		from, to := number(perm, "fromPort"), number(perm, "toPort")
		if proto == "-1" {
			from, to = 0, 0
		}
		v4 := []any{}
		if ranges := list(field(perm, "ipv4Ranges")); len(ranges) > 0 {
			for _, r := range ranges {
				v4 = append(v4, str(obj(r), "cidrIp"))
			}
		} else {
			// Config's ipRanges are plain strings; EC2's are objects.
			for _, r := range list(field(perm, "ipRanges")) {
				if s, ok := r.(string); ok {
					v4 = append(v4, s)
				} else {
					v4 = append(v4, str(obj(r), "cidrIp"))
				}
			}
		}
		v6 := []any{}
		for _, r := range list(field(perm, "ipv6Ranges")) {
			v6 = append(v6, str(obj(r), "cidrIpv6"))
		}
		ingress = append(ingress, map[string]any{"from_port": from, "to_port": to, "protocol": proto, "cidr_blocks": v4, "ipv6_cidr_blocks": v6})
	}
	return []provider.Resource{it.resource("aws_security_group", map[string]any{
		"name": cmp.Or(str(c, "groupName"), it.ResourceName), "description": str(c, "description"), "vpc_id": str(c, "vpcId"), "ingress": ingress,
	})}
}

func mapInstance(it configItem) []provider.Resource {
	c := it.Configuration
	return []provider.Resource{it.resource("aws_instance", map[string]any{
		"instance_type":               str(c, "instanceType"),
		"metadata_options":            []any{map[string]any{"http_tokens": str(obj(field(c, "metadataOptions")), "httpTokens")}},
		"associate_public_ip_address": str(c, "publicIpAddress") != "",
	})}
}

func mapVolume(it configItem) []provider.Resource {
	c := it.Configuration
	return []provider.Resource{it.resource("aws_ebs_volume", map[string]any{
		"encrypted": boolean(c, "encrypted"), "kms_key_id": str(c, "kmsKeyId"),
	})}
}

func mapDBInstance(it configItem) []provider.Resource {
	c := it.Configuration
	return []provider.Resource{it.resource("aws_db_instance", map[string]any{
		"identifier":              cmp.Or(str(c, "dBInstanceIdentifier"), it.ResourceName),
		"engine":                  str(c, "engine"),
		"storage_encrypted":       boolean(c, "storageEncrypted"),
		"kms_key_id":              str(c, "kmsKeyId"),
		"publicly_accessible":     boolean(c, "publiclyAccessible"),
		"backup_retention_period": number(c, "backupRetentionPeriod"),
		"deletion_protection":     boolean(c, "deletionProtection"),
		"multi_az":                boolean(c, "multiAZ"),
	})}
}

func mapTrail(it configItem) []provider.Resource {
	c := it.Configuration
	return []provider.Resource{it.resource("aws_cloudtrail", map[string]any{
		"name":                       cmp.Or(str(c, "name"), it.ResourceName),
		"is_multi_region_trail":      boolean(c, "isMultiRegionTrail"),
		"enable_log_file_validation": boolean(c, "logFileValidationEnabled"),
		"kms_key_id":                 str(c, "kmsKeyId"),
	})}
}

// mapKMSKey reports rotation from the supplementary KeyRotationStatus the
// simulated cloud adds; real AWS Config records no rotation status, and a
// key without it gets no enable_key_rotation rather than a false one. AWS
// managed keys rotate every year whatever anyone says.
func mapKMSKey(it configItem) []provider.Resource {
	c := it.Configuration
	cfg := map[string]any{"key_usage": str(c, "keyUsage"), "is_enabled": str(c, "keyState") == "Enabled", "key_manager": str(c, "keyManager")}
	if str(c, "keyManager") == "AWS" {
		cfg["enable_key_rotation"] = true
	} else if rot := obj(field(it.Supplementary, "KeyRotationStatus")); rot != nil {
		cfg["enable_key_rotation"] = boolean(rot, "keyRotationEnabled")
	}
	return []provider.Resource{it.resource("aws_kms_key", cfg)}
}

// mapDynamoDBTable: a table without an SSE description uses the AWS owned
// key, which Terraform shows as server_side_encryption enabled = false.
func mapDynamoDBTable(it configItem) []provider.Resource {
	c := it.Configuration
	sse := obj(field(c, "sSEDescription"))
	enabled := sse != nil && (str(sse, "status") == "ENABLED" || str(sse, "status") == "UPDATING")
	cfg := map[string]any{
		"name":                   cmp.Or(str(c, "tableName"), it.ResourceName),
		"server_side_encryption": []any{map[string]any{"enabled": enabled, "kms_key_arn": str(sse, "kMSMasterKeyArn")}},
	}
	if backups := obj(field(it.Supplementary, "ContinuousBackupsDescription")); backups != nil {
		pitr := str(obj(field(backups, "pointInTimeRecoveryDescription")), "pointInTimeRecoveryStatus")
		cfg["point_in_time_recovery"] = []any{map[string]any{"enabled": pitr == "ENABLED"}}
	}
	return []provider.Resource{it.resource("aws_dynamodb_table", cfg)}
}

// mapEFSFileSystem reads CloudFormation's property names, in which Config
// records AWS::EFS::FileSystem (field matches them case-insensitively).
func mapEFSFileSystem(it configItem) []provider.Resource {
	c := it.Configuration
	return []provider.Resource{it.resource("aws_efs_file_system", map[string]any{
		"encrypted": boolean(c, "Encrypted"), "kms_key_id": str(c, "KmsKeyId"),
	})}
}

// field is m[key], or failing that the value of a key equal to it under
// case folding: Config spells properties as the service's API or
// CloudFormation does, and has changed a spelling before.
func field(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func str(m map[string]any, key string) string {
	s, _ := field(m, key).(string)
	return s
}

func boolean(m map[string]any, key string) bool {
	switch v := field(m, key).(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

func number(m map[string]any, key string) int {
	switch v := field(m, key).(type) {
	case float64:
		return int(v)
	case int:
		return v
	case json.Number:
		n, _ := v.Int64()
		return int(n)
	}
	return 0
}

// obj is v as an object; Config renders some supplementary configurations
// (a bucket's AccessControlList) as a JSON document inside a string.
func obj(v any) map[string]any {
	switch v := v.(type) {
	case map[string]any:
		return v
	case string:
		var m map[string]any
		if json.Unmarshal([]byte(v), &m) == nil {
			return m
		}
	}
	return nil
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

var _ provider.Describer = (*Driver)(nil)

// Capabilities implements provider.Describer.
func (d *Driver) Capabilities() provider.Capabilities {
	return provider.Capabilities{Guardrails: []string{"service_control_policy"}, Inventory: []string{
		"aws_cloudtrail", "aws_db_instance", "aws_dynamodb_table", "aws_ebs_volume", "aws_efs_file_system", "aws_iam_user",
		"aws_instance", "aws_kms_key", "aws_root_account", "aws_s3_bucket", "aws_s3_bucket_acl", "aws_s3_bucket_logging",
		"aws_s3_bucket_public_access_block", "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_versioning",
		"aws_security_group"}}
}
