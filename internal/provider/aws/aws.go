// Package aws is hatoba's AWS driver: AWS Organizations for accounts, units
// and service control policies, IAM Identity Center for the two permission
// sets and Identity Store for the people in each account's two groups, the
// Account API for billing contacts and AWS KMS for external key stores, all
// through aws-sdk-go-v2. The same code runs against real AWS and against hatoba's
// simulated cloud, which speaks the same wire protocol.
package aws

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idstypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	ssotypes "github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Config configures one AWS connection.
type Config struct {
	Name   string // the connection's name in hatoba, for errors and logs
	Region string
	// Endpoint overrides every service's address (the simulated cloud);
	// empty means real AWS.
	Endpoint string
	// AccessKeyID and SecretAccessKey are static credentials; empty means
	// the SDK's default chain (environment, shared files, instance role).
	AccessKeyID     string
	SecretAccessKey string
	// Credentials, when set, supplies credentials instead: hatoba's own
	// secret store, which decrypts them through the key service.
	Credentials awssdk.CredentialsProvider
	// InstanceARN and IdentityStoreID select the Identity Center instance;
	// empty means the organisation's only instance.
	InstanceARN     string
	IdentityStoreID string
	HTTPClient      *http.Client
	// ConfigAggregator is the AWS Config aggregator in the management
	// account through which the inventory is read; empty means
	// DefaultConfigAggregator.
	ConfigAggregator string
	// Logger receives debug records; nil means slog.Default().
	Logger *slog.Logger
}

// Permission set names shared by every account: per-person or per-account
// sets would exhaust Identity Center's limit of 3,500 permission sets.
const (
	AdministratorSet    = "Administrator"
	NonAdministratorSet = "NonAdministrator"
)

// Driver is an AWS connection. It is safe for concurrent use.
type Driver struct {
	name   string
	org    *organizations.Client
	sso    *ssoadmin.Client
	ids    *identitystore.Client
	accts  *account.Client
	kms    *kms.Client
	config *configservice.Client

	aggregator string
	log        *slog.Logger

	mu              sync.Mutex // guards the lookups below, which never change once found
	instanceARN     string
	identityStoreID string
	rootID          string
	units           map[string]string // "a/b/c" → OU id
	policies        map[string]string // policy name → id
	permissionSets  map[string]string // name → ARN
}

var _ provider.Provider = (*Driver)(nil)

// New builds a driver. It makes no calls; problems surface on first use.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.Region == "" {
		return nil, errors.New("aws driver: region is required")
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("aws driver: give both access_key_id and secret_access_key, or neither")
	}
	var awsCfg awssdk.Config
	switch {
	case cfg.Credentials != nil:
		awsCfg = awssdk.Config{Region: cfg.Region, Credentials: awssdk.NewCredentialsCache(cfg.Credentials)}
	case cfg.AccessKeyID != "":
		awsCfg = awssdk.Config{Region: cfg.Region,
			Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")}
	default:
		loaded, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.Region))
		if err != nil {
			return nil, fmt.Errorf("aws driver: load credentials: %w", err)
		}
		awsCfg = loaded
	}
	// hatoba's workflow owns retries: it classifies errors, backs off and
	// records attempts; SDK retries would hide all of that and multiply
	// calls under throttling.
	awsCfg.Retryer = func() awssdk.Retryer { return awssdk.NopRetryer{} }
	awsCfg.RetryMaxAttempts = 1
	if cfg.HTTPClient != nil {
		awsCfg.HTTPClient = cfg.HTTPClient
	}
	var base *string
	if cfg.Endpoint != "" {
		base = awssdk.String(cfg.Endpoint)
	}
	d := &Driver{
		name:            cfg.Name,
		org:             organizations.NewFromConfig(awsCfg, func(o *organizations.Options) { o.BaseEndpoint = base }),
		sso:             ssoadmin.NewFromConfig(awsCfg, func(o *ssoadmin.Options) { o.BaseEndpoint = base }),
		ids:             identitystore.NewFromConfig(awsCfg, func(o *identitystore.Options) { o.BaseEndpoint = base }),
		accts:           account.NewFromConfig(awsCfg, func(o *account.Options) { o.BaseEndpoint = base }),
		kms:             kms.NewFromConfig(awsCfg, func(o *kms.Options) { o.BaseEndpoint = base }),
		config:          configservice.NewFromConfig(awsCfg, func(o *configservice.Options) { o.BaseEndpoint = base }),
		aggregator:      cmp.Or(cfg.ConfigAggregator, DefaultConfigAggregator),
		log:             cmp.Or(cfg.Logger, slog.Default()),
		instanceARN:     cfg.InstanceARN,
		identityStoreID: cfg.IdentityStoreID,
		units:           map[string]string{},
		policies:        map[string]string{},
		permissionSets:  map[string]string{},
	}
	return d, nil
}

