// Package xks is the AWS KMS External Key Store (XKS) proxy API, version 1
// (https://github.com/aws/aws-kms-xksproxy-api-spec): AWS KMS asks hatoba to
// encrypt and decrypt each data key under a tenant's key, which never leaves
// hatoba's key service.
package xks

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/sigv4"
)

// Service is the SigV4 service name AWS KMS signs XKS requests with.
const Service = "kms-xks-proxy"

// MaxClockSkew is the specification's replay window: requests signed more
// than five minutes before or after our clock fail authentication.
const MaxClockSkew = 5 * time.Minute

// Operation names of the XKS API, as recorded in Usage.
const (
	OpGetKeyMetadata  = "GetKeyMetadata"
	OpEncrypt         = "Encrypt"
	OpDecrypt         = "Decrypt"
	OpGetHealthStatus = "GetHealthStatus"
)

// ResultOK is Usage.Result for a request that succeeded; otherwise Result is
// the error name answered.
const ResultOK = "OK"

// Usage is one record per key request (metadata, encrypt, decrypt) that
// passed authentication, for the audit log. It never holds key material,
// plaintext or AAD.
type Usage struct {
	At              time.Time
	Tenant          string
	ExternalKeyID   string
	Operation       string // OpGetKeyMetadata, OpEncrypt or OpDecrypt
	KMSOperation    string
	KMSRequestID    string
	AWSPrincipalARN string
	KMSKeyARN       string
	Result          string // ResultOK or an error name
}

// Config builds a Handler.
type Config struct {
	// URIPrefix is the optional path prefix before /kms/xks/v1, e.g.
	// "/xks"; "" serves at /kms/xks/v1.
	URIPrefix string
	// Region is the AWS region KMS signs with (the credential scope).
	Region string
	Keys   Keys
	Logger *slog.Logger
	// Record receives one Usage per key request and returns once the
	// record is durably queued; nil records nothing. The answer waits for
	// it: a request whose record cannot be written fails closed — an
	// error wrapping ErrThrottled is answered ThrottlingException, a
	// context deadline DependencyTimeoutException, anything else
	// InternalException — so no request is served without its record.
	Record func(context.Context, Usage) error
	// Admission bounds the requests in progress (shared with other
	// handlers if they should share the bound); beyond it a request is
	// answered ThrottlingException at once. nil means a bound of
	// DefaultMaxInFlight for this handler alone.
	Admission *Admission
	// Authorize is the optional secondary authorization on requestMetadata
	// (never asked for GetHealthStatus, as the specification requires); an
	// error is answered with AccessDeniedException.
	Authorize func(ctx context.Context, tenant, externalKeyID, operation string, md RequestMetadata) error
	// Throttle, if set, is asked before each request of a store; false is
	// answered with ThrottlingException.
	Throttle func(tenant string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// FleetSize is xksProxyFleetSize in GetHealthStatus (default 1).
	FleetSize int
	// Model is xksProxyModel, e.g. "hatoba 1.4.0" (default "hatoba").
	Model string
	// TenantPaths serves each key store under a path of its own,
	// <prefix>/<tenant>/kms/xks/v1: AWS requires every external key store
	// of an account and region to have a distinct endpoint and path, so
	// several tenants' stores in one account need one each. The segment
	// must name the tenant of the request's credential; any other is
	// answered InvalidUriPathException, after authentication, so an
	// unsigned request learns nothing about which tenants exist.
	TenantPaths bool
}

// Handler serves the XKS proxy API.
type Handler struct {
	cfg      Config
	prefix   string // URIPrefix, cleaned
	base     string // what the handler serves below: prefix + "/kms/xks/v1/", or prefix + "/" with TenantPaths
	verifier sigv4.Verifier
	// lastThrottleLog is when throttling was last logged (Unix nanoseconds):
	// under a burst it is logged once a second, not once a request.
	lastThrottleLog atomic.Int64
}

// NewHandler checks cfg and returns the handler.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Keys == nil {
		return nil, errors.New("xks: Config.Keys is required")
	}
	if cfg.Region == "" {
		return nil, errors.New("xks: Config.Region is required")
	}
	prefix := strings.TrimRight(cfg.URIPrefix, "/")
	if prefix != "" && !strings.HasPrefix(prefix, "/") {
		prefix = "/" + prefix
	}
	// The specification allows a-z A-Z 0-9 / - _ in XksProxyUriPath, at
	// most 128 characters including "/kms/xks/v1".
	if len(prefix)+len("/kms/xks/v1") > 128 || strings.ContainsFunc(prefix, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '-' || r == '_')
	}) {
		return nil, fmt.Errorf("xks: URIPrefix %q is not a valid XksProxyUriPath prefix", cfg.URIPrefix)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FleetSize < 1 {
		cfg.FleetSize = 1
	}
	if cfg.Model == "" {
		cfg.Model = "hatoba"
	}
	if cfg.Admission == nil {
		cfg.Admission = NewAdmission(DefaultMaxInFlight)
	}
	base := prefix + "/kms/xks/v1/"
	if cfg.TenantPaths {
		base = prefix + "/"
	}
	return &Handler{
		cfg:      cfg,
		prefix:   prefix,
		base:     base,
		verifier: sigv4.Verifier{Service: Service, Region: cfg.Region, MaxSkew: MaxClockSkew, Now: cfg.Now},
	}, nil
}

