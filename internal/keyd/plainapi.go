package keyd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/sigv4"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// The plain encryption API serves what is not AWS KMS — another provider's
// services, a tenant's own software — with the same keys: encrypt, decrypt
// and generate a data key under a tenant key (docs/keys.md). Requests are
// signed with SigV4 (service PlainAPIService) by one of the tenant's XKS
// credentials, so a tenant has one kind of machine credential for its key
// store; a credential reaches only its own tenant's keys.

// PlainAPIService is the SigV4 service name of the plain encryption API.
const PlainAPIService = "hatoba-keys"

// PlainAPIPath is where the plain encryption API is served.
const PlainAPIPath = "/keyd/v1/"

// maxPlainBody bounds a request: a base64 plaintext of keys.MaxPlaintext
// and an AAD of keys.MaxAAD, with room for the JSON around them.
const maxPlainBody = (keys.MaxPlaintext+keys.MaxAAD)*4/3 + 4096

// PlainAPIConfig builds the plain encryption API.
type PlainAPIConfig struct {
	Keys   *keys.Service
	Region string
	// Record receives one usage record per request that reached a key and
	// returns once it is durably queued (Recorder.Record); the answer
	// waits for it, and a request whose record fails is not served
	// (429 Throttled for a full queue, 503 Unavailable otherwise).
	Record func(context.Context, xks.Usage) error
	// Admission bounds the requests in progress (share the XKS proxy's to
	// bound both together); beyond it the answer is 429 at once. nil
	// means xks.DefaultMaxInFlight for this API alone.
	Admission *xks.Admission
	Logger    *slog.Logger
	Now       func() time.Time
}

// PlainEncryptRequest, PlainDecryptRequest and PlainDataKeyRequest are the
// API's requests; byte fields are base64 (standard, padded).
type PlainEncryptRequest struct {
	KeyID     string `json:"key_id"`
	Plaintext []byte `json:"plaintext"`
	AAD       []byte `json:"aad,omitempty"`
}

type PlainDecryptRequest struct {
	KeyID      string `json:"key_id"`
	Ciphertext []byte `json:"ciphertext"`
	AAD        []byte `json:"aad,omitempty"`
}

type PlainDataKeyRequest struct {
	KeyID string `json:"key_id"`
	// Size is the data key's length in bytes: 16, 24 or 32 (default 32).
	Size int    `json:"size,omitempty"`
	AAD  []byte `json:"aad,omitempty"`
}

// PlainResponse is every answer: Ciphertext for encrypt and data keys,
// Plaintext for decrypt and data keys.
type PlainResponse struct {
	KeyID      string `json:"key_id"`
	Version    int    `json:"version,omitempty"`
	Ciphertext []byte `json:"ciphertext,omitempty"`
	Plaintext  []byte `json:"plaintext,omitempty"`
}

// plainError is the API's error body: a stable code and a message.
type plainError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NewPlainAPI returns the plain encryption API's handler, to mount at
// PlainAPIPath.
func NewPlainAPI(cfg PlainAPIConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Admission == nil {
		cfg.Admission = xks.NewAdmission(xks.DefaultMaxInFlight)
	}
	return &plainAPI{cfg: cfg, verifier: sigv4.Verifier{Service: PlainAPIService, Region: cfg.Region, MaxSkew: 5 * time.Minute, Now: cfg.Now}}
}

type plainAPI struct {
	cfg      PlainAPIConfig
	verifier sigv4.Verifier
}

func (a *plainAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.Admission.Acquire() {
		w.Header().Set("Retry-After", "1")
		writePlainError(w, http.StatusTooManyRequests, "Throttled", "too many requests in progress; retry later")
		return
	}
	defer a.cfg.Admission.Release()
	op := strings.TrimPrefix(r.URL.Path, PlainAPIPath)
	if op != "encrypt" && op != "decrypt" && op != "generate-data-key" {
		writePlainError(w, http.StatusNotFound, "NotFound", "no operation "+r.URL.Path+"; the API has encrypt, decrypt and generate-data-key")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writePlainError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPlainBody))
	if err != nil {
		writePlainError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the body is larger than %d bytes", maxPlainBody))
		return
	}
	ctx := r.Context()
	var org string
	scope, err := a.verifier.Verify(r, body, func(accessKeyID string) (string, error) {
		o, secret, killed, err := a.cfg.Keys.XKSCredential(ctx, accessKeyID)
		if errors.Is(err, keys.ErrUnknownXKSCredential) {
			return "", sigv4.ErrUnknownAccessKey
		}
		if err != nil {
			return "", err
		}
		if killed {
			return "", keys.ErrKillSwitch
		}
		org = o
		return secret, nil
	})
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			if m, ok := errors.AsType[*sigv4.ScopeMismatch](err); ok {
				a.cfg.Logger.WarnContext(r.Context(), "plain encryption API: request signed for another "+m.Part,
					"sigv4_mismatch", m.Part, "signed_for", m.Got, "expected", m.Want, "path", r.URL.Path, "remote", r.RemoteAddr)
			}
			writePlainError(w, http.StatusForbidden, "AuthenticationFailed", se.Message)
			return
		}
		a.fail(w, r, err)
		return
	}
	u := xks.Usage{At: a.cfg.Now(), Tenant: org, Operation: "api." + op, AWSPrincipalARN: scope.AccessKeyID}
	resp, err := a.do(ctx, org, op, body, &u)
	u.Result = xks.ResultOK
	if err != nil {
		u.Result = plainCode(err)
	}
	// The record first: a request whose record cannot be written is not
	// served, whatever the key service answered.
	if rerr := a.record(ctx, u); rerr != nil {
		a.failRecord(w, r, rerr)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writePlainJSON(w, http.StatusOK, resp)
}

