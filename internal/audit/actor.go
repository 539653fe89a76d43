package audit

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// Acting is who makes a change: a person id (or "system" for the
// server's own jobs, "local:<user>@<host>" for the command line's local
// commands) and the break-glass grant they act under, if any.
//
// Capabilities take it as a parameter from their entry point — the API,
// the console, a job, a command — which alone knows who acts; it is never
// fished out of a context, so an entry point that forgets it does not
// compile, and one that passes the zero value is refused (Check) rather
// than recorded as anyone's.
type Acting struct {
	Actor   string
	GrantID string
}

// ErrNoActor refuses a change whose entry point did not say who acts. It is
// a defect in hatoba, not in the request: its kind is fault.Internal (an
// HTTP 500), and the change does not happen.
var ErrNoActor error = &fault.Error{Kind: fault.Internal,
	Message: "audit: the change names no actor (its entry point must say who acts: a person, \"system\" or the local operator)"}

// Check refuses a, with ErrNoActor, when it names no actor. Capabilities
// call it before they change anything, so that a change which would
// write no audit entry (an import that changes nothing) is refused the
// same; Append checks again.
func (a Acting) Check() error {
	if a.Actor == "" {
		return ErrNoActor
	}
	return nil
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
