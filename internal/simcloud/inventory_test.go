package simcloud_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

const configTarget = "StarlingDoveService."

func TestInventoryIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := simcloud.GenerateInventory(42, "123456789012"), simcloud.GenerateInventory(42, "123456789012")
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed and account gave two inventories")
	}
	if other := simcloud.GenerateInventory(43, "123456789012"); reflect.DeepEqual(a, other) {
		t.Fatal("another seed gave the same inventory")
	}
	if other := simcloud.GenerateInventory(42, "123456789013"); reflect.DeepEqual(a, other) {
		t.Fatal("another account gave the same inventory")
	}
}

// TestInventoryPlantedRates checks over 2,000 accounts that sizes, regions
// and planted non-compliance come out near the rates docs/simcloud.md
// states.
func TestInventoryPlantedRates(t *testing.T) {
	t.Parallel()
	type tally struct{ hit, of int }
	rates := map[string]*tally{}
	count := func(name string, hit bool) {
		r := rates[name]
		if r == nil {
			r = &tally{}
			rates[name] = r
		}
		r.of++
		if hit {
			r.hit++
		}
	}
	types := map[string]int{}
	const accounts = 2000
	minN, maxN, total := math.MaxInt, 0, 0
	for i := range accounts {
		items := simcloud.GenerateInventory(7, fmt.Sprintf("%012d", 300000000000+i*7919))
		minN, maxN, total = min(minN, len(items)), max(maxN, len(items)), total+len(items)
		users := 0
		for _, it := range items {
			typ := it["resourceType"].(string)
			types[typ]++
			cfg := it["configuration"].(map[string]any)
			sup := it["supplementaryConfiguration"].(map[string]any)
			if region := it["awsRegion"]; region != "global" && typ != "AWS::CloudTrail::Trail" {
				count("foreign region", region == "us-east-1")
				count("second region", region == "ap-northeast-3")
			}
			switch typ {
			case "AWS::::Account":
				count("root MFA off", cfg["accountMFAEnabled"] == false)
			case "AWS::IAM::User":
				users++
			case "AWS::S3::Bucket":
				count("public access block off", sup["PublicAccessBlockConfiguration"].(map[string]any)["blockPublicAcls"] == false)
				count("public-read ACL", strings.Contains(sup["AccessControlList"].(string), `"AllUsers","permission":"Read"`))
			case "AWS::EC2::Volume":
				count("unencrypted volume", cfg["encrypted"] == false)
			case "AWS::EC2::SecurityGroup":
				open := false
				for _, p := range cfg["ipPermissions"].([]any) {
					p := p.(map[string]any)
					if (p["fromPort"] == 22 || p["fromPort"] == 3389) && len(p["ipRanges"].([]any)) > 0 && p["ipRanges"].([]any)[0] == "0.0.0.0/0" {
						open = true
					}
				}
				count("admin port open to the world", open)
			case "AWS::RDS::DBInstance":
				count("public database", cfg["publiclyAccessible"] == true)
			case "AWS::EC2::Instance":
				count("IMDSv1", cfg["metadataOptions"].(map[string]any)["httpTokens"] == "optional")
			}
		}
		count("IAM users", users > 0)
	}
	if minN < 10 || maxN > 60 || total/accounts < 30 || total/accounts > 40 {
		t.Errorf("sizes: min %d max %d mean %d, want 10..60 around 35", minN, maxN, total/accounts)
	}
	for _, typ := range []string{"AWS::::Account", "AWS::IAM::User", "AWS::S3::Bucket", "AWS::EC2::SecurityGroup", "AWS::EC2::Instance",
		"AWS::EC2::Volume", "AWS::RDS::DBInstance", "AWS::CloudTrail::Trail", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::EFS::FileSystem"} {
		if types[typ] == 0 {
			t.Errorf("no %s in %d accounts", typ, accounts)
		}
	}
	want := map[string]float64{
		"root MFA off": 0.05, "IAM users": 0.15, "foreign region": 0.015, "second region": 0.20,
		"public access block off": 0.10, "public-read ACL": 0.03, "unencrypted volume": 0.10,
		"admin port open to the world": 0.10, "public database": 0.08, "IMDSv1": 0.20,
	}
	for name, p := range want {
		r := rates[name]
		got := float64(r.hit) / float64(r.of)
		// Four standard deviations of a binomial share, so the test is
		// stable for any seed while a wrong rate still fails.
		if tol := 4 * math.Sqrt(p*(1-p)/float64(r.of)); math.Abs(got-p) > tol {
			t.Errorf("%s: %.4f of %d, want %.3f ± %.4f", name, got, r.of, p, tol)
		}
		t.Logf("%-30s %.4f of %d (designed %.3f)", name, got, r.of, p)
	}
}

