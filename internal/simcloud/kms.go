package simcloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// AWS KMS, awsJson1.1 with target prefix TrentService: external key stores
// and the keys in them, and nothing else. Every request about an external
// key really goes to the store's XKS proxy, signed with the store's
// credential, so hatoba's own proxy meets the calls AWS KMS would make.
//
// What is simplified: ConnectCustomKeyStore decides at once (AWS answers
// first and connects in the background, so callers poll either way);
// CreateCustomKeyStore does not call the proxy; only PUBLIC_ENDPOINT
// connectivity exists; keys of the AWS_KMS origin are
// refused; and the data is encrypted once, by the proxy, where AWS first
// encrypts it under a key of its own as well.
var kmsOps = map[string]operation{
	"CreateCustomKeyStore":     kmsCreateCustomKeyStore,
	"DescribeCustomKeyStores":  kmsDescribeCustomKeyStores,
	"UpdateCustomKeyStore":     kmsUpdateCustomKeyStore,
	"ConnectCustomKeyStore":    kmsConnectCustomKeyStore,
	"DisconnectCustomKeyStore": kmsDisconnectCustomKeyStore,
	"CreateKey":                kmsCreateKey,
	"DescribeKey":              kmsDescribeKey,
	"Encrypt":                  kmsEncrypt,
	"Decrypt":                  kmsDecrypt,
	"GenerateDataKey":          kmsGenerateDataKey,
}

// xksTimeout is what AWS KMS gives each request to an external key store
// proxy.
const xksTimeout = 250 * time.Millisecond

