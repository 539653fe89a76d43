package pki

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPBytes caps an OCSP response; real ones are a few kilobytes.
const maxOCSPBytes = 1 << 20

// ocspCache holds OCSP answers by issuer key and serial number. An answer
// is kept for the cache duration, never past its nextUpdate. The number
// of entries is bounded by the number of people who sign in within that
// duration; expired ones are swept as new ones arrive.
type ocspCache struct {
	mu sync.Mutex
	m  map[ocspKey]ocspAnswer
}

type ocspKey struct {
	issuer [32]byte // SHA-256 of the issuer's SubjectPublicKeyInfo
	serial string
}

type ocspAnswer struct {
	verdict verdict
	resp    *ocsp.Response
	expires time.Time
}

// sweepAbove is the cache size past which expired answers are dropped.
const sweepAbove = 4096

func newOCSPCache() *ocspCache { return &ocspCache{m: map[ocspKey]ocspAnswer{}} }

func (c *ocspCache) get(k ocspKey, now time.Time) (ocspAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[k]
	if !ok || !now.Before(a.expires) {
		return ocspAnswer{}, false
	}
	return a, true
}

func (c *ocspCache) put(k ocspKey, a ocspAnswer, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= sweepAbove {
		for key, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, key)
			}
		}
	}
	c.m[k] = a
}

// askOCSP asks the responders cert names about it. Responses are not
// nonced: responders pre-sign them for minutes to days, and the signature,
// the serial and the freshness checks below are what make an answer
// trustworthy, not the nonce.
func (v *Verifier) askOCSP(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) (verdict, *ocsp.Response, error) {
	key := ocspKey{issuer: sha256.Sum256(issuer.RawSubjectPublicKeyInfo), serial: SerialText(cert.SerialNumber)}
	if a, ok := v.answers.get(key, now); ok {
		return a.verdict, a.resp, nil
	}
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return noAnswer, nil, fmt.Errorf("OCSP request: %w", err)
	}
	var problems []error
	for _, url := range cert.OCSPServer {
		if !httpURL(url) {
			problems = append(problems, fmt.Errorf("OCSP responder %s: only http and https are asked", url))
			continue
		}
		body, err := v.postOCSP(ctx, url, req)
		if err != nil {
			problems = append(problems, fmt.Errorf("OCSP responder %s: %w", url, err))
			continue
		}
		resp, err := checkOCSPResponse(body, cert, issuer, now, v.cacheFor)
		if err != nil {
			problems = append(problems, fmt.Errorf("OCSP responder %s: %w", url, err))
			continue
		}
		var vd verdict
		switch resp.Status {
		case ocsp.Good:
			vd = good
		case ocsp.Revoked:
			vd = revoked
		default:
			problems = append(problems, fmt.Errorf("OCSP responder %s does not know the certificate", url))
			continue
		}
		expires := now.Add(v.cacheFor)
		if !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(expires) {
			expires = resp.NextUpdate
		}
		v.answers.put(key, ocspAnswer{verdict: vd, resp: resp, expires: expires}, now)
		return vd, resp, nil
	}
	return noAnswer, nil, errors.Join(problems...)
}

func (v *Verifier) postOCSP(ctx context.Context, url string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/ocsp-request")
	r.Header.Set("Accept", "application/ocsp-response")
	resp, err := v.client.Do(r)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	return readLimited(resp.Body, maxOCSPBytes)
}

// checkOCSPResponse parses an OCSP response about cert and checks that
// issuer, or a responder issuer delegated to, signed it, and that it is
// current. x/crypto/ocsp is given no issuer on purpose: it would accept
// any certificate the issuer signed as a responder, without the
// id-kp-OCSPSigning usage RFC 6960 4.2.2.2 requires — so a person holding
// an ordinary client certificate of that CA could forge "good" answers on
// the (plain HTTP) path to the responder. The checks are done here.
func checkOCSPResponse(b []byte, cert, issuer *x509.Certificate, now time.Time, maxAge time.Duration) (*ocsp.Response, error) {
	resp, err := ocsp.ParseResponseForCert(b, cert, nil)
	if err != nil {
		return nil, err
	}
	signer := issuer
	if d := resp.Certificate; d != nil && !bytes.Equal(d.Raw, issuer.Raw) {
		if err := d.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("the responder certificate is not issued by the certificate's issuer: %w", err)
		}
		if !slices.Contains(d.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, errors.New("the responder certificate is not authorised for OCSP signing")
		}
		if now.Before(d.NotBefore) || now.After(d.NotAfter) {
			return nil, errors.New("the responder certificate is outside its validity period")
		}
		signer = d
	}
	if err := resp.CheckSignatureFrom(signer); err != nil {
		return nil, fmt.Errorf("bad signature: %w", err)
	}
	switch {
	case resp.ThisUpdate.After(now.Add(clockSkew)):
		return nil, fmt.Errorf("the answer is dated in the future (%s)", resp.ThisUpdate)
	case !resp.NextUpdate.IsZero() && !now.Before(resp.NextUpdate):
		return nil, fmt.Errorf("the answer is out of date: its next update was due %s", resp.NextUpdate)
	case resp.NextUpdate.IsZero() && now.Sub(resp.ThisUpdate) > max(maxAge, clockSkew):
		// No nextUpdate means "newer information is always available"
		// (RFC 6960 4.2.2.1), so an old one is a replay.
		return nil, fmt.Errorf("the answer, without a next-update time, is from %s", resp.ThisUpdate)
	}
	return resp, nil
}
