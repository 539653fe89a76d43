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
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// Config configures one AWS connection.
type Config struct {
	Name string // the connection's name in hatoba, for errors and logs
	// Region is the region of KMS (external key stores) and AWS Config
	// (the inventory's aggregator).
	Region string
	// IdentityCenterRegion is the home region of the Identity Center
	// instance, where sso-admin and Identity Store are called; empty
	// means Region. Organizations and the Account API are global: they
	// are called in the partition's global region (us-east-1).
	IdentityCenterRegion string
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
	// Administrator and NonAdministrator are what the two permission sets
	// grant; a zero value means DefaultAdministrator or
	// DefaultNonAdministrator.
	Administrator, NonAdministrator PermissionSetPolicy
	// AllowXKSProxyPort lets an external key store's proxy URL carry a
	// port. AWS refuses one (KMS calls port 443); only the simulated cloud,
	// whose proxy listens where it is configured, accepts it.
	AllowXKSProxyPort bool
	// RetryBase is the first pause of the driver's own short retries (a
	// throttled page, a conflict not yet propagated, a transient assignment
	// failure) and of its polls; zero means 200 ms.
	RetryBase time.Duration
	// OperationWait bounds how long the driver polls an asynchronous
	// Identity Center operation (an account assignment, a provisioning)
	// before the step is retried later; zero means 2 minutes.
	OperationWait time.Duration
}

// s3Base is S3's address on a simulated cloud: its S3 is served below
// "/s3" (path-style), beside the JSON protocols' "/". Without an endpoint
// the SDK finds AWS's own.
func s3Base(endpoint string) *string {
	if endpoint == "" {
		return nil
	}
	return awssdk.String(strings.TrimSuffix(endpoint, "/") + "/s3")
}

