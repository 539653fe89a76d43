package pki

import (
	"errors"
	"time"
)

// Code is a stable, machine-readable reason a certificate or a login was
// refused. Codes go into logs, metrics and API problem documents; they never
// change once released, while the English messages may be reworded.
type Code string

// The codes Verify and VerifyLogin return.
const (
	CodeNoCertificate         Code = "no_certificate"
	CodeExpired               Code = "certificate_expired"
	CodeNotYetValid           Code = "certificate_not_yet_valid"
	CodeUnknownIssuer         Code = "unknown_issuer"
	CodeInvalidChain          Code = "invalid_chain"
	CodeWrongKeyUsage         Code = "wrong_key_usage"
	CodeRevoked               Code = "certificate_revoked"
	CodeRevocationUnavailable Code = "revocation_unavailable"
	CodeBadLoginSignature     Code = "bad_login_signature"
	CodeUnsupportedKey        Code = "unsupported_key"
	CodeInternal              Code = "internal"
)

// Error is a refusal. Message is English meant for the person at the login
// page or the CLI; Err holds the technical detail for the log and is never
// shown to them (it may name URLs and serial numbers of other parties).
//
// errors.Is(err, ErrExpired) and the other sentinels compare by Code, so a
// caller matches the kind of refusal without caring about the detail.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "pki: " + string(e.Code) + ": " + e.Message
	}
	return "pki: " + string(e.Code) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes every *Error with the same Code match the sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The sentinels, one per Code. Their Message is the default text; a returned
// error may carry a more specific one (with the date a certificate expired,
// say).
var (
	ErrNoCertificate = &Error{Code: CodeNoCertificate,
		Message: "No certificate was presented. Insert your card (or choose your certificate when the browser asks) and try again."}
	ErrExpired = &Error{Code: CodeExpired,
		Message: "Your certificate has expired. Renew it with the authority that issued it, then sign in again."}
	ErrNotYetValid = &Error{Code: CodeNotYetValid,
		Message: "Your certificate is not valid yet. Check the date and time on this device, or wait until the certificate's start date."}
	ErrUnknownIssuer = &Error{Code: CodeUnknownIssuer,
		Message: "Your certificate was not issued by an authority this service trusts. Sign in with your national ID card's authentication certificate."}
	ErrInvalidChain = &Error{Code: CodeInvalidChain,
		Message: "Your certificate could not be verified: the authority that issued it is not valid for signing in. Contact the service desk."}
	ErrWrongKeyUsage = &Error{Code: CodeWrongKeyUsage,
		Message: "This certificate is not meant for signing in. Choose your authentication certificate (not a signing or server certificate)."}
	ErrRevoked = &Error{Code: CodeRevoked,
		Message: "Your certificate has been revoked or suspended by its issuer. Contact the authority that issued it."}
	ErrRevocationUnavailable = &Error{Code: CodeRevocationUnavailable,
		Message: "We could not confirm that your certificate is still valid, because its issuer's revocation service did not answer. Try again in a few minutes."}
	ErrBadLoginSignature = &Error{Code: CodeBadLoginSignature,
		Message: "The login signature did not verify. Start the login again; if this keeps happening, your card may hold a different key than its certificate."}
	ErrUnsupportedKey = &Error{Code: CodeUnsupportedKey,
		Message: "Your certificate's key type is not supported for signing in (RSA of 2048 bits or more, or ECDSA, is needed)."}
	ErrInternal = &Error{Code: CodeInternal,
		Message: "Your certificate could not be checked because of a problem on our side. Try again later."}
)

// refuse returns an error of kind, with detail for the log and, when msg is
// not empty, a more specific message for the person.
func refuse(kind *Error, msg string, detail error) *Error {
	if msg == "" {
		msg = kind.Message
	}
	return &Error{Code: kind.Code, Message: msg, Err: detail}
}

// CodeOf returns err's Code, or CodeInternal when err is not a refusal (or
// nil, which is a caller bug worth surfacing).
func CodeOf(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// UserMessage returns the English text to show the person for err: the
// refusal's message, or a generic one for any other error, whose detail
// must not reach them.
func UserMessage(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return ErrInternal.Message
}

// day formats a certificate date for a person: the day and time in UTC,
// which reads the same in every locale.
func day(t time.Time) string { return t.UTC().Format("2 January 2006 15:04 UTC") }