// CreateAccount implements provider.Provider.
func (d *Driver) CreateAccount(ctx context.Context, spec provider.AccountSpec) (string, error) {
	out, err := d.org.CreateAccount(ctx, &organizations.CreateAccountInput{
		AccountName: awssdk.String(spec.Name), Email: awssdk.String(spec.Email),
		IamUserAccessToBilling: orgtypes.IAMUserAccessToBillingDeny,
	})
	if err != nil {
		return "", classify("CreateAccount", err)
	}
	return awssdk.ToString(out.CreateAccountStatus.Id), nil
}

// CreateAccountStatus implements provider.Provider.
func (d *Driver) CreateAccountStatus(ctx context.Context, requestID string) (provider.CreateStatus, error) {
	out, err := d.org.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: awssdk.String(requestID)})
	if err != nil {
		return provider.CreateStatus{}, classify("DescribeCreateAccountStatus", err)
	}
	return createStatus(out.CreateAccountStatus), nil
}

func createStatus(st *orgtypes.CreateAccountStatus) provider.CreateStatus {
	cs := provider.CreateStatus{RequestID: awssdk.ToString(st.Id), AccountID: awssdk.ToString(st.AccountId), FailureReason: string(st.FailureReason)}
	switch st.State {
	case orgtypes.CreateAccountStateSucceeded:
		cs.State = provider.CreateSucceeded
	case orgtypes.CreateAccountStateFailed:
		cs.State = provider.CreateFailed
	default:
		cs.State = provider.CreateInProgress
	}
	return cs
}

// FindAccount implements provider.Provider. AWS offers no lookup by e-mail,
// so it pages through the accounts; it runs only when reconciling.
func (d *Driver) FindAccount(ctx context.Context, spec provider.AccountSpec) (provider.Found, error) {
	accounts := organizations.NewListAccountsPaginator(d.org, &organizations.ListAccountsInput{})
	for accounts.HasMorePages() {
		page, err := accounts.NextPage(ctx)
		if err != nil {
			return provider.Found{}, classify("ListAccounts", err)
		}
		for _, a := range page.Accounts {
			if strings.EqualFold(awssdk.ToString(a.Email), spec.Email) {
				return provider.Found{AccountID: awssdk.ToString(a.Id)}, nil
			}
		}
	}
	pending := organizations.NewListCreateAccountStatusPaginator(d.org, &organizations.ListCreateAccountStatusInput{
		States: []orgtypes.CreateAccountState{orgtypes.CreateAccountStateInProgress}})
	for pending.HasMorePages() {
		page, err := pending.NextPage(ctx)
		if err != nil {
			return provider.Found{}, classify("ListCreateAccountStatus", err)
		}
		for _, st := range page.CreateAccountStatuses {
			if awssdk.ToString(st.AccountName) == spec.Name {
				return provider.Found{RequestID: awssdk.ToString(st.Id)}, nil
			}
		}
	}
	return provider.Found{}, nil
}

func (d *Driver) root(ctx context.Context) (string, error) {
	d.mu.Lock()
	id := d.rootID
	d.mu.Unlock()
	if id != "" {
		return id, nil
	}
	out, err := d.org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		return "", classify("ListRoots", err)
	}
	if len(out.Roots) == 0 {
		return "", &provider.Error{Class: provider.Permanent, Op: "ListRoots", Err: errors.New("the organization has no root")}
	}
	id = awssdk.ToString(out.Roots[0].Id)
	d.mu.Lock()
	d.rootID = id
	d.mu.Unlock()
	return id, nil
}