// GlobalRegion is the region in which a partition's global services
// (Organizations, the Account API) are called and signed for, given any
// region of that partition.
func GlobalRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "cn-northwest-1"
	case strings.HasPrefix(region, "us-gov-"):
		return "us-gov-west-1"
	default:
		return "us-east-1"
	}
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
	// s3 makes tenants' backup buckets (backup.go) in region.
	s3     *s3.Client
	region string
	cfn    *cloudformation.Client

	aggregator    string
	icRegion      string // Identity Center's home region, for errors
	log           *slog.Logger
	setPolicies   map[string]PermissionSetPolicy // permission set name → what it grants
	allowXKSPort  bool
	retryBase     time.Duration
	operationWait time.Duration

	mu              sync.Mutex // guards the lookups below, which never change once found
	instanceARN     string
	identityStoreID string
	rootID          string
	units           map[string]string // "a/b/c" → OU id
	policies        map[string]string // policy name → id
	permissionSets  map[string]string // name → ARN
	setNames        map[string]string // permission set ARN → name, so a rescan describes each set once
	setsReconciled  map[string]bool   // permission set ARN → its policies were brought to the configuration and provisioned
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
	icRegion := cmp.Or(cfg.IdentityCenterRegion, cfg.Region)
	global := GlobalRegion(cfg.Region)
	d := &Driver{
		name:            cfg.Name,
		org:             organizations.NewFromConfig(awsCfg, func(o *organizations.Options) { o.BaseEndpoint, o.Region = base, global }),
		sso:             ssoadmin.NewFromConfig(awsCfg, func(o *ssoadmin.Options) { o.BaseEndpoint, o.Region = base, icRegion }),
		ids:             identitystore.NewFromConfig(awsCfg, func(o *identitystore.Options) { o.BaseEndpoint, o.Region = base, icRegion }),
		accts:           account.NewFromConfig(awsCfg, func(o *account.Options) { o.BaseEndpoint, o.Region = base, global }),
		kms:             kms.NewFromConfig(awsCfg, func(o *kms.Options) { o.BaseEndpoint = base }),
		config:          configservice.NewFromConfig(awsCfg, func(o *configservice.Options) { o.BaseEndpoint = base }),
		s3:              s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = s3Base(cfg.Endpoint), cfg.Endpoint != "" }),
		region:          cfg.Region,
		cfn:             cloudformation.NewFromConfig(awsCfg, func(o *cloudformation.Options) { o.BaseEndpoint = base }),
		aggregator:      cmp.Or(cfg.ConfigAggregator, DefaultConfigAggregator),
		icRegion:        icRegion,
		log:             cmp.Or(cfg.Logger, slog.Default()),
		instanceARN:     cfg.InstanceARN,
		identityStoreID: cfg.IdentityStoreID,
		units:           map[string]string{},
		policies:        map[string]string{},
		permissionSets:  map[string]string{},
		setNames:        map[string]string{},
		setsReconciled:  map[string]bool{},
		allowXKSPort:    cfg.AllowXKSProxyPort,
		retryBase:       cmp.Or(cfg.RetryBase, 200*time.Millisecond),
		operationWait:   cmp.Or(cfg.OperationWait, 2*time.Minute),
		setPolicies: map[string]PermissionSetPolicy{
			AdministratorSet:    orDefault(cfg.Administrator, DefaultAdministrator),
			NonAdministratorSet: orDefault(cfg.NonAdministrator, DefaultNonAdministrator),
		},
	}
	for name, p := range d.setPolicies {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("aws driver: permission set %s: %w", name, err)
		}
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
		f, known := createFailures[st.FailureReason]
		if !known {
			// A reason newer than this driver: an operator reads it.
			f.detail = "AWS gave a reason this driver does not know"
		}
		cs.Duplicate, cs.Retry, cs.FailureDetail = f.duplicate, f.retry, f.detail
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
	// AWS may answer any page empty with a NextToken: read them all.
	roots := organizations.NewListRootsPaginator(d.org, &organizations.ListRootsInput{})
	for roots.HasMorePages() && id == "" {
		page, err := roots.NextPage(ctx)
		if err != nil {
			return "", classify("ListRoots", err)
		}
		if len(page.Roots) > 0 {
			id = awssdk.ToString(page.Roots[0].Id)
		}
	}
	if id == "" {
		return "", &provider.Error{Class: provider.Permanent, Op: "ListRoots", Err: errors.New("the organization has no root")}
	}
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
	return d.findOrCreate(ctx, "CreateOrganizationalUnit", find, func() (string, bool, error) {
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
	var source string
	parents := organizations.NewListParentsPaginator(d.org, &organizations.ListParentsInput{ChildId: awssdk.String(accountID)})
	for parents.HasMorePages() && source == "" {
		page, err := parents.NextPage(ctx)
		if err != nil {
			return classify("ListParents", err)
		}
		if len(page.Parents) > 0 {
			source = awssdk.ToString(page.Parents[0].Id)
		}
	}
	if source == "" {
		return &provider.Error{Class: provider.Permanent, Op: "ListParents", Err: fmt.Errorf("account %s has no parent", accountID)}
	}
	if source == unitID {
		return nil
	}
	_, err := d.org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: awssdk.String(accountID),
		SourceParentId: awssdk.String(source), DestinationParentId: awssdk.String(unitID)})
	var dup *orgtypes.DuplicateAccountException
	if errors.As(err, &dup) {
		return nil
	}
	return classify("MoveAccount", err)
}

// AttachPolicies implements provider.Provider.
//
// AWS allows five SCPs per account, FullAWSAccess (attached to every new
// account) included. Policies that would not fit are refused before any
// is attached, with the count, so a step never leaves half a set.
func (d *Driver) AttachPolicies(ctx context.Context, accountID string, policies []provider.Policy) error {
	attached, err := d.attachedPolicies(ctx, accountID)
	if err != nil {
		return err
	}
	ids := make([]string, len(policies))
	missing := 0
	for i, p := range policies {
		if ids[i], err = d.ensurePolicy(ctx, p); err != nil {
			return err
		}
		if !attached[ids[i]] {
			missing++
		}
	}
	if len(attached)+missing > maxSCPsPerTarget {
		return &provider.Error{Class: provider.Permanent, Op: "AttachPolicy", Code: "ConstraintViolationException:MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
			Err: fmt.Errorf("account %s has %d service control policies attached (FullAWSAccess included); %d more would exceed AWS's %d per account",
				accountID, len(attached), missing, maxSCPsPerTarget)}
	}
	for _, id := range ids {
		if attached[id] {
			continue
		}
		_, err = d.org.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: awssdk.String(id), TargetId: awssdk.String(accountID)})
		var dup *orgtypes.DuplicatePolicyAttachmentException
		if err != nil && !errors.As(err, &dup) {
			return classify("AttachPolicy", err)
		}
	}
	return nil
}

