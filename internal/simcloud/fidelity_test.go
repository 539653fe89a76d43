package simcloud_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/provider"
	awsdriver "github.com/hatoba-cloud/hatoba/internal/provider/aws"
	"github.com/hatoba-cloud/hatoba/internal/simcloud"
)

// The fidelity suite holds the simulated cloud to AWS's own API models
// (awsmodels, botocore's service-2.json trimmed to what is
// implemented). For every operation it checks, on the traffic of a full
// driver run and of deliberate violations:
//
//   - input AWS refuses is refused, with AWS's error code: a required
//     member left out, a string too long or too short, a value outside its
//     enum or its pattern, a number outside its range;
//   - every error the simulated cloud answers is one the model declares for
//     the operation (or one of AWS's common errors), with the model's HTTP
//     status;
//   - every answer carries only declared members, of the declared types,
//     the required ones present;
//   - the largest page size the model allows is accepted.

// model is the part of a botocore model the suite reads.
type model struct {
	file       string
	Metadata   map[string]any     `json:"metadata"`
	Operations map[string]modelOp `json:"operations"`
	Shapes     map[string]*shape  `json:"shapes"`
}

type modelOp struct {
	HTTP struct {
		RequestURI string `json:"requestUri"`
	} `json:"http"`
	Input  *ref  `json:"input"`
	Output *ref  `json:"output"`
	Errors []ref `json:"errors"`
}

type ref struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string         `json:"type"`
	Required  []string       `json:"required"`
	Members   map[string]ref `json:"members"`
	Member    *ref           `json:"member"`
	Key       *ref           `json:"key"`
	Value     *ref           `json:"value"`
	Enum      []string       `json:"enum"`
	Pattern   string         `json:"pattern"`
	Min       *float64       `json:"min"`
	Max       *float64       `json:"max"`
	Exception bool           `json:"exception"`
	Fault     bool           `json:"fault"`
	Union     bool           `json:"union"`
	Error     *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
	} `json:"error"`
}

// fidelityServices are the simulated services: their model, how they are
// called and signed, and the error code with which AWS refuses input that
// breaks the model's constraints.
var fidelityServices = []struct {
	file, target, signing, invalid string
	rest                           bool
}{
	{"organizations/2016-11-28/service-2.json", "AWSOrganizationsV20161128", "organizations", "InvalidInputException", false},
	{"sso-admin/2020-07-20/service-2.json", "SWBExternalService", "sso", "ValidationException", false},
	{"identitystore/2020-06-15/service-2.json", "AWSIdentityStore", "identitystore", "ValidationException", false},
	{"kms/2014-11-01/service-2.json", "TrentService", "kms", "ValidationException", false},
	{"config/2014-11-12/service-2.json", "StarlingDoveService", "config", "ValidationException", false},
	{"account/2021-02-01/service-2.json", "", "account", "ValidationException", true},
}

// commonErrors are errors AWS may answer to any operation of a service
// without the model declaring them: authentication, the protocol, and the
// generic validation, throttling and internal errors.
var commonErrors = []string{"UnrecognizedClientException", "InvalidSignatureException", "MissingAuthenticationTokenException",
	"IncompleteSignatureException", "RequestExpired", "SerializationException", "UnknownOperationException",
	"ValidationException", "ThrottlingException", "AccessDeniedException", "InternalFailure", "ServiceUnavailable"}

func loadModels(t *testing.T) map[string]*model {
	t.Helper()
	out := map[string]*model{}
	for _, fs := range fidelityServices {
		b, err := os.ReadFile(filepath.Join("awsmodels", fs.file))
		if err != nil {
			t.Fatalf("%v (awsmodels/SOURCE.md says how to get the models)", err)
		}
		m := &model{file: fs.file}
		if err := json.Unmarshal(b, m); err != nil {
			t.Fatalf("%s: %v", fs.file, err)
		}
		out[fs.signing] = m
	}
	return out
}

// exchange is one recorded request and its answer.
type exchange struct {
	signing, op string
	body        []byte
	status      int
	errType     string
	answer      []byte
}

// recorder wraps the simulated cloud's handler and keeps every AWS call.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	seen []exchange
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	signing, op := callOf(req)
	if op == "" {
		r.next.ServeHTTP(w, req)
		return
	}
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	r.next.ServeHTTP(rec, req)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	r.mu.Lock()
	r.seen = append(r.seen, exchange{signing: signing, op: op, body: body, status: rec.Code,
		errType: rec.Header().Get("X-Amzn-ErrorType"), answer: rec.Body.Bytes()})
	r.mu.Unlock()
}

