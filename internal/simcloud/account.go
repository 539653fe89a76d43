package simcloud

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
)

// The Account Management API is restJson1: the path names the operation.

// The Account API's own patterns, stricter than Organizations' e-mail.
var (
	rePhone        = regexp.MustCompile(`^[\s0-9()+-]+$`)
	reAccountEmail = regexp.MustCompile(`^[\s]*[\w+=.#|!&-]+@[\w.-]+\.[\w]+[\s]*$`)
)

// accountAccess refuses every call while trusted access for the Account
// Management API is off in the organisation, and a call about an account
// outside it, as AWS does: AccessDeniedException, not "not found".
func (s *Server) accountAccess(ctx context.Context, tx *sql.Tx, accountID string) error {
	if s.cfg.AccountAPIDisabled {
		return &apiError{Status: 403, Code: "AccessDeniedException",
			Message: "trusted access for AWS Account Management is not enabled in the organization (enable-aws-service-access --service-principal account.amazonaws.com)"}
	}
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM accounts WHERE id = ? AND status = 'ACTIVE'`, accountID); err != nil || !ok {
		return firstErr(err, &apiError{Status: 403, Code: "AccessDeniedException", Message: "account " + accountID + " is not an active member of this organization"})
	}
	return nil
}

func accountInvalid(field, reason, msg string) error {
	return &apiError{Status: 400, Code: "ValidationException", Message: msg, Extra: map[string]string{"reason": "fieldValidationFailed"}}
}

// contactKey validates what names an alternate contact: account and type.
func (v *validator) contactKey(accountID, contactType *string) {
	if v.required("AccountId", accountID) {
		v.pattern("AccountId", accountID, reAccountID)
	}
	if v.required("AlternateContactType", contactType) {
		v.oneOf("AlternateContactType", contactType, "BILLING", "OPERATIONS", "SECURITY")
	}
}

func restPutAlternateContact(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		AccountId            *string `json:"AccountId"`
		AlternateContactType *string `json:"AlternateContactType"`
		EmailAddress         *string `json:"EmailAddress"`
		Name                 *string `json:"Name"`
		PhoneNumber          *string `json:"PhoneNumber"`
		Title                *string `json:"Title"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: accountInvalid}
	v.contactKey(req.AccountId, req.AlternateContactType)
	if v.required("EmailAddress", req.EmailAddress) {
		v.length("EmailAddress", req.EmailAddress, 1, 254)
		v.pattern("EmailAddress", req.EmailAddress, reAccountEmail)
	}
	if v.required("Name", req.Name) {
		v.length("Name", req.Name, 1, 64)
	}
	if v.required("PhoneNumber", req.PhoneNumber) {
		v.length("PhoneNumber", req.PhoneNumber, 1, 25)
		v.pattern("PhoneNumber", req.PhoneNumber, rePhone)
	}
	if v.required("Title", req.Title) {
		v.length("Title", req.Title, 1, 50)
	}
	if v.err != nil {
		return nil, v.err
	}
	if err := s.accountAccess(ctx, tx, *req.AccountId); err != nil {
		return nil, err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO contacts (account_id, type, name, title, email, phone) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id, type) DO UPDATE SET name = excluded.name, title = excluded.title, email = excluded.email, phone = excluded.phone`,
		*req.AccountId, *req.AlternateContactType, *req.Name, *req.Title, *req.EmailAddress, *req.PhoneNumber)
	return nil, err
}

func restGetAlternateContact(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		AccountId            *string `json:"AccountId"`
		AlternateContactType *string `json:"AlternateContactType"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	v := validator{invalid: accountInvalid}
	v.contactKey(req.AccountId, req.AlternateContactType)
	if v.err != nil {
		return nil, v.err
	}
	if err := s.accountAccess(ctx, tx, *req.AccountId); err != nil {
		return nil, err
	}
	c := map[string]string{"AlternateContactType": *req.AlternateContactType}
	var name, title, email, phone string
	err := tx.QueryRowContext(ctx, `SELECT name, title, email, phone FROM contacts WHERE account_id = ? AND type = ?`, *req.AccountId, *req.AlternateContactType).
		Scan(&name, &title, &email, &phone)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &apiError{Status: 404, Code: "ResourceNotFoundException", Message: "no " + *req.AlternateContactType + " contact for " + *req.AccountId}
	}
	if err != nil {
		return nil, err
	}
	c["Name"], c["Title"], c["EmailAddress"], c["PhoneNumber"] = name, title, email, phone
	return map[string]any{"AlternateContact": c}, nil
}
