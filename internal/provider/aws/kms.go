package aws

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// External key stores: AWS KMS keys whose material stays in hatoba's key
// service, reached through hatoba's XKS proxy.
//
// The store and its keys live in the connection's own account — the
// management account the driver's credentials belong to. Putting them into
// each member account (by assuming a role there) is future work; until
// then a member account uses its key through a key policy or grant.

var _ provider.ExternalKeys = (*Driver)(nil)

// connectWait bounds how long EnsureExternalKeyStore waits for AWS to
// connect a store; a public-endpoint store connects in seconds.
const connectWait = 2 * time.Minute

// transientConnectionErrors are connection error codes that may clear on
// their own; the others need someone to change the proxy, its credential
// or its certificate.
var transientConnectionErrors = map[kmstypes.ConnectionErrorCodeType]bool{
	kmstypes.ConnectionErrorCodeTypeXksProxyNotReachable: true,
	kmstypes.ConnectionErrorCodeTypeXksProxyTimedOut:     true,
	kmstypes.ConnectionErrorCodeTypeNetworkErrors:        true,
	kmstypes.ConnectionErrorCodeTypeInternalError:        true,
}

// classifyKMS is classify, except that an unreachable proxy is worth
// retrying: it is hatoba's own proxy, which may be restarting.
func classifyKMS(op string, err error) error {
	err = classify(op, err)
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Code == "XksProxyUriUnreachableException" {
		pe.Class = provider.Transient
	}
	return err
}

// EnsureExternalKeyStore implements provider.ExternalKeys. AWS cannot show
// a store's secret, so an existing store's credential and URI path are
// always written again — AWS takes those from a connected store, after
// proving them against the proxy. The endpoint AWS changes only on a
// DISCONNECTED store, so a store whose endpoint differs is disconnected,
// updated and connected again; one whose endpoint is right keeps serving.
// A FAILED store is disconnected first, because AWS will not connect a
// store in that state.
func (d *Driver) EnsureExternalKeyStore(ctx context.Context, spec provider.ExternalKeyStoreSpec) (provider.ExternalKeyStore, error) {
	if err := d.validProxyURL(spec.ProxyURL); err != nil {
		return provider.ExternalKeyStore{}, err
	}
	path := strings.TrimRight(spec.ProxyPath, "/") // AWS's pattern refuses the handler's trailing slash
	cred := &kmstypes.XksProxyAuthenticationCredentialType{AccessKeyId: awssdk.String(spec.AccessKeyID), RawSecretAccessKey: awssdk.String(spec.Secret)}
	store, err := d.findKeyStore(ctx, spec.Name)
	if err != nil {
		return provider.ExternalKeyStore{}, err
	}
	if store == nil {
		out, err := d.kms.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: awssdk.String(spec.Name),
			CustomKeyStoreType: kmstypes.CustomKeyStoreTypeExternalKeyStore, XksProxyConnectivity: kmstypes.XksProxyConnectivityTypePublicEndpoint,
			XksProxyUriEndpoint: awssdk.String(spec.ProxyURL), XksProxyUriPath: awssdk.String(path), XksProxyAuthenticationCredential: cred})
		var inUse *kmstypes.CustomKeyStoreNameInUseException
		switch {
		case errors.As(err, &inUse):
			// Created by a call whose answer we lost, or by a concurrent
			// one: carry on as with an existing store.
			if store, err = d.findKeyStore(ctx, spec.Name); err != nil {
				return provider.ExternalKeyStore{}, err
			}
		case err != nil:
			return provider.ExternalKeyStore{}, classifyKMS("CreateCustomKeyStore", err)
		default:
			store = &kmstypes.CustomKeyStoresListEntry{CustomKeyStoreId: out.CustomKeyStoreId, ConnectionState: kmstypes.ConnectionStateTypeDisconnected,
				XksProxyConfiguration: &kmstypes.XksProxyConfigurationType{UriEndpoint: awssdk.String(spec.ProxyURL)}}
			cred = nil // just written
		}
	}
	if store == nil {
		return provider.ExternalKeyStore{}, &provider.Error{Class: provider.Transient, Op: "DescribeCustomKeyStores",
			Err: fmt.Errorf("key store %s is in use but cannot be found", spec.Name)}
	}
	id := awssdk.ToString(store.CustomKeyStoreId)
	if cred != nil {
		var endpoint string
		if store.XksProxyConfiguration != nil {
			endpoint = awssdk.ToString(store.XksProxyConfiguration.UriEndpoint)
		}
		moved := endpoint != spec.ProxyURL
		if store.ConnectionState == kmstypes.ConnectionStateTypeFailed || (moved && store.ConnectionState != kmstypes.ConnectionStateTypeDisconnected) {
			if err := d.disconnect(ctx, id); err != nil {
				return provider.ExternalKeyStore{}, err
			}
		}
		in := &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: &id, XksProxyUriPath: awssdk.String(path), XksProxyAuthenticationCredential: cred}
		if moved {
			in.XksProxyUriEndpoint = awssdk.String(spec.ProxyURL)
		}
		if _, err := d.kms.UpdateCustomKeyStore(ctx, in); err != nil {
			return provider.ExternalKeyStore{}, classifyKMS("UpdateCustomKeyStore", err)
		}
	}
	if _, err := d.kms.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: &id}); err != nil {
		return provider.ExternalKeyStore{}, classifyKMS("ConnectCustomKeyStore", err)
	}
	return d.awaitConnected(ctx, id, spec.Name)
}