// The KMS API reference's constraints.
var (
	reXksEndpoint = regexp.MustCompile(`^https://[a-zA-Z0-9.-]+$`) // AWS: no port, KMS calls 443
	// reXksEndpointPort is reXksEndpoint with a port, for
	// Config.AllowXKSProxyPort.
	reXksEndpointPort = regexp.MustCompile(`^https://[a-zA-Z0-9.-]+(:[0-9]{1,5})?$`)
	reXksPath         = regexp.MustCompile(`^(/[a-zA-Z0-9/_-]+/kms/xks/v\d{1,2})$|^(/kms/xks/v\d{1,2})$`)
	reXksAccessKey    = regexp.MustCompile(`^[A-Z2-7]+$`)
	reXksSecret       = regexp.MustCompile(`^[a-zA-Z0-9/+=]+$`)
	reXksKeyID        = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

// Connection states and the KMS key states they imply.
const (
	ksConnected    = "CONNECTED"
	ksDisconnected = "DISCONNECTED"
	ksFailed       = "FAILED"
)

func kmsInvalid(_, _, msg string) error {
	return &apiError{Status: 400, Code: "ValidationException", Message: msg}
}

func kmsErr(code, msg string) error { return &apiError{Status: 400, Code: code, Message: msg} }

type xksCredential struct {
	AccessKeyId        *string `json:"AccessKeyId"`
	RawSecretAccessKey *string `json:"RawSecretAccessKey"`
}

// keyStore is one row of kms_key_stores. The secret is kept in clear: this
// is a simulated cloud, and it must sign with it.
type keyStore struct {
	id, name, connectivity, endpoint, path, accessKeyID, secret, state, errorCode string
	created                                                                       int64
}

func loadKeyStore(ctx context.Context, tx *sql.Tx, column, value string) (keyStore, error) {
	var ks keyStore
	err := tx.QueryRowContext(ctx, `SELECT id, name, connectivity, uri_endpoint, uri_path, access_key_id, secret, state, error_code, created_at
		FROM kms_key_stores WHERE `+column+` = ?`, value).
		Scan(&ks.id, &ks.name, &ks.connectivity, &ks.endpoint, &ks.path, &ks.accessKeyID, &ks.secret, &ks.state, &ks.errorCode, &ks.created)
	if errors.Is(err, sql.ErrNoRows) {
		return ks, kmsErr("CustomKeyStoreNotFoundException", "no custom key store with "+column+" "+value)
	}
	return ks, err
}

func (ks keyStore) entry() map[string]any {
	e := map[string]any{
		"CustomKeyStoreId": ks.id, "CustomKeyStoreName": ks.name, "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
		"ConnectionState": ks.state, "CreationDate": epoch(ks.created),
		"XksProxyConfiguration": map[string]string{"AccessKeyId": ks.accessKeyID, "Connectivity": ks.connectivity,
			"UriEndpoint": ks.endpoint, "UriPath": ks.path},
	}
	if ks.state == ksFailed {
		e["ConnectionErrorCode"] = ks.errorCode
	}
	return e
}

func (v *validator) xksProxy(endpoint, path *string, cred *xksCredential, connectivity *string, allowPort bool) {
	if endpoint != nil {
		v.length("XksProxyUriEndpoint", endpoint, 10, 128)
		if allowPort {
			v.pattern("XksProxyUriEndpoint", endpoint, reXksEndpointPort)
		} else if v.err == nil && !reXksEndpoint.MatchString(*endpoint) {
			v.err = kmsInvalid("", "", fmt.Sprintf("XksProxyUriEndpoint %q must be https:// and a host name without a port or path: AWS KMS calls the proxy on port 443", *endpoint))
		}
	}
	if path != nil {
		v.length("XksProxyUriPath", path, 10, 128)
		v.pattern("XksProxyUriPath", path, reXksPath)
	}
	if cred != nil {
		if v.required("XksProxyAuthenticationCredential.AccessKeyId", cred.AccessKeyId) {
			v.length("XksProxyAuthenticationCredential.AccessKeyId", cred.AccessKeyId, 20, 30)
			v.pattern("XksProxyAuthenticationCredential.AccessKeyId", cred.AccessKeyId, reXksAccessKey)
		}
		if v.required("XksProxyAuthenticationCredential.RawSecretAccessKey", cred.RawSecretAccessKey) {
			v.length("XksProxyAuthenticationCredential.RawSecretAccessKey", cred.RawSecretAccessKey, 43, 64)
			// The secret is never echoed, not even in an error.
			if v.err == nil && !reXksSecret.MatchString(*cred.RawSecretAccessKey) {
				v.err = kmsInvalid("", "", "XksProxyAuthenticationCredential.RawSecretAccessKey has characters outside [a-zA-Z0-9/+=]")
			}
		}
	}
	v.oneOf("XksProxyConnectivity", connectivity, "PUBLIC_ENDPOINT", "VPC_ENDPOINT_SERVICE")
	if v.err == nil && connectivity != nil && *connectivity == "VPC_ENDPOINT_SERVICE" {
		v.err = &apiError{Status: 400, Code: "UnsupportedOperationException", Message: "the simulated cloud has no VPC endpoint services; use PUBLIC_ENDPOINT"}
	}
}

// uriInUse answers XksProxyUriInUseException when another store of the
// region already uses this proxy address: AWS requires each external key
// store to have its own endpoint and path.
func uriInUse(ctx context.Context, tx *sql.Tx, endpoint, path, except string) error {
	taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM kms_key_stores WHERE uri_endpoint = ? AND uri_path = ? AND id != ?`, endpoint, path, except)
	if err != nil || !taken {
		return err
	}
	return kmsErr("XksProxyUriInUseException", "another external key store already uses "+endpoint+path)
}

func kmsCreateCustomKeyStore(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		CustomKeyStoreName               *string        `json:"CustomKeyStoreName"`
		CustomKeyStoreType               *string        `json:"CustomKeyStoreType"`
		CloudHsmClusterId                *string        `json:"CloudHsmClusterId"`
		TrustAnchorCertificate           *string        `json:"TrustAnchorCertificate"`
		KeyStorePassword                 *string        `json:"KeyStorePassword"`
		XksProxyUriEndpoint              *string        `json:"XksProxyUriEndpoint"`
		XksProxyUriPath                  *string        `json:"XksProxyUriPath"`
		XksProxyVpcEndpointServiceName   *string        `json:"XksProxyVpcEndpointServiceName"`
		XksProxyVpcEndpointServiceOwner  *string        `json:"XksProxyVpcEndpointServiceOwner"`
		XksProxyAuthenticationCredential *xksCredential `json:"XksProxyAuthenticationCredential"`
		XksProxyConnectivity             *string        `json:"XksProxyConnectivity"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: kmsInvalid}
	if v.required("CustomKeyStoreName", req.CustomKeyStoreName) {
		v.length("CustomKeyStoreName", req.CustomKeyStoreName, 1, 256)
	}
	v.oneOf("CustomKeyStoreType", req.CustomKeyStoreType, "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
	if v.err == nil && (req.CustomKeyStoreType == nil || *req.CustomKeyStoreType == "AWS_CLOUDHSM") {
		// AWS_CLOUDHSM is the default type when none is given.
		return nil, &apiError{Status: 400, Code: "UnsupportedOperationException", Message: "the simulated cloud has no CloudHSM; CustomKeyStoreType must be EXTERNAL_KEY_STORE"}
	}
	v.required("XksProxyUriEndpoint", req.XksProxyUriEndpoint)
	v.required("XksProxyUriPath", req.XksProxyUriPath)
	v.required("XksProxyConnectivity", req.XksProxyConnectivity)
	if v.err == nil && req.XksProxyAuthenticationCredential == nil {
		v.err = kmsInvalid("", "", "XksProxyAuthenticationCredential is required")
	}
	v.xksProxy(req.XksProxyUriEndpoint, req.XksProxyUriPath, req.XksProxyAuthenticationCredential, req.XksProxyConnectivity, s.cfg.AllowXKSProxyPort)
	if v.err == nil && (req.CloudHsmClusterId != nil || req.TrustAnchorCertificate != nil || req.KeyStorePassword != nil) {
		v.err = kmsInvalid("", "", "CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are for AWS_CLOUDHSM key stores")
	}
	if v.err != nil {
		return nil, v.err
	}
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM kms_key_stores WHERE name = ?`, *req.CustomKeyStoreName); err != nil || taken {
		return nil, firstErr(err, kmsErr("CustomKeyStoreNameInUseException", "a custom key store named "+*req.CustomKeyStoreName+" already exists"))
	}
	if err := uriInUse(ctx, tx, *req.XksProxyUriEndpoint, *req.XksProxyUriPath, ""); err != nil {
		return nil, err
	}
	id := "cks-" + randomID(hexDigits, 17)
	cred := req.XksProxyAuthenticationCredential
	if _, err := tx.ExecContext(ctx, `INSERT INTO kms_key_stores (id, name, connectivity, uri_endpoint, uri_path, access_key_id, secret, state, error_code, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?)`, id, *req.CustomKeyStoreName, *req.XksProxyConnectivity, *req.XksProxyUriEndpoint, *req.XksProxyUriPath,
		*cred.AccessKeyId, *cred.RawSecretAccessKey, ksDisconnected, s.cfg.Now().UnixNano()); err != nil {
		return nil, err
	}
	return map[string]string{"CustomKeyStoreId": id}, nil
}

func kmsDescribeCustomKeyStores(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		CustomKeyStoreId   *string `json:"CustomKeyStoreId"`
		CustomKeyStoreName *string `json:"CustomKeyStoreName"`
		Limit              *int    `json:"Limit"`
		Marker             *string `json:"Marker"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if req.CustomKeyStoreId != nil && req.CustomKeyStoreName != nil {
		return nil, kmsInvalid("", "", "give CustomKeyStoreId or CustomKeyStoreName, not both")
	}
	if req.CustomKeyStoreId != nil || req.CustomKeyStoreName != nil {
		column, value := "id", deref(req.CustomKeyStoreId)
		if req.CustomKeyStoreName != nil {
			column, value = "name", *req.CustomKeyStoreName
		}
		ks, err := loadKeyStore(ctx, tx, column, value)
		if err != nil {
			return nil, err
		}
		return map[string]any{"CustomKeyStores": []any{ks.entry()}, "Truncated": false}, nil
	}
	p, err := parsePage(req.Marker, req.Limit, 100, 1000, func(m string) error { return kmsErr("InvalidMarkerException", m) })
	if err != nil {
		return nil, err
	}
	ids, err := queryAll(ctx, tx, scanString, `SELECT id FROM kms_key_stores ORDER BY created_at, id LIMIT ? OFFSET ?`, p.limit+1, p.offset)
	if err != nil {
		return nil, err
	}
	ids, next := trimPage(p, ids)
	entries := []any{}
	for _, id := range ids {
		ks, err := loadKeyStore(ctx, tx, "id", id)
		if err != nil {
			return nil, err
		}
		entries = append(entries, ks.entry())
	}
	out := map[string]any{"CustomKeyStores": entries, "Truncated": next != nil}
	if next != nil {
		out["NextMarker"] = *next
	}
	return out, nil
}

func kmsUpdateCustomKeyStore(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		CustomKeyStoreId                 *string        `json:"CustomKeyStoreId"`
		NewCustomKeyStoreName            *string        `json:"NewCustomKeyStoreName"`
		CloudHsmClusterId                *string        `json:"CloudHsmClusterId"`
		KeyStorePassword                 *string        `json:"KeyStorePassword"`
		XksProxyUriEndpoint              *string        `json:"XksProxyUriEndpoint"`
		XksProxyUriPath                  *string        `json:"XksProxyUriPath"`
		XksProxyVpcEndpointServiceName   *string        `json:"XksProxyVpcEndpointServiceName"`
		XksProxyVpcEndpointServiceOwner  *string        `json:"XksProxyVpcEndpointServiceOwner"`
		XksProxyAuthenticationCredential *xksCredential `json:"XksProxyAuthenticationCredential"`
		XksProxyConnectivity             *string        `json:"XksProxyConnectivity"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: kmsInvalid}
	v.required("CustomKeyStoreId", req.CustomKeyStoreId)
	v.length("NewCustomKeyStoreName", req.NewCustomKeyStoreName, 1, 256)
	v.xksProxy(req.XksProxyUriEndpoint, req.XksProxyUriPath, req.XksProxyAuthenticationCredential, req.XksProxyConnectivity, s.cfg.AllowXKSProxyPort)
	if v.err == nil && (req.CloudHsmClusterId != nil || req.KeyStorePassword != nil) {
		v.err = kmsInvalid("", "", "CloudHsmClusterId and KeyStorePassword are for AWS_CLOUDHSM key stores")
	}
	if v.err != nil {
		return nil, v.err
	}
	ks, err := loadKeyStore(ctx, tx, "id", *req.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	old := ks
	if req.NewCustomKeyStoreName != nil && *req.NewCustomKeyStoreName != ks.name {
		if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM kms_key_stores WHERE name = ?`, *req.NewCustomKeyStoreName); err != nil || taken {
			return nil, firstErr(err, kmsErr("CustomKeyStoreNameInUseException", "a custom key store named "+*req.NewCustomKeyStoreName+" already exists"))
		}
		ks.name = *req.NewCustomKeyStoreName
	}
	if req.XksProxyConnectivity != nil && *req.XksProxyConnectivity != ks.connectivity && ks.state != ksDisconnected {
		return nil, kmsErr("CustomKeyStoreInvalidStateException", "disconnect the key store before changing XksProxyConnectivity")
	}
	// AWS: only the name, the URI path and the credential may change while
	// the store is not DISCONNECTED.
	if req.XksProxyUriEndpoint != nil && *req.XksProxyUriEndpoint != ks.endpoint && ks.state != ksDisconnected {
		return nil, kmsErr("CustomKeyStoreInvalidStateException",
			fmt.Sprintf("the key store is %s: disconnect it before changing XksProxyUriEndpoint", ks.state))
	}
	if req.XksProxyUriEndpoint != nil {
		ks.endpoint = *req.XksProxyUriEndpoint
	}
	if req.XksProxyUriPath != nil {
		ks.path = *req.XksProxyUriPath
	}
	if c := req.XksProxyAuthenticationCredential; c != nil {
		ks.accessKeyID, ks.secret = *c.AccessKeyId, *c.RawSecretAccessKey
	}
	if err := uriInUse(ctx, tx, ks.endpoint, ks.path, ks.id); err != nil {
		return nil, err
	}
	// A connected store keeps serving, so AWS proves new proxy settings
	// before it takes them.
	if ks.state == ksConnected && (ks.endpoint != old.endpoint || ks.path != old.path || ks.accessKeyID != old.accessKeyID || ks.secret != old.secret) {
		if pe := s.xksHealth(ctx, ks, "UpdateCustomKeyStore"); pe != nil {
			return nil, managementError(pe)
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE kms_key_stores SET name = ?, uri_endpoint = ?, uri_path = ?, access_key_id = ?, secret = ? WHERE id = ?`,
		ks.name, ks.endpoint, ks.path, ks.accessKeyID, ks.secret, ks.id)
	return struct{}{}, err
}

func kmsStoreID(in []byte) (string, error) {
	var req struct {
		CustomKeyStoreId *string `json:"CustomKeyStoreId"`
	}
	if err := decode(in, &req); err != nil {
		return "", err
	}
	v := validator{invalid: kmsInvalid}
	if v.required("CustomKeyStoreId", req.CustomKeyStoreId) {
		v.length("CustomKeyStoreId", req.CustomKeyStoreId, 1, 64)
	}
	return deref(req.CustomKeyStoreId), v.err
}

// kmsConnectCustomKeyStore asks the proxy's GetHealthStatus, signed with
// the store's credential, and records CONNECTED or FAILED with AWS's
// connection error code. Like AWS, it succeeds even when the connection
// fails: the caller reads the outcome from DescribeCustomKeyStores.
func kmsConnectCustomKeyStore(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	id, err := kmsStoreID(in)
	if err != nil {
		return nil, err
	}
	ks, err := loadKeyStore(ctx, tx, "id", id)
	if err != nil {
		return nil, err
	}
	switch ks.state {
	case ksConnected:
		return struct{}{}, nil
	case ksFailed:
		return nil, kmsErr("CustomKeyStoreInvalidStateException", "the key store's connection FAILED; disconnect it before connecting again")
	}
	state, code := ksConnected, ""
	if pe := s.xksHealth(ctx, ks, "ConnectCustomKeyStore"); pe != nil {
		state, code = ksFailed, connectionErrorCode(pe)
		s.log.Debug("xks connection failed", "store", ks.id, "code", code, "cause", pe.Error())
	}
	_, err = tx.ExecContext(ctx, `UPDATE kms_key_stores SET state = ?, error_code = ? WHERE id = ?`, state, code, ks.id)
	return struct{}{}, err
}

func kmsDisconnectCustomKeyStore(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	id, err := kmsStoreID(in)
	if err != nil {
		return nil, err
	}
	ks, err := loadKeyStore(ctx, tx, "id", id)
	if err != nil {
		return nil, err
	}
	if ks.state == ksDisconnected {
		return nil, kmsErr("CustomKeyStoreInvalidStateException", "the key store is already DISCONNECTED")
	}
	_, err = tx.ExecContext(ctx, `UPDATE kms_key_stores SET state = ?, error_code = '' WHERE id = ?`, ksDisconnected, ks.id)
	return struct{}{}, err
}

// kmsKey is one row of kms_keys: a KMS key of an external key store.
type kmsKey struct {
	id, storeID, xksKeyID, description string
	created                            int64
}

func (s *Server) keyARN(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.cfg.Region, s.managementAccount(), id)
}

// callerARN is the principal KMS reports to the proxy: the simulated cloud
// has one credential, the management account's.
func (s *Server) callerARN() string { return "arn:aws:iam::" + s.managementAccount() + ":root" }

// loadKey finds a key by id or key ARN. Aliases do not exist here.
func (s *Server) loadKey(ctx context.Context, tx *sql.Tx, keyID string) (kmsKey, error) {
	id := keyID
	if strings.HasPrefix(keyID, "arn:") {
		prefix := s.keyARN("")
		if !strings.HasPrefix(keyID, prefix) {
			return kmsKey{}, kmsErr("NotFoundException", "no key "+keyID+" in this account and region")
		}
		id = strings.TrimPrefix(keyID, prefix)
	}
	var k kmsKey
	err := tx.QueryRowContext(ctx, `SELECT id, store_id, xks_key_id, description, created_at FROM kms_keys WHERE id = ?`, id).
		Scan(&k.id, &k.storeID, &k.xksKeyID, &k.description, &k.created)
	if errors.Is(err, sql.ErrNoRows) {
		return k, kmsErr("NotFoundException", "no key "+keyID)
	}
	return k, err
}

func (s *Server) keyMetadata(k kmsKey, ks keyStore) map[string]any {
	state := "Enabled"
	if ks.state != ksConnected {
		state = "Unavailable" // the keys of a store that is not connected cannot be used
	}
	return map[string]any{
		"AWSAccountId": s.managementAccount(), "KeyId": k.id, "Arn": s.keyARN(k.id), "CreationDate": epoch(k.created),
		"Enabled": true, "Description": k.description, "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": state,
		"Origin": "EXTERNAL_KEY_STORE", "CustomKeyStoreId": ks.id, "KeyManager": "CUSTOMER",
		"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
		"EncryptionAlgorithms": []string{"SYMMETRIC_DEFAULT"}, "MultiRegion": false,
		"XksKeyConfiguration": map[string]string{"Id": k.xksKeyID},
	}
}

type kmsTag struct {
	TagKey   *string `json:"TagKey"`
	TagValue *string `json:"TagValue"`
}

func kmsCreateKey(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		Policy                         *string  `json:"Policy"`
		Description                    *string  `json:"Description"`
		KeyUsage                       *string  `json:"KeyUsage"`
		CustomerMasterKeySpec          *string  `json:"CustomerMasterKeySpec"`
		KeySpec                        *string  `json:"KeySpec"`
		Origin                         *string  `json:"Origin"`
		CustomKeyStoreId               *string  `json:"CustomKeyStoreId"`
		BypassPolicyLockoutSafetyCheck *bool    `json:"BypassPolicyLockoutSafetyCheck"`
		Tags                           []kmsTag `json:"Tags"`
		MultiRegion                    *bool    `json:"MultiRegion"`
		XksKeyId                       *string  `json:"XksKeyId"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: kmsInvalid}
	v.length("Description", req.Description, 0, 8192)
	v.length("Policy", req.Policy, 1, 32768)
	v.oneOf("Origin", req.Origin, "AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
	if v.err != nil {
		return nil, v.err
	}
	if req.Origin == nil || *req.Origin != "EXTERNAL_KEY_STORE" {
		return nil, &apiError{Status: 400, Code: "UnsupportedOperationException", Message: "the simulated cloud only creates keys with Origin EXTERNAL_KEY_STORE"}
	}
	v.oneOf("KeySpec", req.KeySpec, "SYMMETRIC_DEFAULT")
	v.oneOf("CustomerMasterKeySpec", req.CustomerMasterKeySpec, "SYMMETRIC_DEFAULT")
	v.oneOf("KeyUsage", req.KeyUsage, "ENCRYPT_DECRYPT")
	if v.required("CustomKeyStoreId", req.CustomKeyStoreId) {
		v.length("CustomKeyStoreId", req.CustomKeyStoreId, 1, 64)
	}
	if v.required("XksKeyId", req.XksKeyId) {
		v.length("XksKeyId", req.XksKeyId, 1, 128)
		v.pattern("XksKeyId", req.XksKeyId, reXksKeyID)
	}
	if v.err == nil && req.MultiRegion != nil && *req.MultiRegion {
		v.err = &apiError{Status: 400, Code: "UnsupportedOperationException", Message: "keys in a custom key store cannot be multi-Region"}
	}
	if v.err != nil {
		return nil, v.err
	}
	if len(req.Tags) > 50 {
		return nil, kmsErr("TagException", "a key may carry at most 50 tags")
	}
	for _, t := range req.Tags {
		if t.TagKey == nil || len(*t.TagKey) < 1 || len(*t.TagKey) > 128 || t.TagValue == nil || len(*t.TagValue) > 256 ||
			strings.HasPrefix(strings.ToLower(*t.TagKey), "aws:") {
			return nil, kmsErr("TagException", "tag keys are 1-128 characters not starting with aws:, values 0-256 characters")
		}
	}
	ks, err := loadKeyStore(ctx, tx, "id", *req.CustomKeyStoreId)
	if err != nil {
		return nil, err
	}
	if ks.state != ksConnected {
		return nil, kmsErr("CustomKeyStoreInvalidStateException", "key store "+ks.id+" is "+ks.state+"; connect it first")
	}
	if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM kms_keys WHERE store_id = ? AND xks_key_id = ?`, ks.id, *req.XksKeyId); err != nil || taken {
		return nil, firstErr(err, kmsErr("XksKeyAlreadyInUseException", "external key "+*req.XksKeyId+" already backs a KMS key of this store"))
	}
	var md struct {
		KeySpec   string   `json:"keySpec"`
		KeyUsage  []string `json:"keyUsage"`
		KeyStatus string   `json:"keyStatus"`
	}
	body := map[string]any{"requestMetadata": map[string]string{
		"awsPrincipalArn": s.callerARN(), "kmsOperation": "CreateKey", "kmsRequestId": uuid()}}
	if pe := s.xksCall(ctx, ks, "keys/"+*req.XksKeyId+"/metadata", body, &md); pe != nil {
		return nil, managementError(pe)
	}
	if md.KeySpec != "AES_256" || !contains(md.KeyUsage, xks.UsageEncrypt) || !contains(md.KeyUsage, xks.UsageDecrypt) || md.KeyStatus != "ENABLED" {
		return nil, kmsErr("XksKeyInvalidConfigurationException", fmt.Sprintf(
			"external key %s is %s %s with usage %v; it must be an enabled AES_256 key for ENCRYPT and DECRYPT", *req.XksKeyId, md.KeyStatus, md.KeySpec, md.KeyUsage))
	}
	k := kmsKey{id: uuid(), storeID: ks.id, xksKeyID: *req.XksKeyId, description: deref(req.Description), created: s.cfg.Now().UnixNano()}
	if _, err := tx.ExecContext(ctx, `INSERT INTO kms_keys (id, store_id, xks_key_id, description, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.id, k.storeID, k.xksKeyID, k.description, k.created); err != nil {
		return nil, err
	}
	for _, t := range req.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (resource_id, key, value) VALUES (?, ?, ?) ON CONFLICT (resource_id, key) DO UPDATE SET value = excluded.value`,
			k.id, *t.TagKey, *t.TagValue); err != nil {
			return nil, err
		}
	}
	return map[string]any{"KeyMetadata": s.keyMetadata(k, ks)}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func kmsDescribeKey(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		KeyId       *string  `json:"KeyId"`
		GrantTokens []string `json:"GrantTokens"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: kmsInvalid}
	if v.required("KeyId", req.KeyId) {
		v.length("KeyId", req.KeyId, 1, 2048)
	}
	if v.err != nil {
		return nil, v.err
	}
	k, err := s.loadKey(ctx, tx, *req.KeyId)
	if err != nil {
		return nil, err
	}
	ks, err := loadKeyStore(ctx, tx, "id", k.storeID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": s.keyMetadata(k, ks)}, nil
}

// usableKey finds a key for a cryptographic operation: its store must be
// connected.
func (s *Server) usableKey(ctx context.Context, tx *sql.Tx, keyID *string) (kmsKey, keyStore, error) {
	v := validator{invalid: kmsInvalid}
	if v.required("KeyId", keyID) {
		v.length("KeyId", keyID, 1, 2048)
	}
	if v.err != nil {
		return kmsKey{}, keyStore{}, v.err
	}
	k, err := s.loadKey(ctx, tx, *keyID)
	if err != nil {
		return k, keyStore{}, err
	}
	ks, err := loadKeyStore(ctx, tx, "id", k.storeID)
	if err != nil {
		return k, ks, err
	}
	if ks.state != ksConnected {
		return k, ks, kmsErr("KMSInvalidStateException", fmt.Sprintf("%s is unavailable: its custom key store %s is %s", s.keyARN(k.id), ks.id, ks.state))
	}
	return k, ks, nil
}

// contextAAD is the AAD simcloud gives the proxy for an encryption
// context: SHA-256 of its JSON encoding, which sorts the keys, so equal
// contexts give equal AAD whatever order they came in. No context, no AAD.
func contextAAD(ec map[string]string) []byte {
	if len(ec) == 0 {
		return nil
	}
	b, _ := json.Marshal(ec) // a map of strings always encodes
	sum := sha256.Sum256(b)
	return sum[:]
}

func validContext(ec map[string]string) error {
	n := 0
	for k, v := range ec {
		n += len(k) + len(v)
	}
	if n > 8192 {
		return kmsInvalid("", "", "EncryptionContext is longer than 8,192 bytes")
	}
	return nil
}

// The CiphertextBlob is simcloud's own opaque format (AWS's is
// undocumented too):
//
//	"hsc1" | u8 len | KMS key id | u8 len | iv | u8 len | authenticationTag |
//	u8 len | ciphertextMetadata | ciphertext (the rest)
//
// with the XKS proxy's output as the proxy returned it.
const blobMagic = "hsc1"

func encodeBlob(keyID string, s xks.Sealed) []byte {
	out := []byte(blobMagic)
	for _, f := range [][]byte{[]byte(keyID), s.IV, s.Tag, s.Metadata} {
		out = append(out, byte(len(f)))
		out = append(out, f...)
	}
	return append(out, s.Ciphertext...)
}

func decodeBlob(b []byte) (string, xks.Sealed, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(blobMagic))
	if !ok {
		return "", xks.Sealed{}, false
	}
	var fields [4][]byte
	for i := range fields {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return "", xks.Sealed{}, false
		}
		fields[i], rest = rest[1:1+int(rest[0])], rest[1+int(rest[0]):]
	}
	if len(rest) == 0 {
		return "", xks.Sealed{}, false
	}
	return string(fields[0]), xks.Sealed{IV: fields[1], Tag: fields[2], Metadata: fields[3], Ciphertext: rest}, true
}

