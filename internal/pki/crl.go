package pki

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// clockSkew is how far in the future a CRL's or OCSP answer's thisUpdate
// may lie: the issuer's clock and ours differ a little.
const clockSkew = 5 * time.Minute

// certificateHold is the CRL reason code of a suspension (RFC 5280 5.3.1).
// A suspension lasts only while a current CRL lists it; a revocation is
// final, so it counts even from an out-of-date CRL.
const certificateHold = 6

var (
	oidCRLNumber          = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDeltaCRLIndicator  = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistPoint   = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidAuthorityKeyID     = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidFreshestCRL        = asn1.ObjectIdentifier{2, 5, 29, 46}
	oidAuthorityInfo      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidEntryReason        = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidEntryInvalidity    = asn1.ObjectIdentifier{2, 5, 29, 24}
	oidEntryCertIssuer    = asn1.ObjectIdentifier{2, 5, 29, 29}
	knownCRLExtensions    = []asn1.ObjectIdentifier{oidCRLNumber, oidIssuingDistPoint, oidAuthorityKeyID, oidFreshestCRL, oidAuthorityInfo}
	knownEntryExtensions  = []asn1.ObjectIdentifier{oidEntryReason, oidEntryInvalidity}
	errNoCRLInPEM         = errors.New("no PEM X509 CRL block found")
	errCRLNotCurrentScope = errors.New("the CRL does not cover this certificate")
)

// crl is a parsed CRL with its entries indexed by serial number.
type crl struct {
	list    *x509.RevocationList
	entries map[string]*x509.RevocationListEntry // by SerialText
	scope   distributionScope
	// unusable says why this CRL can never answer (a delta CRL, an
	// indirect CRL, an unknown critical extension); nil when it can.
	unusable error

	mu   sync.Mutex
	sigs map[[32]byte]error // signature check by SHA-256 of the issuer certificate
}

// distributionScope is the part of an issuingDistributionPoint extension
// hatoba honours: a CRL may cover only some distribution points, or only
// end-entity or only CA certificates.
type distributionScope struct {
	uris     []string
	onlyUser bool
	onlyCA   bool
}

// issuingDistributionPoint mirrors RFC 5280 5.2.5, the way crypto/x509
// reads the certificate's distribution points.
type issuingDistributionPoint struct {
	DistributionPoint          distributionPointName `asn1:"optional,tag:0"`
	OnlyContainsUserCerts      bool                  `asn1:"optional,tag:1"`
	OnlyContainsCACerts        bool                  `asn1:"optional,tag:2"`
	OnlySomeReasons            asn1.BitString        `asn1:"optional,tag:3"`
	IndirectCRL                bool                  `asn1:"optional,tag:4"`
	OnlyContainsAttributeCerts bool                  `asn1:"optional,tag:5"`
}

type distributionPointName struct {
	FullName     []asn1.RawValue `asn1:"optional,tag:0"`
	RelativeName asn1.RawValue   `asn1:"optional,tag:1"`
}

// parseCRLs reads the CRLs in b: one DER CRL, or any number of PEM
// "X509 CRL" blocks. It is the parser for CRL files and for what a
// distribution point serves, both outside input.
func parseCRLs(b []byte) ([]*crl, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
		l, err := parseCRL(b)
		if err != nil {
			return nil, err
		}
		return []*crl{l}, nil
	}
	var out []*crl
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %d is a %q, not an X509 CRL", len(out)+1, block.Type)
		}
		l, err := parseCRL(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CRL %d: %w", len(out)+1, err)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errNoCRLInPEM
	}
	return out, nil
}

func parseCRL(der []byte) (*crl, error) {
	list, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	l := &crl{list: list, entries: make(map[string]*x509.RevocationListEntry, len(list.RevokedCertificateEntries)), sigs: map[[32]byte]error{}}
	for _, ext := range list.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndicator):
			l.unusable = errors.New("a delta CRL, which hatoba does not combine with a base CRL")
		case ext.Id.Equal(oidIssuingDistPoint):
			if err := l.readScope(ext.Value); err != nil && l.unusable == nil {
				l.unusable = err
			}
		case ext.Critical && !slices.ContainsFunc(knownCRLExtensions, ext.Id.Equal) && l.unusable == nil:
			l.unusable = fmt.Errorf("an unknown critical extension %s", ext.Id)
		}
	}
	for i := range list.RevokedCertificateEntries {
		e := &list.RevokedCertificateEntries[i]
		if e.SerialNumber == nil {
			return nil, fmt.Errorf("entry %d has no serial number", i)
		}
		for _, ext := range e.Extensions {
			if ext.Id.Equal(oidEntryCertIssuer) && l.unusable == nil {
				l.unusable = errors.New("an indirect CRL (entries name other issuers)")
			} else if ext.Critical && !slices.ContainsFunc(knownEntryExtensions, ext.Id.Equal) && l.unusable == nil {
				l.unusable = fmt.Errorf("entry %d has an unknown critical extension %s", i, ext.Id)
			}
		}
		l.entries[SerialText(e.SerialNumber)] = e
	}
	return l, nil
}

