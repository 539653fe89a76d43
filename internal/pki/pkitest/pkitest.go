package pkitest

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Options shapes a generated PKI. The zero value is a test PKI: ECDSA CAs,
// CRLs valid for a day, leaves for a year.
type Options struct {
	// BaseURL is where CRLs and OCSP answers are served (New sets it to
	// its httptest server). Empty: certificates carry no CRL distribution
	// point and no OCSP responder.
	BaseURL string
	// UnreachableURL is the OCSP responder named by the OCSPUnreachable
	// leaf: an address nothing listens on. New picks one.
	UnreachableURL string
	// Now is the PKI's present; the zero value means time.Now().
	Now time.Time
	// CAKey is the CAs' key type (RSA2048 mirrors the national PKI).
	CAKey        KeyType
	CRLValidity  time.Duration // nextUpdate - thisUpdate of served and written CRLs; default 24h
	LeafValidity time.Duration // default one year
	CAValidity   time.Duration // default ten years
}

// Leaf names, the keys of PKI.Leaves and the stems of WriteFiles' files.
const (
	NameValid            = "valid"
	NameValidRSA         = "valid-rsa"
	NameEmptySubject     = "empty-subject"
	NameExpired          = "expired"
	NameNotYetValid      = "not-yet-valid"
	NameRevoked          = "revoked"
	NameUntrusted        = "untrusted"
	NameImpostor         = "impostor"
	NameKeyEncipherment  = "key-encipherment-only"
	NameServerAuth       = "server-auth-only"
	NameCACert           = "ca-cert"
	NameRevokedIssuer    = "revoked-issuer"
	NameNoRevocationInfo = "no-revocation-info"
	NameOCSPGood         = "ocsp-good"
	NameOCSPRevoked      = "ocsp-revoked"
	NameOCSPUnreachable  = "ocsp-unreachable"
)

// PKI is a generated PKI. Only Root and Intermediate are meant to be
// trusted (WriteFiles' ca.pem holds both).
type PKI struct {
	Now time.Time
	// Root is the trust anchor; Intermediate issues the client
	// certificates; RevokedIntermediate is revoked on Root's CRL;
	// UntrustedRoot is a CA nobody configures; ImpostorCA is self-made,
	// with Intermediate's exact name but its own key.
	Root, Intermediate, RevokedIntermediate, UntrustedRoot, ImpostorCA *Authority

	// The client certificates, one per case (see the Name constants).
	Valid            *Leaf // ECDSA P-256, CRL distribution point
	ValidRSA         *Leaf // RSA 2048, CRL distribution point
	EmptySubject     *Leaf // RSA 2048, empty subject, no EKU: like the My Number Card's
	Expired          *Leaf
	NotYetValid      *Leaf
	Revoked          *Leaf // on Intermediate's CRL (and OCSP)
	Untrusted        *Leaf // issued by UntrustedRoot
	Impostor         *Leaf // issued by ImpostorCA
	KeyEncipherment  *Leaf // key usage keyEncipherment only
	ServerAuth       *Leaf // extended key usage serverAuth only
	CACert           *Leaf // a CA certificate presented as a client certificate
	RevokedIssuer    *Leaf // issued by RevokedIntermediate
	NoRevocationInfo *Leaf // no distribution point, no OCSP responder
	OCSPGood         *Leaf // OCSP only; good
	OCSPRevoked      *Leaf // OCSP only; revoked
	OCSPUnreachable  *Leaf // OCSP only; its responder does not listen

	// Leaves holds the same certificates by name.
	Leaves map[string]*Leaf

	opts   Options
	served sync.Map // path → *atomic.Int64
}

