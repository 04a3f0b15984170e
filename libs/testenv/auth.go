package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/storefront-go/storefront/libs/auth"
)

// tokenTTL outlives any test, so no token expires mid-test.
const tokenTTL = time.Hour

// Auth is a test's token issuer: a fresh signing key, the JWKS file that
// replicas under test trust (AUTH_JWKS_FILE), and the issuer and audience
// they check.
type Auth struct {
	// Issuer is the iss claim of minted tokens.
	Issuer string
	// Audience is the aud claim of minted tokens.
	Audience string
	// JWKSFile holds the public key, under the test's temporary directory.
	JWKSFile string

	t      testing.TB
	signer *auth.Signer
}

// NewAuth generates a signing key and writes its JWKS under t.TempDir().
// Token, As and Bearer fail t if they can't mint, so call them while t
// runs.
func NewAuth(tb testing.TB, issuer, audience string) *Auth {
	tb.Helper()
	signer, err := auth.NewSigner("testenv")
	if err != nil {
		tb.Fatalf("new signer: %v", err)
	}
	jwks, err := signer.JWKS()
	if err != nil {
		tb.Fatalf("jwks: %v", err)
	}
	file := filepath.Join(tb.TempDir(), "jwks.json")
	if err := os.WriteFile(file, jwks, 0o600); err != nil {
		tb.Fatalf("write jwks: %v", err)
	}
	return &Auth{Issuer: issuer, Audience: audience, JWKSFile: file, t: tb, signer: signer}
}

// Token mints a token for subject with roles, valid for an hour.
func (a *Auth) Token(subject string, roles ...string) string {
	a.t.Helper()
	tok, err := a.signer.Mint(auth.TokenClaims{
		Subject: subject, Roles: roles, Issuer: a.Issuer, Audience: a.Audience, TTL: tokenTTL,
	})
	if err != nil {
		a.t.Fatalf("mint token for %s: %v", subject, err)
	}
	return tok
}

// As returns a call option that authenticates a gRPC call as subject with
// roles.
func (a *Auth) As(subject string, roles ...string) grpc.CallOption {
	a.t.Helper()
	return grpc.PerRPCCredentials(auth.BearerToken(a.Token(subject, roles...)))
}

// Bearer returns the value of an Authorization header that authenticates
// an HTTP request as subject with roles.
func (a *Auth) Bearer(subject string, roles ...string) string {
	a.t.Helper()
	return "Bearer " + a.Token(subject, roles...)
}