// Path is where the handler serves, for mounting it on a mux.
func (h *Handler) Path() string { return h.base }

// StorePath is the XksProxyUriPath a tenant's external key store is
// configured with (no trailing slash).
func (h *Handler) StorePath(tenant string) string {
	if h.cfg.TenantPaths {
		return h.prefix + "/" + tenant + "/kms/xks/v1"
	}
	return h.prefix + "/kms/xks/v1"
}

// route splits a request path into the operation and external key id.
// Repeated slashes are folded because clients built by joining an empty
// prefix (the AWS test client does) send "//kms/xks/v1/...".
func (h *Handler) route(path string) (op, keyID, tenant string, ok bool) {
	for strings.Contains(path, "//") {
		path = strings.ReplaceAll(path, "//", "/")
	}
	rest, ok := strings.CutPrefix(path, h.base)
	if !ok {
		return "", "", "", false
	}
	if h.cfg.TenantPaths {
		tenant, rest, ok = strings.Cut(rest, "/kms/xks/v1/")
		if !ok || tenant == "" || strings.Contains(tenant, "/") {
			return "", "", "", false
		}
	}
	op, keyID, ok = routeOp(rest)
	return op, keyID, tenant, ok
}

// routeOp names the operation of a path below /kms/xks/v1/.
func routeOp(rest string) (op, keyID string, ok bool) {
	if rest == "health" {
		return OpGetHealthStatus, "", true
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != "keys" || parts[1] == "" {
		return "", "", false
	}
	switch parts[2] {
	case "metadata":
		return OpGetKeyMetadata, parts[1], true
	case "encrypt":
		return OpEncrypt, parts[1], true
	case "decrypt":
		return OpDecrypt, parts[1], true
	}
	return "", "", false
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > MaxExternalKeyID {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
	})
}

