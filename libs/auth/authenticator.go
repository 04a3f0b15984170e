package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLen bounds the work spent on an oversized token.
const maxTokenLen = 8 << 10

// Authenticator verifies bearer tokens and enforces a Policy. It is safe
// for concurrent use.
type Authenticator struct {
	keys   *keySet
	parser *jwt.Parser
	policy Policy
	logger *slog.Logger
	stop   context.CancelFunc
	done   chan struct{}
}

// tokenClaims are the claims Storefront tokens carry.
type tokenClaims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
	Scope string   `json:"scope,omitempty"`
}

// New loads the JWKS named by cfg and starts refreshing it every
// cfg.RefreshInterval until ctx is done or Close is called. It fails if the
// first load fails, so a misconfigured service does not start.
func New(ctx context.Context, cfg Config, policy Policy, logger *slog.Logger) (*Authenticator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	if err := policy.validate(); err != nil {
		return nil, fmt.Errorf("auth policy: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	var keys *keySet
	if cfg.JWKSFile != "" {
		keys = newKeySet(cfg.JWKSFile, fileFetcher(cfg.JWKSFile), logger)
	} else {
		keys = newKeySet(cfg.JWKSURL, httpFetcher(&http.Client{Timeout: fetchTimeout}, cfg.JWKSURL), logger)
	}
	if err := keys.refresh(ctx); err != nil {
		return nil, fmt.Errorf("load JWKS: %w", err)
	}

	own := make(Policy, len(policy))
	for k, r := range policy {
		r.Roles = slices.Clone(r.Roles)
		own[k] = r
	}

	runCtx, stop := context.WithCancel(ctx)
	a := &Authenticator{
		keys: keys,
		parser: jwt.NewParser(
			jwt.WithValidMethods(cfg.Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(cfg.Leeway),
		),
		policy: own,
		logger: logger,
		stop:   stop,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		keys.run(runCtx, cfg.RefreshInterval)
	}()
	return a, nil
}

// Close stops the background refresh and waits for it to exit. It is safe
// to call more than once.
func (a *Authenticator) Close() {
	a.stop()
	<-a.done
}

// Verify checks a raw JWT (without the "Bearer " prefix) and returns its
// principal. Interceptors call it; other transports may too.
func (a *Authenticator) Verify(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, errors.New("verify token: empty token")
	}
	if len(token) > maxTokenLen {
		return Principal{}, fmt.Errorf("verify token: longer than %d bytes", maxTokenLen)
	}
	var c tokenClaims
	_, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		return a.verificationKeys(ctx, t)
	})
	if err != nil {
		return Principal{}, fmt.Errorf("verify token: %w", err)
	}
	if c.Subject == "" {
		return Principal{}, errors.New("verify token: no sub claim")
	}
	return Principal{Subject: c.Subject, Roles: c.Roles, Scopes: strings.Fields(c.Scope)}, nil
}

// verificationKeys returns the keys with the token's kid that fit its
// algorithm. The parser has already rejected algorithms not in the config.
func (a *Authenticator) verificationKeys(ctx context.Context, t *jwt.Token) (any, error) {
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errors.New("token has no kid")
	}
	keys, err := a.keys.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	alg := t.Method.Alg()
	var set jwt.VerificationKeySet
	for _, k := range keys {
		if keyFits(k, alg) {
			set.Keys = append(set.Keys, k.Key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key with that kid fits algorithm %s", alg)
	}
	return set, nil
}
