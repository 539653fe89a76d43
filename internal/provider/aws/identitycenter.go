package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idstypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// IAM Identity Center: the two permission sets, what they grant, and their
// assignment to each account's two groups.
//
// Identity Center allows 20 requests a second across its APIs and 10
// assignment operations in progress, so the driver keeps what never
// changes (the instance, the identity store, each set's ARN and name) and
// reconciles each set's policies once per process; a throttled call is
// made again after a pause, and a throttled page resumes from its token.

// PermissionSetPolicy is what one permission set grants: AWS managed
// policies, an inline policy and a permissions boundary.
type PermissionSetPolicy struct {
	// ManagedPolicyARNs are AWS managed policies
	// (arn:aws:iam::aws:policy/…); at most 10.
	ManagedPolicyARNs []string
	// InlinePolicy is an IAM policy document (JSON); empty means none.
	InlinePolicy string
	// PermissionsBoundary is an AWS managed policy ARN, or the name of a
	// customer managed policy that must exist in every account, with its
	// path when it has one ("/boundaries/hatoba-boundary"); empty means
	// none.
	PermissionsBoundary string
}

// DefaultAdministrator is what the Administrator set grants unless the
// connection configures otherwise: AWS's AdministratorAccess.
var DefaultAdministrator = PermissionSetPolicy{ManagedPolicyARNs: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}}

// DefaultNonAdministrator is what the Non-administrator set grants unless
// the connection configures otherwise: switching into roles of the same
// account, and reading who it is and which roles there are to switch into.
var DefaultNonAdministrator = PermissionSetPolicy{InlinePolicy: `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "SwitchIntoRolesOfThisAccount",
      "Effect": "Allow",
      "Action": "sts:AssumeRole",
      "Resource": "arn:aws:iam::*:role/*",
      "Condition": {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    },
    {
      "Sid": "ReadOnlyOfItself",
      "Effect": "Allow",
      "Action": ["sts:GetCallerIdentity", "iam:ListRoles", "iam:GetRole"],
      "Resource": "*"
    }
  ]
}`}

func (p PermissionSetPolicy) isZero() bool {
	return len(p.ManagedPolicyARNs) == 0 && p.InlinePolicy == "" && p.PermissionsBoundary == ""
}

func orDefault(p, def PermissionSetPolicy) PermissionSetPolicy {
	if p.isZero() {
		return def
	}
	return p
}

var (
	reManagedPolicyARN = regexp.MustCompile(`^arn:(aws|aws-us-gov|aws-cn|aws-iso|aws-iso-b):iam::aws:policy((/[A-Za-z0-9\.,\+@=_-]+)*)/[A-Za-z0-9\.,\+@=_-]+$`)
	reBoundaryName     = regexp.MustCompile(`^((/[A-Za-z0-9\.,\+@=_-]+)*/)?[\w+=,.@-]{1,128}$`)
)

// Validate checks what Identity Center would refuse, so that a wrong
// setting stops serve at start, not every vending at step 5.
func (p PermissionSetPolicy) Validate() error {
	if len(p.ManagedPolicyARNs) > 10 {
		return fmt.Errorf("%d managed policies; Identity Center allows 10", len(p.ManagedPolicyARNs))
	}
	for _, arn := range p.ManagedPolicyARNs {
		if !reManagedPolicyARN.MatchString(arn) {
			return fmt.Errorf("managed policy %q is not an AWS managed policy ARN (arn:aws:iam::aws:policy/…)", arn)
		}
	}
	if p.InlinePolicy != "" {
		var doc struct {
			Version   string          `json:"Version"`
			Statement json.RawMessage `json:"Statement"`
		}
		if err := json.Unmarshal([]byte(p.InlinePolicy), &doc); err != nil || doc.Version == "" || len(doc.Statement) == 0 {
			return errors.New("inline policy is not an IAM policy document (JSON with Version and Statement)")
		}
		if len(p.InlinePolicy) > 32768 {
			return errors.New("inline policy is longer than Identity Center's 32,768 characters")
		}
	}
	if b := p.PermissionsBoundary; b != "" && !reManagedPolicyARN.MatchString(b) && !reBoundaryName.MatchString(b) {
		return fmt.Errorf("permissions boundary %q is neither an AWS managed policy ARN nor a customer managed policy name with an optional path", b)
	}
	return nil
}

