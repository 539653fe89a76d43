// Package simcloud is a simulated cloud that speaks the AWS wire protocol
// for exactly the operations hatoba's aws driver uses: AWS Organizations,
// IAM Identity Center (sso-admin and identitystore), the Account API and
// the AWS KMS operations of external key stores.
//
// It exists because no AWS emulator can be installed where hatoba is built,
// and because a driver tested against a fake Go interface proves nothing
// about the real SDK calls. The simulation is strict rather than friendly:
// requests must be signed (Signature Version 4), inputs are validated as AWS
// validates them, accounts are created asynchronously with a latency, and
// the concurrent-creation limit, the API rate limit, transient failures and
// lost responses are all reproduced, so that hatoba's retry and
// reconciliation logic meets them in every test.
package simcloud

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Config configures a simulated cloud.
type Config struct {
	// DBPath is the simulated cloud's own SQLite file; empty keeps the state
	// in memory for the life of the process.
	DBPath string
	// Latency is how long an account creation stays IN_PROGRESS.
	Latency time.Duration
	// ConcurrentCreations is how many creations may be IN_PROGRESS at once
	// (AWS: 5); more are refused with TooManyRequestsException.
	ConcurrentCreations int
	// RatePerSecond limits API calls across all operations; zero means
	// unlimited. Excess calls get the service's throttling error.
	RatePerSecond float64
	// TransientRate is the share of calls answered with a 500 before they
	// do anything.
	TransientRate float64
	// LostResponseRate is the share of calls whose effect is committed but
	// whose connection is then dropped, so the caller cannot know.
	LostResponseRate float64
	// Seed makes the injected failures reproducible; zero picks one.
	Seed uint64
	// AccessKeyID and SecretAccessKey are the only credentials accepted.
	AccessKeyID     string
	SecretAccessKey string
	// Region is reported in ARNs and the Identity Center instance.
	Region string
	Now    func() time.Time
	Logger *slog.Logger
	// XKSClient calls external key store proxies (KMS ConnectCustomKeyStore,
	// CreateKey and the cryptographic operations of external keys); nil
	// means a client with KMS's 250 ms timeout per proxy request. Tests set
	// it to trust an httptest TLS server; a client given here keeps its own
	// timeout.
	XKSClient *http.Client
	// ConfigAggregator names the organisation's one AWS Config aggregator,
	// through which the inventory is read; empty means
	// DefaultConfigAggregator.
	ConfigAggregator string
	// ConfigPageSize caps the results of one SelectAggregateResourceConfig
	// page whatever Limit asks, as AWS may answer fewer; zero means 100,
	// Config's maximum. Tests lower it to make callers paginate.
	ConfigPageSize int

	// IdentityCenterRatePerSecond limits the calls to sso-admin and
	// identitystore together (AWS: 20 per second across Identity Center's
	// APIs); zero means unlimited. Excess calls get ThrottlingException.
	IdentityCenterRatePerSecond float64
	// MaxOutstandingAssignments is how many account assignment operations
	// (creations and deletions) may be IN_PROGRESS at once (AWS: 10); more
	// get ThrottlingException. Zero means 10.
	MaxOutstandingAssignments int
	// AssignmentLatency is how long an account assignment, its deletion or
	// a permission set's provisioning stays IN_PROGRESS. Every one is
	// IN_PROGRESS in the answer that starts it, as on AWS; zero settles it
	// by the next call.
	AssignmentLatency time.Duration
	// AssignmentFailureRate is the share of account assignments that end
	// FAILED with AWS's transient "Obtaining permissions to manage your
	// AWS account" reason, which a new account often gives.
	AssignmentFailureRate float64
	// ConflictRate is the share of Identity Center writes answered
	// ConflictException before they do anything: sso-admin's "not yet
	// propagated / another operation in progress", Identity Store's with
	// Reason CONCURRENT_MODIFICATION.
	ConflictRate float64
	// PropagationDelay is how long a new permission set stays out of
	// ListPermissionSets while its name is already taken, as a write not
	// yet propagated on AWS: a second CreatePermissionSet gets
	// ConflictException and a look finds nothing.
	PropagationDelay time.Duration
	// AllowXKSProxyPort lets an external key store's proxy endpoint carry a
	// port. AWS refuses one (KMS calls port 443); serve's embedded cloud
	// allows it because its XKS proxy listens where it is configured.
	AllowXKSProxyPort bool

	// Organizations' quotas and failures (docs/simcloud.md).

	// MaxAccounts is the organisation's account quota, the management
	// account and closed accounts included (AWS: DefaultMaxAccounts
	// until raised); zero means unlimited. CreateAccount beyond it is
	// ConstraintViolationException ACCOUNT_NUMBER_LIMIT_EXCEEDED.
	MaxAccounts int
	// ClosureQuota is how many accounts may be closed per rolling 30
	// days; zero means AWS's: 10 % of the member accounts, at least 10
	// and at most 1,000. Beyond it CloseAccount is
	// ConstraintViolationException CLOSE_ACCOUNT_QUOTA_EXCEEDED.
	ClosureQuota int
	// ClosureLatency is how long a closed account stays PENDING_CLOSURE
	// before it is SUSPENDED.
	ClosureLatency time.Duration
	// CreateFailureRate is the share of account creations that end
	// FAILED with CreateFailureReason (INTERNAL_FAILURE when empty). A
	// creation of an e-mail already in flight always fails with
	// CONCURRENT_ACCOUNT_MODIFICATION, as on AWS.
	CreateFailureRate   float64
	CreateFailureReason string
	// BusyRate is the share of Organizations writes answered "try
	// again": CreateAccount with FinalizingOrganizationException, policy
	// attachments and detachments with PolicyChangesInProgressException.
	BusyRate float64
	// EmptyPageRate is the share of List calls answered with an empty
	// page and a NextToken, which AWS may do at any page.
	EmptyPageRate float64
	// AccountAPIDisabled leaves trusted access for the Account
	// Management API off in the organisation: every alternate-contact
	// call is AccessDeniedException, as on AWS until it is enabled.
	AccountAPIDisabled bool
	// IdentityCenterRegion is the region of the Identity Center instance
	// and its identity store, whose calls must be signed for it; empty
	// means Region. Organizations and the Account API are global and
	// signed for us-east-1; KMS and Config for Region.
	IdentityCenterRegion string

	// StackLatency is how long a CloudFormation stack stays
	// CREATE_IN_PROGRESS or UPDATE_IN_PROGRESS; zero settles it by the
	// next call.
	StackLatency time.Duration
}