// xksEncrypt seals plaintext with the key's external key through the
// proxy and returns the CiphertextBlob.
func (s *Server) xksEncrypt(ctx context.Context, k kmsKey, ks keyStore, op string, plaintext []byte, ec map[string]string) ([]byte, error) {
	body := map[string]any{
		"requestMetadata": map[string]string{"awsPrincipalArn": s.callerARN(), "kmsKeyArn": s.keyARN(k.id),
			"kmsOperation": op, "kmsRequestId": uuid()},
		"plaintext": plaintext, "encryptionAlgorithm": "AES_GCM", // []byte encodes as standard Base64
	}
	if aad := contextAAD(ec); aad != nil {
		body["additionalAuthenticatedData"] = aad
	}
	var out struct {
		Ciphertext []byte `json:"ciphertext"`
		Metadata   []byte `json:"ciphertextMetadata"`
		IV         []byte `json:"initializationVector"`
		Tag        []byte `json:"authenticationTag"`
	}
	if pe := s.xksCall(ctx, ks, "keys/"+k.xksKeyID+"/encrypt", body, &out); pe != nil {
		return nil, cryptoError(pe)
	}
	if len(out.Ciphertext) != len(plaintext) || len(out.IV) == 0 || len(out.IV) > 255 || len(out.Tag) != 16 || len(out.Metadata) > xks.MaxCiphertextMetadata {
		return nil, cryptoError(&proxyError{name: proxyBadResponse, msg: "malformed encrypt answer"})
	}
	return encodeBlob(k.id, xks.Sealed{Ciphertext: out.Ciphertext, IV: out.IV, Tag: out.Tag, Metadata: out.Metadata}), nil
}