// validProxyURL refuses what AWS refuses in XksProxyUriEndpoint before any
// call: https, a host name, no path — and no port, because KMS calls the
// proxy on 443 (unless AllowXKSProxyPort, for the simulated cloud).
func (d *Driver) validProxyURL(raw string) error {
	u, err := url.Parse(raw)
	bad := func(why string) error {
		return &provider.Error{Class: provider.Permanent, Op: "EnsureExternalKeyStore", Code: "ValidationException",
			Err: fmt.Errorf("XKS proxy URL %q: %s", raw, why)}
	}
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return bad("must be https://host")
	case u.Path != "":
		return bad("must not carry a path (the path is the store's URI path)")
	case u.Port() != "" && !d.allowXKSPort:
		return bad("AWS KMS calls the proxy on port 443 and refuses an endpoint with a port; serve the proxy on 443 (keyd.xks_public_url)")
	}
	return nil
}

// disconnect disconnects the store and waits until it is DISCONNECTED; a
// store that already is counts as success.
func (d *Driver) disconnect(ctx context.Context, id string) error {
	_, err := d.kms.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: &id})
	var state *kmstypes.CustomKeyStoreInvalidStateException
	if err != nil && !errors.As(err, &state) { // already disconnected: what we wanted
		return classifyKMS("DisconnectCustomKeyStore", err)
	}
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		out, err := d.kms.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: &id})
		if err != nil {
			return classifyKMS("DescribeCustomKeyStores", err)
		}
		if len(out.CustomKeyStores) == 1 && out.CustomKeyStores[0].ConnectionState == kmstypes.ConnectionStateTypeDisconnected {
			return nil
		}
		if err := pause(ctx, wait); err != nil {
			return &provider.Error{Class: provider.Transient, Op: "DisconnectCustomKeyStore", Err: fmt.Errorf("key store %s not yet disconnected: %w", id, err)}
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// findKeyStore returns the store of this name, or nil.
func (d *Driver) findKeyStore(ctx context.Context, name string) (*kmstypes.CustomKeyStoresListEntry, error) {
	out, err := d.kms.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: awssdk.String(name)})
	var nf *kmstypes.CustomKeyStoreNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, classifyKMS("DescribeCustomKeyStores", err)
	}
	if len(out.CustomKeyStores) == 0 {
		return nil, nil
	}
	return &out.CustomKeyStores[0], nil
}

// awaitConnected polls the store until AWS has decided: ConnectCustomKeyStore
// only starts the connection.
func (d *Driver) awaitConnected(ctx context.Context, id, name string) (provider.ExternalKeyStore, error) {
	ctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	pause := 100 * time.Millisecond
	for {
		out, err := d.kms.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: &id})
		if err != nil {
			return provider.ExternalKeyStore{}, classifyKMS("DescribeCustomKeyStores", err)
		}
		if len(out.CustomKeyStores) != 1 {
			return provider.ExternalKeyStore{}, &provider.Error{Class: provider.Transient, Op: "DescribeCustomKeyStores",
				Err: fmt.Errorf("key store %s not listed", id)}
		}
		ks := out.CustomKeyStores[0]
		switch ks.ConnectionState {
		case kmstypes.ConnectionStateTypeConnected:
			return provider.ExternalKeyStore{ID: id, Name: name, State: string(ks.ConnectionState)}, nil
		case kmstypes.ConnectionStateTypeFailed:
			class := provider.Permanent
			if transientConnectionErrors[ks.ConnectionErrorCode] {
				class = provider.Transient
			}
			return provider.ExternalKeyStore{}, &provider.Error{Class: class, Op: "ConnectCustomKeyStore", Code: string(ks.ConnectionErrorCode),
				Err: fmt.Errorf("external key store %s (%s) failed to connect to its XKS proxy: %s", name, id, ks.ConnectionErrorCode)}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return provider.ExternalKeyStore{}, &provider.Error{Class: provider.Transient, Op: "ConnectCustomKeyStore",
				Err: fmt.Errorf("external key store %s still %s: %w", id, ks.ConnectionState, ctx.Err())}
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// CreateExternalKey implements provider.ExternalKeys: a symmetric
// encryption key whose material is the key service's key externalKeyID.
func (d *Driver) CreateExternalKey(ctx context.Context, storeID, externalKeyID, description string, tags map[string]string) (provider.ExternalKey, error) {
	in := &kms.CreateKeyInput{Origin: kmstypes.OriginTypeExternalKeyStore, CustomKeyStoreId: awssdk.String(storeID),
		XksKeyId: awssdk.String(externalKeyID), KeySpec: kmstypes.KeySpecSymmetricDefault, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt,
		Description: awssdk.String(description)}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.Tags = append(in.Tags, kmstypes.Tag{TagKey: awssdk.String(k), TagValue: awssdk.String(tags[k])})
	}
	out, err := d.kms.CreateKey(ctx, in)
	if err != nil {
		return provider.ExternalKey{}, classifyKMS("CreateKey", err)
	}
	md := out.KeyMetadata
	return provider.ExternalKey{ID: awssdk.ToString(md.KeyId), ARN: awssdk.ToString(md.Arn), ExternalKeyID: externalKeyID}, nil
}
