package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Rule says who may call a method.
type Rule struct {
	// Public methods need no token. A token that is sent anyway is still
	// verified, and an invalid one is rejected.
	Public bool
	// Roles, when non-empty, lists roles of which the caller must hold at
	// least one. When empty, any authenticated caller is allowed.
	Roles []string
}

// Policy maps full gRPC method names ("/catalogue.v1.CatalogueService/GetProduct")
// to rules. A key ending in "/" ("/grpc.health.v1.Health/") covers every
// method of that service; an exact entry wins over it. Methods that match
// no key are denied, so health and reflection must be listed explicitly.
type Policy map[string]Rule

// validate rejects keys that could never match a method name, so a typo
// shows up at start-up rather than as a denied call.
func (p Policy) validate() error {
	var errs []error
	for key, rule := range p {
		rest, ok := strings.CutPrefix(key, "/")
		svc, method, found := strings.Cut(rest, "/")
		if !ok || !found || svc == "" || strings.Contains(method, "/") {
			errs = append(errs, fmt.Errorf("policy key %q: want /package.Service/Method or /package.Service/", key))
		}
		if rule.Public && len(rule.Roles) > 0 {
			errs = append(errs, fmt.Errorf("policy key %q: a public rule cannot require roles", key))
		}
	}
	return errors.Join(errs...)
}

// lookup returns the rule for a full method name: the exact entry, else
// the entry for its service.
func (p Policy) lookup(fullMethod string) (Rule, bool) {
	if r, ok := p[fullMethod]; ok {
		return r, true
	}
	i := strings.LastIndexByte(fullMethod, '/')
	if i <= 0 {
		return Rule{}, false
	}
	r, ok := p[fullMethod[:i+1]]
	return r, ok
}

// allows reports whether the principal satisfies a non-public rule.
func (r Rule) allows(p Principal) bool {
	if len(r.Roles) == 0 {
		return true
	}
	return slices.ContainsFunc(r.Roles, p.HasRole)
}
