package pki_test

import (
	"context"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/hatoba-cloud/hatoba/internal/pki"
	"github.com/hatoba-cloud/hatoba/internal/pki/pkitest"
)

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var (
	oidIDP   = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidDelta = asn1.ObjectIdentifier{2, 5, 29, 27}
)

// idpFor is an issuingDistributionPoint extension naming uri.
func idpFor(t *testing.T, uri string) pkix.Extension {
	t.Helper()
	m := func(v asn1.RawValue) []byte { return must[[]byte](t)(asn1.Marshal(v)) }
	name := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(uri)}
	full := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: m(name)}
	dp := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: m(full)}
	return pkix.Extension{Id: oidIDP, Critical: true, Value: m(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: m(dp)})}
}

// TestVerifyCRLFromDistributionPoint serves each case's CRL at a leaf's
// distribution point.
func TestVerifyCRLFromDistributionPoint(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	in := p.Intermediate
	crl := func(s pkitest.CRLSpec) func(*testing.T, string) []byte {
		return func(t *testing.T, _ string) []byte { return must[[]byte](t)(in.SignCRL(s)) }
	}
	current := pkitest.CRLSpec{ThisUpdate: p.Now.Add(-time.Hour), NextUpdate: p.Now.Add(time.Hour)}
	stale := pkitest.CRLSpec{ThisUpdate: p.Now.Add(-48 * time.Hour), NextUpdate: p.Now.Add(-24 * time.Hour)}
	tests := []struct {
		name    string
		body    func(t *testing.T, url string) []byte // nil: HTTP 404
		revoked bool                                  // revoke the leaf first
		change  func(*pki.Options)
		want    *pki.Error
	}{
		{name: "ok/current", body: crl(current)},
		{name: "ok/pem", body: func(t *testing.T, url string) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl(current)(t, url)})
		}},
		{name: "ok/scoped to this distribution point", body: func(t *testing.T, url string) []byte {
			return must[[]byte](t)(in.SignCRL(pkitest.CRLSpec{ThisUpdate: current.ThisUpdate, NextUpdate: current.NextUpdate,
				ExtraExtensions: []pkix.Extension{idpFor(t, url)}}))
		}},
		{name: "fail/revoked", body: crl(current), revoked: true, want: pki.ErrRevoked},
		{name: "fail/revoked on an out-of-date crl", body: crl(stale), revoked: true, want: pki.ErrRevoked},
		{name: "fail/out of date", body: crl(stale), want: pki.ErrRevocationUnavailable},
		{name: "fail/dated in the future", body: crl(pkitest.CRLSpec{ThisUpdate: p.Now.Add(time.Hour), NextUpdate: p.Now.Add(2 * time.Hour)}),
			want: pki.ErrRevocationUnavailable},
		{name: "fail/bad signature", body: func(t *testing.T, url string) []byte {
			b := crl(current)(t, url)
			b[len(b)-1] ^= 0xff
			return b
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/signed by another ca", body: func(t *testing.T, _ string) []byte {
			return must[[]byte](t)(p.ImpostorCA.CRL(current.ThisUpdate, current.NextUpdate))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/scoped to another distribution point", body: func(t *testing.T, _ string) []byte {
			return must[[]byte](t)(in.SignCRL(pkitest.CRLSpec{ThisUpdate: current.ThisUpdate, NextUpdate: current.NextUpdate,
				ExtraExtensions: []pkix.Extension{idpFor(t, "http://elsewhere.invalid/crl")}}))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/delta crl", body: func(t *testing.T, _ string) []byte {
			return must[[]byte](t)(in.SignCRL(pkitest.CRLSpec{ThisUpdate: current.ThisUpdate, NextUpdate: current.NextUpdate,
				ExtraExtensions: []pkix.Extension{{Id: oidDelta, Critical: true, Value: must[[]byte](t)(asn1.Marshal(1))}}}))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/not found", want: pki.ErrRevocationUnavailable},
		{name: "fail/not a crl", body: func(*testing.T, string) []byte { return []byte("<html>maintenance</html>") }, want: pki.ErrRevocationUnavailable},
		{name: "fail/too large", body: crl(current), change: func(o *pki.Options) { o.MaxCRLBytes = 64 }, want: pki.ErrRevocationUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body atomic.Pointer[[]byte]
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b := body.Load()
				if b == nil {
					http.NotFound(w, r)
					return
				}
				_, _ = w.Write(*b)
			}))
			t.Cleanup(srv.Close)
			leaf := must[*pkitest.Leaf](t)(in.Issue(pkitest.LeafSpec{Subject: pkix.Name{CommonName: tt.name}, CRLURLs: []string{srv.URL}}))
			if tt.revoked {
				in.Revoke(leaf.Cert.SerialNumber, p.Now.Add(-time.Minute), 1)
			}
			if tt.body != nil {
				b := tt.body(t, srv.URL)
				body.Store(&b)
			}
			v := newVerifier(t, p, files, tt.change)
			_, err := v.Verify(context.Background(), leaf.Chain)
			t.Logf("err: %v", err)
			wantRefusal(t, err, tt.want)
		})
	}
}