func kmsEncrypt(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		KeyId               *string           `json:"KeyId"`
		Plaintext           []byte            `json:"Plaintext"`
		EncryptionContext   map[string]string `json:"EncryptionContext"`
		GrantTokens         []string          `json:"GrantTokens"`
		EncryptionAlgorithm *string           `json:"EncryptionAlgorithm"`
		DryRun              *bool             `json:"DryRun"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if len(req.Plaintext) < 1 || len(req.Plaintext) > 4096 {
		return nil, kmsInvalid("", "", "Plaintext must be 1 to 4,096 bytes")
	}
	if err := cryptoChecks(req.EncryptionAlgorithm, req.DryRun, req.EncryptionContext); err != nil {
		return nil, err
	}
	k, ks, err := s.usableKey(ctx, tx, req.KeyId)
	if err != nil {
		return nil, err
	}
	blob, err := s.xksEncrypt(ctx, k, ks, "Encrypt", req.Plaintext, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "KeyId": s.keyARN(k.id), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func cryptoChecks(algorithm *string, dryRun *bool, ec map[string]string) error {
	v := validator{invalid: kmsInvalid}
	v.oneOf("EncryptionAlgorithm", algorithm, "SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")
	if v.err != nil {
		return v.err
	}
	if algorithm != nil && *algorithm != "SYMMETRIC_DEFAULT" {
		return kmsErr("InvalidKeyUsageException", "a symmetric key encrypts only with SYMMETRIC_DEFAULT")
	}
	if dryRun != nil && *dryRun {
		return &apiError{Status: 412, Code: "DryRunOperationException", Message: "the simulated cloud does not evaluate dry runs"}
	}
	return validContext(ec)
}

func kmsGenerateDataKey(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		KeyId             *string           `json:"KeyId"`
		EncryptionContext map[string]string `json:"EncryptionContext"`
		NumberOfBytes     *int              `json:"NumberOfBytes"`
		KeySpec           *string           `json:"KeySpec"`
		GrantTokens       []string          `json:"GrantTokens"`
		Recipient         json.RawMessage   `json:"Recipient"`
		DryRun            *bool             `json:"DryRun"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: kmsInvalid}
	v.oneOf("KeySpec", req.KeySpec, "AES_256", "AES_128")
	if v.err != nil {
		return nil, v.err
	}
	n := 0
	switch {
	case (req.KeySpec == nil) == (req.NumberOfBytes == nil):
		return nil, kmsInvalid("", "", "give KeySpec or NumberOfBytes, exactly one")
	case req.KeySpec != nil && *req.KeySpec == "AES_256":
		n = 32
	case req.KeySpec != nil:
		n = 16
	case *req.NumberOfBytes < 1 || *req.NumberOfBytes > 1024:
		return nil, kmsInvalid("", "", "NumberOfBytes must be 1 to 1,024")
	default:
		n = *req.NumberOfBytes
	}
	if len(req.Recipient) > 0 {
		return nil, &apiError{Status: 400, Code: "UnsupportedOperationException", Message: "the simulated cloud has no Nitro Enclaves"}
	}
	if err := cryptoChecks(nil, req.DryRun, req.EncryptionContext); err != nil {
		return nil, err
	}
	k, ks, err := s.usableKey(ctx, tx, req.KeyId)
	if err != nil {
		return nil, err
	}
	plaintext := make([]byte, n)
	if _, err := rand.Read(plaintext); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	blob, err := s.xksEncrypt(ctx, k, ks, "GenerateDataKey", plaintext, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": s.keyARN(k.id)}, nil
}