func (r *recorder) all() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// callOf names the service (by signing name) and operation of a request.
func callOf(req *http.Request) (signing, op string) {
	if target := req.Header.Get("X-Amz-Target"); target != "" {
		prefix, name, _ := strings.Cut(target, ".")
		for _, fs := range fidelityServices {
			if fs.target == prefix {
				return fs.signing, name
			}
		}
		return "", ""
	}
	switch req.URL.Path {
	case "/putAlternateContact":
		return "account", "PutAlternateContact"
	case "/getAlternateContact":
		return "account", "GetAlternateContact"
	}
	return "", ""
}

// send signs and sends one request as the SDK would.
func send(t *testing.T, h http.Handler, signing, op string, body []byte) exchange {
	t.Helper()
	var target, path string
	for _, fs := range fidelityServices {
		if fs.signing == signing {
			target = fs.target
		}
	}
	req := httptest.NewRequest("POST", "http://sim.local/", bytes.NewReader(body))
	if signing == "account" {
		path = "/" + strings.ToLower(op[:1]) + op[1:]
		req = httptest.NewRequest("POST", "http://sim.local"+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target+"."+op)
	}
	hash := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, req,
		hex.EncodeToString(hash[:]), signing, signingRegion(signing), time.Now()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return exchange{signing: signing, op: op, body: body, status: rec.Code, errType: rec.Header().Get("X-Amzn-ErrorType"), answer: rec.Body.Bytes()}
}

// TestFidelity runs the driver's whole life of an account (and the calls
// other parts of hatoba make) against a recording simulated cloud, once as
// is and once with every failure injected, and holds every exchange and
// a set of violations derived from the models to AWS's models.
func TestFidelity(t *testing.T) {
	t.Parallel()
	models := loadModels(t)
	calm := runScenario(t, simcloud.Config{}, true)
	stormy := runScenario(t, simcloud.Config{TransientRate: 0.1, RatePerSecond: 300, IdentityCenterRatePerSecond: 40,
		ConflictRate: 0.2, BusyRate: 0.2, EmptyPageRate: 0.3, AssignmentFailureRate: 0.3, CreateFailureRate: 0.3, Seed: 9}, false)
	seen := append(calm.all(), stormy.all()...)

	// Every implemented operation was exercised, successfully.
	ok := map[string]exchange{}
	for _, x := range seen {
		if x.status == http.StatusOK {
			if _, dup := ok[x.signing+"."+x.op]; !dup {
				ok[x.signing+"."+x.op] = x
			}
		}
	}
	for signing, m := range models {
		for op := range m.Operations {
			if _, done := ok[signing+"."+op]; !done {
				t.Errorf("%s %s: never answered successfully in the run; the suite cannot check it", signing, op)
			}
		}
	}

	t.Run("answers", func(t *testing.T) {
		for _, x := range seen {
			checkAnswer(t, models[x.signing], x)
		}
	})

	t.Run("violations", func(t *testing.T) {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range ok {
				if !yield(k) {
					return
				}
			}
		})
		checked, pages := 0, 0
		defer func() {
			t.Logf("%d exchanges, %d operations, %d violations refused, %d largest pages accepted", len(seen), len(keys), checked, pages)
		}()
		for _, key := range keys {
			x := ok[key]
			m := models[x.signing]
			for _, v := range violations(m, x) {
				if v.accept {
					pages++
				} else {
					checked++
				}
				got := send(t, calm.next, x.signing, x.op, v.body)
				checkAnswer(t, m, got)
				want := invalidCode(x.signing)
				if v.accept {
					if got.status != http.StatusOK {
						t.Errorf("%s %s %s: refused (%d %s %s), AWS accepts it", x.signing, x.op, v.what, got.status, got.errType, got.answer)
					}
					continue
				}
				if got.status/100 != 4 || got.errType != want {
					t.Errorf("%s %s %s: answered %d %s %s, AWS refuses it with %s", x.signing, x.op, v.what, got.status, got.errType, got.answer, want)
				}
			}
		}
	})
}

func invalidCode(signing string) string {
	for _, fs := range fidelityServices {
		if fs.signing == signing {
			return fs.invalid
		}
	}
	return ""
}

