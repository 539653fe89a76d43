package simcloud

import (
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"time"
)

// The inventory generator: every account's resources as AWS Config's
// aggregator reports them, generated from the simulated cloud's seed and
// the account id alone, so the same account always has the same
// resources and nothing but operator patches (inventory.go) is stored.
//
// The planted non-compliance rates below are what docs/simcloud.md
// promises and inventory_test.go checks over many accounts.
const (
	rateRootMFAOff          = 0.05  // per account: root user without MFA
	rateRootAccessKeys      = 0.02  // per account: root user with access keys
	rateIAMUsers            = 0.15  // per account: one or two IAM users
	rateForeignRegion       = 0.015 // per regional resource: in us-east-1
	rateSecondRegion        = 0.20  // per regional resource: in ap-northeast-3
	rateBucketPublicBlock   = 0.10  // per bucket: public access block all off
	rateBucketPublicRead    = 0.03  // per bucket: ACL grants AllUsers READ
	rateBucketNoVersioning  = 0.25  // per bucket: versioning never enabled
	rateBucketKMS           = 0.35  // per bucket: SSE-KMS rather than SSE-S3
	rateBucketNoLogging     = 0.30  // per bucket: no server access logging
	rateSGOpenAdminPort     = 0.10  // per security group: 0.0.0.0/0 on 22 or 3389
	rateSGOpenAll           = 0.02  // per security group: all traffic from 0.0.0.0/0
	rateInstanceIMDSv1      = 0.20  // per instance: httpTokens optional
	rateInstancePublicIP    = 0.15  // per instance: a public IP address
	rateVolumeUnencrypted   = 0.10  // per volume
	rateDBPublic            = 0.08  // per DB instance: publicly accessible
	rateDBUnencrypted       = 0.05  // per DB instance
	rateDBNoBackups         = 0.05  // per DB instance: backup retention 0
	rateDBNoDeleteProtect   = 0.30  // per DB instance
	rateDBSingleAZ          = 0.40  // per DB instance
	rateTrailSingleRegion   = 0.10  // per trail
	rateTrailNoValidation   = 0.10  // per trail
	rateTrailNoKMS          = 0.30  // per trail
	rateKeyAWSManaged       = 0.25  // per KMS key: an AWS managed key
	rateKeyNoRotation       = 0.20  // per customer managed key
	rateTableNoPITR         = 0.30  // per DynamoDB table
	rateTableKMS            = 0.50  // per DynamoDB table: a KMS key rather than the AWS owned key
	rateFileSystemPlaintext = 0.10  // per EFS file system
)

// Resources per account, the account item, the trail and IAM users
// included.
const (
	minResources = 10
	maxResources = 60
)

// regionalKinds are the resource types the generator spreads an account's
// remaining resources over, with their weights out of 100.
var regionalKinds = []struct {
	weight int
	gen    func(g *generator) map[string]any
}{
	{24, (*generator).bucket},
	{20, (*generator).securityGroup},
	{14, (*generator).instance},
	{16, (*generator).volume},
	{8, (*generator).key},
	{6, (*generator).dbInstance},
	{6, (*generator).table},
	{6, (*generator).fileSystem},
}

var bucketWords = []string{"logs", "data", "backup", "assets", "reports", "archive", "uploads", "static", "exports", "records"}

type generator struct {
	r       *mrand.Rand
	account string
	base    time.Time // the account's first resource; items are captured after it
}