// readScope reads the issuingDistributionPoint extension. Scopes hatoba
// cannot honour make the CRL unusable rather than wrongly complete.
func (l *crl) readScope(der []byte) error {
	var idp issuingDistributionPoint
	rest, err := asn1.Unmarshal(der, &idp)
	if err != nil {
		return fmt.Errorf("a malformed issuing distribution point: %w", err)
	}
	if len(rest) != 0 {
		return errors.New("trailing data after the issuing distribution point")
	}
	switch {
	case idp.IndirectCRL:
		return errors.New("an indirect CRL")
	case idp.OnlySomeReasons.BitLength > 0:
		return errors.New("a CRL for only some revocation reasons")
	case idp.OnlyContainsAttributeCerts:
		return errors.New("a CRL of attribute certificates")
	case len(idp.DistributionPoint.RelativeName.FullBytes) > 0:
		return errors.New("a distribution point named relative to the issuer")
	}
	for _, n := range idp.DistributionPoint.FullName {
		// uniformResourceIdentifier [6] IA5String; other name forms
		// cannot match the URLs crypto/x509 reads from certificates.
		if n.Class == asn1.ClassContextSpecific && n.Tag == 6 {
			l.scope.uris = append(l.scope.uris, string(n.Bytes))
		}
	}
	if len(idp.DistributionPoint.FullName) > 0 && len(l.scope.uris) == 0 {
		return errors.New("a distribution point named other than by URL")
	}
	l.scope.onlyUser = idp.OnlyContainsUserCerts
	l.scope.onlyCA = idp.OnlyContainsCACerts
	return nil
}

func (l *crl) issuerDN() string { return dn(l.list.RawIssuer) }

// signatureFrom checks the CRL's signature against issuer (which must be
// a CA allowed to sign CRLs), remembering the answer: hashing a national
// CRL of many megabytes at every login would be wasteful.
func (l *crl) signatureFrom(issuer *x509.Certificate) error {
	key := sha256.Sum256(issuer.Raw)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err, ok := l.sigs[key]; ok {
		return err
	}
	err := l.list.CheckSignatureFrom(issuer)
	l.sigs[key] = err
	return err
}

// verdict is what one revocation source says about a certificate.
type verdict int

const (
	noAnswer verdict = iota // the source cannot say; see the error
	good
	revoked
)

// check says whether the CRL shows cert, issued by issuer, revoked. A CRL
// that is not signed by issuer, does not cover cert, or is out of date
// gives noAnswer with the reason, except that a listed revocation (not a
// suspension) counts even from an out-of-date CRL.
func (l *crl) check(cert, issuer *x509.Certificate, now time.Time) (verdict, *x509.RevocationListEntry, error) {
	if l.unusable != nil {
		return noAnswer, nil, fmt.Errorf("the CRL of %q is %w", l.issuerDN(), l.unusable)
	}
	if !bytes.Equal(l.list.RawIssuer, issuer.RawSubject) {
		return noAnswer, nil, fmt.Errorf("the CRL is issued by %q, not by %q", l.issuerDN(), dn(issuer.RawSubject))
	}
	if len(l.list.AuthorityKeyId) > 0 && len(issuer.SubjectKeyId) > 0 && !bytes.Equal(l.list.AuthorityKeyId, issuer.SubjectKeyId) {
		return noAnswer, nil, fmt.Errorf("the CRL of %q is signed by another key of that issuer", l.issuerDN())
	}
	if err := l.signatureFrom(issuer); err != nil {
		return noAnswer, nil, fmt.Errorf("the CRL of %q has a bad signature: %w", l.issuerDN(), err)
	}
	if err := l.scope.covers(cert); err != nil {
		return noAnswer, nil, err
	}
	e, listed := l.entries[SerialText(cert.SerialNumber)]
	if listed && e.ReasonCode != certificateHold {
		return revoked, e, nil
	}
	switch {
	case l.list.ThisUpdate.After(now.Add(clockSkew)):
		return noAnswer, nil, fmt.Errorf("the CRL of %q is dated in the future (%s)", l.issuerDN(), l.list.ThisUpdate)
	case l.list.NextUpdate.IsZero():
		return noAnswer, nil, fmt.Errorf("the CRL of %q has no next-update time, so its currency is unknown", l.issuerDN())
	case !now.Before(l.list.NextUpdate):
		return noAnswer, nil, fmt.Errorf("the CRL of %q is out of date: its next update was due %s", l.issuerDN(), l.list.NextUpdate)
	}
	if listed {
		return revoked, e, nil
	}
	return good, nil, nil
}