// Server is a running simulated cloud.
type Server struct {
	cfg Config
	db  *sql.DB
	log *slog.Logger

	mu       sync.Mutex // serialises every operation, like one AWS partition would not; simplicity over speed
	rng      *mrand.Rand
	bucket   tokenBucket
	icBucket tokenBucket // Identity Center's own rate
	stats    Stats

	rootID          string
	instanceARN     string
	identityStoreID string
}

// Stats counts what the simulated cloud has seen since it started, plus the
// number of accounts it holds.
type Stats struct {
	Accounts              int `json:"accounts"`
	InProgress            int `json:"in_progress"`
	CreateCalls           int `json:"create_calls"`
	MaxConcurrentObserved int `json:"max_concurrent_observed"`
	Requests              int `json:"requests"`
	Throttled             int `json:"throttled"`
	TransientInjected     int `json:"transient_injected"`
	LostInjected          int `json:"lost_responses_injected"`
	Rejected              int `json:"rejected"`
	// Identity Center: assignment operations still IN_PROGRESS, injected
	// FAILED assignments and conflicts, and the state a test must find
	// empty — permission sets that grant nothing (no managed or inline
	// policy), and permission sets changed since they were last
	// provisioned to an account that holds them.
	AssignmentsInProgress         int `json:"assignments_in_progress"`
	AssignmentFailuresInjected    int `json:"assignment_failures_injected"`
	ConflictsInjected             int `json:"conflicts_injected"`
	PermissionSetsWithoutPolicies int `json:"permission_sets_without_policies"`
	PermissionSetsNotProvisioned  int `json:"permission_sets_not_provisioned"`
	// Organizations: injected failures and empty pages, closures.
	CreateFailuresInjected int `json:"create_failures_injected"`
	BusyInjected           int `json:"busy_injected"`
	EmptyPagesInjected     int `json:"empty_pages_injected"`
	PendingClosure         int `json:"pending_closure"`
}

// DefaultConcurrentCreations is AWS Organizations' limit on account
// creations in progress at once.
const DefaultConcurrentCreations = 5

// DefaultMaxAccounts is AWS Organizations' default account quota.
const DefaultMaxAccounts = 10