// ServeHTTP answers one XKS request. The order of the checks decides which
// error wins: admission, path, method, size, signature, kill switch,
// throttle, body, key id, authorization, the key service, then the usage
// record.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.Admission.Acquire() {
		h.throttled(w, r)
		return
	}
	defer h.cfg.Admission.Release()
	start := h.cfg.Now()
	op, keyID, pathTenant, ok := h.route(r.URL.Path)
	if !ok {
		h.fail(w, r, "", "", &Error{Name: InvalidURIPath, Message: "the URI path is not an XKS API path"})
		return
	}
	if r.Method != http.MethodPost {
		// The specification requires 405 for any other method on these URIs.
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorResponse{ErrorName: Validation, ErrorMessage: "XKS API requests are POSTs"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			h.fail(w, r, op, "", unsupported(fmt.Sprintf("the request body is larger than %d bytes", MaxBody)))
			return
		}
		h.fail(w, r, op, "", invalid("the request body could not be read"))
		return
	}

	ctx := r.Context()
	var store StoreInfo
	_, err = h.verifier.Verify(r, body, func(accessKeyID string) (string, error) {
		s, err := h.cfg.Keys.Store(ctx, accessKeyID)
		if errors.Is(err, ErrUnknownAccessKey) {
			return "", sigv4.ErrUnknownAccessKey
		}
		if err != nil {
			return "", fmt.Errorf("look up access key: %w", err)
		}
		store = s
		return s.Secret, nil
	})
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			// The client gets the specification's error either way; the
			// log says when the request was signed for another region or
			// service, which is a misconfigured client, not a bad secret.
			var attrs []slog.Attr
			if m, ok := errors.AsType[*sigv4.ScopeMismatch](err); ok {
				attrs = append(attrs, slog.String("sigv4_mismatch", m.Part), slog.String("signed_for", m.Got), slog.String("expected", m.Want))
			}
			h.fail(w, r, op, "", &Error{Name: AuthenticationFailed, Message: "the request signature could not be verified", cause: err}, attrs...)
			return
		}
		h.fail(w, r, op, "", classify(err, false))
		return
	}
	tenant := store.TenantID
	if h.cfg.TenantPaths && pathTenant != tenant {
		h.fail(w, r, op, tenant, &Error{Name: InvalidURIPath, Message: "the URI path names another key store than the credential's"})
		return
	}
	if store.Killed {
		h.fail(w, r, op, tenant, &Error{Name: InvalidState, Message: "the key store is blocked", cause: ErrStoreBlocked})
		return
	}
	if h.cfg.Throttle != nil && !h.cfg.Throttle(tenant) {
		h.fail(w, r, op, tenant, &Error{Name: Throttling, Message: "the request rate of this key store is too high"})
		return
	}

	if op == OpGetHealthStatus {
		h.health(w, r, tenant, body)
		return
	}

	u := Usage{At: start, Tenant: tenant, ExternalKeyID: keyID, Operation: op}
	var resp any
	var rerr *Error
	switch op {
	case OpGetKeyMetadata:
		resp, rerr = h.metadata(ctx, tenant, keyID, body, &u)
	case OpEncrypt:
		resp, rerr = h.encrypt(ctx, tenant, keyID, body, &u)
	case OpDecrypt:
		resp, rerr = h.decrypt(ctx, tenant, keyID, body, &u)
	}
	if rerr != nil {
		u.Result = rerr.Name
	} else {
		u.Result = ResultOK
	}
	// The record first, then the answer: a request whose record cannot be
	// written is answered with the record's failure instead, whatever the
	// key service said.
	if err := h.record(ctx, u); err != nil {
		rerr = recordFailure(err)
	}
	if rerr != nil {
		h.fail(w, r, op, tenant, rerr, slog.String("key", keyID), slog.String("kmsRequestId", u.KMSRequestID),
			slog.String("kmsOperation", u.KMSOperation), slog.String("awsPrincipalArn", u.AWSPrincipalARN))
		return
	}
	h.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "xks request", slog.String("op", op), slog.String("tenant", tenant),
		slog.String("key", keyID), slog.String("kmsRequestId", u.KMSRequestID), slog.String("kmsOperation", u.KMSOperation),
		slog.String("awsPrincipalArn", u.AWSPrincipalARN), slog.Duration("took", h.cfg.Now().Sub(start)))
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) record(ctx context.Context, u Usage) error {
	if h.cfg.Record == nil {
		return nil
	}
	return h.cfg.Record(ctx, u)
}

// recordFailure is the answer to a request whose usage record could not be
// queued: the request fails closed.
func recordFailure(err error) *Error {
	switch {
	case errors.Is(err, ErrThrottled):
		return &Error{Name: Throttling, Message: "the proxy cannot keep up with the request rate; retry later", cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Name: DependencyTimeout, Message: "the usage record could not be written in time; the request was not served", cause: err}
	}
	return &Error{Name: Internal, Message: "the usage record could not be written; the request was not served", cause: err}
}

// throttled answers a request Admission refused. It is counted there and
// logged at most once a second, so a burst does not become a log storm.
func (h *Handler) throttled(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UnixNano()
	if last := h.lastThrottleLog.Load(); now-last >= int64(time.Second) && h.lastThrottleLog.CompareAndSwap(last, now) {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "xks requests throttled: too many in progress",
			slog.Int("max_in_flight", h.cfg.Admission.Max()), slog.Uint64("throttled_total", h.cfg.Admission.Throttled()))
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusTooManyRequests, errorResponse{ErrorName: Throttling, ErrorMessage: "the proxy cannot keep up with the request rate; retry later"})
}

