package simcloud

import (
	"errors"
	"net/http"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/sigv4"
)

// signatureError is an authentication failure, carrying the AWS error code
// the real service would answer with.
type signatureError struct {
	code string
	msg  string
}

func (e *signatureError) Error() string { return e.code + ": " + e.msg }

// maxClockSkew is the difference between the signer's clock and ours that
// AWS tolerates before answering SignatureDoesNotMatch / RequestExpired.
const maxClockSkew = 15 * time.Minute

// verifySigV4 checks the request's signature against the one credential this
// simulated cloud knows. The verification itself lives in internal/sigv4,
// shared with the XKS proxy; the service is checked by the caller because
// each simulated service signs under its own name.
func verifySigV4(r *http.Request, body []byte, accessKeyID, secret string, now time.Time) (sigv4.Scope, error) {
	v := sigv4.Verifier{MaxSkew: maxClockSkew, Now: func() time.Time { return now }}
	scope, err := v.Verify(r, body, func(id string) (string, error) {
		if id != accessKeyID {
			return "", sigv4.ErrUnknownAccessKey
		}
		return secret, nil
	})
	var se *sigv4.Error
	if errors.As(err, &se) {
		return scope, &signatureError{code: se.Code, msg: se.Message}
	}
	return scope, err
}
