package aws

import (
	"errors"
	"fmt"
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
	// Organizations: "try again" while a new organisation is finalised, and
	// while an earlier policy change is still being applied.
	"FinalizingOrganizationException":  provider.Transient,
	"PolicyChangesInProgressException": provider.Transient,
}

// constraintClasses are the ConstraintViolationException reasons that are
// not permanent: rates that clear within minutes (throttling), and the
// closure quota, which frees up over a rolling 30 days (quota). The other
// reasons are limits an operator must raise or fix.
var constraintClasses = map[orgtypes.ConstraintViolationExceptionReason]provider.Class{
	orgtypes.ConstraintViolationExceptionReasonAccountCreationRateLimitExceeded:  provider.Throttling,
	orgtypes.ConstraintViolationExceptionReasonCloseAccountRequestsLimitExceeded: provider.Throttling,
	orgtypes.ConstraintViolationExceptionReasonCloseAccountQuotaExceeded:         provider.Quota,
}

// constraintAdvice says what an operator does about a constraint that
// stops vending, in the error people read.
var constraintAdvice = map[orgtypes.ConstraintViolationExceptionReason]string{
	orgtypes.ConstraintViolationExceptionReasonAccountNumberLimitExceeded: "the organisation has as many accounts as its quota allows (closed accounts count for 90 days); " +
		"ask AWS to raise \"Default maximum number of accounts\" in Service Quotas (Organizations)",
	orgtypes.ConstraintViolationExceptionReasonCloseAccountQuotaExceeded: "AWS allows closing at most 10 % of the member accounts (at least 10, at most 1,000) per rolling 30 days; " +
		"the closure is retried until the quota frees up",
	orgtypes.ConstraintViolationExceptionReasonMaxPolicyTypeAttachmentLimitExceeded: "at most 5 service control policies can be attached to an account, FullAWSAccess included",
	orgtypes.ConstraintViolationExceptionReasonMinPolicyTypeAttachmentLimitExceeded: "an account must keep at least one service control policy",
	orgtypes.ConstraintViolationExceptionReasonMaxTagLimitExceeded:                  "an account carries at most 50 tags",
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
		if class, ok := constraintClasses[cv.Reason]; ok {
			pe.Class = class
		}
		if advice := constraintAdvice[cv.Reason]; advice != "" {
			pe.Err = fmt.Errorf("%s: %w", advice, err)
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

// accessAdvice says what an AccessDeniedException of an operation most
// likely means on a correctly configured role: a service whose trusted
// access with Organizations is not enabled.
var accessAdvice = map[string]string{
	"PutAlternateContact": "the Account Management API needs trusted access in the organisation: " +
		"aws organizations enable-aws-service-access --service-principal account.amazonaws.com (docs/aws.md)",
	"GetAlternateContact": "the Account Management API needs trusted access in the organisation: " +
		"aws organizations enable-aws-service-access --service-principal account.amazonaws.com (docs/aws.md)",
}

// classifyAccess is classify with the advice for an AccessDeniedException.
func classifyAccess(op string, err error) error {
	err = classify(op, err)
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Code == "AccessDeniedException" && accessAdvice[op] != "" {
		pe.Err = fmt.Errorf("%s: %w", accessAdvice[op], pe.Err)
	}
	return err
}

// createFailure is what each of Organizations' CreateAccount FailureReason
// values means for vending: reconcile (a duplicate of an account that
// exists or is being created), retry (AWS's own failure) or stop with
// what an operator must do.
type createFailure struct {
	duplicate, retry bool
	detail           string
}

var createFailures = map[orgtypes.CreateAccountFailureReason]createFailure{
	orgtypes.CreateAccountFailureReasonEmailAlreadyExists: {duplicate: true,
		// Reconciled when the account is in the organisation; the detail
		// is read only when it is not.
		detail: "an AWS account with this e-mail address exists outside the organisation; the provider's email_template must give addresses no other account uses"},
	orgtypes.CreateAccountFailureReasonConcurrentAccountModification: {duplicate: true, retry: true,
		detail: "a creation with the same details was in progress but is no longer; the creation is started again"},
	orgtypes.CreateAccountFailureReasonInternalFailure: {retry: true,
		detail: "AWS failed internally; the creation is started again"},
	orgtypes.CreateAccountFailureReasonAccountLimitExceeded: {
		detail: "the organisation reached its account quota (closed accounts count for 90 days); ask AWS to raise it in Service Quotas"},
	orgtypes.CreateAccountFailureReasonInvalidAddress: {
		detail: "AWS refused the management account's address; correct it in the management account's contact information"},
	orgtypes.CreateAccountFailureReasonInvalidEmail: {
		detail: "AWS refused the account's e-mail address; check the provider's email_template"},
	orgtypes.CreateAccountFailureReasonGovcloudAccountAlreadyExists: {
		detail: "an AWS GovCloud account with this e-mail exists already"},
	orgtypes.CreateAccountFailureReasonMissingBusinessValidation: {
		detail: "the management account has not completed business validation (AWS India/Inc.); complete it in the console"},
	orgtypes.CreateAccountFailureReasonFailedBusinessValidation: {
		detail: "the management account failed business validation; contact AWS Support"},
	// The SDK misspells this constant's name.
	orgtypes.CreateAccountFailureReason("PENDING_BUSINESS_VALIDATION"): {
		detail: "the management account's business validation is still pending; retry when AWS has finished it"},
	orgtypes.CreateAccountFailureReasonInvalidIdentityForBusinessValidation: {
		detail: "the management account's identity for business validation is invalid; correct it in the console"},
	orgtypes.CreateAccountFailureReasonUnknownBusinessValidation: {
		detail: "business validation failed for an unknown reason; contact AWS Support"},
	orgtypes.CreateAccountFailureReasonMissingPaymentInstrument: {
		detail: "the management account has no valid payment method; add one"},
	orgtypes.CreateAccountFailureReasonInvalidPaymentInstrument: {
		detail: "the management account's payment method was refused; correct it"},
	orgtypes.CreateAccountFailureReasonUpdateExistingResourcePolicyWithTagsNotSupported: {
		detail: "the organisation's resource policy cannot be updated with tags; see the Organizations resource policy"},
}