// boundary renders PermissionsBoundary for the API; nil means none.
func (p PermissionSetPolicy) boundary() *ssotypes.PermissionsBoundary {
	b := p.PermissionsBoundary
	switch {
	case b == "":
		return nil
	case strings.HasPrefix(b, "arn:"):
		return &ssotypes.PermissionsBoundary{ManagedPolicyArn: awssdk.String(b)}
	}
	ref := &ssotypes.CustomerManagedPolicyReference{Name: awssdk.String(b)}
	if i := strings.LastIndex(b, "/"); i >= 0 {
		ref.Name, ref.Path = awssdk.String(b[i+1:]), awssdk.String(b[:i+1])
	}
	return &ssotypes.PermissionsBoundary{CustomerManagedPolicyReference: ref}
}

func sameBoundary(a, b *ssotypes.PermissionsBoundary) bool {
	key := func(p *ssotypes.PermissionsBoundary) string {
		switch {
		case p == nil:
			return ""
		case p.ManagedPolicyArn != nil:
			return *p.ManagedPolicyArn
		case p.CustomerManagedPolicyReference != nil:
			return awssdk.ToString(p.CustomerManagedPolicyReference.Path) + "|" + awssdk.ToString(p.CustomerManagedPolicyReference.Name)
		}
		return ""
	}
	norm := func(p *ssotypes.PermissionsBoundary) string {
		if p != nil && p.CustomerManagedPolicyReference != nil && p.CustomerManagedPolicyReference.Path == nil {
			return "/|" + awssdk.ToString(p.CustomerManagedPolicyReference.Name) // "/" is IAM's default path
		}
		return key(p)
	}
	return norm(a) == norm(b)
}

// samePolicy compares two policy documents as JSON, not as text: AWS may
// give back the document reformatted.
func samePolicy(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	return reflect.DeepEqual(x, y)
}

func (d *Driver) instance(ctx context.Context) (instanceARN, identityStoreID string, err error) {
	d.mu.Lock()
	instanceARN, identityStoreID = d.instanceARN, d.identityStoreID
	d.mu.Unlock()
	if instanceARN != "" && identityStoreID != "" {
		return instanceARN, identityStoreID, nil
	}
	// Every page, empty ones with a NextToken included, each retried.
	var instances []ssotypes.InstanceMetadata
	var token *string
	for {
		var out *ssoadmin.ListInstancesOutput
		if err := d.retryRead(ctx, func() (err error) {
			out, err = d.sso.ListInstances(ctx, &ssoadmin.ListInstancesInput{NextToken: token})
			return classify("ListInstances", err)
		}); err != nil {
			return "", "", err
		}
		instances = append(instances, out.Instances...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if len(instances) != 1 {
		return "", "", &provider.Error{Class: provider.Permanent, Op: "ListInstances",
			Err: fmt.Errorf("found %d Identity Center instances in region %s; configure identity_center_region, or instance_arn and identity_store_id", len(instances), d.icRegion)}
	}
	instanceARN, identityStoreID = awssdk.ToString(instances[0].InstanceArn), awssdk.ToString(instances[0].IdentityStoreId)
	if instanceARN == "" || identityStoreID == "" {
		return "", "", &provider.Error{Class: provider.Transient, Op: "ListInstances", Err: errors.New("the instance has no ARN or identity store yet")}
	}
	d.mu.Lock()
	d.instanceARN, d.identityStoreID = instanceARN, identityStoreID
	d.mu.Unlock()
	return instanceARN, identityStoreID, nil
}

// findPermissionSet scans the instance's permission sets for name, page by
// page; a throttled or failed page is asked for again with its own token,
// so a long scan resumes rather than restarts. Names of sets described
// once are remembered: a set's name never changes.
func (d *Driver) findPermissionSet(ctx context.Context, instanceARN, name string) (string, error) {
	var token *string
	for {
		var page *ssoadmin.ListPermissionSetsOutput
		if err := d.retryRead(ctx, func() (err error) {
			page, err = d.sso.ListPermissionSets(ctx, &ssoadmin.ListPermissionSetsInput{InstanceArn: awssdk.String(instanceARN), NextToken: token})
			return classify("ListPermissionSets", err)
		}); err != nil {
			return "", err
		}
		for _, psARN := range page.PermissionSets {
			d.mu.Lock()
			known, ok := d.setNames[psARN]
			d.mu.Unlock()
			if !ok {
				var ps *ssoadmin.DescribePermissionSetOutput
				if err := d.retryRead(ctx, func() (err error) {
					ps, err = d.sso.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{InstanceArn: awssdk.String(instanceARN), PermissionSetArn: awssdk.String(psARN)})
					return classify("DescribePermissionSet", err)
				}); err != nil {
					return "", err
				}
				known = awssdk.ToString(ps.PermissionSet.Name)
				d.mu.Lock()
				d.setNames[psARN] = known
				d.mu.Unlock()
			}
			if known == name {
				return psARN, nil
			}
		}
		if token = page.NextToken; awssdk.ToString(token) == "" {
			return "", nil
		}
	}
}

// permissionSet finds or creates the set and brings what it grants to the
// connection's configuration (once per process).
func (d *Driver) permissionSet(ctx context.Context, instanceARN, name, description string) (string, error) {
	psARN, err := d.cached(d.permissionSets, name, func() (string, error) {
		find := func() (string, error) { return d.findPermissionSet(ctx, instanceARN, name) }
		return d.findOrCreate(ctx, "CreatePermissionSet", find, func() (string, bool, error) {
			var out *ssoadmin.CreatePermissionSetOutput
			err := d.retry(ctx, func() (err error) {
				out, err = d.sso.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{InstanceArn: awssdk.String(instanceARN),
					Name: awssdk.String(name), Description: awssdk.String(description), SessionDuration: awssdk.String("PT1H")})
				return classify("CreatePermissionSet", err)
			})
			if err != nil {
				// ConflictException: the set exists, or an earlier creation
				// of it has not propagated yet — look (again) either way.
				var conflict *ssotypes.ConflictException
				return "", errors.As(err, &conflict), err
			}
			return awssdk.ToString(out.PermissionSet.PermissionSetArn), false, nil
		})
	})
	if err != nil {
		return "", err
	}
	return psARN, d.reconcilePermissionSet(ctx, instanceARN, psARN, name)
}

