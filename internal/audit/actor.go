package audit

import (
	"bytes"
	"context"
	"encoding/json"
)

// Acting is who makes a change: a person id (or "system") and the
// break-glass grant they act under, if any.
type Acting struct {
	Actor   string
	GrantID string
}

type actingKey struct{}

// WithActor returns ctx carrying a: the API's guard sets it once per
// request, so capabilities that take no actor parameter (organisations,
// imports) still record who acted. It is request metadata for the log, like
// a request id; capabilities with an actor parameter should pass it.
func WithActor(ctx context.Context, a Acting) context.Context {
	return context.WithValue(ctx, actingKey{}, a)
}

// ActorFrom returns the actor WithActor put in ctx. Without one the change
// is the system's own (a command-line import, a background job): the actor
// is "system" — never empty, which Append would refuse.
func ActorFrom(ctx context.Context) Acting {
	a, _ := ctx.Value(actingKey{}).(Acting)
	if a.Actor == "" {
		a.Actor = "system"
	}
	return a
}

type cardConfirmationKey struct{}

// WithCardConfirmation returns ctx marking its request as confirmed by
// the person's card: statementHash is the hex SHA-256 of the card-signed
// statement (docs/keys.md). Every entry appended with ctx then records it
// in its details — "confirmed_by": "card" and "card_statement_sha256" —
// so the log says how the action's second factor was given.
func WithCardConfirmation(ctx context.Context, statementHash string) context.Context {
	return context.WithValue(ctx, cardConfirmationKey{}, statementHash)
}

// withCardConfirmation adds ctx's card confirmation, if any, to details.
func withCardConfirmation(ctx context.Context, details any) (any, error) {
	h, _ := ctx.Value(cardConfirmationKey{}).(string)
	if h == "" {
		return details, nil
	}
	raw, err := canonicalDetails(details)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m["confirmed_by"], m["card_statement_sha256"] = "card", h
	return m, nil
}