// EnsureUnit implements provider.Provider.
func (d *Driver) EnsureUnit(ctx context.Context, path []string) (string, error) {
	parent, err := d.root(ctx)
	if err != nil {
		return "", err
	}
	for i, name := range path {
		id, err := d.cached(d.units, strings.Join(path[:i+1], "/"), func() (string, error) {
			return d.ensureChildUnit(ctx, parent, name)
		})
		if err != nil {
			return "", err
		}
		parent = id
	}
	return parent, nil
}

func (d *Driver) ensureChildUnit(ctx context.Context, parent, name string) (string, error) {
	find := func() (string, error) {
		units := organizations.NewListOrganizationalUnitsForParentPaginator(d.org, &organizations.ListOrganizationalUnitsForParentInput{ParentId: awssdk.String(parent)})
		for units.HasMorePages() {
			page, err := units.NextPage(ctx)
			if err != nil {
				return "", classify("ListOrganizationalUnitsForParent", err)
			}
			for _, u := range page.OrganizationalUnits {
				if awssdk.ToString(u.Name) == name {
					return awssdk.ToString(u.Id), nil
				}
			}
		}
		return "", nil
	}
	return findOrCreate(find, func() (string, bool, error) {
		out, err := d.org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: awssdk.String(parent), Name: awssdk.String(name)})
		if err != nil {
			var dup *orgtypes.DuplicateOrganizationalUnitException
			return "", errors.As(err, &dup), classify("CreateOrganizationalUnit", err)
		}
		return awssdk.ToString(out.OrganizationalUnit.Id), false, nil
	})
}

// MoveAccount implements provider.Provider.
func (d *Driver) MoveAccount(ctx context.Context, accountID, unitID string) error {
	parents, err := d.org.ListParents(ctx, &organizations.ListParentsInput{ChildId: awssdk.String(accountID)})
	if err != nil {
		return classify("ListParents", err)
	}
	if len(parents.Parents) == 0 {
		return &provider.Error{Class: provider.Permanent, Op: "ListParents", Err: fmt.Errorf("account %s has no parent", accountID)}
	}
	source := awssdk.ToString(parents.Parents[0].Id)
	if source == unitID {
		return nil
	}
	_, err = d.org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: awssdk.String(accountID),
		SourceParentId: awssdk.String(source), DestinationParentId: awssdk.String(unitID)})
	var dup *orgtypes.DuplicateAccountException
	if errors.As(err, &dup) {
		return nil
	}
	return classify("MoveAccount", err)
}

// AttachPolicies implements provider.Provider.
func (d *Driver) AttachPolicies(ctx context.Context, accountID string, policies []provider.Policy) error {
	for _, p := range policies {
		id, err := d.ensurePolicy(ctx, p)
		if err != nil {
			return err
		}
		_, err = d.org.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: awssdk.String(id), TargetId: awssdk.String(accountID)})
		var dup *orgtypes.DuplicatePolicyAttachmentException
		if err != nil && !errors.As(err, &dup) {
			return classify("AttachPolicy", err)
		}
	}
	return nil
}

// SetPolicies implements provider.PolicySetter: it detaches the managed
// policies (names starting with managedPrefix) not in policies first, so
// the new set has room under the five-per-target limit, then attaches
// policies.
func (d *Driver) SetPolicies(ctx context.Context, accountID, managedPrefix string, policies []provider.Policy) error {
	wanted := map[string]bool{}
	for _, p := range policies {
		wanted[p.Name] = true
	}
	pages := organizations.NewListPoliciesForTargetPaginator(d.org, &organizations.ListPoliciesForTargetInput{
		TargetId: awssdk.String(accountID), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return classify("ListPoliciesForTarget", err)
		}
		for _, ps := range page.Policies {
			name := awssdk.ToString(ps.Name)
			if !strings.HasPrefix(name, managedPrefix) || wanted[name] {
				continue
			}
			_, err := d.org.DetachPolicy(ctx, &organizations.DetachPolicyInput{PolicyId: ps.Id, TargetId: awssdk.String(accountID)})
			var gone *orgtypes.PolicyNotAttachedException
			if err != nil && !errors.As(err, &gone) {
				return classify("DetachPolicy", err)
			}
		}
	}
	return d.AttachPolicies(ctx, accountID, policies)
}

