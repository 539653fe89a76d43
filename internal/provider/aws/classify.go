package aws

import (
	"errors"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/hatoba-cloud/hatoba/internal/provider"
)

// errorClasses maps AWS error codes to how the workflow reacts. Codes not
// listed are permanent when AWS blames the request (4xx) and transient
// when it blames itself (5xx).
var errorClasses = map[string]provider.Class{
	"TooManyRequestsException": provider.Throttling,
	"ThrottlingException":      provider.Throttling,
	"Throttling":               provider.Throttling,
	"RequestLimitExceeded":     provider.Throttling,
	"SlowDown":                 provider.Throttling,

	"ServiceException":                provider.Transient,
	"InternalServerException":         provider.Transient,
	"InternalFailure":                 provider.Transient,
	"ServiceUnavailable":              provider.Transient,
	"ConcurrentModificationException": provider.Transient,
	// Identity Center answers ConflictException while another operation
	// on the same permission set is still running.
	"ConflictException": provider.Transient,
	"RequestExpired":    provider.Transient, // a clock hiccup or a long queue; re-signing fixes it
}

// throttlingReasons are ConstraintViolationException reasons that clear by
// waiting, unlike the other reasons (limits an operator must raise).
var throttlingReasons = map[orgtypes.ConstraintViolationExceptionReason]bool{
	orgtypes.ConstraintViolationExceptionReasonAccountCreationRateLimitExceeded:  true,
	orgtypes.ConstraintViolationExceptionReasonCloseAccountRequestsLimitExceeded: true,
}

// classify wraps an SDK error as a *provider.Error; nil stays nil.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	pe := &provider.Error{Op: op, Class: provider.Transient, Err: err}
	var cv *orgtypes.ConstraintViolationException
	var api smithy.APIError
	switch {
	case errors.As(err, &cv):
		pe.Code = cv.ErrorCode() + ":" + string(cv.Reason)
		pe.Class = provider.Permanent
		if throttlingReasons[cv.Reason] {
			pe.Class = provider.Throttling
		}
	case errors.As(err, &api):
		pe.Code = api.ErrorCode()
		if class, ok := errorClasses[pe.Code]; ok {
			pe.Class = class
			break
		}
		var resp *smithyhttp.ResponseError
		if errors.As(err, &resp) && resp.HTTPStatusCode() < http.StatusInternalServerError {
			pe.Class = provider.Permanent
		}
	}
	// Anything else — a refused connection, a dropped response, a timeout
	// — is transient: the call may or may not have taken effect, and every
	// step is written to be safe to repeat.
	return pe
}