// TestInventoryGenerationTime generates the inventory of 6,000 accounts,
// the largest organisation hatoba is sized for, and reports the time.
func TestInventoryGenerationTime(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("short")
	}
	start := time.Now()
	n := 0
	for i := range 6000 {
		n += len(simcloud.GenerateInventory(1, fmt.Sprintf("%012d", 100000000000+i)))
	}
	took := time.Since(start)
	t.Logf("6,000 accounts, %d resources generated in %v (%.1f µs per resource)", n, took, float64(took.Microseconds())/float64(n))
	if took > time.Minute {
		t.Fatalf("generation took %v", took)
	}
}

func BenchmarkGenerateInventory(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		simcloud.GenerateInventory(1, fmt.Sprintf("%012d", 100000000000+i%6000))
	}
}

// newAccount creates an account and returns its id.
func newAccount(t *testing.T, h http.Handler, now time.Time, name string) string {
	t.Helper()
	got := call(t, h, "organizations", orgs+"CreateAccount", `{"AccountName":"`+name+`","Email":"`+name+`@x.example"}`, now)
	if got.Status != 200 {
		t.Fatalf("create: %+v", got)
	}
	id := got.Body["CreateAccountStatus"].(map[string]any)["Id"].(string)
	st := call(t, h, "organizations", orgs+"DescribeCreateAccountStatus", `{"CreateAccountRequestId":"`+id+`"}`, now)
	acct, _ := st.Body["CreateAccountStatus"].(map[string]any)["AccountId"].(string)
	if acct == "" {
		t.Fatalf("account not created: %+v", st)
	}
	return acct
}

func selectBody(expr string, limit int, token string) string {
	b, _ := json.Marshal(map[string]any{"ConfigurationAggregatorName": "hatoba-organization", "Expression": expr, "Limit": limit, "NextToken": token})
	if token == "" {
		b, _ = json.Marshal(map[string]any{"ConfigurationAggregatorName": "hatoba-organization", "Expression": expr, "Limit": limit})
	}
	return string(b)
}

// selectAll pages through a query and returns the decoded results.
func selectAll(t *testing.T, h http.Handler, now time.Time, expr string, limit int) ([]map[string]any, int) {
	t.Helper()
	var out []map[string]any
	token, pages := "", 0
	for {
		got := call(t, h, "config", configTarget+"SelectAggregateResourceConfig", selectBody(expr, limit, token), now)
		if got.Status != 200 {
			t.Fatalf("select: %+v", got)
		}
		pages++
		results := got.Body["Results"].([]any)
		if len(results) > limit {
			t.Fatalf("page of %d results, limit %d", len(results), limit)
		}
		for _, r := range results {
			var it map[string]any
			if err := json.Unmarshal([]byte(r.(string)), &it); err != nil {
				t.Fatal(err)
			}
			out = append(out, it)
		}
		next, _ := got.Body["NextToken"].(string)
		if next == "" {
			return out, pages
		}
		token = next
	}
}

func TestSelectAggregateResourceConfig(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := open(t, simcloud.Config{Seed: 99, Now: func() time.Time { return now }}).Handler()
	acct := newAccount(t, h, now, "inventory")
	want := simcloud.GenerateInventory(99, acct)

	expr := "SELECT resourceId, resourceType, awsRegion, accountId, configuration, supplementaryConfiguration WHERE accountId = '" + acct + "'"
	got, pages := selectAll(t, h, now, expr, 7)
	if len(got) != len(want) || pages != (len(want)+6)/7 {
		t.Fatalf("%d items in %d pages, want %d in %d", len(got), pages, len(want), (len(want)+6)/7)
	}
	for i, it := range got {
		if it["resourceId"] != want[i]["resourceId"] || it["accountId"] != acct || it["configuration"] == nil {
			t.Fatalf("item %d = %v", i, it)
		}
		if _, ok := it["arn"]; ok {
			t.Fatalf("item %d has a property not selected: %v", i, it)
		}
	}

	byType, _ := selectAll(t, h, now, "SELECT resourceId WHERE accountId = '"+acct+"' AND resourceType = 'AWS::::Account'", 100)
	if len(byType) != 1 || byType[0]["resourceId"] != acct {
		t.Fatalf("the account item: %v", byType)
	}
	if none, _ := selectAll(t, h, now, "SELECT resourceId WHERE accountId = '999999999999'", 100); len(none) != 0 {
		t.Fatalf("an account outside the organisation has %d items", len(none))
	}

	tests := []struct {
		name, body, wantType string
	}{
		{"fail/no where", selectBody("SELECT resourceId", 10, ""), "InvalidExpressionException"},
		{"fail/no account condition", selectBody("SELECT resourceId WHERE resourceType = 'AWS::S3::Bucket'", 10, ""), "InvalidExpressionException"},
		{"fail/unknown property", selectBody("SELECT secret WHERE accountId = '"+acct+"'", 10, ""), "InvalidExpressionException"},
		{"fail/nested property", selectBody("SELECT configuration.instanceType WHERE accountId = '"+acct+"'", 10, ""), "InvalidExpressionException"},
		{"fail/other operator", selectBody("SELECT resourceId WHERE accountId LIKE '1%'", 10, ""), "InvalidExpressionException"},
		{"fail/or", selectBody("SELECT resourceId WHERE accountId = '1' OR accountId = '2'", 10, ""), "InvalidExpressionException"},
		{"fail/limit", selectBody("SELECT resourceId WHERE accountId = '"+acct+"'", 101, ""), "ValidationException"}, // the model bounds Limit at 100: refused before Config reads it,
		{"fail/token", selectBody("SELECT resourceId WHERE accountId = '"+acct+"'", 10, "!!"), "InvalidNextTokenException"},
		{"fail/aggregator", `{"ConfigurationAggregatorName":"other","Expression":"SELECT resourceId WHERE accountId = '1'"}`, "NoSuchConfigurationAggregatorException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := call(t, h, "config", configTarget+"SelectAggregateResourceConfig", tt.body, now)
			if got.Status != 400 || got.Type != tt.wantType {
				t.Fatalf("got %d %s %v, want 400 %s", got.Status, got.Type, got.Body, tt.wantType)
			}
		})
	}
	if got := call(t, h, "config", configTarget+"DescribeConfigurationAggregators", `{}`, now); got.Status != 200 {
		t.Fatalf("DescribeConfigurationAggregators: %+v", got)
	}
}