// admit runs the checks common to the three key operations once the
// metadata is known.
func (h *Handler) admit(ctx context.Context, tenant, keyID, op string, md RequestMetadata, u *Usage) *Error {
	u.KMSOperation, u.KMSRequestID, u.AWSPrincipalARN, u.KMSKeyARN = md.KMSOperation, md.KMSRequestID, md.AWSPrincipalARN, md.KMSKeyARN
	if !validKeyID(keyID) {
		return invalid("the external key id must be 1 to 128 of A-Z a-z 0-9 - . _")
	}
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(ctx, tenant, keyID, op, md); err != nil {
			return &Error{Name: AccessDenied, Message: "the operation is not authorized for this request", cause: err}
		}
	}
	return nil
}

func (h *Handler) metadata(ctx context.Context, tenant, keyID string, body []byte, u *Usage) (any, *Error) {
	md, err := decodeMetadata(body)
	u.KMSOperation, u.KMSRequestID, u.AWSPrincipalARN = md.KMSOperation, md.KMSRequestID, md.AWSPrincipalARN
	if err != nil {
		return nil, classify(err, false)
	}
	if e := h.admit(ctx, tenant, keyID, OpGetKeyMetadata, md, u); e != nil {
		return nil, e
	}
	info, err := h.cfg.Keys.Key(ctx, tenant, keyID)
	if err != nil {
		return nil, classify(err, false)
	}
	usage := info.Usage
	if usage == nil {
		usage = []string{} // the field is required: [] rather than null
	}
	if len(usage) > 10 {
		usage = usage[:10]
	}
	status := "ENABLED"
	if !info.Enabled {
		status = "DISABLED"
	}
	return metadataResponse{KeySpec: "AES_256", KeyUsage: usage, KeyStatus: status}, nil
}

// AAD is the additional data the key service authenticates, as the
// specification's Encrypt section defines it: the caller's AAD and the
// ciphertext metadata, each preceded by its length (2 bytes big-endian, then
// 1 byte) so that moving bytes from one to the other changes the result.
func AAD(callerAAD, metadata []byte) []byte {
	out := make([]byte, 0, 3+len(callerAAD)+len(metadata))
	out = binary.BigEndian.AppendUint16(out, uint16(len(callerAAD)))
	out = append(out, callerAAD...)
	out = append(out, byte(len(metadata)))
	return append(out, metadata...)
}

// CDIV is the ciphertext data integrity value of Appendix C: SHA-256 over
// aad || metadata || iv || ciphertext || tag, without lengths.
func CDIV(callerAAD []byte, s Sealed) []byte {
	h := sha256.New()
	for _, b := range [][]byte{callerAAD, s.Metadata, s.IV, s.Ciphertext, s.Tag} {
		h.Write(b)
	}
	return h.Sum(nil)
}

func (h *Handler) encrypt(ctx context.Context, tenant, keyID string, body []byte, u *Usage) (any, *Error) {
	in, err := decodeEncrypt(body)
	u.KMSOperation, u.KMSRequestID, u.AWSPrincipalARN, u.KMSKeyARN = in.md.KMSOperation, in.md.KMSRequestID, in.md.AWSPrincipalARN, in.md.KMSKeyARN
	if err != nil {
		return nil, classify(err, false)
	}
	if e := h.admit(ctx, tenant, keyID, OpEncrypt, in.md, u); e != nil {
		return nil, e
	}
	var metaTooLong bool
	s, err := h.cfg.Keys.Encrypt(ctx, tenant, keyID, in.plaintext, func(md []byte) []byte {
		if len(md) > MaxCiphertextMetadata {
			metaTooLong = true
		}
		return AAD(in.aad, md)
	})
	if err != nil {
		return nil, classify(err, false)
	}
	// A key service that breaks the wire's rules is our bug; KMS would
	// reject the answer anyway, so it is an InternalException here.
	if metaTooLong || len(s.Metadata) > MaxCiphertextMetadata || len(s.Ciphertext) != len(in.plaintext) ||
		(len(s.IV) != 12 && len(s.IV) != 16) || len(s.Tag) != tagSize {
		return nil, &Error{Name: Internal, Message: "internal error", cause: errors.New("key service returned a malformed seal")}
	}
	resp := encryptResponse{
		Ciphertext:         base64.StdEncoding.EncodeToString(s.Ciphertext),
		CiphertextMetadata: base64.StdEncoding.EncodeToString(s.Metadata),
		IV:                 base64.StdEncoding.EncodeToString(s.IV),
		Tag:                base64.StdEncoding.EncodeToString(s.Tag),
	}
	if in.cdiv {
		// Appendix C: compute the value first, then prove the output
		// decrypts, so a corruption after the check cannot hide behind a
		// value computed over corrupted bytes. The value is KMS's assurance
		// that a later decrypt succeeds, so a key that cannot decrypt (an
		// encrypt-only key) cannot give it: its decrypt fails and the
		// answer is that failure, InvalidKeyUsageException, as the
		// specification's step 4 and AWS's reference proxy do.
		resp.CDIV = base64.StdEncoding.EncodeToString(CDIV(in.aad, s))
		pt, err := h.cfg.Keys.Decrypt(ctx, tenant, keyID, s, AAD(in.aad, s.Metadata))
		if err != nil {
			e := classify(err, false)
			if e.Name == Internal {
				e.cause = fmt.Errorf("CDIV self-check: %w", err)
			}
			return nil, e
		}
		if subtle.ConstantTimeCompare(pt, in.plaintext) != 1 {
			return nil, &Error{Name: Internal, Message: "internal error", cause: errors.New("CDIV self-check: decrypted text differs")}
		}
	}
	return resp, nil
}