// reconcilePermissionSet attaches what the set should grant and detaches
// what it should not, then provisions the set to the accounts that hold an
// older version of it, and waits for that to finish.
func (d *Driver) reconcilePermissionSet(ctx context.Context, instanceARN, psARN, name string) error {
	d.mu.Lock()
	done := d.setsReconciled[psARN]
	d.mu.Unlock()
	if done {
		return nil
	}
	want := d.setPolicies[name]
	in := func() (*string, *string) { return awssdk.String(instanceARN), awssdk.String(psARN) }
	changed := false

	have := map[string]bool{}
	var token *string
	for {
		var page *ssoadmin.ListManagedPoliciesInPermissionSetOutput
		if err := d.retryRead(ctx, func() (err error) {
			i, p := in()
			page, err = d.sso.ListManagedPoliciesInPermissionSet(ctx, &ssoadmin.ListManagedPoliciesInPermissionSetInput{InstanceArn: i, PermissionSetArn: p, NextToken: token})
			return classify("ListManagedPoliciesInPermissionSet", err)
		}); err != nil {
			return err
		}
		for _, m := range page.AttachedManagedPolicies {
			have[awssdk.ToString(m.Arn)] = true
		}
		if token = page.NextToken; awssdk.ToString(token) == "" {
			break
		}
	}
	for arn := range have {
		if slices.Contains(want.ManagedPolicyARNs, arn) {
			continue
		}
		err := d.retryBusy(ctx, func() error {
			i, p := in()
			_, err := d.sso.DetachManagedPolicyFromPermissionSet(ctx, &ssoadmin.DetachManagedPolicyFromPermissionSetInput{InstanceArn: i, PermissionSetArn: p, ManagedPolicyArn: awssdk.String(arn)})
			return classify("DetachManagedPolicyFromPermissionSet", err)
		})
		var nf *ssotypes.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			return err
		}
		changed = true
	}
	for _, arn := range want.ManagedPolicyARNs {
		if have[arn] {
			continue
		}
		err := d.retry(ctx, func() error {
			i, p := in()
			_, err := d.sso.AttachManagedPolicyToPermissionSet(ctx, &ssoadmin.AttachManagedPolicyToPermissionSetInput{InstanceArn: i, PermissionSetArn: p, ManagedPolicyArn: awssdk.String(arn)})
			return classify("AttachManagedPolicyToPermissionSet", err)
		})
		// A conflict may be the attachment an earlier, lost answer made;
		// the set is then left unreconciled and the next call lists again.
		if err != nil {
			return err
		}
		changed = true
	}

	var inline *ssoadmin.GetInlinePolicyForPermissionSetOutput
	if err := d.retryRead(ctx, func() (err error) {
		i, p := in()
		inline, err = d.sso.GetInlinePolicyForPermissionSet(ctx, &ssoadmin.GetInlinePolicyForPermissionSetInput{InstanceArn: i, PermissionSetArn: p})
		return classify("GetInlinePolicyForPermissionSet", err)
	}); err != nil {
		return err
	}
	switch current := awssdk.ToString(inline.InlinePolicy); {
	case samePolicy(current, want.InlinePolicy):
	case want.InlinePolicy == "":
		if err := d.retryBusy(ctx, func() error {
			i, p := in()
			_, err := d.sso.DeleteInlinePolicyFromPermissionSet(ctx, &ssoadmin.DeleteInlinePolicyFromPermissionSetInput{InstanceArn: i, PermissionSetArn: p})
			return classify("DeleteInlinePolicyFromPermissionSet", err)
		}); err != nil {
			return err
		}
		changed = true
	default:
		if err := d.retryBusy(ctx, func() error {
			i, p := in()
			_, err := d.sso.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{InstanceArn: i, PermissionSetArn: p, InlinePolicy: awssdk.String(want.InlinePolicy)})
			return classify("PutInlinePolicyToPermissionSet", err)
		}); err != nil {
			return err
		}
		changed = true
	}

	var current *ssotypes.PermissionsBoundary
	err := d.retryRead(ctx, func() error {
		i, p := in()
		out, err := d.sso.GetPermissionsBoundaryForPermissionSet(ctx, &ssoadmin.GetPermissionsBoundaryForPermissionSetInput{InstanceArn: i, PermissionSetArn: p})
		if err == nil {
			current = out.PermissionsBoundary
		}
		return classify("GetPermissionsBoundaryForPermissionSet", err)
	})
	var nf *ssotypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) { // not found: the set has no boundary
		return err
	}
	if wantB := want.boundary(); !sameBoundary(current, wantB) {
		err := d.retryBusy(ctx, func() error {
			i, p := in()
			if wantB == nil {
				_, err := d.sso.DeletePermissionsBoundaryFromPermissionSet(ctx, &ssoadmin.DeletePermissionsBoundaryFromPermissionSetInput{InstanceArn: i, PermissionSetArn: p})
				return classify("DeletePermissionsBoundaryFromPermissionSet", err)
			}
			_, err := d.sso.PutPermissionsBoundaryToPermissionSet(ctx, &ssoadmin.PutPermissionsBoundaryToPermissionSetInput{InstanceArn: i, PermissionSetArn: p, PermissionsBoundary: wantB})
			return classify("PutPermissionsBoundaryToPermissionSet", err)
		})
		if err != nil {
			return err
		}
		changed = true
	}

	if err := d.provisionIfStale(ctx, instanceARN, psARN, changed); err != nil {
		return err
	}
	d.mu.Lock()
	d.setsReconciled[psARN] = true
	d.mu.Unlock()
	return nil
}

