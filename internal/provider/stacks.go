package provider

import (
	"context"
	"time"
)

// StackSpec is infrastructure code to deploy into an account as one stack
// (a CloudFormation stack on AWS).
type StackSpec struct {
	// Name is the stack's name, unique in the account and region.
	Name string
	// StackID is the stack's id (ARN) when it exists: the deployment
	// updates it. Empty creates the stack.
	StackID string
	// Template is the code (a CloudFormation template, YAML or JSON).
	Template string
	Tags     map[string]string
	// PermissionSet names the account's permission set whose authority the
	// deployment runs with (the environment's Administrator set): the
	// tenant's own authority, never the platform's.
	PermissionSet string
	// Token makes a retried request the same request (CloudFormation's
	// ClientRequestToken).
	Token string
}

// StackEvent is one step of a stack's deployment, as the provider
// reports it.
type StackEvent struct {
	At           time.Time `json:"at"`
	LogicalID    string    `json:"logical_id"`
	ResourceType string    `json:"resource_type"`
	Status       string    `json:"status"`
	Reason       string    `json:"reason,omitempty"`
	PhysicalID   string    `json:"physical_id,omitempty"`
}

// StackStatus is a stack as the provider reports it. Status is the
// provider's (CREATE_COMPLETE, UPDATE_IN_PROGRESS, ROLLBACK_COMPLETE …).
type StackStatus struct {
	ID     string
	Name   string
	Status string
	Reason string
}

// Stacks is the optional capability of a driver that deploys
// infrastructure code into an account. Find it with a type assertion; a
// driver without it cannot deploy baselines.
type Stacks interface {
	// DeployStack creates the stack, or updates it when spec names its id.
	// A stack that already runs exactly this template is success with its
	// status.
	DeployStack(ctx context.Context, accountID string, spec StackSpec) (StackStatus, error)
	// DescribeStack reports the stack by its id; found is false when there
	// is none.
	DescribeStack(ctx context.Context, accountID, stackID string) (st StackStatus, found bool, err error)
	// StackEvents lists the stack's events, newest first.
	StackEvents(ctx context.Context, accountID, stackID string) ([]StackEvent, error)
	// StackTemplate returns the template the stack runs now.
	StackTemplate(ctx context.Context, accountID, stackID string) (string, error)
}