func (a *plainAPI) do(ctx context.Context, org, op string, body []byte, u *xks.Usage) (PlainResponse, error) {
	switch op {
	case "encrypt":
		var in PlainEncryptRequest
		if err := decodePlain(body, &in); err != nil {
			return PlainResponse{}, err
		}
		u.ExternalKeyID = in.KeyID
		c, err := a.cfg.Keys.Encrypt(ctx, org, in.KeyID, in.Plaintext, in.AAD)
		if err != nil {
			return PlainResponse{}, err
		}
		return PlainResponse{KeyID: in.KeyID, Version: c.Version, Ciphertext: packCiphertext(c)}, nil
	case "decrypt":
		var in PlainDecryptRequest
		if err := decodePlain(body, &in); err != nil {
			return PlainResponse{}, err
		}
		u.ExternalKeyID = in.KeyID
		c, err := unpackCiphertext(in.Ciphertext)
		if err != nil {
			return PlainResponse{}, err
		}
		pt, err := a.cfg.Keys.Decrypt(ctx, org, in.KeyID, c, in.AAD)
		if err != nil {
			return PlainResponse{}, err
		}
		return PlainResponse{KeyID: in.KeyID, Version: c.Version, Plaintext: pt}, nil
	default:
		var in PlainDataKeyRequest
		if err := decodePlain(body, &in); err != nil {
			return PlainResponse{}, err
		}
		u.ExternalKeyID = in.KeyID
		if in.Size == 0 {
			in.Size = 32
		}
		dk, err := a.cfg.Keys.GenerateDataKey(ctx, org, in.KeyID, in.Size, in.AAD)
		if err != nil {
			return PlainResponse{}, err
		}
		return PlainResponse{KeyID: in.KeyID, Version: dk.Encrypted.Version, Plaintext: dk.Plaintext, Ciphertext: packCiphertext(dk.Encrypted)}, nil
	}
}

func decodePlain(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return malformed{fault.Invalidf("the body is not the operation's JSON (byte fields are standard base64): %v", err)}
	}
	return nil
}

// malformed marks a body that cannot be read as the operation's JSON: 400,
// as the API answers a body it cannot read; a body read and found wrong is
// Invalid's 422.
type malformed struct{ error }

func (m malformed) Unwrap() error { return m.error }

// The plain API's ciphertext is one blob: the key version's metadata
// (5 bytes), the IV (12), the ciphertext and the tag (16).
const metadataLen = 5

func packCiphertext(c keys.Ciphertext) []byte {
	out := make([]byte, 0, len(c.Metadata)+len(c.IV)+len(c.Ciphertext)+len(c.Tag))
	out = append(out, c.Metadata...)
	out = append(out, c.IV...)
	out = append(out, c.Ciphertext...)
	return append(out, c.Tag...)
}

func unpackCiphertext(b []byte) (keys.Ciphertext, error) {
	if len(b) < metadataLen+12+16 {
		return keys.Ciphertext{}, keys.ErrInvalidCiphertext
	}
	return keys.Ciphertext{Metadata: b[:metadataLen], IV: b[metadataLen : metadataLen+12],
		Ciphertext: b[metadataLen+12 : len(b)-16], Tag: b[len(b)-16:]}, nil
}

func (a *plainAPI) record(ctx context.Context, u xks.Usage) error {
	if a.cfg.Record == nil {
		return nil
	}
	return a.cfg.Record(ctx, u)
}

// failRecord answers a request whose usage record could not be queued.
func (a *plainAPI) failRecord(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, xks.ErrThrottled) {
		w.Header().Set("Retry-After", "1")
		writePlainError(w, http.StatusTooManyRequests, "Throttled", "the usage record cannot keep up with the request rate; retry later")
		return
	}
	a.cfg.Logger.ErrorContext(r.Context(), "plain encryption API: usage record not written; request not served", "path", r.URL.Path, "err", err)
	writePlainError(w, http.StatusServiceUnavailable, "Unavailable", "the usage record could not be written, so the request was not served; retry later")
}

// plainCode names an error for the caller and the usage record.
func plainCode(err error) string {
	switch {
	case errors.Is(err, keys.ErrSealed):
		return "Sealed"
	case errors.Is(err, keys.ErrKillSwitch):
		return "KillSwitch"
	case errors.Is(err, keys.ErrKeyDisabled):
		return "KeyDisabled"
	case errors.Is(err, keys.ErrKeyNotFound):
		return "KeyNotFound"
	case errors.Is(err, keys.ErrUsage):
		return "KeyUsage"
	case errors.Is(err, keys.ErrInvalidCiphertext):
		return "InvalidCiphertext"
	}
	switch fault.KindOf(err) {
	case fault.Invalid:
		return "InvalidRequest"
	case fault.Unavailable:
		return "Unavailable"
	}
	return "InternalError"
}

func (a *plainAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := plainCode(err)
	// fault's one kind → status mapping, as the API's; the code says which
	// of the key service's refusals it is.
	status := fault.StatusOf(err)
	if errors.As(err, new(malformed)) {
		status = http.StatusBadRequest
	}
	msg := err.Error()
	switch code {
	case "KillSwitch", "KeyUsage":
		// A state of the key, not of the caller's rights or request: the
		// same answer as a disabled key.
		status = http.StatusConflict
	case "InternalError":
		status, msg = http.StatusInternalServerError, "internal error; the key service's log has the cause"
		a.cfg.Logger.ErrorContext(r.Context(), "plain encryption API", "path", r.URL.Path, "err", err)
	}
	writePlainError(w, status, code, msg)
}

func writePlainError(w http.ResponseWriter, status int, code, msg string) {
	writePlainJSON(w, status, plainError{Code: code, Message: msg})
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