func (d *Driver) ensurePolicy(ctx context.Context, p provider.Policy) (string, error) {
	return d.cached(d.policies, p.Name, func() (string, error) {
		find := func() (string, error) {
			pages := organizations.NewListPoliciesPaginator(d.org, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					return "", classify("ListPolicies", err)
				}
				for _, ps := range page.Policies {
					if awssdk.ToString(ps.Name) == p.Name {
						return awssdk.ToString(ps.Id), nil
					}
				}
			}
			return "", nil
		}
		return findOrCreate(find, func() (string, bool, error) {
			out, err := d.org.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: awssdk.String(p.Name), Description: awssdk.String(p.Description),
				Content: awssdk.String(p.Document), Type: orgtypes.PolicyTypeServiceControlPolicy})
			if err != nil {
				var dup *orgtypes.DuplicatePolicyException
				return "", errors.As(err, &dup), classify("CreatePolicy", err)
			}
			return awssdk.ToString(out.Policy.PolicySummary.Id), false, nil
		})
	})
}

func (d *Driver) instance(ctx context.Context) (instanceARN, identityStoreID string, err error) {
	d.mu.Lock()
	instanceARN, identityStoreID = d.instanceARN, d.identityStoreID
	d.mu.Unlock()
	if instanceARN != "" && identityStoreID != "" {
		return instanceARN, identityStoreID, nil
	}
	out, err := d.sso.ListInstances(ctx, &ssoadmin.ListInstancesInput{})
	if err != nil {
		return "", "", classify("ListInstances", err)
	}
	if len(out.Instances) != 1 {
		return "", "", &provider.Error{Class: provider.Permanent, Op: "ListInstances",
			Err: fmt.Errorf("found %d Identity Center instances; configure instance_arn and identity_store_id", len(out.Instances))}
	}
	instanceARN, identityStoreID = awssdk.ToString(out.Instances[0].InstanceArn), awssdk.ToString(out.Instances[0].IdentityStoreId)
	d.mu.Lock()
	d.instanceARN, d.identityStoreID = instanceARN, identityStoreID
	d.mu.Unlock()
	return instanceARN, identityStoreID, nil
}

func (d *Driver) permissionSet(ctx context.Context, instanceARN, name, description string) (string, error) {
	return d.cached(d.permissionSets, name, func() (string, error) {
		find := func() (string, error) {
			pages := ssoadmin.NewListPermissionSetsPaginator(d.sso, &ssoadmin.ListPermissionSetsInput{InstanceArn: awssdk.String(instanceARN)})
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					return "", classify("ListPermissionSets", err)
				}
				for _, psARN := range page.PermissionSets {
					ps, err := d.sso.DescribePermissionSet(ctx, &ssoadmin.DescribePermissionSetInput{InstanceArn: awssdk.String(instanceARN), PermissionSetArn: awssdk.String(psARN)})
					if err != nil {
						return "", classify("DescribePermissionSet", err)
					}
					if awssdk.ToString(ps.PermissionSet.Name) == name {
						return psARN, nil
					}
				}
			}
			return "", nil
		}
		return findOrCreate(find, func() (string, bool, error) {
			out, err := d.sso.CreatePermissionSet(ctx, &ssoadmin.CreatePermissionSetInput{InstanceArn: awssdk.String(instanceARN),
				Name: awssdk.String(name), Description: awssdk.String(description), SessionDuration: awssdk.String("PT1H")})
			if err != nil {
				var conflict *ssotypes.ConflictException
				return "", errors.As(err, &conflict), classify("CreatePermissionSet", err)
			}
			return awssdk.ToString(out.PermissionSet.PermissionSetArn), false, nil
		})
	})
}

// findGroup returns the id of the group with this display name, or "" when
// there is none.
func (d *Driver) findGroup(ctx context.Context, identityStoreID, name string) (string, error) {
	out, err := d.ids.GetGroupId(ctx, &identitystore.GetGroupIdInput{IdentityStoreId: awssdk.String(identityStoreID),
		AlternateIdentifier: &idstypes.AlternateIdentifierMemberUniqueAttribute{Value: idstypes.UniqueAttribute{
			AttributePath: awssdk.String("displayName"), AttributeValue: document.NewLazyDocument(name)}}})
	var nf *idstypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", classify("GetGroupId", err)
	}
	return awssdk.ToString(out.GroupId), nil
}