// checkAnswer holds one exchange to the model: a declared error with its
// status, or an output of the declared shape.
func checkAnswer(t *testing.T, m *model, x exchange) {
	t.Helper()
	op, ok := m.Operations[x.op]
	if !ok {
		t.Errorf("%s %s: not in the model", x.signing, x.op)
		return
	}
	if x.status == 0 || x.status == http.StatusOK {
		if x.status == 0 {
			return // a dropped connection (lost_response_rate)
		}
		if op.Output == nil {
			return
		}
		var v any
		if len(bytes.TrimSpace(x.answer)) == 0 {
			v = map[string]any{}
		} else if err := json.Unmarshal(x.answer, &v); err != nil {
			t.Errorf("%s %s: answer is not JSON: %v", x.signing, x.op, err)
			return
		}
		for _, p := range checkValue(m, op.Output.Shape, v, "") {
			t.Errorf("%s %s: %s", x.signing, x.op, p)
		}
		return
	}
	declared := slices.ContainsFunc(op.Errors, func(r ref) bool { return r.Shape == x.errType })
	if !declared && !slices.Contains(commonErrors, x.errType) {
		t.Errorf("%s %s: answered %s, which the model does not declare for it (%s)", x.signing, x.op, x.errType, x.answer)
		return
	}
	want := http.StatusBadRequest
	if sh := m.Shapes[x.errType]; declared && sh != nil {
		switch {
		case sh.Error != nil && sh.Error.HTTPStatusCode != 0:
			want = sh.Error.HTTPStatusCode
		case sh.Fault:
			want = http.StatusInternalServerError
		}
	} else if x.status >= 500 || x.status == 403 || x.status == 429 {
		want = x.status // common errors: authentication 403, throttling, internal
	}
	if x.status != want {
		t.Errorf("%s %s: %s with HTTP %d, AWS answers %d", x.signing, x.op, x.errType, x.status, want)
	}
	// The error's members (a Reason, a ResourceType) are the shape's, with
	// its values; the protocol's own __type and message aside.
	if sh := m.Shapes[x.errType]; declared && sh != nil {
		var body map[string]any
		_ = json.Unmarshal(x.answer, &body)
		for k, v := range body {
			if k == "__type" || strings.EqualFold(k, "message") {
				continue
			}
			r, ok := sh.Members[k]
			if !ok {
				t.Errorf("%s %s: %s carries %s, which is not one of its members", x.signing, x.op, x.errType, k)
				continue
			}
			for _, p := range checkValue(m, r.Shape, v, k) {
				t.Errorf("%s %s: %s: %s", x.signing, x.op, x.errType, p)
			}
		}
	}
}

// checkValue lists how v departs from shape name.
func checkValue(m *model, name string, v any, path string) []string {
	sh := m.Shapes[name]
	if sh == nil {
		return []string{path + ": shape " + name + " missing from the model"}
	}
	if v == nil {
		return nil // JSON null reads as absent
	}
	where := func(msg string, args ...any) []string {
		return []string{fmt.Sprintf("%s: %s", cmpPath(path), fmt.Sprintf(msg, args...))}
	}
	switch sh.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return where("want an object (%s), got %T", name, v)
		}
		var out []string
		for _, req := range sh.Required {
			if obj[req] == nil {
				out = append(out, where("required member %s missing", req)...)
			}
		}
		for k, e := range obj {
			r, ok := sh.Members[k]
			if !ok {
				out = append(out, where("member %s is not in %s", k, name)...)
				continue
			}
			out = append(out, checkValue(m, r.Shape, e, path+"."+k)...)
		}
		return out
	case "list":
		arr, ok := v.([]any)
		if !ok {
			return where("want a list, got %T", v)
		}
		var out []string
		for i, e := range arr {
			out = append(out, checkValue(m, sh.Member.Shape, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			return where("want a map, got %T", v)
		}
		var out []string
		for k, e := range obj {
			out = append(out, checkValue(m, sh.Value.Shape, e, path+"["+k+"]")...)
		}
		return out
	case "string":
		s, ok := v.(string)
		if !ok {
			return where("want a string, got %T", v)
		}
		if len(sh.Enum) > 0 && !slices.Contains(sh.Enum, s) {
			return where("%q is not one of %s's values", s, name)
		}
	case "integer", "long":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return where("want an integer, got %v", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return where("want a boolean, got %T", v)
		}
	case "timestamp", "double", "float":
		if _, ok := v.(float64); !ok {
			return where("want a number (epoch seconds), got %T", v)
		}
	case "blob":
		if _, ok := v.(string); !ok {
			return where("want base64 text, got %T", v)
		}
	}
	return nil
}