// provisionIfStale provisions the set to every account that holds it when
// it just changed, or when an account holds an older version (a change
// whose provisioning an earlier process never finished), and waits.
func (d *Driver) provisionIfStale(ctx context.Context, instanceARN, psARN string, changed bool) error {
	filter := ssotypes.ProvisioningStatusLatestPermissionSetNotProvisioned
	if changed {
		filter = "" // every account that holds the set
	}
	var out *ssoadmin.ListAccountsForProvisionedPermissionSetOutput
	if err := d.retryRead(ctx, func() (err error) {
		out, err = d.sso.ListAccountsForProvisionedPermissionSet(ctx, &ssoadmin.ListAccountsForProvisionedPermissionSetInput{InstanceArn: awssdk.String(instanceARN),
			PermissionSetArn: awssdk.String(psARN), ProvisioningStatus: filter, MaxResults: awssdk.Int32(1)})
		return classify("ListAccountsForProvisionedPermissionSet", err)
	}); err != nil {
		return err
	}
	if len(out.AccountIds) == 0 {
		return nil // no account holds it (or every one holds the latest)
	}
	var started *ssoadmin.ProvisionPermissionSetOutput
	if err := d.retryBusy(ctx, func() (err error) {
		started, err = d.sso.ProvisionPermissionSet(ctx, &ssoadmin.ProvisionPermissionSetInput{InstanceArn: awssdk.String(instanceARN),
			PermissionSetArn: awssdk.String(psARN), TargetType: ssotypes.ProvisionTargetTypeAllProvisionedAccounts})
		return classify("ProvisionPermissionSet", err)
	}); err != nil {
		return err
	}
	st := started.PermissionSetProvisioningStatus
	if st == nil {
		return &provider.Error{Class: provider.Transient, Op: "ProvisionPermissionSet", Err: errors.New("the answer carried no status")}
	}
	reqID := awssdk.ToString(st.RequestId)
	status, reason, err := d.await(ctx, "DescribePermissionSetProvisioningStatus", st.Status, awssdk.ToString(st.FailureReason),
		func() (ssotypes.StatusValues, string, error) {
			out, err := d.sso.DescribePermissionSetProvisioningStatus(ctx, &ssoadmin.DescribePermissionSetProvisioningStatusInput{InstanceArn: awssdk.String(instanceARN),
				ProvisionPermissionSetRequestId: awssdk.String(reqID)})
			if err != nil {
				return "", "", classify("DescribePermissionSetProvisioningStatus", err)
			}
			return out.PermissionSetProvisioningStatus.Status, awssdk.ToString(out.PermissionSetProvisioningStatus.FailureReason), nil
		})
	if err != nil {
		return err
	}
	if status == ssotypes.StatusValuesFailed {
		// Provisioning fails for reasons that clear (an account still
		// being set up); the step runs again and provisions again.
		return &provider.Error{Class: provider.Transient, Op: "ProvisionPermissionSet", Err: fmt.Errorf("provisioning %s failed: %s", psARN, reason)}
	}
	return nil
}

