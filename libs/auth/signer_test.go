package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/auth"
)

// verifierFor starts an Authenticator that trusts s's JWKS.
func verifierFor(t *testing.T, s *auth.Signer) *auth.Authenticator {
	t.Helper()
	doc, err := s.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, path, doc)
	cfg := testConfig(path)
	cfg.Algorithms = []string{"EdDSA", "ES256", "RS256"}
	return newAuthenticator(t, cfg, auth.Policy{})
}

func privateJWK(t *testing.T, key any, kid, alg string) []byte {
	t.Helper()
	data, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg})
	if err != nil {
		t.Fatalf("encode JWK: %v", err)
	}
	return data
}

func TestSignerRoundTrip(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	fresh, err := auth.NewSigner("dev-1")
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	freshJWK, err := fresh.PrivateJWK()
	if err != nil {
		t.Fatalf("PrivateJWK: %v", err)
	}

	tests := []struct {
		name string
		jwk  []byte // nil uses fresh
	}{
		{name: "generated Ed25519"},
		{name: "Ed25519 reloaded from PrivateJWK", jwk: freshJWK},
		{name: "ECDSA P-256", jwk: privateJWK(t, ecKey, "ec-1", "")},
		{name: "RSA", jwk: privateJWK(t, rsaKey, "rsa-1", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := fresh
			if tt.jwk != nil {
				var err error
				if s, err = auth.LoadSigner(tt.jwk); err != nil {
					t.Fatalf("LoadSigner: %v", err)
				}
			}
			a := verifierFor(t, s)
			token, err := s.Mint(auth.TokenClaims{
				Subject: "dev-user", Roles: []string{"admin", "ops"}, Scope: "read write",
				Issuer: testIssuer, Audience: testAudience, TTL: time.Hour,
			})
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			got, err := a.Verify(t.Context(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := auth.Principal{Subject: "dev-user", Roles: []string{"admin", "ops"}, Scopes: []string{"read", "write"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Principal (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("reloaded key verifies against the original JWKS", func(t *testing.T) {
		t.Parallel()
		reloaded, err := auth.LoadSigner(freshJWK)
		if err != nil {
			t.Fatalf("LoadSigner: %v", err)
		}
		if reloaded.KeyID() != "dev-1" {
			t.Errorf("KeyID = %q, want dev-1", reloaded.KeyID())
		}
		token, err := reloaded.Mint(auth.TokenClaims{Subject: "u", Issuer: testIssuer, Audience: testAudience, TTL: time.Minute})
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		if _, err := verifierFor(t, fresh).Verify(t.Context(), token); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
}

func TestSignerJWKSIsPublic(t *testing.T) {
	t.Parallel()
	s, err := auth.NewSigner("dev-1")
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	doc, err := s.JWKS()
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	if len(raw.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(raw.Keys))
	}
	k := raw.Keys[0]
	if _, ok := k["d"]; ok {
		t.Error("JWKS contains the private key")
	}
	want := map[string]any{"kid": "dev-1", "alg": "EdDSA", "use": "sig", "kty": "OKP", "crv": "Ed25519"}
	for field, v := range want {
		if k[field] != v {
			t.Errorf("JWKS %s = %v, want %v", field, k[field], v)
		}
	}
}

func TestLoadSignerRejects(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tests := []struct {
		name string
		jwk  []byte
	}{
		{name: "not JSON", jwk: []byte("nope")},
		{name: "public key", jwk: privateJWK(t, pub, "k", "")},
		{name: "no kid", jwk: privateJWK(t, priv, "", "")},
		{name: "symmetric key", jwk: privateJWK(t, []byte("0123456789abcdef0123456789abcdef"), "k", "HS256")},
		{name: "alg that does not fit the key", jwk: privateJWK(t, priv, "k", "ES256")},
		{name: "weak RSA", jwk: privateJWK(t, weak, "k", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := auth.LoadSigner(tt.jwk); err == nil {
				t.Error("LoadSigner succeeded, want error")
			}
		})
	}
}

func TestMintRejects(t *testing.T) {
	t.Parallel()
	s, err := auth.NewSigner("k")
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	ok := auth.TokenClaims{Subject: "u", Issuer: testIssuer, Audience: testAudience, TTL: time.Minute}
	tests := []struct {
		name string
		edit func(*auth.TokenClaims)
	}{
		{name: "no subject", edit: func(c *auth.TokenClaims) { c.Subject = "" }},
		{name: "no issuer", edit: func(c *auth.TokenClaims) { c.Issuer = "" }},
		{name: "no audience", edit: func(c *auth.TokenClaims) { c.Audience = "" }},
		{name: "zero TTL", edit: func(c *auth.TokenClaims) { c.TTL = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.edit(&c)
			if _, err := s.Mint(c); err == nil {
				t.Error("Mint succeeded, want error")
			}
		})
	}
	if _, err := auth.NewSigner(""); err == nil {
		t.Error("NewSigner with empty kid succeeded, want error")
	}
}