// maxSCPsPerTarget is how many SCPs AWS lets one account hold.
const maxSCPsPerTarget = 5

// attachedPolicies returns the ids of the SCPs attached to an account.
func (d *Driver) attachedPolicies(ctx context.Context, accountID string) (map[string]bool, error) {
	out := map[string]bool{}
	pages := organizations.NewListPoliciesForTargetPaginator(d.org, &organizations.ListPoliciesForTargetInput{
		TargetId: awssdk.String(accountID), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, classify("ListPoliciesForTarget", err)
		}
		for _, ps := range page.Policies {
			out[awssdk.ToString(ps.Id)] = true
		}
	}
	return out, nil
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
			var cv *orgtypes.ConstraintViolationException
			switch {
			case errors.As(err, &cv) && cv.Reason == orgtypes.ConstraintViolationExceptionReasonMinPolicyTypeAttachmentLimitExceeded:
				// The account's last SCP (someone detached FullAWSAccess):
				// attach the wanted set first, then detach this one.
				if err := d.AttachPolicies(ctx, accountID, policies); err != nil {
					return err
				}
				_, err = d.org.DetachPolicy(ctx, &organizations.DetachPolicyInput{PolicyId: ps.Id, TargetId: awssdk.String(accountID)})
				if err != nil && !errors.As(err, &gone) {
					return classify("DetachPolicy", err)
				}
			case err != nil && !errors.As(err, &gone):
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
		return d.findOrCreate(ctx, "CreatePolicy", find, func() (string, bool, error) {
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

// SetBillingContact implements provider.Provider.
func (d *Driver) SetBillingContact(ctx context.Context, accountID string, c provider.Contact) error {
	_, err := d.accts.PutAlternateContact(ctx, &account.PutAlternateContactInput{AccountId: awssdk.String(accountID),
		AlternateContactType: accounttypes.AlternateContactTypeBilling, Name: awssdk.String(c.Name), Title: awssdk.String(c.Title),
		EmailAddress: awssdk.String(c.Email), PhoneNumber: awssdk.String(c.Phone)})
	return classifyAccess("PutAlternateContact", err)
}

// TagAccount implements provider.Provider. Values AWS would refuse — a
// system named 住民記録（本番）, 税・料金 or A&B — are mapped to ones it
// accepts (tagValue), and the original goes, base64-encoded, into a second
// tag named after the first with ":base64" appended, so nothing is lost
// and the step cannot fail for a name after the account exists.
func (d *Driver) TagAccount(ctx context.Context, accountID string, tags map[string]string) error {
	in := &organizations.TagResourceInput{ResourceId: awssdk.String(accountID)}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := tags[k]
		mapped := TagValue(v)
		in.Tags = append(in.Tags, orgtypes.Tag{Key: awssdk.String(k), Value: awssdk.String(mapped)})
		if mapped == v {
			continue
		}
		enc := base64.StdEncoding.EncodeToString([]byte(v))
		if _, taken := tags[k+base64TagSuffix]; !taken && utf8.RuneCountInString(k+base64TagSuffix) <= maxTagKey && len(enc) <= maxTagValue {
			in.Tags = append(in.Tags, orgtypes.Tag{Key: awssdk.String(k + base64TagSuffix), Value: awssdk.String(enc)})
		}
	}
	_, err := d.org.TagResource(ctx, in)
	return classify("TagResource", err)
}

// CloseAccount implements provider.Provider.
//
// A closed account is PENDING_CLOSURE first and SUSPENDED later; either
// is done. AWS answers ConflictException while the account is being
// closed (an earlier call whose answer was lost), so a conflict is
// looked up before it counts as an error. The closure quota (10 % of the
// member accounts per rolling 30 days) is a provider.Quota error.
func (d *Driver) CloseAccount(ctx context.Context, accountID string) error {
	_, err := d.org.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: awssdk.String(accountID)})
	var closed *orgtypes.AccountAlreadyClosedException
	var conflict *orgtypes.ConflictException
	switch {
	case errors.As(err, &closed):
		return nil
	case errors.As(err, &conflict):
		out, derr := d.org.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: awssdk.String(accountID)})
		if derr != nil {
			return classify("DescribeAccount", derr)
		}
		if st := out.Account.Status; st == orgtypes.AccountStatusPendingClosure || st == orgtypes.AccountStatusSuspended {
			return nil
		}
	}
	return classify("CloseAccount", err)
}