// await polls an asynchronous Identity Center operation until it leaves
// IN_PROGRESS, for at most the driver's operation wait.
func (d *Driver) await(ctx context.Context, op string, status ssotypes.StatusValues, reason string, describe func() (ssotypes.StatusValues, string, error)) (ssotypes.StatusValues, string, error) {
	deadline := time.Now().Add(d.operationWait)
	wait := d.retryBase / 2
	for status == ssotypes.StatusValuesInProgress || status == "" {
		if time.Now().After(deadline) {
			return "", "", &provider.Error{Class: provider.Transient, Op: op, Err: fmt.Errorf("still in progress after %s", d.operationWait)}
		}
		if err := pause(ctx, wait); err != nil {
			return "", "", &provider.Error{Class: provider.Transient, Op: op, Err: err}
		}
		wait = min(2*wait, retryMax)
		if err := d.retryRead(ctx, func() (err error) {
			status, reason, err = describe()
			return err
		}); err != nil {
			return "", "", err
		}
	}
	return status, reason, nil
}

// assignmentRetries is how often an assignment AWS could not make yet is
// made again within one call before the step is left to the workflow.
const assignmentRetries = 4

// transientAssignmentFailure reports whether a FAILED assignment's reason
// is one AWS documents as clearing by itself: a new account whose
// permissions Identity Center is still obtaining.
func transientAssignmentFailure(reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "obtaining permissions to manage your aws account") || strings.Contains(r, "try again")
}

