package auth

import (
	"context"
	"slices"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	// Subject is the token's sub claim.
	Subject string
	// Roles are the token's roles claim.
	Roles []string
	// Scopes are the space-separated entries of the token's optional scope claim.
	Scopes []string
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool {
	return slices.Contains(p.Roles, role)
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p. Services use it in tests
// to call handlers as a given caller.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	p.Roles = slices.Clone(p.Roles)
	p.Scopes = slices.Clone(p.Scopes)
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller attached by the interceptors, if any.
// Public methods called without a token have none.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

type anonymousKey struct{}

// Anonymous reports whether ctx belongs to a call that the interceptors
// let through without a token because its method is public. Work the
// service starts itself (consumers, jobs) is not anonymous: only strangers
// are, so their load can be kept apart (a pool of their own, say).
func Anonymous(ctx context.Context) bool {
	v, _ := ctx.Value(anonymousKey{}).(bool)
	return v
}

func withAnonymous(ctx context.Context) context.Context {
	return context.WithValue(ctx, anonymousKey{}, true)
}