// GenerateInventory returns the configuration items the simulated cloud
// reports for an account before any patch, in a fixed order, each as AWS Config's advanced query returns it (camelCase API
// shapes; AWS::EFS::FileSystem in CloudFormation's PascalCase, as Config
// records types it learnt through the CloudFormation registry).
func GenerateInventory(seed uint64, accountID string) []map[string]any {
	h := fnv.New64a()
	_, _ = h.Write([]byte(accountID))
	g := &generator{r: mrand.New(mrand.NewPCG(seed, h.Sum64())), account: accountID}
	g.base = time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.IntN(365*24)) * time.Hour)
	n := minResources + g.r.IntN(maxResources-minResources+1)
	items := make([]map[string]any, 0, n)
	items = append(items, g.accountItem(), g.trail())
	if g.chance(rateIAMUsers) {
		for range 1 + g.r.IntN(2) {
			items = append(items, g.user())
		}
	}
	for len(items) < n {
		w := g.r.IntN(100)
		for _, k := range regionalKinds {
			if w < k.weight {
				items = append(items, k.gen(g))
				break
			}
			w -= k.weight
		}
	}
	return items
}

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func (g *generator) hex(n int) string {
	const alphabet = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(16)]
	}
	return string(b)
}

func (g *generator) upper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *generator) uuid() string {
	h := g.hex(32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

func (g *generator) region() string {
	switch p := g.r.Float64(); {
	case p < rateForeignRegion:
		return "us-east-1"
	case p < rateForeignRegion+rateSecondRegion:
		return "ap-northeast-3"
	default:
		return "ap-northeast-1"
	}
}

func (g *generator) zone(region string) string { return region + string("acd"[g.r.IntN(3)]) }

// stamp is a time after the account's base in Config's format.
func (g *generator) stamp() string {
	return g.base.Add(time.Duration(g.r.IntN(200*24*3600)) * time.Second).Format("2006-01-02T15:04:05.000Z")
}

func (g *generator) keyARN(region string) string {
	return "arn:aws:kms:" + region + ":" + g.account + ":key/" + g.uuid()
}

// item is a configuration item's envelope around configuration and
// supplementaryConfiguration.
func (g *generator) item(typ, id, name, arn, region, zone string, cfg, sup map[string]any) map[string]any {
	created := g.stamp()
	it := map[string]any{
		"version":                      "1.3",
		"accountId":                    g.account,
		"configurationItemCaptureTime": created,
		"configurationItemStatus":      "OK",
		"resourceType":                 typ,
		"resourceId":                   id,
		"resourceName":                 name,
		"awsRegion":                    region,
		"resourceCreationTime":         created,
		"tags":                         map[string]any{},
		"configuration":                cfg,
		"supplementaryConfiguration":   sup,
	}
	if arn != "" {
		it["arn"] = arn
	}
	if zone != "" {
		it["availabilityZone"] = zone
	}
	return it
}

// accountItem is the account's root user summary. AWS Config records no
// such type; the simulated cloud reports it as a pseudo item of type
// AWS::::Account so the driver can see root MFA and root access keys in
// the same query (docs/simcloud.md).
func (g *generator) accountItem() map[string]any {
	return g.item("AWS::::Account", g.account, g.account, "", "global", "", map[string]any{
		"accountMFAEnabled":        !g.chance(rateRootMFAOff),
		"accountAccessKeysPresent": g.chance(rateRootAccessKeys),
	}, map[string]any{})
}

func (g *generator) user() map[string]any {
	name := []string{"ci-deploy", "backup-agent", "legacy-app", "vendor-sync", "batch"}[g.r.IntN(5)] + "-" + g.hex(4)
	id := "AIDA" + g.upper(16)
	arn := "arn:aws:iam::" + g.account + ":user/" + name
	return g.item("AWS::IAM::User", id, name, arn, "global", "", map[string]any{
		"path": "/", "userName": name, "userId": id, "arn": arn, "createDate": g.stamp(),
		"userPolicyList": []any{}, "groupList": []any{}, "attachedManagedPolicies": []any{}, "permissionsBoundary": nil, "tags": []any{},
	}, map[string]any{})
}

func (g *generator) trail() map[string]any {
	name := "hatoba-audit-" + g.hex(6)
	region := "ap-northeast-1"
	arn := "arn:aws:cloudtrail:" + region + ":" + g.account + ":trail/" + name
	var key any
	if !g.chance(rateTrailNoKMS) {
		key = g.keyARN(region)
	}
	return g.item("AWS::CloudTrail::Trail", name, name, arn, region, "", map[string]any{
		"name": name, "trailARN": arn, "s3BucketName": "hatoba-trail-" + g.account, "homeRegion": region,
		"includeGlobalServiceEvents": true, "isOrganizationTrail": false, "hasCustomEventSelectors": false,
		"isMultiRegionTrail":       !g.chance(rateTrailSingleRegion),
		"logFileValidationEnabled": !g.chance(rateTrailNoValidation),
		"kmsKeyId":                 key,
	}, map[string]any{})
}

func (g *generator) bucket() map[string]any {
	region := g.region()
	name := fmt.Sprintf("%s-%s-%s", bucketWords[g.r.IntN(len(bucketWords))], g.account, g.hex(6))
	owner := g.hex(64)
	block := !g.chance(rateBucketPublicBlock)
	versioning := "Enabled"
	switch p := g.r.Float64(); {
	case p < rateBucketNoVersioning:
		versioning = "Off"
	case p < rateBucketNoVersioning+0.05:
		versioning = "Suspended"
	}
	sse := map[string]any{"sseAlgorithm": "AES256", "kmsMasterKeyID": nil}
	if g.chance(rateBucketKMS) {
		sse = map[string]any{"sseAlgorithm": "aws:kms", "kmsMasterKeyID": g.keyARN(region)}
	}
	logging := map[string]any{"destinationBucketName": nil, "logFilePrefix": nil}
	if !g.chance(rateBucketNoLogging) {
		logging = map[string]any{"destinationBucketName": "hatoba-access-logs-" + g.account, "logFilePrefix": name + "/"}
	}
	// Config records the ACL as a JSON document inside a string.
	acl := fmt.Sprintf(`{"grantSet":null,"grantList":[{"grantee":{"id":%q,"displayName":null},"permission":"FullControl"}`, owner)
	if g.chance(rateBucketPublicRead) {
		acl += `,{"grantee":"AllUsers","permission":"Read"}`
	}
	acl += fmt.Sprintf(`],"owner":{"displayName":null,"id":%q},"isRequesterCharged":false}`, owner)
	return g.item("AWS::S3::Bucket", name, name, "arn:aws:s3:::"+name, region, "Regional", map[string]any{
		"name": name, "owner": map[string]any{"displayName": nil, "id": owner}, "creationDate": g.stamp(),
	}, map[string]any{
		"AccessControlList":             acl,
		"BucketVersioningConfiguration": map[string]any{"status": versioning, "isMfaDeleteEnabled": nil},
		"PublicAccessBlockConfiguration": map[string]any{
			"blockPublicAcls": block, "ignorePublicAcls": block, "blockPublicPolicy": block, "restrictPublicBuckets": block,
		},
		"ServerSideEncryptionConfiguration": map[string]any{"rules": []any{
			map[string]any{"applyServerSideEncryptionByDefault": sse, "bucketKeyEnabled": sse["sseAlgorithm"] == "aws:kms"},
		}},
		"BucketLoggingConfiguration": logging,
	})
}

// permission is one EC2 ipPermission as Config records it: ipRanges as
// plain strings and ipv4Ranges as objects, both present.
func permission(proto string, from, to int, v4, v6 []string) map[string]any {
	ranges, v4objs, v6objs := []any{}, []any{}, []any{}
	for _, c := range v4 {
		ranges = append(ranges, c)
		v4objs = append(v4objs, map[string]any{"cidrIp": c})
	}
	for _, c := range v6 {
		v6objs = append(v6objs, map[string]any{"cidrIpv6": c})
	}
	p := map[string]any{"ipProtocol": proto, "ipRanges": ranges, "ipv4Ranges": v4objs, "ipv6Ranges": v6objs,
		"prefixListIds": []any{}, "userIdGroupPairs": []any{}}
	if proto != "-1" {
		p["fromPort"], p["toPort"] = from, to
	}
	return p
}

func (g *generator) securityGroup() map[string]any {
	region := g.region()
	id := "sg-" + g.hex(17)
	name := []string{"web", "app", "db", "batch", "bastion", "internal"}[g.r.IntN(6)] + "-" + g.hex(4)
	vpcCIDR := fmt.Sprintf("10.%d.0.0/16", g.r.IntN(256))
	perms := []any{permission("tcp", 443, 443, []string{vpcCIDR}, nil)}
	if g.chance(0.5) {
		perms = append(perms, permission("tcp", 5432, 5432, []string{vpcCIDR}, nil))
	}
	if g.chance(rateSGOpenAdminPort) {
		port := 22
		if g.chance(0.35) {
			port = 3389
		}
		var v6 []string
		if g.chance(0.3) {
			v6 = []string{"::/0"}
		}
		perms = append(perms, permission("tcp", port, port, []string{"0.0.0.0/0"}, v6))
	}
	if g.chance(rateSGOpenAll) {
		perms = append(perms, permission("-1", 0, 0, []string{"0.0.0.0/0"}, nil))
	}
	return g.item("AWS::EC2::SecurityGroup", id, name, "arn:aws:ec2:"+region+":"+g.account+":security-group/"+id, region, "", map[string]any{
		"groupId": id, "groupName": name, "description": "managed by the " + name + " team", "ownerId": g.account,
		"vpcId": "vpc-" + g.hex(17), "ipPermissions": perms,
		"ipPermissionsEgress": []any{permission("-1", 0, 0, []string{"0.0.0.0/0"}, nil)}, "tags": []any{},
	}, map[string]any{})
}

func (g *generator) instance() map[string]any {
	region := g.region()
	zone := g.zone(region)
	id := "i-" + g.hex(17)
	tokens := "required"
	if g.chance(rateInstanceIMDSv1) {
		tokens = "optional"
	}
	var public any
	if g.chance(rateInstancePublicIP) {
		public = fmt.Sprintf("%d.%d.%d.%d", 13+g.r.IntN(40), g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
	}
	return g.item("AWS::EC2::Instance", id, id, "arn:aws:ec2:"+region+":"+g.account+":instance/"+id, region, zone, map[string]any{
		"instanceId": id, "instanceType": []string{"t3.medium", "m7g.large", "c7i.xlarge", "r7g.large"}[g.r.IntN(4)],
		"imageId": "ami-" + g.hex(17), "state": map[string]any{"code": 16, "name": "running"},
		"metadataOptions":  map[string]any{"httpTokens": tokens, "httpEndpoint": "enabled", "httpPutResponseHopLimit": 2, "state": "applied"},
		"publicIpAddress":  public,
		"privateIpAddress": fmt.Sprintf("10.%d.%d.%d", g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254)),
		"subnetId":         "subnet-" + g.hex(17), "vpcId": "vpc-" + g.hex(17),
		"placement": map[string]any{"availabilityZone": zone, "tenancy": "default"},
	}, map[string]any{})
}

func (g *generator) volume() map[string]any {
	region := g.region()
	zone := g.zone(region)
	id := "vol-" + g.hex(17)
	encrypted := !g.chance(rateVolumeUnencrypted)
	var key any
	if encrypted {
		key = g.keyARN(region)
	}
	return g.item("AWS::EC2::Volume", id, id, "arn:aws:ec2:"+region+":"+g.account+":volume/"+id, region, zone, map[string]any{
		"volumeId": id, "size": []int{8, 20, 50, 100, 500}[g.r.IntN(5)], "volumeType": "gp3", "availabilityZone": zone,
		"state": "in-use", "createTime": g.stamp(), "encrypted": encrypted, "kmsKeyId": key,
	}, map[string]any{})
}

func (g *generator) dbInstance() map[string]any {
	region := g.region()
	zone := g.zone(region)
	name := []string{"orders", "residents", "payments", "gis", "reports"}[g.r.IntN(5)] + "-" + g.hex(4)
	dbi := "db-" + g.upper(26)
	arn := "arn:aws:rds:" + region + ":" + g.account + ":db:" + name
	encrypted := !g.chance(rateDBUnencrypted)
	var key any
	if encrypted {
		key = g.keyARN(region)
	}
	retention := []int{7, 14, 35}[g.r.IntN(3)]
	if g.chance(rateDBNoBackups) {
		retention = 0
	}
	return g.item("AWS::RDS::DBInstance", dbi, name, arn, region, zone, map[string]any{
		"dBInstanceIdentifier": name, "dBInstanceArn": arn, "dbiResourceId": dbi, "dBInstanceClass": "db.m7g.large",
		"engine": "postgres", "engineVersion": "16.4", "dBInstanceStatus": "available", "allocatedStorage": 100,
		"storageEncrypted": encrypted, "kmsKeyId": key,
		"publiclyAccessible":    g.chance(rateDBPublic),
		"backupRetentionPeriod": retention,
		"deletionProtection":    !g.chance(rateDBNoDeleteProtect),
		"multiAZ":               !g.chance(rateDBSingleAZ),
		"availabilityZone":      zone,
	}, map[string]any{})
}

func (g *generator) key() map[string]any {
	region := g.region()
	id := g.uuid()
	arn := "arn:aws:kms:" + region + ":" + g.account + ":key/" + id
	manager, rotation := "CUSTOMER", !g.chance(rateKeyNoRotation)
	if g.chance(rateKeyAWSManaged) {
		manager, rotation = "AWS", true // AWS rotates its managed keys every year
	}
	return g.item("AWS::KMS::Key", id, id, arn, region, "", map[string]any{
		"keyId": id, "arn": arn, "keyManager": manager, "keyState": "Enabled", "enabled": true,
		"keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT", "origin": "AWS_KMS", "multiRegion": false,
		"creationDate": g.stamp(), "description": "",
	}, map[string]any{
		// Not in Config's record of a key: the simulated cloud adds
		// GetKeyRotationStatus's answer (docs/simcloud.md).
		"KeyRotationStatus": map[string]any{"keyRotationEnabled": rotation},
	})
}

func (g *generator) table() map[string]any {
	region := g.region()
	name := []string{"sessions", "events", "cases", "permits", "queue"}[g.r.IntN(5)] + "-" + g.hex(4)
	arn := "arn:aws:dynamodb:" + region + ":" + g.account + ":table/" + name
	cfg := map[string]any{
		"tableName": name, "tableArn": arn, "tableStatus": "ACTIVE", "itemCount": g.r.IntN(1_000_000),
		"billingModeSummary": map[string]any{"billingMode": "PAY_PER_REQUEST"},
	}
	// The other tables keep the default AWS owned key, which Config shows
	// as no sSEDescription at all.
	if g.chance(rateTableKMS) {
		cfg["sSEDescription"] = map[string]any{"status": "ENABLED", "sSEType": "KMS", "kMSMasterKeyArn": g.keyARN(region)}
	}
	pitr := "ENABLED"
	if g.chance(rateTableNoPITR) {
		pitr = "DISABLED"
	}
	return g.item("AWS::DynamoDB::Table", name, name, arn, region, "", cfg, map[string]any{
		"ContinuousBackupsDescription": map[string]any{"continuousBackupsStatus": "ENABLED",
			"pointInTimeRecoveryDescription": map[string]any{"pointInTimeRecoveryStatus": pitr}},
	})
}

func (g *generator) fileSystem() map[string]any {
	region := g.region()
	id := "fs-" + g.hex(17)
	arn := "arn:aws:elasticfilesystem:" + region + ":" + g.account + ":file-system/" + id
	encrypted := !g.chance(rateFileSystemPlaintext)
	cfg := map[string]any{
		"FileSystemId": id, "Arn": arn, "Encrypted": encrypted, "PerformanceMode": "generalPurpose",
		"ThroughputMode": "bursting", "BackupPolicy": map[string]any{"Status": "ENABLED"}, "FileSystemTags": []any{},
	}
	if encrypted {
		cfg["KmsKeyId"] = g.keyARN(region)
	}
	return g.item("AWS::EFS::FileSystem", id, id, arn, region, "", cfg, map[string]any{})
}