// DefaultMaxOutstandingAssignments is IAM Identity Center's limit on
// account assignment operations in progress at once.
const DefaultMaxOutstandingAssignments = 10

// Open opens (creating where needed) the simulated cloud's state.
func Open(cfg Config) (*Server, error) {
	if cfg.ConcurrentCreations <= 0 {
		cfg.ConcurrentCreations = DefaultConcurrentCreations
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Region == "" {
		cfg.Region = "ap-northeast-1"
	}
	if cfg.XKSClient == nil {
		cfg.XKSClient = &http.Client{Timeout: xksTimeout}
		// Load the system's trust roots now: read on a proxy's first
		// handshake they can take most of its 250 ms on a busy machine, and
		// an untrusted certificate would read as a timeout. (KMS does not
		// pay that on a request either.)
		_, _ = x509.SystemCertPool()
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("simcloud: an access key id and secret are required")
	}
	if cfg.MaxOutstandingAssignments <= 0 {
		cfg.MaxOutstandingAssignments = DefaultMaxOutstandingAssignments
	}
	if cfg.IdentityCenterRegion == "" {
		cfg.IdentityCenterRegion = cfg.Region
	}
	if cfg.CreateFailureReason == "" {
		cfg.CreateFailureReason = "INTERNAL_FAILURE"
	}
	for _, r := range []float64{cfg.TransientRate, cfg.LostResponseRate, cfg.AssignmentFailureRate, cfg.ConflictRate,
		cfg.CreateFailureRate, cfg.BusyRate, cfg.EmptyPageRate} {
		if r < 0 || r > 1 {
			return nil, errors.New("simcloud: failure rates must be between 0 and 1")
		}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	dsn := "file::memory:"
	if cfg.DBPath != "" {
		dsn = "file:" + cfg.DBPath + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("simcloud: open %s: %w", cfg.DBPath, err)
	}
	db.SetMaxOpenConns(1) // one writer, and an in-memory database lives in one connection
	s := &Server{cfg: cfg, db: db, log: cfg.Logger, rng: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	s.bucket = tokenBucket{rate: cfg.RatePerSecond, burst: max(1, cfg.RatePerSecond), tokens: max(1, cfg.RatePerSecond)}
	ic := cfg.IdentityCenterRatePerSecond
	s.icBucket = tokenBucket{rate: ic, burst: max(1, ic), tokens: max(1, ic)}
	if err := s.init(context.Background()); err != nil {
		db.Close() //nolint:errcheck // the init error is the one to return
		return nil, fmt.Errorf("simcloud: %w", err)
	}
	return s, nil
}

// Close releases the database.
func (s *Server) Close() error { return s.db.Close() }

// Stats reports counters and the number of accounts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return st
	}
	defer tx.Rollback()
	if err := s.settle(ctx, tx); err == nil {
		_ = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&st.Accounts)
		_ = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM create_requests WHERE state = 'IN_PROGRESS'`).Scan(&st.InProgress)
		_ = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE status = 'PENDING_CLOSURE'`).Scan(&st.PendingClosure)
		_ = s.identityCenterStats(ctx, tx, &st)
		_ = tx.Commit()
	}
	return st
}

