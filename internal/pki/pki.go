// Package pki decides whether a client certificate may sign in to hatoba:
// it checks the validity period, the chain to a configured trust anchor (a
// national PKI's CAs in production, such as the My Number Card's JPKI), the
// key usage, and revocation by CRL and OCSP. It also defines the login
// signature the CLI makes with the card's key (LoginMessage, SignLogin,
// VerifyLoginSignature), so the CLI and the server share one definition.
//
// Refusals are *Error values with a stable Code and an English message for
// the person signing in; see errors.go.
package pki

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"time"
)

// Options configures a Verifier with plain values (cmd/hatoba copies them
// from config.Identity).
type Options struct {
	// ClientCAFiles are PEM files of CA certificates. Self-signed ones are
	// trust anchors; the others are intermediates used to build chains when
	// a client does not send them. An intermediate is trusted only through
	// a configured root: to trust a sub-CA alone, configure its root too.
	ClientCAFiles []string
	// CACerts are more CA certificates, given in memory (tests, embedding).
	CACerts []*x509.Certificate
	// CRLFiles are CRLs, DER or PEM (several PEM blocks per file allowed),
	// read once by New. A CRL whose issuer is configured must verify against
	// it, or New fails; an out-of-date one is logged and then not used.
	CRLFiles []string
	// OCSP asks the responder a certificate names in its Authority
	// Information Access, when it names one.
	OCSP bool
	// RevocationCache is how long a fetched CRL or OCSP answer is reused,
	// never past its own next-update time. Zero means 10 minutes.
	RevocationCache time.Duration
	// SoftFailRevocation accepts a certificate whose revocation status
	// cannot be learnt (responder down, CRL out of date, no revocation
	// information at all). The default, false, refuses it with
	// ErrRevocationUnavailable: a revoked card must not sign in because a
	// CRL server was unreachable. A certificate found revoked is refused
	// either way.
	SoftFailRevocation bool
	// HTTPClient fetches CRLs and asks OCSP responders. Nil means a client
	// with a 10-second timeout.
	HTTPClient *http.Client
	// MaxCRLBytes caps a downloaded CRL. Zero means 64 MiB (national CRLs
	// are large).
	MaxCRLBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives revocation-source failures (a responder that did not
	// answer, an out-of-date CRL). Nil discards them.
	Logger *slog.Logger
}

// Identity is what a verified certificate says about the person. hatoba
// binds a person to (IssuerDN, Serial) and remembers SPKISHA256, so a
// renewed card (new serial, new key) must be bound again.
type Identity struct {
	// IssuerDN is the issuer's distinguished name in RFC 4514 form, built
	// from the certificate's own encoding (its order and attribute types),
	// so it is the same string for every certificate of that issuer.
	IssuerDN string
	// Serial is the serial number as lowercase hexadecimal without leading
	// zeros or prefix ("1a2b"), as most PKI tools print it. (A serial that
	// violates RFC 5280 by being negative keeps its sign: "-1a2b".)
	Serial string
	// SPKISHA256 is the SHA-256 of the DER SubjectPublicKeyInfo.
	SPKISHA256 [32]byte
	// SubjectDN is the subject in RFC 4514 form; empty for certificates
	// without a subject, such as the My Number Card's authentication
	// certificate (which names no one, by design).
	SubjectDN string
	NotAfter  time.Time
}

// Verifier checks client certificates. It is safe for concurrent use; its
// caches are shared by all callers.
type Verifier struct {
	roots         *x509.CertPool
	intermediates *x509.CertPool
	clientCAs     *x509.CertPool
	cas           []*x509.Certificate
	crls          map[string][]*crl // by raw issuer DN
	ocsp          bool
	cacheFor      time.Duration
	softFail      bool
	client        *http.Client
	maxCRL        int64
	now           func() time.Time
	log           *slog.Logger
	fetched       *crlCache
	answers       *ocspCache
}

// New reads the CA and CRL files and returns a Verifier. It fails when no
// trust anchor is configured, when a file cannot be read or parsed, or when
// a CRL's signature does not verify against its configured issuer: such
// mistakes are better found at start than at someone's first login.
func New(o Options) (*Verifier, error) {
	v := &Verifier{
		roots:         x509.NewCertPool(),
		intermediates: x509.NewCertPool(),
		clientCAs:     x509.NewCertPool(),
		crls:          map[string][]*crl{},
		ocsp:          o.OCSP,
		cacheFor:      o.RevocationCache,
		softFail:      o.SoftFailRevocation,
		client:        o.HTTPClient,
		maxCRL:        o.MaxCRLBytes,
		now:           o.Now,
		log:           o.Logger,
	}
	if v.cacheFor <= 0 {
		v.cacheFor = 10 * time.Minute
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.maxCRL <= 0 {
		v.maxCRL = 64 << 20
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.fetched = newCRLCache()
	v.answers = newOCSPCache()

	cas := append([]*x509.Certificate(nil), o.CACerts...)
	for _, path := range o.ClientCAFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("client CA file: %w", err)
		}
		certs, err := parseCertificatesPEM(b)
		if err != nil {
			return nil, fmt.Errorf("client CA file %s: %w", path, err)
		}
		cas = append(cas, certs...)
	}
	anchors := 0
	for _, c := range cas {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("client CA %q is not a CA certificate (basic constraints do not say CA)", c.Subject)
		}
		v.clientCAs.AddCert(c)
		v.cas = append(v.cas, c)
		if selfSigned(c) {
			v.roots.AddCert(c)
			anchors++
		} else {
			v.intermediates.AddCert(c)
		}
	}
	if anchors == 0 {
		return nil, errors.New("no trust anchor: the client CA files hold no self-signed CA certificate")
	}

	for _, path := range o.CRLFiles {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("CRL file: %w", err)
		}
		lists, err := parseCRLs(b)
		if err != nil {
			return nil, fmt.Errorf("CRL file %s: %w", path, err)
		}
		for _, l := range lists {
			if err := v.addStaticCRL(path, l); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// addStaticCRL files a CRL under its issuer, checking it now when the
// issuer is configured. A CRL for an issuer that only clients send (an
// intermediate not in the CA files) is checked when first used.
func (v *Verifier) addStaticCRL(path string, l *crl) error {
	var named, verified bool
	for _, ca := range v.cas {
		if !bytes.Equal(ca.RawSubject, l.list.RawIssuer) {
			continue
		}
		named = true
		if l.signatureFrom(ca) == nil {
			verified = true
			break
		}
	}
	if named && !verified {
		return fmt.Errorf("CRL file %s: the CRL of %q is not signed by the configured CA of that name", path, l.issuerDN())
	}
	if now := v.now(); !l.list.NextUpdate.IsZero() && !now.Before(l.list.NextUpdate) {
		v.log.Warn("pki: CRL file is out of date and will not be used until replaced",
			"file", path, "issuer", l.issuerDN(), "next_update", l.list.NextUpdate)
	}
	key := string(l.list.RawIssuer)
	v.crls[key] = append(v.crls[key], l)
	return nil
}

// ClientCAs is the pool to put in tls.Config.ClientCAs: the configured CAs,
// roots and intermediates. The server sends their names in its certificate
// request, and browsers offer only certificates issued under them.
func (v *Verifier) ClientCAs() *x509.CertPool { return v.clientCAs.Clone() }

// ConfigureServerTLS sets c to ask for a client certificate without letting
// crypto/tls judge it: ClientAuth is tls.RequestClientCert, and ClientCAs
// names the acceptable issuers.
//
// Why not tls.VerifyClientCertIfGiven: with it, crypto/tls verifies the
// chain itself and aborts the handshake with a TLS alert when the
// certificate has expired or comes from another CA. The browser then shows
// its own opaque error ("ERR_BAD_SSL_CLIENT_AUTH_CERT") and the person never
// reaches hatoba. With RequestClientCert the handshake completes (the client
// still proves it holds the key, by its CertificateVerify signature), and
// the login handler calls Verify and renders a page that says what is wrong
// and what to do. It also lets hatoba check revocation, which crypto/tls
// does not. Handlers must therefore never trust r.TLS.PeerCertificates
// without Verify.
func (v *Verifier) ConfigureServerTLS(c *tls.Config) {
	c.ClientAuth = tls.RequestClientCert
	c.ClientCAs = v.ClientCAs()
}

// Verify decides whether chain may sign in. chain[0] is the certificate
// presented (r.TLS.PeerCertificates in an HTTP handler; nil when there was
// none), the rest are the intermediates the client sent, if any.
//
// The checks, in order: validity period of the leaf; a chain to a
// configured anchor, for client authentication; the leaf's key usage
// (digitalSignature, and clientAuth when it has extended key usages); and
// revocation of the leaf and each intermediate (see revocation.go). A
// refusal is an *Error.
func (v *Verifier) Verify(ctx context.Context, chain []*x509.Certificate) (Identity, error) {
	if len(chain) == 0 || chain[0] == nil {
		return Identity{}, refuse(ErrNoCertificate, "", nil)
	}
	leaf := chain[0]
	now := v.now()
	if now.Before(leaf.NotBefore) {
		return Identity{}, refuse(ErrNotYetValid,
			"Your certificate is valid only from "+day(leaf.NotBefore)+". Check the date and time on this device, or wait until then.",
			fmt.Errorf("not before %s, now %s", leaf.NotBefore, now))
	}
	if now.After(leaf.NotAfter) {
		return Identity{}, refuse(ErrExpired,
			"Your certificate expired on "+day(leaf.NotAfter)+". Renew it with the authority that issued it (for a My Number Card, at your municipal office), then sign in again.",
			fmt.Errorf("not after %s, now %s", leaf.NotAfter, now))
	}

	pool := v.intermediates.Clone()
	for _, c := range chain[1:] {
		if c != nil {
			pool.AddCert(c)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: pool,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Identity{}, chainError(leaf, err)
	}
	if err := checkLeaf(leaf); err != nil {
		return Identity{}, err
	}

	// Revocation URLs are read only from certificates that chain to a
	// trusted anchor, so a client cannot make hatoba fetch an address of
	// its choosing.
	var first error
	for _, c := range chains {
		err := v.checkRevocation(ctx, c, now)
		if err == nil {
			return identityOf(leaf), nil
		}
		if first == nil {
			first = err
		}
	}
	return Identity{}, first
}

// chainError turns an x509 verification failure into a refusal.
func chainError(leaf *x509.Certificate, err error) error {
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return refuse(ErrUnknownIssuer, "", fmt.Errorf("issuer %q: %w", dn(leaf.RawIssuer), err))
	}
	if ci, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		switch ci.Reason {
		case x509.IncompatibleUsage:
			return refuse(ErrWrongKeyUsage, "", err)
		case x509.Expired:
			// The leaf's dates were checked already, so an intermediate
			// is out of its validity period.
			return refuse(ErrInvalidChain,
				"The authority that issued your certificate is not valid at this time. Contact the service desk.", err)
		}
		return refuse(ErrInvalidChain, "", err)
	}
	// Bad signatures and malformed chains end here.
	return refuse(ErrInvalidChain, "", err)
}

// checkLeaf requires the key and key usages a login certificate must have.
// x509.Verify has checked the extended key usage already (clientAuth or
// none at all); the key usage bits are hatoba's own rule. A certificate
// without a key usage extension is refused too: RFC 5280 would read that
// as "any use", but every client-authentication profile, the JPKI's
// included, sets digitalSignature, so its absence means a certificate made
// for something else.
func checkLeaf(leaf *x509.Certificate) error {
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		return refuse(ErrUnsupportedKey, "", fmt.Errorf("RSA key of %d bits", k.N.BitLen()))
	}
	if leaf.IsCA {
		return refuse(ErrWrongKeyUsage, "", errors.New("the certificate is a CA certificate"))
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return refuse(ErrWrongKeyUsage, "", fmt.Errorf("key usage %v lacks digitalSignature", leaf.KeyUsage))
	}
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return nil
	}
	for _, u := range leaf.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return nil
		}
	}
	return refuse(ErrWrongKeyUsage, "", errors.New("extended key usage lacks clientAuth"))
}

