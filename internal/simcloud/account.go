package simcloud

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
)

// The Account Management API is restJson1: the path names the operation.

var rePhone = regexp.MustCompile(`^[\s0-9()+-]+$`)

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
		v.pattern("EmailAddress", req.EmailAddress, reEmail)
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
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM accounts WHERE id = ? AND status = 'ACTIVE'`, *req.AccountId); err != nil || !ok {
		return nil, firstErr(err, &apiError{Status: 404, Code: "ResourceNotFoundException", Message: "no active account " + *req.AccountId})
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
