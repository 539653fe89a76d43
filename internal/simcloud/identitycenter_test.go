package simcloud_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	idstypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// icClients are the SDK's clients on one simulated cloud with a settable
// clock, an account in it, the instance and a group.
type icClients struct {
	sim      *simcloud.Server
	clk      *clock
	sso      *ssoadmin.Client
	ids      *identitystore.Client
	org      *organizations.Client
	instance *string
	store    *string
	account  string
}

func newIC(t *testing.T, cfg simcloud.Config) *icClients {
	t.Helper()
	c := &icClients{clk: &clock{t: time.Now()}}
	cfg.Now = c.clk.Now
	c.sim = open(t, cfg)
	srv := httptest.NewServer(c.sim.Handler())
	t.Cleanup(srv.Close)
	ac := aws.Config{Region: "ap-northeast-1", Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	c.sso = ssoadmin.NewFromConfig(ac, func(o *ssoadmin.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	c.ids = identitystore.NewFromConfig(ac, func(o *identitystore.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	c.org = organizations.NewFromConfig(ac, func(o *organizations.Options) { o.BaseEndpoint, o.Region = aws.String(srv.URL), "us-east-1" })
	ctx := context.Background()
	inst, err := c.sso.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	c.instance, c.store = inst.Instances[0].InstanceArn, inst.Instances[0].IdentityStoreId
	ca, err := c.org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("a"), Email: aws.String("a@ic.example")})
	if err != nil {
		t.Fatal(err)
	}
	// Latency zero: the account exists by the next call.
	st, err := c.org.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: ca.CreateAccountStatus.Id})
	if err != nil || st.CreateAccountStatus.State != orgtypes.CreateAccountStateSucceeded {
		t.Fatalf("account: %+v %v", st, err)
	}
	c.account = aws.ToString(st.CreateAccountStatus.AccountId)
	return c
}

func (c *icClients) permissionSet(t *testing.T, name string) *string {
	t.Helper()
	out, err := c.sso.CreatePermissionSet(context.Background(), &ssoadmin.CreatePermissionSetInput{InstanceArn: c.instance, Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.PermissionSet.PermissionSetArn
}

func (c *icClients) group(t *testing.T, name string) *string {
	t.Helper()
	out, err := c.ids.CreateGroup(context.Background(), &identitystore.CreateGroupInput{IdentityStoreId: c.store, DisplayName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return out.GroupId
}

func (c *icClients) assign(ps, group *string) (*ssoadmin.CreateAccountAssignmentOutput, error) {
	return c.sso.CreateAccountAssignment(context.Background(), &ssoadmin.CreateAccountAssignmentInput{InstanceArn: c.instance, PermissionSetArn: ps,
		PrincipalId: group, PrincipalType: ssotypes.PrincipalTypeGroup, TargetId: aws.String(c.account), TargetType: ssotypes.TargetTypeAwsAccount})
}

func (c *icClients) creationStatus(t *testing.T, id *string) ssotypes.AccountAssignmentOperationStatus {
	t.Helper()
	out, err := c.sso.DescribeAccountAssignmentCreationStatus(context.Background(), &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
		InstanceArn: c.instance, AccountAssignmentCreationRequestId: id})
	if err != nil {
		t.Fatal(err)
	}
	return *out.AccountAssignmentCreationStatus
}

// TestAccountAssignmentsAreAsynchronous: an assignment is IN_PROGRESS when
// made and until its latency has passed; then SUCCEEDED, or FAILED with
// AWS's transient reason; deletions likewise; at most 10 at once.
func TestAccountAssignmentsAreAsynchronous(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newIC(t, simcloud.Config{AssignmentLatency: time.Minute})
	ps, g := c.permissionSet(t, "Administrator"), c.group(t, "admins")
	out, err := c.assign(ps, g)
	if err != nil || out.AccountAssignmentCreationStatus.Status != ssotypes.StatusValuesInProgress {
		t.Fatalf("CreateAccountAssignment: %+v %v", out, err)
	}
	id := out.AccountAssignmentCreationStatus.RequestId
	if st := c.creationStatus(t, id); st.Status != ssotypes.StatusValuesInProgress {
		t.Fatalf("before the latency: %s", st.Status)
	}
	if got, _ := c.sim.AccountAssignments(ctx, c.account); len(got) != 0 {
		t.Fatalf("assigned before it succeeded: %v", got)
	}
	c.clk.Add(time.Minute)
	if st := c.creationStatus(t, id); st.Status != ssotypes.StatusValuesSucceeded {
		t.Fatalf("after the latency: %s", st.Status)
	}
	if got, _ := c.sim.AccountAssignments(ctx, c.account); strings.Join(got, ",") != "Administrator=admins" {
		t.Fatalf("assignments %v", got)
	}

	del, err := c.sso.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{InstanceArn: c.instance, PermissionSetArn: ps,
		PrincipalId: g, PrincipalType: ssotypes.PrincipalTypeGroup, TargetId: aws.String(c.account), TargetType: ssotypes.TargetTypeAwsAccount})
	if err != nil || del.AccountAssignmentDeletionStatus.Status != ssotypes.StatusValuesInProgress {
		t.Fatalf("DeleteAccountAssignment: %+v %v", del, err)
	}
	c.clk.Add(time.Minute)
	ds, err := c.sso.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{InstanceArn: c.instance,
		AccountAssignmentDeletionRequestId: del.AccountAssignmentDeletionStatus.RequestId})
	if err != nil || ds.AccountAssignmentDeletionStatus.Status != ssotypes.StatusValuesSucceeded {
		t.Fatalf("deletion status %+v %v", ds, err)
	}
	if _, err := c.sso.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{InstanceArn: c.instance,
		AccountAssignmentDeletionRequestId: id}); !isCode(err, "ResourceNotFoundException") {
		t.Fatalf("a creation's id as a deletion's: %v", err)
	}

	for i := range 10 {
		if _, err := c.assign(ps, g); err != nil {
			t.Fatalf("assignment %d: %v", i, err)
		}
	}
	if _, err := c.assign(ps, g); !isCode(err, "ThrottlingException") {
		t.Fatalf("an 11th outstanding assignment: %v", err)
	}
}

func TestAccountAssignmentFailureInjected(t *testing.T) {
	t.Parallel()
	c := newIC(t, simcloud.Config{AssignmentFailureRate: 1})
	out, err := c.assign(c.permissionSet(t, "Administrator"), c.group(t, "admins"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.creationStatus(t, out.AccountAssignmentCreationStatus.RequestId)
	if st.Status != ssotypes.StatusValuesFailed || aws.ToString(st.FailureReason) != simcloud.AssignmentTransientFailure {
		t.Fatalf("status %s %q", st.Status, aws.ToString(st.FailureReason))
	}
	if got, _ := c.sim.AccountAssignments(context.Background(), c.account); len(got) != 0 {
		t.Fatalf("a failed assignment assigned: %v", got)
	}
}

// TestPermissionSetGrantsAndProvisioning: a set without policies, and a set
// changed and not provisioned again, show in the stats until fixed.
func TestPermissionSetGrantsAndProvisioning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newIC(t, simcloud.Config{})
	ps := c.permissionSet(t, "NonAdministrator")
	if st := c.sim.Stats(); st.PermissionSetsWithoutPolicies != 1 {
		t.Fatalf("a new set grants nothing: %+v", st)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`
	if _, err := c.sso.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{InstanceArn: c.instance, PermissionSetArn: ps,
		InlinePolicy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.assign(ps, c.group(t, "members"))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.creationStatus(t, out.AccountAssignmentCreationStatus.RequestId); st.Status != ssotypes.StatusValuesSucceeded {
		t.Fatalf("assignment %s", st.Status)
	}
	if st := c.sim.Stats(); st.PermissionSetsWithoutPolicies != 0 || st.PermissionSetsNotProvisioned != 0 {
		t.Fatalf("after the assignment: %+v", st)
	}
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"fail/customer managed ARN", func() error {
			_, err := c.sso.AttachManagedPolicyToPermissionSet(ctx, &ssoadmin.AttachManagedPolicyToPermissionSetInput{InstanceArn: c.instance, PermissionSetArn: ps,
				ManagedPolicyArn: aws.String("arn:aws:iam::123456789012:policy/mine")})
			return err
		}, "ValidationException"},
		{"fail/inline not a policy", func() error {
			_, err := c.sso.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{InstanceArn: c.instance, PermissionSetArn: ps,
				InlinePolicy: aws.String(`{"Statement":[]}`)})
			return err
		}, "ValidationException"},
		{"fail/no boundary", func() error {
			_, err := c.sso.GetPermissionsBoundaryForPermissionSet(ctx, &ssoadmin.GetPermissionsBoundaryForPermissionSetInput{InstanceArn: c.instance, PermissionSetArn: ps})
			return err
		}, "ResourceNotFoundException"},
	} {
		if err := tt.call(); !isCode(err, tt.want) {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		}
	}
	if _, err := c.sso.AttachManagedPolicyToPermissionSet(ctx, &ssoadmin.AttachManagedPolicyToPermissionSetInput{InstanceArn: c.instance, PermissionSetArn: ps,
		ManagedPolicyArn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}); err != nil {
		t.Fatal(err)
	}
	if st := c.sim.Stats(); st.PermissionSetsNotProvisioned != 1 {
		t.Fatalf("changed, not provisioned: %+v", st)
	}
	stale, err := c.sso.ListAccountsForProvisionedPermissionSet(ctx, &ssoadmin.ListAccountsForProvisionedPermissionSetInput{InstanceArn: c.instance,
		PermissionSetArn: ps, ProvisioningStatus: ssotypes.ProvisioningStatusLatestPermissionSetNotProvisioned})
	if err != nil || strings.Join(stale.AccountIds, ",") != c.account {
		t.Fatalf("not provisioned to %v, %v; want %s", stale, err, c.account)
	}
	prov, err := c.sso.ProvisionPermissionSet(ctx, &ssoadmin.ProvisionPermissionSetInput{InstanceArn: c.instance, PermissionSetArn: ps,
		TargetType: ssotypes.ProvisionTargetTypeAllProvisionedAccounts})
	if err != nil || prov.PermissionSetProvisioningStatus.Status != ssotypes.StatusValuesInProgress {
		t.Fatalf("ProvisionPermissionSet: %+v %v", prov, err)
	}
	ds, err := c.sso.DescribePermissionSetProvisioningStatus(ctx, &ssoadmin.DescribePermissionSetProvisioningStatusInput{InstanceArn: c.instance,
		ProvisionPermissionSetRequestId: prov.PermissionSetProvisioningStatus.RequestId})
	if err != nil || ds.PermissionSetProvisioningStatus.Status != ssotypes.StatusValuesSucceeded {
		t.Fatalf("provisioning status %+v %v", ds, err)
	}
	if st := c.sim.Stats(); st.PermissionSetsNotProvisioned != 0 {
		t.Fatalf("after provisioning: %+v", st)
	}
}

// TestIdentityCenterConflictsAndRate: injected conflicts have AWS's two
// shapes; a set not yet propagated is unlisted and its name taken;
// Identity Center has its own rate, apart from Organizations'.
func TestIdentityCenterConflictsAndRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("conflicts", func(t *testing.T) {
		t.Parallel()
		c := newIC(t, simcloud.Config{ConflictRate: 1})
		_, err := c.ids.CreateGroup(ctx, &identitystore.CreateGroupInput{IdentityStoreId: c.store, DisplayName: aws.String("g")})
		var conflict *idstypes.ConflictException
		if !errors.As(err, &conflict) || conflict.Reason != idstypes.ConflictExceptionReasonConcurrentModification {
			t.Fatalf("CreateGroup: %v", err)
		}
		if _, err := c.sso.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{InstanceArn: c.instance, Name: aws.String("x")}); !isCode(err, "ConflictException") {
			t.Fatalf("CreatePermissionSet: %v", err)
		}
		if _, err := c.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: c.instance}); err != nil {
			t.Fatalf("reads are not conflicted: %v", err)
		}
	})
	t.Run("propagation", func(t *testing.T) {
		t.Parallel()
		c := newIC(t, simcloud.Config{PropagationDelay: time.Second})
		c.permissionSet(t, "Administrator")
		if out, err := c.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: c.instance}); err != nil || len(out.PermissionSets) != 0 {
			t.Fatalf("listed before it propagated: %+v %v", out, err)
		}
		if _, err := c.sso.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{InstanceArn: c.instance, Name: aws.String("Administrator")}); !isCode(err, "ConflictException") {
			t.Fatalf("second creation: %v", err)
		}
		c.clk.Add(time.Second)
		if out, err := c.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: c.instance}); err != nil || len(out.PermissionSets) != 1 {
			t.Fatalf("after propagation: %+v %v", out, err)
		}
	})
	t.Run("rate", func(t *testing.T) {
		t.Parallel()
		c := newIC(t, simcloud.Config{IdentityCenterRatePerSecond: 20})
		var throttled int
		for range 30 {
			_, err := c.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: c.instance})
			if isCode(err, "ThrottlingException") {
				throttled++
			}
		}
		if throttled < 9 { // the instance lookup took one token; the clock stands still
			t.Fatalf("%d of 30 calls throttled, want at least 9", throttled)
		}
		if _, err := c.org.ListRoots(ctx, &organizations.ListRootsInput{}); err != nil {
			t.Fatalf("Organizations shares no rate with Identity Center: %v", err)
		}
	})
}

func isCode(err error, code string) bool {
	return errCode(err) == code
}

// TestTagsValidatedLikeAWS: tag keys and values outside AWS's pattern,
// AWS's own prefix and a key given twice are refused with AWS's reasons.
func TestTagsValidatedLikeAWS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newIC(t, simcloud.Config{})
	tag := func(tags ...string) error {
		in := &organizations.TagResourceInput{ResourceId: aws.String(c.account)}
		for i := 0; i < len(tags); i += 2 {
			in.Tags = append(in.Tags, orgtypes.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
		}
		_, err := c.org.TagResource(ctx, in)
		return err
	}
	for _, tt := range []struct {
		name string
		tags []string
		want string
	}{
		{"ok/japanese letters", []string{"hatoba:system", "住民記録 本番"}, ""},
		{"ok/allowed punctuation", []string{"a_b.c:d/e=f+g-h@i", "_.:/=+-@"}, ""},
		{"fail/fullwidth parentheses", []string{"hatoba:system", "住民記録（本番）"}, "INVALID_PATTERN"},
		{"fail/middle dot", []string{"hatoba:system", "税・料金"}, "INVALID_PATTERN"},
		{"fail/ampersand", []string{"hatoba:system", "A&B"}, "INVALID_PATTERN"},
		{"fail/key pattern", []string{"a&b", "v"}, "INVALID_PATTERN"},
		{"fail/key too long", []string{strings.Repeat("k", 129), "v"}, "MAX_LENGTH_EXCEEDED"},
		{"fail/value too long", []string{"k", strings.Repeat("v", 257)}, "MAX_LENGTH_EXCEEDED"},
		{"fail/aws prefix", []string{"AWS:x", "v"}, "INVALID_SYSTEM_TAGS_PARAMETER"},
		{"fail/key twice", []string{"k", "1", "k", "2"}, "DUPLICATE_TAG_KEY"},
	} {
		err := tag(tt.tags...)
		var inv *orgtypes.InvalidInputException
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (!errors.As(err, &inv) || string(inv.Reason) != tt.want):
			t.Errorf("%s: %v, want InvalidInputException %s", tt.name, err, tt.want)
		}
	}
}

// TestXKSEndpointRules: AWS refuses a port in the proxy endpoint, and
// changes the endpoint of a store only while it is disconnected.
func TestXKSEndpointRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	strict := kmsClientStrict(t, simcloud.Config{})
	if _, err := createStore(ctx, strict, "hatoba-port", "https://xks.example.jp:8443", xksSecret); errCode(err) != "ValidationException" {
		t.Fatalf("an endpoint with a port: %v", err)
	}
	if _, err := createStore(ctx, strict, "hatoba-noport", "https://xks.example.jp", xksSecret); err != nil {
		t.Fatalf("an endpoint without a port: %v", err)
	}

	p := newProxy(t)
	c := kmsClient(t, simcloud.Config{XKSClient: p.srv.Client()})
	id, err := createStore(ctx, c, "hatoba-org-1", p.srv.URL, xksSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if st, _ := storeState(t, c, id); st != kmstypes.ConnectionStateTypeConnected {
		t.Fatalf("state %s", st)
	}
	update := func() error {
		_, err := c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: &id, XksProxyUriEndpoint: aws.String("https://moved.example.jp")})
		return err
	}
	if err := update(); errCode(err) != "CustomKeyStoreInvalidStateException" {
		t.Fatalf("moving a connected store: %v", err)
	}
	if _, err := c.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		t.Fatal(err)
	}
	if err := update(); err != nil {
		t.Fatalf("moving a disconnected store: %v", err)
	}
}
