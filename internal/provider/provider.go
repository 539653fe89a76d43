// Package provider defines the one interface every cloud driver implements and
// the error classes the vending workflow acts on.
//
// Terms are provider-neutral: an Account is an AWS account or an OpenStack
// project; a Unit is an AWS organisational unit or an OpenStack domain.
package provider

import (
	"context"
	"errors"
	"fmt"
)

// CreateState is the state of an asynchronous account creation.
type CreateState string

const (
	CreateInProgress CreateState = "IN_PROGRESS"
	CreateSucceeded  CreateState = "SUCCEEDED"
	CreateFailed     CreateState = "FAILED"
)

// AccountSpec describes an account to create. Email must be unique per
// provider: the vending workflow derives it from the environment id, which is
// what makes reconciliation after a crash possible.
type AccountSpec struct {
	Name  string
	Email string
}

// CreateStatus reports an account creation request.
type CreateStatus struct {
	RequestID     string
	State         CreateState
	AccountID     string // set once State is CreateSucceeded
	FailureReason string // provider's reason code once State is CreateFailed, e.g. EMAIL_ALREADY_EXISTS
	// Duplicate says the failure was for an account that exists or whose
	// creation is in flight (an e-mail already used, a concurrent request
	// with the same details): FindAccount reconciles it instead of failing.
	Duplicate bool
	// Retry says a new creation may succeed (the provider's own failure);
	// a failure without it or Duplicate needs an operator.
	Retry bool
	// FailureDetail says what the reason means and what to do about it,
	// for the environment's failure reason.
	FailureDetail string
}

// Found is the result of looking for an account created earlier, when hatoba
// does not know whether its own create call reached the provider.
type Found struct {
	AccountID string // non-empty when the account exists
	RequestID string // non-empty when a creation for it is still in progress
}

// Policy is a provider-native preventive policy document (an AWS SCP).
type Policy struct {
	Name        string
	Description string
	Document    string
}

// Access names the two groups of people that receive hatoba's two permission
// sets in one account: Administrator and Non-administrator.
type Access struct {
	AdminGroup  string
	MemberGroup string
}

// Person is someone hatoba puts into an account's groups: ID is hatoba's
// person id, which the provider keeps as the user's unique name, so the
// same person is found again whatever their display name becomes.
type Person struct {
	ID          string
	DisplayName string
	Email       string // may be empty
}

// Contact is a billing contact registered with the provider.
type Contact struct {
	Name  string
	Title string
	Email string
	Phone string
}

// Provider is a connection to one cloud. Every method except CreateAccount is
// idempotent: calling it again after success changes nothing and succeeds.
type Provider interface {
	// CreateAccount starts an asynchronous account creation and returns the
	// provider's request id. It is NOT idempotent: callers record their intent
	// before calling and use FindAccount to reconcile after a crash.
	CreateAccount(ctx context.Context, spec AccountSpec) (requestID string, err error)
	CreateAccountStatus(ctx context.Context, requestID string) (CreateStatus, error)
	// FindAccount looks for an account with this email, or a creation still in
	// progress for an account of this name. A zero Found means neither exists.
	FindAccount(ctx context.Context, spec AccountSpec) (Found, error)
	// EnsureUnit creates the unit path below the root where missing and
	// returns the id of the last element.
	EnsureUnit(ctx context.Context, path []string) (unitID string, err error)
	MoveAccount(ctx context.Context, accountID, unitID string) error
	AttachPolicies(ctx context.Context, accountID string, policies []Policy) error
	AssignAccess(ctx context.Context, accountID string, access Access) error
	// AddGroupMember puts a person into one of the groups AssignAccess
	// named, creating the provider's user for them on first use. A person
	// already in the group is success.
	AddGroupMember(ctx context.Context, group string, p Person) error
	// RemoveGroupMember takes a person out of a group. A person, group or
	// membership that does not exist is success: the person is not in it.
	RemoveGroupMember(ctx context.Context, group, personID string) error
	SetBillingContact(ctx context.Context, accountID string, contact Contact) error
	TagAccount(ctx context.Context, accountID string, tags map[string]string) error
	CloseAccount(ctx context.Context, accountID string) error
}

// Class says how the vending workflow reacts to a provider error.
type Class int

const (
	// Transient errors are retried with exponential backoff.
	Transient Class = iota
	// Throttling errors are retried after a longer, jittered pause and do
	// not count towards the step's attempt limit.
	Throttling
	// Permanent errors fail the environment with the provider's reason; an
	// operator may retry after fixing the cause.
	Permanent
	// Quota errors are a provider quota reached that frees up with time
	// (AWS's closures per rolling 30 days) or when the provider raises it:
	// nothing is wrong with the request, retrying soon is useless, and
	// the wait is shown to people as such. Where a workflow does not
	// handle the class it is retried like a transient error.
	Quota
)

func (c Class) String() string {
	switch c {
	case Throttling:
		return "throttling"
	case Permanent:
		return "permanent"
	case Quota:
		return "quota"
	default:
		return "transient"
	}
}

// Error is a classified provider error.
type Error struct {
	Class Class
	Op    string // provider operation, e.g. "CreateAccount"
	Code  string // provider error code, e.g. "TooManyRequestsException"
	Err   error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: %s (%s): %v", e.Op, e.Code, e.Class, e.Err)
	}
	return fmt.Sprintf("%s (%s): %v", e.Op, e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err. Errors no driver classified, such as a
// cancelled context or a refused connection, count as transient.
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return Transient
}

// PolicySetter is the optional capability of a driver that can bring an
// account's preventive policies to a wanted set after it was vended:
// attach what is missing and detach the policies hatoba manages (names
// starting with managedPrefix) that are no longer wanted. Policies not
// hatoba's are never touched. Find it with a type assertion.
type PolicySetter interface {
	SetPolicies(ctx context.Context, accountID, managedPrefix string, policies []Policy) error
}

// Capabilities is what a connection's driver can do, for the people who
// choose where to place an environment (GET /api/v1/providers).
type Capabilities struct {
	// Guardrails are the preventive forms the driver enforces
	// ("service_control_policy"; "endpoint_regions", "project_limits",
	// "allowed_roles").
	Guardrails []string `json:"guardrails"`
	// Inventory are the resource types (Terraform's names) the driver's
	// inventory reads, which the detective controls judge.
	Inventory []string `json:"inventory"`
	// ExternalKeys: the cloud's keys can be held in hatoba's key service.
	ExternalKeys bool `json:"external_keys"`
	// Transfer and Close: an account can move to another organisation's
	// unit, and be closed.
	Transfer bool `json:"transfer"`
	Close    bool `json:"close"`
}

// Describer is the optional capability of a driver that says what it can
// do beyond what the interfaces it implements show.
type Describer interface {
	Capabilities() Capabilities
}

// CapabilitiesOf is what p can do: its own description when it gives one,
// completed from the optional interfaces it implements. Every Provider
// moves accounts between units and closes them.
func CapabilitiesOf(p Provider) Capabilities {
	var c Capabilities
	if d, ok := p.(Describer); ok {
		c = d.Capabilities()
	}
	_, c.ExternalKeys = p.(ExternalKeys)
	c.Transfer, c.Close = true, true
	if _, ok := p.(PolicySetter); ok && len(c.Guardrails) == 0 {
		c.Guardrails = []string{"policy"}
	}
	if c.Guardrails == nil {
		c.Guardrails = []string{}
	}
	if _, ok := p.(Inventory); !ok || c.Inventory == nil {
		c.Inventory = []string{}
	}
	return c
}