func kmsDecrypt(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		CiphertextBlob      []byte            `json:"CiphertextBlob"`
		EncryptionContext   map[string]string `json:"EncryptionContext"`
		GrantTokens         []string          `json:"GrantTokens"`
		KeyId               *string           `json:"KeyId"`
		EncryptionAlgorithm *string           `json:"EncryptionAlgorithm"`
		Recipient           json.RawMessage   `json:"Recipient"`
		DryRun              *bool             `json:"DryRun"`
		DryRunModifiers     []string          `json:"DryRunModifiers"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if len(req.CiphertextBlob) < 1 || len(req.CiphertextBlob) > 6144 {
		return nil, kmsInvalid("", "", "CiphertextBlob must be 1 to 6,144 bytes")
	}
	if len(req.Recipient) > 0 {
		return nil, &apiError{Status: 400, Code: "UnsupportedOperationException", Message: "the simulated cloud has no Nitro Enclaves"}
	}
	if err := cryptoChecks(req.EncryptionAlgorithm, req.DryRun, req.EncryptionContext); err != nil {
		return nil, err
	}
	keyID, sealed, ok := decodeBlob(req.CiphertextBlob)
	if !ok {
		return nil, kmsErr("InvalidCiphertextException", "the ciphertext is not one this service produced")
	}
	k, ks, err := s.usableKey(ctx, tx, &keyID)
	var nf *apiError
	if errors.As(err, &nf) && nf.Code == "NotFoundException" {
		return nil, kmsErr("InvalidCiphertextException", "the ciphertext names no key of this account")
	}
	if err != nil {
		return nil, err
	}
	if req.KeyId != nil {
		want, err := s.loadKey(ctx, tx, *req.KeyId)
		if err != nil {
			return nil, err
		}
		if want.id != k.id {
			return nil, kmsErr("IncorrectKeyException", "the ciphertext was not encrypted under "+*req.KeyId)
		}
	}
	body := map[string]any{
		"requestMetadata": map[string]string{"awsPrincipalArn": s.callerARN(), "kmsKeyArn": s.keyARN(k.id),
			"kmsOperation": "Decrypt", "kmsRequestId": uuid()},
		"ciphertext": sealed.Ciphertext, "initializationVector": sealed.IV, "authenticationTag": sealed.Tag,
		"encryptionAlgorithm": "AES_GCM",
	}
	if len(sealed.Metadata) > 0 {
		body["ciphertextMetadata"] = sealed.Metadata
	}
	if aad := contextAAD(req.EncryptionContext); aad != nil {
		body["additionalAuthenticatedData"] = aad
	}
	var out struct {
		Plaintext []byte `json:"plaintext"`
	}
	if pe := s.xksCall(ctx, ks, "keys/"+k.xksKeyID+"/decrypt", body, &out); pe != nil {
		return nil, cryptoError(pe)
	}
	if len(out.Plaintext) != len(sealed.Ciphertext) {
		return nil, cryptoError(&proxyError{name: proxyBadResponse, msg: "decrypt answered plaintext of the wrong length"})
	}
	return map[string]any{"Plaintext": out.Plaintext, "KeyId": s.keyARN(k.id), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

// proxyError is what went wrong with one request to an XKS proxy: the
// errorName it answered, or one of the failures below that it never
// answered at all.
type proxyError struct {
	name, msg string
}

const (
	proxyUnreachable = "unreachable"
	proxyTimedOut    = "timed out"
	proxyBadTLS      = "TLS failure"
	proxyBadResponse = "invalid response"
)

func (e *proxyError) Error() string { return "xks proxy: " + e.name + ": " + e.msg }

// xksHealth calls GetHealthStatus. A proxy whose every key manager is
// UNAVAILABLE counts as unreachable, as AWS counts it.
func (s *Server) xksHealth(ctx context.Context, ks keyStore, op string) *proxyError {
	var out struct {
		Nodes []struct {
			Status string `json:"healthStatus"`
		} `json:"ekmFleetDetails"`
	}
	body := map[string]any{"requestMetadata": map[string]string{"kmsOperation": op, "kmsRequestId": uuid()}}
	if pe := s.xksCall(ctx, ks, "health", body, &out); pe != nil {
		return pe
	}
	for _, n := range out.Nodes {
		if n.Status != xks.HealthUnavailable {
			return nil
		}
	}
	return &proxyError{name: proxyUnreachable, msg: "every external key manager is UNAVAILABLE"}
}

// xksCall POSTs one XKS request to the store's proxy, signed with SigV4
// for service kms-xks-proxy in the simulated cloud's region, and decodes
// a 200 answer into out. It runs inside the caller's operation (and so
// under the simulated cloud's lock) for at most the XKS client's timeout.
func (s *Server) xksCall(ctx context.Context, ks keyStore, suffix string, body, out any) *proxyError {
	payload, err := json.Marshal(body)
	if err != nil {
		return &proxyError{name: xks.Internal, msg: "encode request: " + err.Error()}
	}
	url := strings.TrimRight(ks.endpoint, "/") + ks.path + "/" + suffix
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return &proxyError{name: proxyUnreachable, msg: "build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: ks.accessKeyID, SecretAccessKey: ks.secret}, req,
		hex.EncodeToString(sum[:]), xks.Service, s.cfg.Region, s.cfg.Now()); err != nil {
		return &proxyError{name: xks.Internal, msg: "sign: " + err.Error()}
	}
	resp, err := s.cfg.XKSClient.Do(req)
	if err != nil {
		var ne net.Error
		var cve *tls.CertificateVerificationError
		var rhe tls.RecordHeaderError
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			return &proxyError{name: proxyTimedOut, msg: err.Error()}
		case errors.As(err, &cve) || errors.As(err, &rhe):
			return &proxyError{name: proxyBadTLS, msg: err.Error()}
		}
		return &proxyError{name: proxyUnreachable, msg: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, xks.MaxBody))
	if err != nil {
		return &proxyError{name: proxyUnreachable, msg: "read answer: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Name    string `json:"errorName"`
			Message string `json:"errorMessage"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Name == "" {
			return &proxyError{name: proxyBadResponse, msg: fmt.Sprintf("HTTP %d without an errorName", resp.StatusCode)}
		}
		return &proxyError{name: e.Name, msg: e.Message}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &proxyError{name: proxyBadResponse, msg: "decode answer: " + err.Error()}
	}
	return nil
}

