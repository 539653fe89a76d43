package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/notify"
	"github.com/hatoba-cloud/hatoba/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// unsealedKeys is a key service in split custody, unsealed: channel
// secrets are sealed through it as in serve.
func unsealedKeys(t testing.TB, db *store.DB) *keys.Service {
	t.Helper()
	svc := keys.New(db, keys.Options{})
	shares, err := svc.InitSplit(context.Background(), authz.Principal{PersonID: "p-init", Role: authz.CentralOperator}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	sharesOf.Store(db, shares)
	return reopenedKeys(t, db)
}

// sharesOf keeps each test database's unseal shares, so a "restarted"
// service can unseal its own key service again.
var sharesOf sync.Map

// reopenedKeys is a new key service over db, unsealed with its shares: what
// a restarted serve has.
func reopenedKeys(t testing.TB, db *store.DB) *keys.Service {
	t.Helper()
	svc := keys.New(db, keys.Options{})
	shares, _ := sharesOf.Load(db)
	for _, sh := range shares.([]string)[:2] {
		if _, err := svc.SubmitShare(context.Background(), audit.Acting{Actor: "custodian"}, sh); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

// accounts maps account ids to (environment, organisation).
type accounts map[string][2]string

func (a accounts) EnvironmentOfAccount(_ context.Context, id string) (string, string, error) {
	if v, ok := a[id]; ok {
		return v[0], v[1], nil
	}
	return "", "", fault.NotFoundf("no environment with account %s", id)
}

var testAccounts = accounts{"111111111111": {"env-a1", "org-a"}, "222222222222": {"env-b1", "org-b"}}

// controlFor resolves CIS AWS-3.5 and hatoba's control ids as serve's
// catalog does.
func controlFor(refs []string) string {
	for _, r := range refs {
		switch {
		case r == "cis:AWS-3.5":
			return "aws-cloudtrail-kms"
		case strings.HasPrefix(r, "control:aws-"):
			return strings.TrimPrefix(r, "control:")
		}
	}
	return ""
}

func newService(t testing.TB, db *store.DB, clk *clock, opts notify.Options) *notify.Service {
	t.Helper()
	opts.AllowPrivateTargets = true
	if opts.Accounts == nil {
		opts.Accounts = testAccounts
	}
	if opts.ControlFor == nil {
		opts.ControlFor = controlFor
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = time.Second
	}
	if opts.SendTimeout == 0 {
		opts.SendTimeout = 5 * time.Second
	}
	return notify.New(db, notify.KeyService{Keys: unsealedKeys(t, db)}, clk.now, opts)
}

// receiver is a webhook receiver that verifies hatoba's signature and
// records what it got.
type receiver struct {
	srv    *httptest.Server
	key    string
	status int
	mu     sync.Mutex
	got    []received
	// hold, when set, blocks each request until it is closed.
	hold chan struct{}
	// entered is signalled when a request arrives.
	entered chan struct{}
}

type received struct {
	header http.Header
	body   []byte
	msg    notify.Message
	sigOK  bool
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{status: http.StatusOK, entered: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.entered <- struct{}{}
		r.mu.Lock()
		hold := r.hold
		r.mu.Unlock()
		if hold != nil {
			select {
			case <-hold:
			case <-req.Context().Done():
				return
			}
		}
		var m notify.Message
		_ = json.Unmarshal(body, &m)
		r.mu.Lock()
		key := r.key
		rc := received{header: req.Header.Clone(), body: body, msg: m}
		// The receiver's clock is the real one; the sender signs with the
		// test's clock, so the tolerance is wide here.
		rc.sigOK = key != "" && notify.Verify(key, req.Header, body, time.Unix(mustInt(req.Header.Get(notify.HeaderTimestamp)), 0), 5*time.Minute) == nil
		r.got = append(r.got, rc)
		status := r.status
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func mustInt(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

func sev(s controls.Severity) *controls.Severity { return &s }
func intp(n int) *int                            { return &n }
func strp(s string) *string                      { return &s }

// drain delivers everything due now.
func drain(t testing.TB, s *notify.Service) int {
	t.Helper()
	n := 0
	for {
		did, err := s.DeliverOne(context.Background())
		if err != nil {
			t.Fatalf("DeliverOne: %v", err)
		}
		if !did {
			return n
		}
		n++
	}
}

func finding(org, env, control, resource string, s controls.Severity) notify.Incoming {
	return notify.Incoming{OrgID: org, EnvID: env, Source: notify.SourceHatoba, SourceID: "f-" + control + "-" + resource, Severity: s,
		Title: control + " fails", ControlID: control, ResourceID: resource}
}