func identityOf(c *x509.Certificate) Identity {
	return Identity{
		IssuerDN:   dn(c.RawIssuer),
		Serial:     SerialText(c.SerialNumber),
		SPKISHA256: sha256.Sum256(c.RawSubjectPublicKeyInfo),
		SubjectDN:  dn(c.RawSubject),
		NotAfter:   c.NotAfter,
	}
}

// SerialText is the form of a serial number in Identity.Serial: lowercase
// hexadecimal, no leading zeros.
func SerialText(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}

// dn renders a DER Name in RFC 4514 form in the certificate's own order.
// (pkix.Name.String reorders attributes into Go's preferred order, which
// has changed between Go releases; a stored identity must not.)
func dn(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) != 0 {
		// x509.ParseCertificate accepted this name, so this does not
		// happen; keep a stable, distinct string if it ever does.
		return fmt.Sprintf("#%x", raw)
	}
	return seq.String()
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// parseCertificatesPEM reads every CERTIFICATE block of a PEM bundle. Text
// between blocks is ignored (bundles often carry comments); any other block
// type is an error, since a private key in a CA file is a mistake worth
// stopping for. A bundle without certificates is an error.
func parseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", len(out)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return out, nil
}

// readLimited reads at most limit bytes of r, failing when there are more.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
