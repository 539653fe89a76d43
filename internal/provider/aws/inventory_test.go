package aws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// inventorySim is a simulated cloud with its address, for the operator's
// /_simcloud/inventory endpoints, and a driver on it.
type inventorySim struct {
	url string
	d   *awsdriver.Driver
}

func newInventorySim(t *testing.T) inventorySim {
	t.Helper()
	sim, err := simcloud.Open(simcloud.Config{AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", Seed: 20260401,
		ConcurrentCreations: 1000, ConfigPageSize: 7, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return inventorySim{url: srv.URL, d: driverFor(t, srv.URL, "")}
}

func driverFor(t *testing.T, url, aggregator string) *awsdriver.Driver {
	t.Helper()
	d, err := awsdriver.New(context.Background(), awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: url,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret", ConfigAggregator: aggregator,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (s inventorySim) newAccount(t *testing.T, i int) string {
	t.Helper()
	reqID, err := s.d.CreateAccount(context.Background(), provider.AccountSpec{Name: fmt.Sprintf("inv-%d", i), Email: fmt.Sprintf("inv%d@sim.hatoba.invalid", i)})
	if err != nil {
		t.Fatal(err)
	}
	return waitCreated(t, s.d, reqID).AccountID
}

func (s inventorySim) items(t *testing.T, account string) []map[string]any {
	t.Helper()
	resp, err := http.Get(s.url + "/_simcloud/inventory/" + account)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Items []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("inventory of %s: %d %v", account, resp.StatusCode, err)
	}
	return body.Items
}

func (s inventorySim) patch(t *testing.T, account string, item map[string]any, patch string) {
	t.Helper()
	resp, err := http.Post(s.url+"/_simcloud/inventory/"+account+"/"+item["resourceType"].(string)+"/"+item["resourceId"].(string),
		"application/json", strings.NewReader(patch))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("patch %s %s: %d %s", item["resourceType"], item["resourceId"], resp.StatusCode, msg)
	}
}

// handChecked is, per Config type, a patch that sets every attribute the
// mapping reads to a value chosen by hand, and the Terraform resources
// that item must then become (bucket stands for the bucket's name).
var handChecked = map[string]struct {
	patch string
	want  map[string]string // Terraform type → config as JSON
}{
	"AWS::::Account": {`{"configuration":{"accountMFAEnabled":false,"accountAccessKeysPresent":true}}`,
		map[string]string{"aws_root_account": `{"access_keys_present":true,"mfa_enabled":false}`}},
	"AWS::IAM::User": {`{"configuration":{"userName":"hand-checked"}}`,
		map[string]string{"aws_iam_user": `{"name":"hand-checked"}`}},
	"AWS::S3::Bucket": {`{"supplementaryConfiguration":{
		"PublicAccessBlockConfiguration":{"blockPublicAcls":true,"blockPublicPolicy":false,"ignorePublicAcls":true,"restrictPublicBuckets":false},
		"ServerSideEncryptionConfiguration":{"rules":[{"applyServerSideEncryptionByDefault":{"sseAlgorithm":"aws:kms","kmsMasterKeyID":"arn:aws:kms:ap-northeast-1:111122223333:key/k1"},"bucketKeyEnabled":true}]},
		"BucketVersioningConfiguration":{"status":"Off"},
		"BucketLoggingConfiguration":{"destinationBucketName":"logs","logFilePrefix":"p/"},
		"AccessControlList":"{\"grantList\":[{\"grantee\":{\"id\":\"o\"},\"permission\":\"FullControl\"},{\"grantee\":\"AllUsers\",\"permission\":\"Read\"}]}"}}`,
		map[string]string{
			"aws_s3_bucket":                                      `{"bucket":"BUCKET"}`,
			"aws_s3_bucket_public_access_block":                  `{"block_public_acls":true,"block_public_policy":false,"bucket":"BUCKET","ignore_public_acls":true,"restrict_public_buckets":false}`,
			"aws_s3_bucket_server_side_encryption_configuration": `{"bucket":"BUCKET","rule":[{"apply_server_side_encryption_by_default":[{"kms_master_key_id":"arn:aws:kms:ap-northeast-1:111122223333:key/k1","sse_algorithm":"aws:kms"}],"bucket_key_enabled":true}]}`,
			"aws_s3_bucket_versioning":                           `{"bucket":"BUCKET","versioning_configuration":[{"status":"Disabled"}]}`,
			"aws_s3_bucket_acl":                                  `{"acl":"public-read","bucket":"BUCKET"}`,
			"aws_s3_bucket_logging":                              `{"bucket":"BUCKET","target_bucket":"logs","target_prefix":"p/"}`,
		}},
	"AWS::EC2::SecurityGroup": {`{"configuration":{"groupName":"hand","description":"d","vpcId":"vpc-1","ipPermissions":[
		{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":["0.0.0.0/0"],"ipv4Ranges":[{"cidrIp":"0.0.0.0/0"}],"ipv6Ranges":[{"cidrIpv6":"::/0"}]},
		{"ipProtocol":"-1","ipRanges":[{"cidrIp":"10.0.0.0/8"}]}]}}`,
		map[string]string{"aws_security_group": `{"description":"d","ingress":[` +
			`{"cidr_blocks":["0.0.0.0/0"],"from_port":22,"ipv6_cidr_blocks":["::/0"],"protocol":"tcp","to_port":22},` +
			`{"cidr_blocks":["10.0.0.0/8"],"from_port":0,"ipv6_cidr_blocks":[],"protocol":"-1","to_port":0}],"name":"hand","vpc_id":"vpc-1"}`}},
	"AWS::EC2::Instance": {`{"configuration":{"instanceType":"t3.micro","metadataOptions":{"httpTokens":"optional"},"publicIpAddress":"203.0.113.7"}}`,
		map[string]string{"aws_instance": `{"associate_public_ip_address":true,"instance_type":"t3.micro","metadata_options":[{"http_tokens":"optional"}]}`}},
	"AWS::EC2::Volume": {`{"configuration":{"encrypted":false,"kmsKeyId":null}}`,
		map[string]string{"aws_ebs_volume": `{"encrypted":false,"kms_key_id":""}`}},
	"AWS::RDS::DBInstance": {`{"configuration":{"dBInstanceIdentifier":"db1","engine":"postgres","storageEncrypted":true,"kmsKeyId":"k2",
		"publiclyAccessible":true,"backupRetentionPeriod":0,"deletionProtection":false,"multiAZ":true}}`,
		map[string]string{"aws_db_instance": `{"backup_retention_period":0,"deletion_protection":false,"engine":"postgres","identifier":"db1","kms_key_id":"k2","multi_az":true,"publicly_accessible":true,"storage_encrypted":true}`}},
	"AWS::CloudTrail::Trail": {`{"configuration":{"name":"trail1","isMultiRegionTrail":false,"logFileValidationEnabled":true,"kmsKeyId":null}}`,
		map[string]string{"aws_cloudtrail": `{"enable_log_file_validation":true,"is_multi_region_trail":false,"kms_key_id":"","name":"trail1"}`}},
	"AWS::KMS::Key": {`{"configuration":{"keyManager":"CUSTOMER","keyUsage":"ENCRYPT_DECRYPT","keyState":"Enabled"},"supplementaryConfiguration":{"KeyRotationStatus":{"keyRotationEnabled":false}}}`,
		map[string]string{"aws_kms_key": `{"enable_key_rotation":false,"is_enabled":true,"key_manager":"CUSTOMER","key_usage":"ENCRYPT_DECRYPT"}`}},
	"AWS::DynamoDB::Table": {`{"configuration":{"tableName":"t1","sSEDescription":{"status":"ENABLED","sSEType":"KMS","kMSMasterKeyArn":"k3"}},
		"supplementaryConfiguration":{"ContinuousBackupsDescription":{"pointInTimeRecoveryDescription":{"pointInTimeRecoveryStatus":"DISABLED"}}}}`,
		map[string]string{"aws_dynamodb_table": `{"name":"t1","point_in_time_recovery":[{"enabled":false}],"server_side_encryption":[{"enabled":true,"kms_key_arn":"k3"}]}`}},
	"AWS::EFS::FileSystem": {`{"configuration":{"Encrypted":true,"KmsKeyId":"k4"}}`,
		map[string]string{"aws_efs_file_system": `{"encrypted":true,"kms_key_id":"k4"}`}},
}

// TestListResources reads a hand-checked account through the driver: one
// item of every Config type is patched to values chosen by hand and must
// come out as the Terraform resources written down above; every other
// resource must have its type's attributes. Pages of 7 make the driver
// paginate.
func TestListResources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newInventorySim(t)

	// The first account with an item of every type (IAM users are the
	// rarest, in about one account in seven).
	var account string
	var items []map[string]any
	for i := 0; account == ""; i++ {
		if i == 100 {
			t.Fatal("no account with every resource type in 100")
		}
		id := s.newAccount(t, i)
		items = s.items(t, id)
		types := map[string]bool{}
		for _, it := range items {
			types[it["resourceType"].(string)] = true
		}
		if len(types) == len(handChecked) {
			account = id
		}
	}

	before, err := s.d.ListResources(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	derived := 0
	for _, it := range items {
		if it["resourceType"] == "AWS::S3::Bucket" {
			derived += 4 // public access block, encryption, versioning, ACL
			logging := it["supplementaryConfiguration"].(map[string]any)["BucketLoggingConfiguration"].(map[string]any)
			if logging["destinationBucketName"] != nil {
				derived++
			}
		}
	}
	if len(before) != len(items)+derived {
		t.Fatalf("%d resources from %d items (%d derived), want every page read", len(before), len(items), derived)
	}
	// The shape: every resource of a type has that type's attributes.
	keys := map[string][]string{}
	for _, hc := range handChecked {
		for typ, cfg := range hc.want {
			var m map[string]any
			if err := json.Unmarshal([]byte(cfg), &m); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			for k := range m {
				keys[typ] = append(keys[typ], k)
			}
			slices.Sort(keys[typ])
		}
	}
	seen := map[string]int{}
	for _, r := range before {
		seen[r.Type]++
		got := make([]string, 0, len(r.Config))
		for k := range r.Config {
			got = append(got, k)
		}
		slices.Sort(got)
		// A KMS key without a recorded rotation status has no
		// enable_key_rotation; the simulated cloud always records one.
		if !slices.Equal(got, keys[r.Type]) {
			t.Errorf("%s %s has attributes %v, want %v", r.Type, r.ID, got, keys[r.Type])
		}
		if r.ID == "" || r.Region == "" {
			t.Errorf("%s without id or region: %+v", r.Type, r)
		}
	}
	for typ := range keys {
		if seen[typ] == 0 {
			t.Errorf("no %s in account %s", typ, account)
		}
	}
	// What the driver says it reads (GET /api/v1/providers) is what it reads.
	var read []string
	for typ := range seen {
		read = append(read, typ)
	}
	slices.Sort(read)
	if said := s.d.Capabilities().Inventory; !slices.Equal(said, read) {
		t.Errorf("Capabilities().Inventory = %v, the inventory read %v", said, read)
	}

	// Patch the first item of every type by hand.
	patched := map[string]map[string]any{}
	for _, it := range items {
		typ := it["resourceType"].(string)
		if patched[typ] == nil {
			patched[typ] = it
			s.patch(t, account, it, handChecked[typ].patch)
		}
	}
	if len(patched) != len(handChecked) {
		t.Fatalf("patched %d types, want %d", len(patched), len(handChecked))
	}
	after, err := s.d.ListResources(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	added := 0 // the patch turns the bucket's logging on
	if patched["AWS::S3::Bucket"]["supplementaryConfiguration"].(map[string]any)["BucketLoggingConfiguration"].(map[string]any)["destinationBucketName"] == nil {
		added = 1
	}
	if len(after) != len(before)+added {
		t.Fatalf("%d resources after patching, %d before, want %d more", len(after), len(before), added)
	}
	for typ, it := range patched {
		id, _ := it["arn"].(string)
		if id == "" {
			id = it["resourceId"].(string)
		}
		for tfType, wantCfg := range handChecked[typ].want {
			wantCfg = strings.ReplaceAll(wantCfg, "BUCKET", it["resourceId"].(string))
			i := slices.IndexFunc(after, func(r provider.Resource) bool { return r.Type == tfType && r.ID == id })
			if i < 0 {
				t.Errorf("no %s %s after the patch", tfType, id)
				continue
			}
			r := after[i]
			got, _ := json.Marshal(r.Config)
			if string(got) != wantCfg {
				t.Errorf("%s %s:\n got %s\nwant %s", tfType, id, got, wantCfg)
			}
			if r.Region != it["awsRegion"] {
				t.Errorf("%s %s in %s, want %s", tfType, id, r.Region, it["awsRegion"])
			}
		}
	}
	root := slices.IndexFunc(after, func(r provider.Resource) bool { return r.Type == "aws_root_account" })
	if after[root].ID != account || after[root].Region != "global" {
		t.Errorf("root account resource %+v", after[root])
	}
}

// TestListResourcesSeesAFix is the end-to-end loop a control relies on: a
// planted finding is fixed in the cloud and the next inventory shows it.
func TestListResourcesSeesAFix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newInventorySim(t)
	account := s.newAccount(t, 0)
	var volume map[string]any
	for _, it := range s.items(t, account) {
		if it["resourceType"] == "AWS::EC2::Volume" {
			volume = it
			break
		}
	}
	if volume == nil {
		t.Skip("the account has no volume") // not with this seed
	}
	encrypted := func() bool {
		rs, err := s.d.ListResources(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(rs, func(r provider.Resource) bool { return r.ID == volume["arn"] })
		if i < 0 {
			t.Fatalf("volume %s missing", volume["arn"])
		}
		return rs[i].Config["encrypted"].(bool)
	}
	was := encrypted()
	s.patch(t, account, volume, fmt.Sprintf(`{"configuration":{"encrypted":%t}}`, !was))
	if now := encrypted(); now == was {
		t.Fatalf("encrypted still %t after the patch", now)
	}
}

func TestListResourcesErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newInventorySim(t)
	account := s.newAccount(t, 0)
	tests := []struct {
		name     string
		d        *awsdriver.Driver
		account  string
		wantCode string
	}{
		{"fail/not an account id", s.d, "12345' OR '1' = '1", ""},
		{"fail/unknown aggregator", driverFor(t, s.url, "elsewhere"), account, "NoSuchConfigurationAggregatorException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.d.ListResources(ctx, tt.account)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Class != provider.Permanent || pe.Code != tt.wantCode {
				t.Fatalf("got %v, want a permanent %q", err, tt.wantCode)
			}
		})
	}
	if rs, err := s.d.ListResources(ctx, "999999999999"); err != nil || len(rs) != 0 {
		t.Fatalf("an account outside the organisation: %d resources, %v", len(rs), err)
	}
}