// connectionErrorCode is the ConnectionErrorCode AWS records when
// GetHealthStatus fails.
func connectionErrorCode(pe *proxyError) string {
	switch pe.name {
	case xks.AuthenticationFailed:
		return "INVALID_CREDENTIALS"
	case xks.AccessDenied:
		return "XKS_PROXY_ACCESS_DENIED"
	case proxyTimedOut:
		return "XKS_PROXY_TIMED_OUT"
	case proxyBadTLS:
		return "XKS_PROXY_INVALID_TLS_CONFIGURATION"
	case proxyBadResponse:
		return "XKS_PROXY_INVALID_RESPONSE"
	case xks.InvalidURIPath, xks.Validation, xks.UnsupportedOperation, xks.InvalidState:
		return "XKS_PROXY_INVALID_CONFIGURATION"
	}
	return "XKS_PROXY_NOT_REACHABLE" // unreachable, or a proxy that cannot serve (500, 503, 429)
}

// managementError is the exception of a management operation (CreateKey,
// UpdateCustomKeyStore) whose request to the proxy failed.
func managementError(pe *proxyError) error {
	code := "KMSInternalException"
	switch pe.name {
	case xks.AuthenticationFailed:
		code = "XksProxyIncorrectAuthenticationCredentialException"
	case proxyUnreachable, proxyTimedOut:
		code = "XksProxyUriUnreachableException"
	case proxyBadResponse:
		code = "XksProxyInvalidResponseException"
	case proxyBadTLS, xks.InvalidURIPath, xks.AccessDenied:
		code = "XksProxyInvalidConfigurationException"
	case xks.KeyNotFound:
		code = "XksKeyNotFoundException"
	case xks.InvalidState:
		code = "KMSInvalidStateException" // the tenant's kill switch
	}
	status := 400
	if code == "KMSInternalException" {
		status = 500
	}
	return &apiError{Status: status, Code: code, Message: pe.Error()}
}

// cryptoError is the exception of a cryptographic operation whose request
// to the proxy failed. AWS documents that these answer
// KMSInvalidStateException for every failure of the external key store,
// its proxy or its connection, with the cause in the message; only a
// ciphertext that does not authenticate is the caller's
// InvalidCiphertextException.
func cryptoError(pe *proxyError) error {
	if pe.name == xks.InvalidCiphertext {
		return kmsErr("InvalidCiphertextException", "the ciphertext, its encryption context or its key does not match")
	}
	return kmsErr("KMSInvalidStateException", "the external key store proxy failed: "+pe.Error())
}
