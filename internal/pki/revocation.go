package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// checkRevocation checks every certificate of a verified chain but its
// anchor, each against the next one up, from the top down: a revoked
// intermediate is the answer that matters (and its CRL of the leaf is not
// worth fetching).
func (v *Verifier) checkRevocation(ctx context.Context, chain []*x509.Certificate, now time.Time) error {
	for i := len(chain) - 2; i >= 0; i-- {
		if err := v.checkCert(ctx, chain[i], chain[i+1], now, i == 0); err != nil {
			return err
		}
	}
	return nil
}

// checkCert asks the revocation sources about cert, in this order:
//
//  1. the CRL files for its issuer (local, so always consulted);
//  2. the OCSP responders it names, when OCSP is on (fresher than a CRL
//     file read at start, so asked even when a CRL file answered);
//  3. the CRLs at its distribution points, when neither of the above gave
//     a current answer (CRLs can be large; they are fetched only then).
//
// A revocation from any source refuses the certificate. When no source
// gave a current answer the status is unknown: refused with
// ErrRevocationUnavailable (fail closed), or accepted and logged when
// Options.SoftFailRevocation is set.
func (v *Verifier) checkCert(ctx context.Context, cert, issuer *x509.Certificate, now time.Time, isLeaf bool) error {
	var problems []error
	answered := false

	for _, l := range v.crls[string(cert.RawIssuer)] {
		switch vd, e, err := l.check(cert, issuer, now); vd {
		case revoked:
			return revokedError(cert, isLeaf, e.RevocationTime, e.ReasonCode, "a configured CRL file")
		case good:
			answered = true
		default:
			problems = append(problems, fmt.Errorf("CRL file: %w", err))
		}
	}

	if len(cert.OCSPServer) > 0 {
		if !v.ocsp {
			problems = append(problems, errors.New("the certificate names an OCSP responder, but OCSP is turned off"))
		} else {
			switch vd, resp, err := v.askOCSP(ctx, cert, issuer, now); vd {
			case revoked:
				return revokedError(cert, isLeaf, resp.RevokedAt, resp.RevocationReason, "OCSP")
			case good:
				answered = true
			default:
				problems = append(problems, err)
			}
		}
	}

	if !answered {
	points:
		for _, url := range cert.CRLDistributionPoints {
			if !httpURL(url) {
				problems = append(problems, fmt.Errorf("distribution point %s: only http and https are fetched", url))
				continue
			}
			l, err := v.fetchCRL(ctx, url, now)
			if err != nil {
				problems = append(problems, err)
			}
			if l == nil {
				continue
			}
			switch vd, e, err := l.check(cert, issuer, now); vd {
			case revoked:
				return revokedError(cert, isLeaf, e.RevocationTime, e.ReasonCode, "the CRL at "+url)
			case good:
				answered = true
				break points
			default:
				problems = append(problems, fmt.Errorf("CRL from %s: %w", url, err))
			}
		}
	}

	if answered {
		if len(problems) > 0 {
			v.log.Debug("pki: a revocation source failed, another answered", "subject", dn(cert.RawSubject),
				"serial", SerialText(cert.SerialNumber), "err", errors.Join(problems...))
		}
		return nil
	}
	if len(problems) == 0 {
		problems = append(problems, errors.New("the certificate names no CRL distribution point or OCSP responder, and no CRL file covers its issuer"))
	}
	detail := fmt.Errorf("revocation status of %q (serial %s) is unknown: %w",
		dn(cert.RawSubject), SerialText(cert.SerialNumber), errors.Join(problems...))
	if v.softFail {
		v.log.Warn("pki: accepting a certificate whose revocation status is unknown (soft fail is on)", "err", detail)
		return nil
	}
	v.log.Warn("pki: refusing a certificate whose revocation status is unknown", "err", detail)
	msg := ""
	if !isLeaf {
		msg = "We could not confirm that the authority which issued your certificate is still valid, because a revocation service did not answer. Try again in a few minutes."
	}
	return refuse(ErrRevocationUnavailable, msg, detail)
}

func revokedError(cert *x509.Certificate, isLeaf bool, at time.Time, reason int, source string) error {
	detail := fmt.Errorf("%q (serial %s) revoked at %s, reason %d, according to %s",
		dn(cert.RawSubject), SerialText(cert.SerialNumber), at, reason, source)
	switch {
	case !isLeaf:
		return refuse(ErrRevoked, "The authority that issued your certificate has been revoked, so your certificate can no longer sign in. Contact the service desk.", detail)
	case reason == certificateHold:
		return refuse(ErrRevoked, "Your certificate is suspended by its issuer. Contact the authority that issued it to lift the suspension.", detail)
	case at.IsZero():
		return refuse(ErrRevoked, "", detail)
	}
	return refuse(ErrRevoked, "Your certificate was revoked by its issuer on "+day(at)+". Sign in with a current certificate, or contact the authority that issued it.", detail)
}

func httpURL(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}