// Handler serves the AWS wire protocol and the operator's endpoints:
// GET /_simcloud/stats, GET /_simcloud/healthz and the inventory's
// (inventory.go).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_simcloud/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	mux.HandleFunc("GET /_simcloud/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	s.inventoryRoutes(mux)
	s.openstackRoutes(mux) // openstack.go
	s.s3Routes(mux)        // s3.go
	mux.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			s.serveQuery(w, r) // cloudformation.go
			return
		}
		s.serveJSONRPC(w, r)
	})
	mux.HandleFunc("POST /putAlternateContact", s.serveREST(restPutAlternateContact))
	mux.HandleFunc("POST /getAlternateContact", s.serveREST(restGetAlternateContact))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeRESTError(w, &apiError{Status: http.StatusNotFound, Code: "UnknownOperationException",
			Message: "the simulated cloud has no operation " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// apiError is an error answer in AWS's shape.
type apiError struct {
	Status  int
	Code    string
	Message string
	Extra   map[string]string // e.g. Reason of InvalidInputException
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// service is one of the simulated AWS services.
type service struct {
	signingName    string
	region         func(cfg *Config) string // the region requests must be signed for
	throttle       string                   // the service's throttling error code
	throttleStatus int                      // its HTTP status: 400 in the JSON protocols, 429 in the Account API
	internal       string                   // the service's internal error code
	ops            map[string]operation
	identityCenter bool // shares Identity Center's rate
	query          bool // the AWS query protocol: the form is read into the model's JSON shape
}

type operation func(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error)

var services = map[string]*service{
	"AWSOrganizationsV20161128": {signingName: "organizations", region: globalRegion, throttle: "TooManyRequestsException", internal: "ServiceException", ops: organizationsOps},
	"SWBExternalService":        {signingName: "sso", region: identityCenterRegion, throttle: "ThrottlingException", internal: "InternalServerException", ops: ssoAdminOps, identityCenter: true},
	"AWSIdentityStore":          {signingName: "identitystore", region: identityCenterRegion, throttle: "ThrottlingException", internal: "InternalServerException", ops: identityStoreOps, identityCenter: true},
	"TrentService":              {signingName: "kms", region: homeRegion, throttle: "ThrottlingException", internal: "KMSInternalException", ops: kmsOps},
	"StarlingDoveService":       {signingName: "config", region: homeRegion, throttle: "ThrottlingException", internal: "InternalFailure", ops: configOps},
}

var accountService = &service{signingName: "account", region: globalRegion, throttle: "TooManyRequestsException", throttleStatus: http.StatusTooManyRequests, internal: "InternalServerException"}

// restOperations names the Account API's operations by path.
var restOperations = map[string]string{"/putAlternateContact": "PutAlternateContact", "/getAlternateContact": "GetAlternateContact"}

// GlobalRegion is the region AWS's global services (Organizations, the
// Account API) sign for in the aws partition.
const GlobalRegion = "us-east-1"

func globalRegion(*Config) string             { return GlobalRegion }
func identityCenterRegion(cfg *Config) string { return cfg.IdentityCenterRegion }
func homeRegion(cfg *Config) string           { return cfg.Region }

// maxRequestBody bounds request bodies; AWS's largest input used here (a
// policy document) is far smaller.
const maxRequestBody = 1 << 20

func (s *Server) serveJSONRPC(w http.ResponseWriter, r *http.Request) {
	prefix, opName, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	svc := services[prefix]
	if svc == nil || svc.ops[opName] == nil {
		s.count(func(st *Stats) { st.Rejected++ })
		writeJSONError(w, &apiError{Status: 400, Code: "UnknownOperationException",
			Message: fmt.Sprintf("unknown X-Amz-Target %q", r.Header.Get("X-Amz-Target"))})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		s.count(func(st *Stats) { st.Rejected++ })
		writeJSONError(w, &apiError{Status: 400, Code: "SerializationException", Message: "Content-Type must be application/x-amz-json-1.1, not " + ct})
		return
	}
	out, lost, err := s.call(r, svc, opName, svc.ops[opName])
	if lost {
		dropConnection(w)
		return
	}
	if err != nil {
		writeJSONError(w, asAPIError(err, svc))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) serveREST(op operation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, lost, err := s.call(r, accountService, r.URL.Path, op)
		if lost {
			dropConnection(w)
			return
		}
		if err != nil {
			writeRESTError(w, asAPIError(err, accountService))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if out == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	}
}

// call authenticates, rate-limits and runs one operation in a transaction,
// injecting the configured failures. lost reports that the effect was
// committed but the answer must not reach the caller.
func (s *Server) call(r *http.Request, svc *service, opName string, op operation) (out any, lost bool, err error) {
	body, err := readBody(r)
	if err != nil {
		return nil, false, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "SerializationException", Message: "request body too large or unreadable"}
	}
	return s.callBody(r, body, svc, opName, op)
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRequestBody))
}

// callBody is call with the body already read.
func (s *Server) callBody(r *http.Request, body []byte, svc *service, opName string, op operation) (out any, lost bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	now := s.cfg.Now()
	scope, err := verifySigV4(r, body, s.cfg.AccessKeyID, s.cfg.SecretAccessKey, now)
	if err != nil {
		s.stats.Rejected++
		var se *signatureError
		if errors.As(err, &se) {
			return nil, false, &apiError{Status: http.StatusForbidden, Code: se.code, Message: se.msg}
		}
		return nil, false, err
	}
	if scope.Service != svc.signingName {
		s.stats.Rejected++
		return nil, false, &apiError{Status: http.StatusForbidden, Code: "InvalidSignatureException",
			Message: fmt.Sprintf("credential should be scoped to service %q, not %q", svc.signingName, scope.Service)}
	}
	if want := svc.region(&s.cfg); scope.Region != want {
		s.stats.Rejected++
		return nil, false, &apiError{Status: http.StatusForbidden, Code: "InvalidSignatureException",
			Message: fmt.Sprintf("Credential should be scoped to a valid region, not %q; %s signs for %q", scope.Region, svc.signingName, want)}
	}
	if !s.bucket.take(now) {
		s.stats.Throttled++
		return nil, false, &apiError{Status: cmp.Or(svc.throttleStatus, 400), Code: svc.throttle, Message: "Rate exceeded", Extra: map[string]string{"Type": "APIRateLimit"}}
	}
	if svc.identityCenter && !s.icBucket.take(now) {
		s.stats.Throttled++
		return nil, false, &apiError{Status: 400, Code: svc.throttle, Message: "Rate exceeded: Identity Center allows 20 requests per second across its APIs"}
	}
	if s.cfg.TransientRate > 0 && s.rng.Float64() < s.cfg.TransientRate {
		s.stats.TransientInjected++
		return nil, false, &apiError{Status: 500, Code: svc.internal, Message: "simulated transient failure"}
	}
	if svc.identityCenter && s.cfg.ConflictRate > 0 && isWrite(opName) && s.rng.Float64() < s.cfg.ConflictRate {
		s.stats.ConflictsInjected++
		return nil, false, injectedConflict(svc)
	}
	if busy := busyError(opName); svc.signingName == "organizations" && busy != nil && s.cfg.BusyRate > 0 && s.rng.Float64() < s.cfg.BusyRate {
		s.stats.BusyInjected++
		return nil, false, busy
	}
	modelOp := opName
	if svc == accountService {
		modelOp = restOperations[opName]
	}
	// The simulated cloud's XKS proxies listen on ports of their own
	// (AllowXKSProxyPort): the model's port-less endpoint is relaxed
	// there, and the handler checks the rest.
	portAllowed := func(v *violation) bool { return s.cfg.AllowXKSProxyPort && v.field == "XksProxyUriEndpoint" }
	if svc.query {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false, &apiError{Status: 400, Code: "MalformedQueryString", Message: err.Error()}
		}
		if body, err = formToJSON(svc.signingName, modelOp, form); err != nil {
			s.stats.Rejected++
			return nil, false, err
		}
	}
	if v := validateInput(svc.signingName, modelOp, body, portAllowed); v != nil {
		s.stats.Rejected++
		return nil, false, invalidInput(svc.signingName, v)
	}
	ctx := r.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	if err := s.settle(ctx, tx); err != nil {
		return nil, false, err
	}
	out, err = op(s, ctx, tx, body)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 {
			s.stats.Rejected++
		}
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	if s.cfg.LostResponseRate > 0 && s.rng.Float64() < s.cfg.LostResponseRate {
		s.stats.LostInjected++
		s.log.Debug("dropping response", "op", opName)
		return nil, true, nil
	}
	return out, false, nil
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

func asAPIError(err error, svc *service) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return &apiError{Status: 500, Code: svc.internal, Message: "internal error in the simulated cloud: " + err.Error()}
}

func writeJSONError(w http.ResponseWriter, e *apiError) {
	body := map[string]string{"__type": e.Code, "message": e.Message}
	for k, v := range e.Extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeRESTError(w http.ResponseWriter, e *apiError) {
	body := map[string]string{"message": e.Message}
	for k, v := range e.Extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// dropConnection closes the client's connection without an answer, as a
// network failure after the server committed would.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: aborting the stream is the closest equivalent
}

// decode parses an operation's input strictly: unknown fields are a
// serialization error, because a driver sending them has a bug.
func decode(in []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{Status: 400, Code: "SerializationException", Message: "cannot parse request: " + err.Error()}
	}
	if dec.More() {
		return &apiError{Status: 400, Code: "SerializationException", Message: "trailing data after the request object"}
	}
	return nil
}

// tokenBucket is the API rate limit.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *tokenBucket) take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// randomID returns n random characters from alphabet.
func randomID(alphabet string, n int) string {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i, b := range buf {
		buf[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(buf)
}

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	digits     = "0123456789"
	hexDigits  = "0123456789abcdef"
)

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// epoch renders a time as awsJson1.1 does: seconds since 1970 as a number.
func epoch(unixNano int64) float64 { return float64(unixNano/1e6) / 1e3 }