// TestVerifyOCSPAnswers serves each case's OCSP response to a leaf that
// names only that responder.
func TestVerifyOCSPAnswers(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	in := p.Intermediate
	fresh := func(status int) pkitest.OCSPAnswer {
		return pkitest.OCSPAnswer{Status: status, ThisUpdate: p.Now.Add(-time.Minute), NextUpdate: p.Now.Add(time.Hour), RevokedAt: p.Now.Add(-time.Hour)}
	}
	tests := []struct {
		name   string
		answer func(t *testing.T, l *pkitest.Leaf) []byte
		status int // with answer nil: reply with this HTTP status
		crl    bool
		want   *pki.Error
	}{
		{name: "ok/good from the delegated responder", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, fresh(ocsp.Good)))
		}},
		{name: "ok/good signed by the ca itself", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			a := fresh(ocsp.Good)
			a.SignerCert, a.SignerKey = in.Cert, in.Key
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, a))
		}},
		{name: "ok/responder down, the crl answers", status: http.StatusServiceUnavailable, crl: true},
		{name: "fail/revoked", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, fresh(ocsp.Revoked)))
		}, want: pki.ErrRevoked},
		{name: "fail/good forged with a client certificate", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			a := fresh(ocsp.Good)
			a.SignerCert, a.SignerKey = p.Valid.Cert, p.Valid.Key
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, a))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/good forged by another ca", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			a := fresh(ocsp.Good)
			a.SignerCert, a.SignerKey = p.ImpostorCA.Cert, p.ImpostorCA.Key
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, a))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/out of date", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			a := fresh(ocsp.Good)
			a.ThisUpdate, a.NextUpdate = p.Now.Add(-48*time.Hour), p.Now.Add(-24*time.Hour)
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, a))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/old answer without next update", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			a := fresh(ocsp.Good)
			a.ThisUpdate, a.NextUpdate = p.Now.Add(-48*time.Hour), time.Time{}
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, a))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/about another certificate", answer: func(t *testing.T, _ *pkitest.Leaf) []byte {
			return must[[]byte](t)(in.SignOCSP(p.Valid.Cert.SerialNumber, fresh(ocsp.Good)))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/unknown", answer: func(t *testing.T, l *pkitest.Leaf) []byte {
			return must[[]byte](t)(in.SignOCSP(l.Cert.SerialNumber, fresh(ocsp.Unknown)))
		}, want: pki.ErrRevocationUnavailable},
		{name: "fail/try later", answer: func(*testing.T, *pkitest.Leaf) []byte { return ocsp.TryLaterErrorResponse },
			want: pki.ErrRevocationUnavailable},
		{name: "fail/server error", status: http.StatusInternalServerError, want: pki.ErrRevocationUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body atomic.Pointer[[]byte]
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/ocsp-request" {
					http.Error(w, "want an OCSP POST", http.StatusBadRequest)
					return
				}
				if b := body.Load(); b != nil {
					_, _ = w.Write(*b)
					return
				}
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(srv.Close)
			spec := pkitest.LeafSpec{Subject: pkix.Name{CommonName: tt.name}, OCSPURLs: []string{srv.URL}}
			if tt.crl {
				spec.CRLURLs = []string{in.CRLURL}
			}
			leaf := must[*pkitest.Leaf](t)(in.Issue(spec))
			if tt.answer != nil {
				b := tt.answer(t, leaf)
				body.Store(&b)
			}
			v := newVerifier(t, p, files, nil)
			_, err := v.Verify(context.Background(), leaf.Chain)
			t.Logf("err: %v", err)
			wantRefusal(t, err, tt.want)
		})
	}
}