func cmpPath(p string) string {
	if p == "" {
		return "answer"
	}
	return strings.TrimPrefix(p, ".")
}

// violation is an input derived from a valid one, and whether AWS accepts
// it (the largest page) or refuses it.
type violation struct {
	what   string
	body   []byte
	accept bool
}

// violations derives, from a request the simulated cloud accepted, one
// request per constraint of its input that AWS would refuse — the
// top-level members, the members of structures within it and of a list's
// first structure, two levels down — and the largest page AWS allows.
func violations(m *model, x exchange) []violation {
	op := m.Operations[x.op]
	if op.Input == nil {
		return nil
	}
	var base map[string]any
	if err := json.Unmarshal(x.body, &base); err != nil || base == nil {
		base = map[string]any{}
	}
	encode := func(v map[string]any) []byte {
		b, _ := json.Marshal(v)
		return b
	}
	return structViolations(m, op.Input.Shape, base, encode, "", 0)
}

func structViolations(m *model, name string, base map[string]any, rebuild func(map[string]any) []byte, prefix string, depth int) []violation {
	in := m.Shapes[name]
	with := func(member string, v any) []byte {
		cp := map[string]any{}
		for k, e := range base {
			cp[k] = e
		}
		if v == nil {
			delete(cp, member)
		} else {
			cp[member] = v
		}
		return rebuild(cp)
	}
	var out []violation
	for _, req := range in.Required {
		out = append(out, violation{what: "without required " + prefix + req, body: with(req, nil)})
	}
	members := make([]string, 0, len(in.Members))
	for k := range in.Members {
		members = append(members, k)
	}
	sort.Strings(members)
	for _, member := range members {
		sh := m.Shapes[in.Members[member].Shape]
		path := prefix + member
		switch sh.Type {
		case "string":
			if sh.Max != nil && *sh.Max < 1<<16 {
				out = append(out, violation{what: fmt.Sprintf("%s longer than %v", path, *sh.Max), body: with(member, strings.Repeat("a", int(*sh.Max)+1))})
			}
			if sh.Min != nil && *sh.Min > 1 {
				out = append(out, violation{what: fmt.Sprintf("%s shorter than %v", path, *sh.Min), body: with(member, strings.Repeat("a", int(*sh.Min)-1))})
			}
			if len(sh.Enum) > 0 {
				out = append(out, violation{what: path + " outside its enum", body: with(member, "NOT_A_VALUE_OF_THE_ENUM")})
			}
			if bad, ok := breaking(sh); ok && len(sh.Enum) == 0 {
				out = append(out, violation{what: fmt.Sprintf("%s %q against its pattern", path, bad), body: with(member, bad)})
			}
		case "integer", "long":
			if sh.Max != nil {
				out = append(out, violation{what: fmt.Sprintf("%s above %v", path, *sh.Max), body: with(member, *sh.Max+1)})
				if isPageSize(member) && depth == 0 {
					out = append(out, violation{what: fmt.Sprintf("%s at its maximum %v", path, *sh.Max), body: with(member, *sh.Max), accept: true})
				}
			}
			if sh.Min != nil {
				out = append(out, violation{what: fmt.Sprintf("%s below %v", path, *sh.Min), body: with(member, *sh.Min-1)})
			}
		case "structure":
			inner, ok := base[member].(map[string]any)
			if !ok || depth >= 2 || sh.Union {
				continue
			}
			out = append(out, structViolations(m, in.Members[member].Shape, inner, func(v map[string]any) []byte {
				return with(member, v)
			}, path+".", depth+1)...)
		case "list":
			arr, ok := base[member].([]any)
			if !ok || len(arr) == 0 || depth >= 2 {
				continue
			}
			first, ok := arr[0].(map[string]any)
			if !ok || m.Shapes[sh.Member.Shape].Type != "structure" {
				continue
			}
			out = append(out, structViolations(m, sh.Member.Shape, first, func(v map[string]any) []byte {
				cp := slices.Clone(arr)
				cp[0] = v
				return with(member, cp)
			}, path+"[0].", depth+1)...)
		}
	}
	return out
}

