package provider

import "context"

// Resource is one resource as the provider reports it, normalised: Type is
// Terraform's resource type name (aws_s3_bucket), Config uses Terraform's
// attribute names and shapes (nested blocks as lists of objects), so that
// the controls read a provider's inventory and a Terraform plan alike.
type Resource struct {
	Type, ID, Region string
	Config           map[string]any
}

// Inventory is the optional capability of a driver that can list the
// resources in an account. Find it with a type assertion.
type Inventory interface {
	// ListResources returns every resource of a type the driver knows in
	// the account, in the provider's order; types it does not know are
	// left out.
	ListResources(ctx context.Context, accountID string) ([]Resource, error)
}