// clock is a settable time for cache tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRevocationCache(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	c := &clock{t: p.Now}
	v := newVerifier(t, p, files, func(o *pki.Options) { o.Now = c.now; o.RevocationCache = 10 * time.Minute })
	verify := func(l *pkitest.Leaf) {
		t.Helper()
		if _, err := v.Verify(context.Background(), l.Chain); err != nil {
			t.Fatal(err)
		}
	}
	served := func(path string, want int64) {
		t.Helper()
		if got := p.Served(path); got != want {
			t.Fatalf("%s served %d times, want %d", path, got, want)
		}
	}

	verify(p.Valid)
	verify(p.ValidRSA)
	verify(p.Valid)
	served("/crl/intermediate", 1)
	served("/crl/root", 1)
	c.add(10*time.Minute + time.Second)
	verify(p.Valid)
	served("/crl/intermediate", 2)

	verify(p.OCSPGood)
	verify(p.OCSPGood)
	served("/ocsp/intermediate", 1)
	c.add(10*time.Minute + time.Second)
	verify(p.OCSPGood)
	served("/ocsp/intermediate", 2)
}

// TestRevocationCacheKeepsACurrentCRL shows a distribution point that goes
// down does not stop logins while the CRL last fetched is current, and
// does once that CRL is out of date.
func TestRevocationCacheKeepsACurrentCRL(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	c := &clock{t: p.Now}
	der := must[[]byte](t)(p.Intermediate.CRL(p.Now.Add(-time.Hour), p.Now.Add(time.Hour)))
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(der)
	}))
	t.Cleanup(srv.Close)
	leaf := must[*pkitest.Leaf](t)(p.Intermediate.Issue(pkitest.LeafSpec{Subject: pkix.Name{CommonName: "cache"}, CRLURLs: []string{srv.URL}}))
	v := newVerifier(t, p, files, func(o *pki.Options) { o.Now = c.now; o.RevocationCache = 10 * time.Minute })

	if _, err := v.Verify(context.Background(), leaf.Chain); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	c.add(30 * time.Minute)
	if _, err := v.Verify(context.Background(), leaf.Chain); err != nil {
		t.Fatalf("with the distribution point down and its last CRL current: %v", err)
	}
	c.add(31 * time.Minute)
	_, err := v.Verify(context.Background(), leaf.Chain)
	wantRefusal(t, err, pki.ErrRevocationUnavailable)
}

// TestRevocationCacheOneFetchForABurst shows concurrent logins share one
// CRL download.
func TestRevocationCacheOneFetchForABurst(t *testing.T) {
	t.Parallel()
	p, files := pkitest.New(t, pkitest.Options{})
	der := must[[]byte](t)(p.Intermediate.CRL(p.Now.Add(-time.Hour), p.Now.Add(time.Hour)))
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		_, _ = w.Write(der)
	}))
	t.Cleanup(srv.Close)
	leaf := must[*pkitest.Leaf](t)(p.Intermediate.Issue(pkitest.LeafSpec{Subject: pkix.Name{CommonName: "burst"}, CRLURLs: []string{srv.URL}}))
	v := newVerifier(t, p, files, nil)

	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := v.Verify(context.Background(), leaf.Chain)
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the CRL was never requested")
		}
		time.Sleep(time.Millisecond) // polling for the first request, not waiting for an outcome
	}
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Whether a goroutine arrived during the fetch (and waited for it) or
	// after (and found it cached), none fetched again.
	if got := hits.Load(); got != 1 {
		t.Fatalf("CRL fetched %d times, want 1", got)
	}
}