func (d *Driver) group(ctx context.Context, identityStoreID, name string) (string, error) {
	get := func() (string, error) { return d.findGroup(ctx, identityStoreID, name) }
	return findOrCreate(get, func() (string, bool, error) {
		out, err := d.ids.CreateGroup(ctx, &identitystore.CreateGroupInput{IdentityStoreId: awssdk.String(identityStoreID), DisplayName: awssdk.String(name),
			Description: awssdk.String("managed by hatoba")})
		if err != nil {
			var conflict *idstypes.ConflictException
			return "", errors.As(err, &conflict), classify("CreateGroup", err)
		}
		return awssdk.ToString(out.GroupId), false, nil
	})
}

// findOrCreate returns the id find finds, else the one create makes. Every
// driver method must be safe to repeat, and another worker may create the
// same thing between our look and our create: create then reports dup, and
// find looks again.
func findOrCreate(find func() (string, error), create func() (id string, dup bool, err error)) (string, error) {
	if id, err := find(); err != nil || id != "" {
		return id, err
	}
	id, dup, err := create()
	if dup {
		return find()
	}
	return id, err
}

// cached returns cache[key], loading and remembering it on first use: units,
// policies and permission sets never change id once they exist.
func (d *Driver) cached(cache map[string]string, key string, load func() (string, error)) (string, error) {
	d.mu.Lock()
	id, ok := cache[key]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := load()
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	cache[key] = id
	d.mu.Unlock()
	return id, nil
}

// AssignAccess implements provider.Provider: the administrators' group gets
// the Administrator set, the members' group the NonAdministrator set.
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
		out, err := d.sso.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{InstanceArn: awssdk.String(instanceARN),
			PermissionSetArn: awssdk.String(psARN), PrincipalId: awssdk.String(groupID), PrincipalType: ssotypes.PrincipalTypeGroup,
			TargetId: awssdk.String(accountID), TargetType: ssotypes.TargetTypeAwsAccount})
		if err != nil {
			return classify("CreateAccountAssignment", err)
		}
		if st := out.AccountAssignmentCreationStatus; st != nil && st.Status == ssotypes.StatusValuesFailed {
			return &provider.Error{Class: provider.Permanent, Op: "CreateAccountAssignment", Err: errors.New(awssdk.ToString(st.FailureReason))}
		}
		// IN_PROGRESS finishes on its own; the step is re-run idempotently
		// if the account turns out to lack the assignment.
	}
	return nil
}

// SetBillingContact implements provider.Provider.
func (d *Driver) SetBillingContact(ctx context.Context, accountID string, c provider.Contact) error {
	_, err := d.accts.PutAlternateContact(ctx, &account.PutAlternateContactInput{AccountId: awssdk.String(accountID),
		AlternateContactType: accounttypes.AlternateContactTypeBilling, Name: awssdk.String(c.Name), Title: awssdk.String(c.Title),
		EmailAddress: awssdk.String(c.Email), PhoneNumber: awssdk.String(c.Phone)})
	return classify("PutAlternateContact", err)
}

// TagAccount implements provider.Provider.
func (d *Driver) TagAccount(ctx context.Context, accountID string, tags map[string]string) error {
	in := &organizations.TagResourceInput{ResourceId: awssdk.String(accountID)}
	for k, v := range tags {
		in.Tags = append(in.Tags, orgtypes.Tag{Key: awssdk.String(k), Value: awssdk.String(v)})
	}
	_, err := d.org.TagResource(ctx, in)
	return classify("TagResource", err)
}

// CloseAccount implements provider.Provider.
func (d *Driver) CloseAccount(ctx context.Context, accountID string) error {
	_, err := d.org.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: awssdk.String(accountID)})
	var closed *orgtypes.AccountAlreadyClosedException
	if errors.As(err, &closed) {
		return nil
	}
	return classify("CloseAccount", err)
}