func TestInventoryPatch(t *testing.T) {
	t.Parallel()
	now := time.Now()
	h := open(t, simcloud.Config{Seed: 5, Now: func() time.Time { return now }}).Handler()
	acct := newAccount(t, h, now, "patched")
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	list := func() []map[string]any {
		resp, err := http.Get(srv.URL + "/_simcloud/inventory/" + acct)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Items []map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("list: %d %v", resp.StatusCode, err)
		}
		return body.Items
	}
	patch := func(typ, id, body string) int {
		resp, err := http.Post(srv.URL+"/_simcloud/inventory/"+acct+"/"+typ+"/"+id, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	items := list()
	root := items[0]
	if root["resourceType"] != "AWS::::Account" {
		t.Fatalf("first item %v", root)
	}
	mfa := root["configuration"].(map[string]any)["accountMFAEnabled"].(bool)
	if code := patch("AWS::::Account", acct, fmt.Sprintf(`{"configuration":{"accountMFAEnabled":%t}}`, !mfa)); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	expr := "SELECT resourceId, configuration WHERE accountId = '" + acct + "' AND resourceType = 'AWS::::Account'"
	got, _ := selectAll(t, h, now, expr, 100)
	if cfg := got[0]["configuration"].(map[string]any); cfg["accountMFAEnabled"] != !mfa || cfg["accountAccessKeysPresent"] == nil {
		t.Fatalf("after the patch: %v", cfg)
	}
	if after := list(); len(after) != len(items) {
		t.Fatalf("%d items after the patch, %d before", len(after), len(items))
	}

	tests := []struct {
		name, typ, id, body string
		want                int
	}{
		{"fail/unknown resource", "AWS::S3::Bucket", "no-such-bucket", `{"configuration":{}}`, 404},
		{"fail/identity", "AWS::::Account", acct, `{"resourceId":"x"}`, 400},
		{"fail/not an object", "AWS::::Account", acct, `[1]`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := patch(tt.typ, tt.id, tt.body); code != tt.want {
				t.Fatalf("got %d, want %d", code, tt.want)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/_simcloud/inventory/999999999999")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown account: %d", resp.StatusCode)
	}
}

func FuzzSelectExpression(f *testing.F) {
	for _, s := range []string{
		"SELECT resourceId WHERE accountId = '123456789012'",
		"select resourceId, configuration where accountId = '1' and resourceType = 'AWS::S3::Bucket'",
		"SELECT * WHERE accountId = '1'", "SELECT", "",
	} {
		f.Add(s)
	}
	now := time.Now()
	s, err := simcloud.Open(simcloud.Config{AccessKeyID: keyID, SecretAccessKey: secret, Logger: quiet, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	h := s.Handler()
	f.Fuzz(func(t *testing.T, expr string) {
		b, _ := json.Marshal(map[string]any{"ConfigurationAggregatorName": "hatoba-organization", "Expression": expr})
		got := call(t, h, "config", configTarget+"SelectAggregateResourceConfig", string(b), now)
		if got.Status != 200 && got.Status != 400 {
			t.Fatalf("%q: %d %v", expr, got.Status, got.Body)
		}
	})
}
