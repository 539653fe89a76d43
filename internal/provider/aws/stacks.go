package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Baselines become CloudFormation stacks in the tenant's account
// (docs/baselines.md). Each call names the account's role of the
// permission set the deployment runs with (the environment's
// Administrator set) as the stack's RoleARN, so the stack's resources are
// made with the tenant's authority, not the platform's.
//
// Known limit: on AWS the calls themselves must be made with credentials
// in the member account — the deploy session's, from IAM Identity
// Center's GetRoleCredentials for the tenant administrator — and the
// reserved role's name carries a suffix AWS chooses (the driver would
// look it up with iam:ListRoles). The simulated cloud has one credential
// for every account and accepts the suffix the driver derives; the
// management role's policy (iampolicy.json) therefore grants no
// cloudformation action.

var _ provider.Stacks = (*Driver)(nil)

// reservedRoleARN is the account's role of an Identity Center permission
// set, as IAM Identity Center names it.
func reservedRoleARN(accountID, permissionSet string) string {
	h := sha256.Sum256([]byte(accountID + "/" + permissionSet))
	return fmt.Sprintf("arn:aws:iam::%s:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_%s_%s", accountID, permissionSet, hex.EncodeToString(h[:8]))
}

func (d *Driver) checkAccount(accountID string) error {
	if !reAccountID.MatchString(accountID) {
		return &provider.Error{Op: "CloudFormation", Class: provider.Permanent, Err: fmt.Errorf("%q is not an AWS account id", accountID)}
	}
	return nil
}

// DeployStack implements provider.Stacks.
func (d *Driver) DeployStack(ctx context.Context, accountID string, spec provider.StackSpec) (provider.StackStatus, error) {
	if err := d.checkAccount(accountID); err != nil {
		return provider.StackStatus{}, err
	}
	keys := make([]string, 0, len(spec.Tags))
	for k := range spec.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]cfntypes.Tag, 0, len(keys))
	for _, k := range keys {
		tags = append(tags, cfntypes.Tag{Key: awssdk.String(k), Value: awssdk.String(spec.Tags[k])})
	}
	role := awssdk.String(reservedRoleARN(accountID, spec.PermissionSet))
	token := cfnToken(spec.Token)
	if spec.StackID == "" {
		out, err := d.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: awssdk.String(spec.Name), TemplateBody: awssdk.String(spec.Template),
			RoleARN: role, Tags: tags, ClientRequestToken: token, OnFailure: cfntypes.OnFailureRollback,
			Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}})
		if err != nil {
			return provider.StackStatus{}, classify("CreateStack", err)
		}
		return provider.StackStatus{ID: awssdk.ToString(out.StackId), Name: spec.Name, Status: string(cfntypes.StackStatusCreateInProgress)}, nil
	}
	out, err := d.cfn.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: awssdk.String(spec.StackID), TemplateBody: awssdk.String(spec.Template),
		RoleARN: role, Tags: tags, ClientRequestToken: token, Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityNamedIam}})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "No updates are to be performed") {
		// The stack runs this template already: nothing to do is success.
		st, _, err := d.DescribeStack(ctx, accountID, spec.StackID)
		return st, err
	}
	if err != nil {
		return provider.StackStatus{}, classify("UpdateStack", err)
	}
	return provider.StackStatus{ID: awssdk.ToString(out.StackId), Name: spec.Name, Status: string(cfntypes.StackStatusUpdateInProgress)}, nil
}

// cfnToken fits a token into CloudFormation's ClientRequestToken pattern
// ([a-zA-Z0-9][-a-zA-Z0-9]*, at most 128).
func cfnToken(t string) *string {
	if t == "" {
		return nil
	}
	var b strings.Builder
	for _, r := range t {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' && b.Len() > 0 {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > 128 {
		s = s[:128]
	}
	return awssdk.String(s)
}

// DescribeStack implements provider.Stacks.
func (d *Driver) DescribeStack(ctx context.Context, accountID, stackID string) (provider.StackStatus, bool, error) {
	if err := d.checkAccount(accountID); err != nil {
		return provider.StackStatus{}, false, err
	}
	out, err := d.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: awssdk.String(stackID)})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist") {
		return provider.StackStatus{}, false, nil
	}
	if err != nil {
		return provider.StackStatus{}, false, classify("DescribeStacks", err)
	}
	if len(out.Stacks) == 0 {
		return provider.StackStatus{}, false, nil
	}
	st := out.Stacks[0]
	return provider.StackStatus{ID: awssdk.ToString(st.StackId), Name: awssdk.ToString(st.StackName), Status: string(st.StackStatus),
		Reason: awssdk.ToString(st.StackStatusReason)}, true, nil
}

// StackEvents implements provider.Stacks: the first page, the newest
// events, is what a person reads.
func (d *Driver) StackEvents(ctx context.Context, accountID, stackID string) ([]provider.StackEvent, error) {
	if err := d.checkAccount(accountID); err != nil {
		return nil, err
	}
	out, err := d.cfn.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: awssdk.String(stackID)})
	if err != nil {
		return nil, classify("DescribeStackEvents", err)
	}
	evs := make([]provider.StackEvent, 0, len(out.StackEvents))
	for _, e := range out.StackEvents {
		evs = append(evs, provider.StackEvent{At: awssdk.ToTime(e.Timestamp), LogicalID: awssdk.ToString(e.LogicalResourceId),
			ResourceType: awssdk.ToString(e.ResourceType), Status: string(e.ResourceStatus), Reason: awssdk.ToString(e.ResourceStatusReason),
			PhysicalID: awssdk.ToString(e.PhysicalResourceId)})
	}
	return evs, nil
}

// StackTemplate implements provider.Stacks.
func (d *Driver) StackTemplate(ctx context.Context, accountID, stackID string) (string, error) {
	if err := d.checkAccount(accountID); err != nil {
		return "", err
	}
	out, err := d.cfn.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: awssdk.String(stackID), TemplateStage: cfntypes.TemplateStageOriginal})
	if err != nil {
		return "", classify("GetTemplate", err)
	}
	return awssdk.ToString(out.TemplateBody), nil
}