// assign gives the group the set on the account and waits until AWS has
// done it: CreateAccountAssignment only starts the assignment.
func (d *Driver) assign(ctx context.Context, instanceARN, psARN, groupID, accountID string) error {
	wait := d.retryBase
	for try := 1; ; try++ {
		var out *ssoadmin.CreateAccountAssignmentOutput
		if err := d.retryBusy(ctx, func() (err error) {
			out, err = d.sso.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{InstanceArn: awssdk.String(instanceARN),
				PermissionSetArn: awssdk.String(psARN), PrincipalId: awssdk.String(groupID), PrincipalType: ssotypes.PrincipalTypeGroup,
				TargetId: awssdk.String(accountID), TargetType: ssotypes.TargetTypeAwsAccount})
			return classify("CreateAccountAssignment", err)
		}); err != nil {
			return err
		}
		st := out.AccountAssignmentCreationStatus
		if st == nil {
			return &provider.Error{Class: provider.Transient, Op: "CreateAccountAssignment", Err: errors.New("the answer carried no status")}
		}
		reqID := awssdk.ToString(st.RequestId)
		status, reason, err := d.await(ctx, "DescribeAccountAssignmentCreationStatus", st.Status, awssdk.ToString(st.FailureReason),
			func() (ssotypes.StatusValues, string, error) {
				out, err := d.sso.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
					InstanceArn: awssdk.String(instanceARN), AccountAssignmentCreationRequestId: awssdk.String(reqID)})
				if err != nil {
					return "", "", classify("DescribeAccountAssignmentCreationStatus", err)
				}
				return out.AccountAssignmentCreationStatus.Status, awssdk.ToString(out.AccountAssignmentCreationStatus.FailureReason), nil
			})
		if err != nil {
			return err
		}
		if status == ssotypes.StatusValuesSucceeded {
			return nil
		}
		failed := fmt.Errorf("assigning %s to group %s on account %s failed: %s", psARN, groupID, accountID, reason)
		if !transientAssignmentFailure(reason) {
			return &provider.Error{Class: provider.Permanent, Op: "CreateAccountAssignment", Err: failed}
		}
		if try == assignmentRetries {
			return &provider.Error{Class: provider.Transient, Op: "CreateAccountAssignment", Err: failed}
		}
		d.log.Debug("account assignment failed transiently; making it again", "account", accountID, "reason", reason, "after", wait)
		if err := pause(ctx, wait); err != nil {
			return &provider.Error{Class: provider.Transient, Op: "CreateAccountAssignment", Err: failed}
		}
		wait = min(2*wait, retryMax)
	}
}

// findGroup returns the id of the group with this display name, or "" when
// there is none.
func (d *Driver) findGroup(ctx context.Context, identityStoreID, name string) (string, error) {
	var id string
	err := d.retryRead(ctx, func() error {
		out, err := d.ids.GetGroupId(ctx, &identitystore.GetGroupIdInput{IdentityStoreId: awssdk.String(identityStoreID),
			AlternateIdentifier: displayName(name)})
		switch {
		case absent(err, idstypes.ResourceTypeGroup):
			id = ""
			return nil
		case err != nil:
			return classify("GetGroupId", err)
		}
		id = awssdk.ToString(out.GroupId)
		return nil
	})
	return id, err
}

func (d *Driver) group(ctx context.Context, identityStoreID, name string) (string, error) {
	get := func() (string, error) { return d.findGroup(ctx, identityStoreID, name) }
	return d.findOrCreate(ctx, "CreateGroup", get, func() (string, bool, error) {
		var out *identitystore.CreateGroupOutput
		err := d.retry(ctx, func() (err error) {
			out, err = d.ids.CreateGroup(ctx, &identitystore.CreateGroupInput{IdentityStoreId: awssdk.String(identityStoreID), DisplayName: awssdk.String(name),
				Description: awssdk.String("managed by hatoba")})
			return classify("CreateGroup", err)
		})
		if err != nil {
			return "", isDuplicate(err), err
		}
		return awssdk.ToString(out.GroupId), false, nil
	})
}

func displayName(name string) idstypes.AlternateIdentifier {
	return &idstypes.AlternateIdentifierMemberUniqueAttribute{Value: idstypes.UniqueAttribute{
		AttributePath: awssdk.String("displayName"), AttributeValue: document.NewLazyDocument(name)}}
}

// isDuplicate reports an Identity Store conflict that means "exists"
// (UNIQUENESS_CONSTRAINT_VIOLATION, or no reason given) rather than a
// concurrent modification.
func isDuplicate(err error) bool {
	var conflict *idstypes.ConflictException
	return errors.As(err, &conflict) && conflict.Reason != idstypes.ConflictExceptionReasonConcurrentModification
}

// AssignAccess implements provider.Provider: the administrators' group gets
// the Administrator set, the members' group the NonAdministrator set; it
// returns once AWS has made both assignments.
func (d *Driver) AssignAccess(ctx context.Context, accountID string, access provider.Access) error {
	instanceARN, identityStoreID, err := d.instance(ctx)
	if err != nil {
		return err
	}
	for _, a := range []struct{ set, description, group string }{
		{AdministratorSet, "may create roles inside its own account", access.AdminGroup},
		{NonAdministratorSet, "may only switch into roles that exist", access.MemberGroup},
	} {
		psARN, err := d.permissionSet(ctx, instanceARN, a.set, a.description)
		if err != nil {
			return err
		}
		groupID, err := d.group(ctx, identityStoreID, a.group)
		if err != nil {
			return err
		}
		if err := d.assign(ctx, instanceARN, psARN, groupID, accountID); err != nil {
			return err
		}
	}
	return nil
}
