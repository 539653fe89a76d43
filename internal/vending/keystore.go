package vending

import (
	"context"
	"fmt"

	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// ExternalKeyResult is a cloud key of an environment backed by the
// tenant's key in hatoba's key service.
type ExternalKeyResult struct {
	Store provider.ExternalKeyStore `json:"store"`
	Key   provider.ExternalKey      `json:"key"`
}

// CreateExternalKey gives a ready environment a cloud key that lives in
// hatoba's key service (docs/keys.md): it makes sure the provider has the
// tenant's external key store, connected to hatoba's XKS proxy with spec's
// credential, and creates a key in it backed by externalKeyID. The caller
// has authorized the tenant's key owner and checked the key exists.
func (e *Engine) CreateExternalKey(ctx context.Context, actor, envID string, spec provider.ExternalKeyStoreSpec, externalKeyID string) (ExternalKeyResult, error) {
	en, err := e.envs.Get(ctx, e.db, envID)
	if err != nil {
		return ExternalKeyResult{}, err
	}
	if en.State != env.Ready || en.AccountID == "" {
		return ExternalKeyResult{}, fault.Conflictf("environment %s is %s; it needs its account (ready) first", en.ID, en.State)
	}
	cn, ok := e.conns[en.Provider]
	if !ok {
		return ExternalKeyResult{}, fault.Conflictf("environment %s is on provider %q, which this server has no connection to", en.ID, en.Provider)
	}
	xk, ok := cn.Provider.(provider.ExternalKeys)
	if !ok {
		return ExternalKeyResult{}, fault.Invalidf("provider %s cannot keep keys outside itself (no external key store support)", cn.Name)
	}
	store, err := xk.EnsureExternalKeyStore(ctx, spec)
	if err != nil {
		return ExternalKeyResult{}, fmt.Errorf("environment %s: external key store %s: %w", en.ID, spec.Name, err)
	}
	key, err := xk.CreateExternalKey(ctx, store.ID, externalKeyID, "hatoba: "+en.SystemName+" ("+en.ID+")",
		map[string]string{"hatoba:environment": en.ID, "hatoba:organization": en.OrgID, "hatoba:account": en.AccountID})
	if err != nil {
		return ExternalKeyResult{}, fmt.Errorf("environment %s: external key %s: %w", en.ID, externalKeyID, err)
	}
	if err := e.envs.AddEvent(ctx, e.db, en.ID, "external_key", actor,
		fmt.Sprintf("cloud key %s in external key store %s, backed by hatoba key %s", key.ARN, store.ID, externalKeyID)); err != nil {
		return ExternalKeyResult{}, err
	}
	return ExternalKeyResult{Store: store, Key: key}, nil
}