func (h *Handler) decrypt(ctx context.Context, tenant, keyID string, body []byte, u *Usage) (any, *Error) {
	in, err := decodeDecrypt(body)
	u.KMSOperation, u.KMSRequestID, u.AWSPrincipalARN, u.KMSKeyARN = in.md.KMSOperation, in.md.KMSRequestID, in.md.AWSPrincipalARN, in.md.KMSKeyARN
	if err != nil {
		return nil, classify(err, true)
	}
	if e := h.admit(ctx, tenant, keyID, OpDecrypt, in.md, u); e != nil {
		return nil, e
	}
	pt, err := h.cfg.Keys.Decrypt(ctx, tenant, keyID, in.sealed, AAD(in.aad, in.sealed.Metadata))
	if err != nil {
		return nil, classify(err, true)
	}
	if len(pt) != len(in.sealed.Ciphertext) {
		return nil, &Error{Name: Internal, Message: "internal error", cause: errors.New("key service returned plaintext of the wrong length")}
	}
	return decryptResponse{Plaintext: base64.StdEncoding.EncodeToString(pt)}, nil
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request, tenant string, body []byte) {
	ctx := r.Context()
	md, err := decodeHealth(body)
	if err != nil {
		h.fail(w, r, OpGetHealthStatus, tenant, classify(err, false))
		return
	}
	nodes, err := h.cfg.Keys.Health(ctx, tenant)
	if err == nil && len(nodes) == 0 {
		err = errors.New("key service reported no nodes")
	}
	if err != nil {
		h.fail(w, r, OpGetHealthStatus, tenant, classify(err, false), slog.String("kmsRequestId", md.KMSRequestID))
		return
	}
	if len(nodes) > 10 {
		nodes = nodes[:10]
	}
	resp := healthResponse{FleetSize: h.cfg.FleetSize, Vendor: "hatoba", Model: h.cfg.Model, EKMVendor: "hatoba"}
	for _, n := range nodes {
		resp.EKMDetails = append(resp.EKMDetails, healthNode{ID: n.ID, Model: n.Model, HealthStatus: n.Status})
	}
	h.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "xks health", slog.String("tenant", tenant),
		slog.String("kmsRequestId", md.KMSRequestID), slog.String("kmsOperation", md.KMSOperation))
	writeJSON(w, http.StatusOK, resp)
}

// fail answers e and logs it; internal causes reach the log, never the
// response.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, op, tenant string, e *Error, attrs ...slog.Attr) {
	level := slog.LevelInfo
	if e.Status() >= 500 {
		level = slog.LevelError
	}
	attrs = append(attrs, slog.String("op", op), slog.String("tenant", tenant), slog.String("error", e.Name),
		slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
	if e.cause != nil {
		attrs = append(attrs, slog.String("cause", e.cause.Error()))
	}
	h.cfg.Logger.LogAttrs(r.Context(), level, "xks request refused", attrs...)
	writeJSON(w, e.Status(), errorResponse{ErrorName: e.Name, ErrorMessage: printable(e.Message)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errorName":"InternalException"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client has gone if this fails; nothing to do
}