func (s distributionScope) covers(cert *x509.Certificate) error {
	if s.onlyUser && cert.IsCA {
		return fmt.Errorf("%w (it lists only end-entity certificates)", errCRLNotCurrentScope)
	}
	if s.onlyCA && !cert.IsCA {
		return fmt.Errorf("%w (it lists only CA certificates)", errCRLNotCurrentScope)
	}
	if len(s.uris) == 0 {
		return nil
	}
	for _, u := range cert.CRLDistributionPoints {
		if slices.Contains(s.uris, u) {
			return nil
		}
	}
	return fmt.Errorf("%w (it covers distribution points %v)", errCRLNotCurrentScope, s.uris)
}

// crlCache holds CRLs fetched from distribution points, by URL. Callers
// asking for a URL whose fetch is under way wait for it instead of
// fetching again, so a burst of logins makes one request.
type crlCache struct {
	mu sync.Mutex
	m  map[string]*fetchedCRL
}

type fetchedCRL struct {
	done    chan struct{} // closed when the fields below are final
	l       *crl          // the CRL; after a failed fetch, the previous one
	err     error         // the fetch's failure
	expires time.Time
}

func newCRLCache() *crlCache { return &crlCache{m: map[string]*fetchedCRL{}} }

// fetchCRL returns the CRL at url, from the cache while it is fresh. When
// the fetch fails it returns the error and, if there is one, the CRL last
// fetched: check decides whether that is still current, so a distribution
// point that is down for an hour does not stop logins while its last CRL
// is valid.
func (v *Verifier) fetchCRL(ctx context.Context, url string, now time.Time) (*crl, error) {
	c := v.fetched
	c.mu.Lock()
	e := c.m[url]
	if e != nil {
		select {
		case <-e.done:
			if now.Before(e.expires) {
				c.mu.Unlock()
				return e.l, e.err
			}
		default:
			c.mu.Unlock()
			select {
			case <-e.done:
				return e.l, e.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	next := &fetchedCRL{done: make(chan struct{})}
	if e != nil {
		next.l = e.l
	}
	c.m[url] = next
	c.mu.Unlock()

	// The fetch serves every waiter, so one caller giving up must not
	// cancel it; the timeout bounds it instead.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	l, err := v.download(fctx, url)
	cancel()
	if err != nil {
		next.err = fmt.Errorf("CRL from %s: %w", url, err)
		// Retry soon, but not at every login while the server is down.
		next.expires = now.Add(min(v.cacheFor, retryAfterFailure))
	} else {
		next.l = l
		next.expires = now.Add(v.cacheFor)
		if nu := l.list.NextUpdate; !nu.IsZero() && nu.Before(next.expires) {
			next.expires = nu
		}
	}
	close(next.done)
	return next.l, next.err
}

// retryAfterFailure is how long a failed fetch is remembered before the
// next login tries again.
const retryAfterFailure = 30 * time.Second

// fetchTimeout bounds one CRL download or OCSP exchange, whatever the
// HTTP client's own timeout.
const fetchTimeout = 30 * time.Second

func (v *Verifier) download(ctx context.Context, url string) (*crl, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	b, err := readLimited(resp.Body, v.maxCRL)
	if err != nil {
		return nil, err
	}
	lists, err := parseCRLs(b)
	if err != nil {
		return nil, err
	}
	if len(lists) != 1 {
		return nil, fmt.Errorf("%d CRLs where one was expected", len(lists))
	}
	return lists[0], nil
}
