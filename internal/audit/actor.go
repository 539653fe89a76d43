package audit

import "context"

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
