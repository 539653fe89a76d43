package simcloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

const baselineTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Resources:
  BaselineKey:
    Type: AWS::KMS::Key
    Properties:
      EnableKeyRotation: true
  AuditLogs:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: baseline-audit-logs
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !Ref BaselineKey
      VersioningConfiguration:
        Status: Enabled
`

// cfnRecorder keeps CloudFormation's exchanges (the query protocol) to
// hold them to the model.
type cfnRecorder struct {
	next http.Handler
	mu   sync.Mutex
	seen []exchange
}

func (r *cfnRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.next.ServeHTTP(w, req)
		return
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	r.next.ServeHTTP(rec, req)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	form, _ := parseForm(body)
	r.mu.Lock()
	r.seen = append(r.seen, exchange{signing: "cloudformation", op: form, body: body, status: rec.Code, errType: rec.Header().Get("X-Amzn-ErrorType"), answer: rec.Body.Bytes()})
	r.mu.Unlock()
}

func parseForm(body []byte) (string, error) {
	req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := req.ParseForm(); err != nil {
		return "", err
	}
	return req.PostForm.Get("Action"), nil
}

// xmlNode is an XML answer as a tree.
type xmlNode struct {
	XMLName  xml.Name
	Children []xmlNode `xml:",any"`
	Text     string    `xml:",chardata"`
}

// checkXML holds a query-protocol answer to the model: the result holds
// only the output shape's members (lists as <member>), recursively, and
// its required members; an error is declared for the operation or common.
func checkXML(t *testing.T, m *model, x exchange) {
	t.Helper()
	var root xmlNode
	if err := xml.Unmarshal(x.answer, &root); err != nil {
		t.Errorf("%s: the answer is not XML: %v: %s", x.op, err, x.answer)
		return
	}
	op := m.Operations[x.op]
	if x.status != http.StatusOK {
		declared := slices.ContainsFunc(op.Errors, func(r ref) bool {
			sh := m.Shapes[r.Shape]
			return r.Shape == x.errType || sh != nil && sh.Error != nil && sh.Error.Code == x.errType
		})
		if !declared && !slices.Contains([]string{"ValidationError", "Throttling", "InternalFailure", "InvalidAction", "SignatureDoesNotMatch",
			"InvalidClientTokenId", "IncompleteSignature", "MissingAuthenticationToken", "AccessDenied"}, x.errType) {
			t.Errorf("%s answered %s, which the model does not declare", x.op, x.errType)
		}
		if root.XMLName.Local != "ErrorResponse" {
			t.Errorf("%s: an error answer is <%s>, not <ErrorResponse>", x.op, root.XMLName.Local)
		}
		return
	}
	if root.XMLName.Local != x.op+"Response" || len(root.Children) == 0 || root.Children[0].XMLName.Local != x.op+"Result" {
		t.Errorf("%s: answer is not <%sResponse><%sResult>: %s", x.op, x.op, x.op, x.answer)
		return
	}
	var walk func(shape string, n xmlNode, path string)
	walk = func(shape string, n xmlNode, path string) {
		sh := m.Shapes[shape]
		if sh == nil {
			return
		}
		switch sh.Type {
		case "structure":
			present := map[string]bool{}
			for _, c := range n.Children {
				r, ok := sh.Members[c.XMLName.Local]
				if !ok {
					t.Errorf("%s: %s.%s is not a member of %s", x.op, path, c.XMLName.Local, shape)
					continue
				}
				present[c.XMLName.Local] = true
				walk(r.Shape, c, path+"."+c.XMLName.Local)
			}
			for _, req := range sh.Required {
				if !present[req] {
					t.Errorf("%s: %s lacks the required %s", x.op, path, req)
				}
			}
		case "list":
			for _, c := range n.Children {
				if c.XMLName.Local != "member" {
					t.Errorf("%s: %s holds <%s>, not <member>", x.op, path, c.XMLName.Local)
				}
				walk(sh.Member.Shape, c, path+"[]")
			}
		case "timestamp":
			if _, err := time.Parse(time.RFC3339, n.Text); err != nil {
				t.Errorf("%s: %s is not an ISO 8601 time: %q", x.op, path, n.Text)
			}
		case "string":
			if len(sh.Enum) > 0 && !slices.Contains(sh.Enum, n.Text) {
				t.Errorf("%s: %s is %q, not one of %v", x.op, path, n.Text, sh.Enum)
			}
		}
	}
	walk(op.Output.Shape, root.Children[0], x.op)
}

// TestCloudFormation deploys a baseline through the aws driver into an
// account of the simulated cloud under the account's Administrator
// permission set's role, updates it, reads its events and template, finds
// its resources in the account's inventory, and holds every exchange to
// CloudFormation's model.
func TestCloudFormation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := os.ReadFile("awsmodels/cloudformation/2010-05-15/service-2.json")
	if err != nil {
		t.Fatal(err)
	}
	m := &model{}
	if err := json.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	sim := open(t, simcloud.Config{StackLatency: 50 * time.Millisecond})
	rec := &cfnRecorder{next: sim.Handler()}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	d, err := awsdriver.New(ctx, awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: srv.URL, AccessKeyID: keyID,
		SecretAccessKey: secret, RetryBase: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	account := createAccount(t, d, "cfn")
	spec := provider.StackSpec{Name: "hatoba-baseline-secure", Template: baselineTemplate, PermissionSet: awsdriver.AdministratorSet,
		Token: "bld-1", Tags: map[string]string{"hatoba:baseline": "secure-baseline"}}
	// Before the Administrator set is assigned in the account, its role cannot be assumed.
	if _, err := d.DeployStack(ctx, account, spec); err == nil || !strings.Contains(err.Error(), "cannot be assumed") {
		t.Fatalf("deploy without the permission set assigned: %v", err)
	}
	if err := d.AssignAccess(ctx, account, provider.Access{AdminGroup: "cfn-admins", MemberGroup: "cfn-members"}); err != nil {
		t.Fatal(err)
	}
	before, err := d.ListResources(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	had := map[string]bool{}
	for _, r := range before {
		had[r.Type+" "+r.ID] = true
	}
	st, err := d.DeployStack(ctx, account, spec)
	if err != nil || st.Status != "CREATE_IN_PROGRESS" {
		t.Fatalf("create: %+v %v", st, err)
	}
	// The same request again (a lost answer) is the same stack; another is refused.
	if again, err := d.DeployStack(ctx, account, spec); err != nil || again.ID != st.ID {
		t.Fatalf("repeated create: %+v %v", again, err)
	}
	other := spec
	other.Token = "bld-2"
	if _, err := d.DeployStack(ctx, account, other); err == nil || !strings.Contains(err.Error(), "AlreadyExistsException") {
		t.Fatalf("second create: %v", err)
	}
	waitStack := func(want string) provider.StackStatus {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, found, err := d.DescribeStack(ctx, account, st.ID)
			if err != nil || !found {
				t.Fatalf("describe: %v %v", found, err)
			}
			if got.Status == want {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("stack is %s, want %s", got.Status, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStack("CREATE_COMPLETE")
	items, err := d.ListResources(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range items {
		switch {
		case had[r.Type+" "+r.ID]:
		case strings.Contains(r.ID, "baseline-audit-logs"):
			found[r.Type] = true
		case r.Type == "aws_kms_key" && r.Config["enable_key_rotation"] == true && r.Config["key_manager"] == "CUSTOMER":
			found[r.Type] = true
		default:
			t.Errorf("unexpected new resource %s %s", r.Type, r.ID)
		}
	}
	for _, want := range []string{"aws_s3_bucket", "aws_s3_bucket_versioning", "aws_s3_bucket_server_side_encryption_configuration", "aws_kms_key"} {
		if !found[want] {
			t.Errorf("the stack's %s is not in the account's inventory: %v", want, found)
		}
	}
	tmpl, err := d.StackTemplate(ctx, account, st.ID)
	if err != nil || tmpl != baselineTemplate {
		t.Fatalf("template: %v %q", err, tmpl)
	}
	// An update, then one that changes nothing (success, no operation).
	spec.StackID, spec.Token = st.ID, "bld-3"
	spec.Template = strings.Replace(baselineTemplate, "Status: Enabled", "Status: Suspended", 1)
	if up, err := d.DeployStack(ctx, account, spec); err != nil || up.Status != "UPDATE_IN_PROGRESS" {
		t.Fatalf("update: %+v %v", up, err)
	}
	waitStack("UPDATE_COMPLETE")
	spec.Token = "bld-4"
	if same, err := d.DeployStack(ctx, account, spec); err != nil || same.Status != "UPDATE_COMPLETE" {
		t.Fatalf("update without change: %+v %v", same, err)
	}
	evs, err := d.StackEvents(ctx, account, st.ID)
	if err != nil || len(evs) < 8 || evs[0].Status != "UPDATE_COMPLETE" || evs[0].ResourceType != "AWS::CloudFormation::Stack" {
		t.Fatalf("events: %v %+v", err, evs)
	}
	if _, found, err := d.DescribeStack(ctx, account, strings.Replace(st.ID, "hatoba-baseline-secure", "nothing", 1)); err != nil || found {
		t.Fatalf("describe of no stack: %v %v", found, err)
	}
	// A broken template and a role of another account are refused.
	bad := provider.StackSpec{Name: "broken", Template: "Resources: {}\n", PermissionSet: awsdriver.AdministratorSet}
	if _, err := d.DeployStack(ctx, account, bad); err == nil || !strings.Contains(err.Error(), "Template format error") {
		t.Fatalf("empty template: %v", err)
	}
	if _, err := d.DeployStack(ctx, "123456789012", spec); err == nil || !strings.Contains(err.Error(), "cannot be assumed") {
		t.Fatalf("another account's role: %v", err)
	}
	rec.mu.Lock()
	seen := slices.Clone(rec.seen)
	rec.mu.Unlock()
	ops := map[string]bool{}
	for _, x := range seen {
		checkXML(t, m, x)
		if x.status == http.StatusOK {
			ops[x.op] = true
		}
	}
	for op := range m.Operations {
		if !ops[op] {
			t.Errorf("%s never answered successfully", op)
		}
	}
}

func createAccount(t *testing.T, d *awsdriver.Driver, name string) string {
	t.Helper()
	ctx := context.Background()
	reqID, err := d.CreateAccount(ctx, provider.AccountSpec{Name: name, Email: name + "@sim.hatoba.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := d.CreateAccountStatus(ctx, reqID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == provider.CreateSucceeded {
			return st.AccountID
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("account creation did not finish")
	return ""
}