// Generate builds a PKI in memory.
func Generate(o Options) (*PKI, error) {
	if o.Now.IsZero() {
		o.Now = time.Now().UTC().Truncate(time.Second)
	}
	if o.CRLValidity <= 0 {
		o.CRLValidity = 24 * time.Hour
	}
	if o.LeafValidity <= 0 {
		o.LeafValidity = 365 * 24 * time.Hour
	}
	if o.CAValidity <= 0 {
		o.CAValidity = 10 * 365 * 24 * time.Hour
	}
	p := &PKI{Now: o.Now, opts: o, Leaves: map[string]*Leaf{}}
	base := strings.TrimSuffix(o.BaseURL, "/")
	urls := func(kind, name string) []string {
		if base == "" {
			return nil
		}
		return []string{base + "/" + kind + "/" + name}
	}
	org := func(cn string) pkix.Name {
		return pkix.Name{Country: []string{"JP"}, Organization: []string{"Hatoba Test PKI"}, CommonName: cn}
	}
	mk := func(name string, subject pkix.Name, parent *Authority, delegate bool) (*Authority, error) {
		s := authoritySpec{name: name, subject: subject, parent: parent, key: o.CAKey, life: o.CAValidity,
			leafLife: o.LeafValidity, now: o.Now, delegate: delegate}
		if parent != nil {
			s.crlURLs = urls("crl", parent.Name)
		}
		a, err := newAuthority(s)
		if err != nil {
			return nil, err
		}
		if base != "" {
			a.CRLURL, a.OCSPURL = base+"/crl/"+name, base+"/ocsp/"+name
		}
		return a, nil
	}
	var err error
	if p.Root, err = mk("root", org("Hatoba Test Root CA"), nil, false); err != nil {
		return nil, err
	}
	if p.Intermediate, err = mk("intermediate", org("Hatoba Test Client CA"), p.Root, true); err != nil {
		return nil, err
	}
	if p.RevokedIntermediate, err = mk("revoked-intermediate", org("Hatoba Test Revoked CA"), p.Root, false); err != nil {
		return nil, err
	}
	p.Root.Revoke(p.RevokedIntermediate.Cert.SerialNumber, o.Now.Add(-2*time.Hour), 2) // cACompromise
	if p.UntrustedRoot, err = mk("untrusted", pkix.Name{Country: []string{"JP"}, Organization: []string{"Elsewhere"}, CommonName: "Untrusted Test CA"}, nil, false); err != nil {
		return nil, err
	}
	if p.ImpostorCA, err = mk("impostor", org("Hatoba Test Client CA"), nil, false); err != nil {
		return nil, err
	}

	in := p.Intermediate
	crl := urls("crl", in.Name)
	ocspURL := urls("ocsp", in.Name)
	var unreachable []string
	if o.UnreachableURL != "" {
		unreachable = []string{o.UnreachableURL}
	}
	for _, s := range []struct {
		name  string
		into  **Leaf
		by    *Authority
		spec  LeafSpec
		after func(*Leaf)
	}{
		{NameValid, &p.Valid, in, LeafSpec{Subject: org("Valid Person"), CRLURLs: crl}, nil},
		{NameValidRSA, &p.ValidRSA, in, LeafSpec{Key: RSA2048, Subject: org("Valid RSA Person"), CRLURLs: crl}, nil},
		{NameEmptySubject, &p.EmptySubject, in, LeafSpec{Key: RSA2048, ExtKeyUsage: []x509.ExtKeyUsage{}, CRLURLs: crl}, nil},
		{NameExpired, &p.Expired, in, LeafSpec{Subject: org("Expired Person"), CRLURLs: crl,
			NotBefore: o.Now.Add(-400 * 24 * time.Hour), NotAfter: o.Now.Add(-24 * time.Hour)}, nil},
		{NameNotYetValid, &p.NotYetValid, in, LeafSpec{Subject: org("Future Person"), CRLURLs: crl,
			NotBefore: o.Now.Add(24 * time.Hour), NotAfter: o.Now.Add(400 * 24 * time.Hour)}, nil},
		{NameRevoked, &p.Revoked, in, LeafSpec{Subject: org("Revoked Person"), CRLURLs: crl},
			func(l *Leaf) { in.Revoke(l.Cert.SerialNumber, o.Now.Add(-time.Hour), 1) }}, // keyCompromise
		{NameUntrusted, &p.Untrusted, p.UntrustedRoot, LeafSpec{Subject: org("Untrusted Person"), CRLURLs: urls("crl", "untrusted")}, nil},
		{NameImpostor, &p.Impostor, p.ImpostorCA, LeafSpec{Subject: org("Impostor"), CRLURLs: urls("crl", "impostor")}, nil},
		{NameKeyEncipherment, &p.KeyEncipherment, in, LeafSpec{Subject: org("Encryption Only"), KeyUsage: x509.KeyUsageKeyEncipherment, CRLURLs: crl}, nil},
		{NameServerAuth, &p.ServerAuth, in, LeafSpec{Subject: org("server.hatoba.invalid"), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, CRLURLs: crl}, nil},
		{NameCACert, &p.CACert, in, LeafSpec{Subject: org("Sub CA Posing As Person"), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, CRLURLs: crl}, nil},
		{NameRevokedIssuer, &p.RevokedIssuer, p.RevokedIntermediate, LeafSpec{Subject: org("Person Under Revoked CA"), CRLURLs: urls("crl", p.RevokedIntermediate.Name)}, nil},
		{NameNoRevocationInfo, &p.NoRevocationInfo, in, LeafSpec{Subject: org("No Revocation Info")}, nil},
		{NameOCSPGood, &p.OCSPGood, in, LeafSpec{Subject: org("OCSP Good"), OCSPURLs: ocspURL}, nil},
		{NameOCSPRevoked, &p.OCSPRevoked, in, LeafSpec{Subject: org("OCSP Revoked"), OCSPURLs: ocspURL},
			func(l *Leaf) { in.Revoke(l.Cert.SerialNumber, o.Now.Add(-time.Hour), 4) }}, // superseded
		{NameOCSPUnreachable, &p.OCSPUnreachable, in, LeafSpec{Subject: org("OCSP Unreachable"), OCSPURLs: unreachable}, nil},
	} {
		s.spec.Name = s.name
		l, err := s.by.Issue(s.spec)
		if err != nil {
			return nil, err
		}
		*s.into = l
		p.Leaves[s.name] = l
		if s.after != nil {
			s.after(l)
		}
	}
	return p, nil
}

