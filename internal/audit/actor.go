package audit

import "context"

type actorKey struct{}

// Acting is who a request acts as, for capabilities whose methods take no
// actor: the API and console put it in the request's context once, after
// authorization.
type Acting struct {
	Actor   string
	GrantID string
}

// WithActor returns ctx carrying who acts.
func WithActor(ctx context.Context, a Acting) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns who acts in ctx; "system" when nobody was set (the
// workers, the command line on the server's own machine).
func ActorFrom(ctx context.Context) Acting {
	if a, ok := ctx.Value(actorKey{}).(Acting); ok && a.Actor != "" {
		return a
	}
	return Acting{Actor: "system"}
}