func isPageSize(member string) bool { return member == "MaxResults" || member == "Limit" }

// breaking returns a value within the shape's lengths that its pattern
// refuses, when the pattern is one Go's regexp reads as AWS does.
func breaking(sh *shape) (string, bool) {
	if sh.Pattern == "" {
		return "", false
	}
	re, err := regexp.Compile(sh.Pattern)
	if err != nil {
		return "", false
	}
	lo, hi := 0, 1<<16
	if sh.Min != nil {
		lo = int(*sh.Min)
	}
	if sh.Max != nil {
		hi = int(*sh.Max)
	}
	for _, c := range []string{"!", "#x#", "a b", "é", "<>", "x\n", " ", "-", "a", "0", "A"} {
		for len(c) < lo {
			c += c
		}
		if len(c) <= hi && len(c) >= lo && !re.MatchString(c) {
			return c, true
		}
	}
	return "", false
}

// runScenario runs what hatoba does with a provider connection against a
// recording simulated cloud, and the operations only other parts of
// hatoba or AWS's console use, so that every implemented operation is
// exercised. strict fails the test on any error; otherwise (failures
// injected) errors are expected and each step is tried a few times.
func runScenario(t *testing.T, cfg simcloud.Config, strict bool) *recorder {
	t.Helper()
	ctx := context.Background()
	proxy := newProxy(t)
	cfg.XKSClient, cfg.AllowXKSProxyPort = proxy.srv.Client(), true
	sim := open(t, cfg)
	rec := &recorder{next: sim.Handler()}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	d, err := awsdriver.New(ctx, awsdriver.Config{Name: "sim", Region: "ap-northeast-1", Endpoint: srv.URL, AccessKeyID: keyID,
		SecretAccessKey: secret, AllowXKSProxyPort: true, RetryBase: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	step := func(name string, f func() error) {
		t.Helper()
		var err error
		for range 8 {
			if err = f(); err == nil || strict {
				break
			}
		}
		if err != nil && strict {
			t.Fatalf("%s: %v", name, err)
		}
	}
	spec := provider.AccountSpec{Name: "fidelity", Email: "fidelity@sim.hatoba.invalid"}
	var account string
	step("CreateAccount", func() error {
		reqID, err := d.CreateAccount(ctx, spec)
		if err != nil {
			return err
		}
		for range 200 {
			st, err := d.CreateAccountStatus(ctx, reqID)
			switch {
			case err != nil:
				return err
			case st.State == provider.CreateSucceeded:
				account = st.AccountID
				return nil
			case st.State == provider.CreateFailed:
				spec.Email = fmt.Sprintf("fidelity%d@sim.hatoba.invalid", time.Now().UnixNano())
				return fmt.Errorf("creation failed: %s", st.FailureReason)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("creation still in progress")
	})
	if account == "" {
		t.Fatalf("no account was created")
	}
	step("FindAccount", func() error { _, err := d.FindAccount(ctx, spec); return err })
	var unit string
	step("EnsureUnit", func() (err error) { unit, err = d.EnsureUnit(ctx, []string{"local", "13-tokyo"}); return err })
	step("MoveAccount", func() error { return d.MoveAccount(ctx, account, unit) })
	base := provider.Policy{Name: "hatoba-base", Description: "base", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateUser","Resource":"*"}]}`}
	other := provider.Policy{Name: "hatoba-other", Description: "other", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateAccessKey","Resource":"*"}]}`}
	step("AttachPolicies", func() error { return d.AttachPolicies(ctx, account, []provider.Policy{base}) })
	step("SetPolicies", func() error { return d.SetPolicies(ctx, account, "hatoba-", []provider.Policy{other}) })
	step("AssignAccess", func() error {
		return d.AssignAccess(ctx, account, provider.Access{AdminGroup: "f-admins", MemberGroup: "f-members"})
	})
	taro := provider.Person{ID: "p-taro", DisplayName: "山田 太郎", Email: "yamada@city.example.lg.jp"}
	step("AddGroupMember", func() error { return d.AddGroupMember(ctx, "f-members", taro) })
	step("RemoveGroupMember", func() error { return d.RemoveGroupMember(ctx, "f-members", taro.ID) })
	step("SetBillingContact", func() error {
		return d.SetBillingContact(ctx, account, provider.Contact{Name: "会計課", Title: "Billing", Email: "kaikei@city.example.jp", Phone: "+81-3-1234-5678"})
	})
	step("TagAccount", func() error {
		return d.TagAccount(ctx, account, map[string]string{"hatoba:environment": "住民記録（本番）"})
	})
	step("ListResources", func() error { _, err := d.ListResources(ctx, account); return err })
	var store provider.ExternalKeyStore
	step("EnsureExternalKeyStore", func() (err error) {
		store, err = d.EnsureExternalKeyStore(ctx, provider.ExternalKeyStoreSpec{Name: "hatoba-org-1", ProxyURL: proxy.srv.URL,
			ProxyPath: xksPath, AccessKeyID: xksAccessKey, Secret: xksSecret})
		return err
	})
	var key provider.ExternalKey
	step("CreateExternalKey", func() (err error) {
		key, err = d.CreateExternalKey(ctx, store.ID, "key-1", "fidelity", map[string]string{"hatoba:org": "org-1"})
		return err
	})

	// What the driver does not call: keyd's tests and AWS's own users do.
	raw := func(signing, op string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		var out map[string]any
		for range 8 {
			x := send(t, rec, signing, op, b)
			if x.status == http.StatusOK {
				_ = json.Unmarshal(x.answer, &out)
				return out
			}
			if strict {
				t.Fatalf("%s %s: %d %s %s", signing, op, x.status, x.errType, x.answer)
			}
		}
		return out
	}
	raw("organizations", "DescribeAccount", map[string]any{"AccountId": account})
	raw("organizations", "ListCreateAccountStatus", map[string]any{"States": []string{"SUCCEEDED"}})
	raw("organizations", "ListTagsForResource", map[string]any{"ResourceId": account})
	raw("account", "GetAlternateContact", map[string]any{"AccountId": account, "AlternateContactType": "BILLING"})
	raw("config", "DescribeConfigurationAggregators", map[string]any{})
	if key.ID != "" {
		raw("kms", "DescribeKey", map[string]any{"KeyId": key.ID})
		enc := raw("kms", "Encrypt", map[string]any{"KeyId": key.ID, "Plaintext": "aGVsbG8="})
		if blob, ok := enc["CiphertextBlob"].(string); ok {
			raw("kms", "Decrypt", map[string]any{"KeyId": key.ID, "CiphertextBlob": blob})
		}
		raw("kms", "GenerateDataKey", map[string]any{"KeyId": key.ID, "KeySpec": "AES_256"})
	}
	inst := raw("sso", "ListInstances", map[string]any{})
	if list, ok := inst["Instances"].([]any); ok && len(list) == 1 {
		arn := list[0].(map[string]any)["InstanceArn"]
		sets := raw("sso", "ListPermissionSets", map[string]any{"InstanceArn": arn})
		if psl, ok := sets["PermissionSets"].([]any); ok && len(psl) > 0 {
			ps := psl[0]
			as := raw("sso", "ListAccountAssignments", map[string]any{"InstanceArn": arn, "AccountId": account, "PermissionSetArn": ps})
			if al, ok := as["AccountAssignments"].([]any); ok && len(al) > 0 {
				a := al[0].(map[string]any)
				del := raw("sso", "DeleteAccountAssignment", map[string]any{"InstanceArn": arn, "TargetId": account, "TargetType": "AWS_ACCOUNT",
					"PermissionSetArn": ps, "PrincipalType": a["PrincipalType"], "PrincipalId": a["PrincipalId"]})
				if st, ok := del["AccountAssignmentDeletionStatus"].(map[string]any); ok {
					raw("sso", "DescribeAccountAssignmentDeletionStatus", map[string]any{"InstanceArn": arn, "AccountAssignmentDeletionRequestId": st["RequestId"]})
				}
			}
			raw("sso", "PutPermissionsBoundaryToPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps,
				"PermissionsBoundary": map[string]any{"ManagedPolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}})
			raw("sso", "GetPermissionsBoundaryForPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps})
			raw("sso", "DeletePermissionsBoundaryFromPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps})
			raw("sso", "PutInlinePolicyToPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps,
				"InlinePolicy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}`})
			raw("sso", "DeleteInlinePolicyFromPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps})
			raw("sso", "AttachManagedPolicyToPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps, "ManagedPolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
			raw("sso", "DetachManagedPolicyFromPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps, "ManagedPolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
			prov := raw("sso", "ProvisionPermissionSet", map[string]any{"InstanceArn": arn, "PermissionSetArn": ps, "TargetType": "ALL_PROVISIONED_ACCOUNTS"})
			if st, ok := prov["PermissionSetProvisioningStatus"].(map[string]any); ok {
				raw("sso", "DescribePermissionSetProvisioningStatus", map[string]any{"InstanceArn": arn, "ProvisionPermissionSetRequestId": st["RequestId"]})
			}
		}
	}
	if store.ID != "" {
		raw("kms", "DisconnectCustomKeyStore", map[string]any{"CustomKeyStoreId": store.ID})
		raw("kms", "UpdateCustomKeyStore", map[string]any{"CustomKeyStoreId": store.ID, "NewCustomKeyStoreName": "hatoba-org-1-renamed"})
		raw("kms", "ConnectCustomKeyStore", map[string]any{"CustomKeyStoreId": store.ID})
	}
	// AWS's errors, provoked, so that their shapes are checked too.
	refused := func(signing, op string, body any, code string) {
		t.Helper()
		b, _ := json.Marshal(body)
		if x := send(t, rec, signing, op, b); strict && x.errType != code {
			t.Fatalf("%s %s: %d %s %s, want %s", signing, op, x.status, x.errType, x.answer, code)
		}
	}
	var storeID string
	if list, ok := inst["Instances"].([]any); ok && len(list) == 1 {
		storeID, _ = list[0].(map[string]any)["IdentityStoreId"].(string)
		arn := list[0].(map[string]any)["InstanceArn"]
		refused("sso", "DescribePermissionSet", map[string]any{"InstanceArn": arn,
			"PermissionSetArn": strings.Replace(fmt.Sprint(arn), ":instance/", ":permissionSet/", 1) + "/ps-0000000000000000"}, "ResourceNotFoundException")
	}
	refused("identitystore", "CreateGroup", map[string]any{"IdentityStoreId": storeID, "DisplayName": "f-admins"}, "ConflictException")
	refused("identitystore", "GetUserId", map[string]any{"IdentityStoreId": storeID,
		"AlternateIdentifier": map[string]any{"UniqueAttribute": map[string]any{"AttributePath": "userName", "AttributeValue": "p-nobody"}}}, "ResourceNotFoundException")
	refused("identitystore", "GetUserId", map[string]any{"IdentityStoreId": "d-0000000000",
		"AlternateIdentifier": map[string]any{"UniqueAttribute": map[string]any{"AttributePath": "userName", "AttributeValue": "p-taro"}}}, "ResourceNotFoundException")
	refused("organizations", "DescribeAccount", map[string]any{"AccountId": "999999999999"}, "AccountNotFoundException")
	var roots map[string]any
	if x := send(t, rec, "organizations", "ListRoots", []byte(`{}`)); x.status == http.StatusOK {
		_ = json.Unmarshal(x.answer, &roots)
	}
	if list, ok := roots["Roots"].([]any); ok && len(list) == 1 {
		root := list[0].(map[string]any)["Id"]
		refused("organizations", "CreateOrganizationalUnit", map[string]any{"ParentId": root, "Name": "local"}, "DuplicateOrganizationalUnitException")
	}
	tags := []map[string]string{}
	for i := range 51 {
		tags = append(tags, map[string]string{"Key": fmt.Sprintf("k%02d", i), "Value": "v"})
	}
	refused("organizations", "TagResource", map[string]any{"ResourceId": account, "Tags": tags}, "ConstraintViolationException")
	refused("account", "GetAlternateContact", map[string]any{"AccountId": account, "AlternateContactType": "OPERATIONS"}, "ResourceNotFoundException")
	refused("kms", "DescribeKey", map[string]any{"KeyId": "00000000-0000-0000-0000-000000000000"}, "NotFoundException")
	refused("config", "SelectAggregateResourceConfig", map[string]any{"ConfigurationAggregatorName": "other",
		"Expression": "SELECT resourceId WHERE accountId = '" + account + "'"}, "NoSuchConfigurationAggregatorException")
	step("CloseAccount", func() error { return d.CloseAccount(ctx, account) })
	refused("organizations", "CloseAccount", map[string]any{"AccountId": account}, "AccountAlreadyClosedException")
	return rec
}