// New builds a PKI for a test: its CRLs and OCSP answers served by an
// httptest server (closed at the end of the test) and its files written
// to a temporary directory (see Files). o.BaseURL and o.UnreachableURL are
// set by New.
func New(t testing.TB, o Options) (*PKI, Files) {
	t.Helper()
	var pkiPtr atomic.Pointer[PKI]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pkiPtr.Load()
		if p == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	o.BaseURL = srv.URL
	o.UnreachableURL = unreachableURL(t)
	p, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	pkiPtr.Store(p)
	files, err := p.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p, files
}

// unreachableURL returns an http URL on a loopback port nothing listens on
// (it was free a moment ago), so a request to it is refused at once.
func unreachableURL(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/ocsp"
}

// Served is how many requests the server has answered for path (such as
// "/crl/intermediate" or "/ocsp/intermediate"), to test caching.
func (p *PKI) Served(path string) int64 {
	if c, ok := p.served.Load(path); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

func (p *PKI) count(path string) {
	c, _ := p.served.LoadOrStore(path, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

func (p *PKI) authority(name string) *Authority {
	for _, a := range []*Authority{p.Root, p.Intermediate, p.RevokedIntermediate, p.UntrustedRoot, p.ImpostorCA} {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// ServeHTTP answers GET /crl/{authority} with a current DER CRL and OCSP
// requests at /ocsp/{authority} (POST, or GET with the base64 request in
// the path, RFC 6960 appendix A).
func (p *PKI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.count(r.URL.Path)
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) < 2 {
		http.NotFound(w, r)
		return
	}
	a := p.authority(parts[1])
	if a == nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case parts[0] == "crl" && r.Method == http.MethodGet:
		der, err := a.CRL(p.Now.Add(-time.Hour), p.Now.Add(p.opts.CRLValidity))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(der)
	case parts[0] == "ocsp":
		var body []byte
		var err error
		switch {
		case r.Method == http.MethodPost:
			body, err = io.ReadAll(io.LimitReader(r.Body, 1<<16))
		case r.Method == http.MethodGet && len(parts) == 3:
			body, err = base64.StdEncoding.DecodeString(parts[2])
		default:
			err = errors.New("no request")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			w.Header().Set("Content-Type", "application/ocsp-response")
			_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		der, err := a.answer(req.SerialNumber, p.opts.CRLValidity)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(der)
	default:
		http.NotFound(w, r)
	}
}

// Files names what WriteFiles wrote. Each leaf is also written as
// <name>.pem (its chain, leaf first, without the root) and <name>-key.pem
// (PKCS#8); client.pem and client-key.pem are the valid RSA leaf again.
type Files struct {
	Dir string
	// CAs is ca.pem: Root and Intermediate, the trust configuration
	// (hatoba's identity.client_ca_files).
	CAs string
	// Root is root.pem, the root alone.
	Root string
	// CRLs is crl.pem: Root's and Intermediate's CRLs in PEM, in one file
	// (identity.crl_files).
	CRLs string
	// IntermediateCRL is intermediate.crl, Intermediate's CRL in DER.
	IntermediateCRL string
}

// Leaf returns the certificate and key files of the named leaf.
func (f Files) Leaf(name string) (cert, key string) {
	return filepath.Join(f.Dir, name+".pem"), filepath.Join(f.Dir, name+"-key.pem")
}

// WriteFiles writes the PKI to dir as PEM (and one DER CRL). Keys are
// written with mode 0600. The CRLs run from an hour ago for the
// configured CRL validity.
func (p *PKI) WriteFiles(dir string) (Files, error) {
	f := Files{Dir: dir, CAs: filepath.Join(dir, "ca.pem"), Root: filepath.Join(dir, "root.pem"),
		CRLs: filepath.Join(dir, "crl.pem"), IntermediateCRL: filepath.Join(dir, "intermediate.crl")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("pkitest: %w", err)
	}
	rootCRL, err := p.Root.CRL(p.Now.Add(-time.Hour), p.Now.Add(p.opts.CRLValidity))
	if err != nil {
		return Files{}, err
	}
	interCRL, err := p.Intermediate.CRL(p.Now.Add(-time.Hour), p.Now.Add(p.opts.CRLValidity))
	if err != nil {
		return Files{}, err
	}
	crlPEM := append(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: rootCRL}),
		pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: interCRL})...)
	type file struct {
		path string
		data []byte
		mode os.FileMode
	}
	writes := []file{
		{f.CAs, append(p.Root.CertPEM(), p.Intermediate.CertPEM()...), 0o644},
		{f.Root, p.Root.CertPEM(), 0o644},
		{f.CRLs, crlPEM, 0o644},
		{f.IntermediateCRL, interCRL, 0o644},
	}
	names := make([]string, 0, len(p.Leaves))
	for name := range p.Leaves {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		l := p.Leaves[name]
		key, err := l.KeyPEM()
		if err != nil {
			return Files{}, err
		}
		stems := []string{name}
		if name == NameValidRSA {
			stems = append(stems, "client")
		}
		for _, stem := range stems {
			cert, keyPath := f.Leaf(stem)
			writes = append(writes, file{cert, l.CertPEM(), 0o644}, file{keyPath, key, 0o600})
		}
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return Files{}, fmt.Errorf("pkitest: %w", err)
		}
	}
	return f, nil
}
