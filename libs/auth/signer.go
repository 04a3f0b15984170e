package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Signer mints tokens for the dev stack, the CLI and tests. Production
// tokens come from a real identity provider, never from a Signer.
type Signer struct {
	key    jose.JSONWebKey // private key with KeyID, Algorithm and Use set
	method jwt.SigningMethod
}

// TokenClaims describes a token to mint.
type TokenClaims struct {
	Subject  string
	Roles    []string
	Scope    string // optional, space-separated
	Issuer   string
	Audience string
	TTL      time.Duration
	// IssuedAt is when the token is issued, and so when its TTL starts;
	// zero means now. A time in the past mints an expired token, for tests.
	IssuedAt time.Time
}

// NewSigner generates a fresh Ed25519 key identified by kid.
func NewSigner(kid string) (*Signer, error) {
	if kid == "" {
		return nil, errors.New("new signer: empty kid")
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	return &Signer{
		key:    jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "EdDSA", Use: "sig"},
		method: jwt.SigningMethodEdDSA,
	}, nil
}

// LoadSigner reads a private JWK as written by PrivateJWK. Ed25519, ECDSA
// and RSA keys are accepted; the JWK's alg, if set, picks the algorithm.
func LoadSigner(privateJWK []byte) (*Signer, error) {
	var k jose.JSONWebKey
	if err := json.Unmarshal(privateJWK, &k); err != nil {
		return nil, fmt.Errorf("decode private JWK: %w", err)
	}
	if k.KeyID == "" {
		return nil, errors.New("load signer: JWK has no kid")
	}
	alg := k.Algorithm
	if alg == "" {
		switch key := k.Key.(type) {
		case ed25519.PrivateKey:
			alg = "EdDSA"
		case *ecdsa.PrivateKey:
			switch key.Curve {
			case elliptic.P256():
				alg = "ES256"
			case elliptic.P384():
				alg = "ES384"
			case elliptic.P521():
				alg = "ES512"
			}
		case *rsa.PrivateKey:
			alg = "RS256"
		}
	}
	pub := k.Public()
	if k.IsPublic() || !pub.Valid() {
		return nil, errors.New("load signer: JWK is not an asymmetric private key")
	}
	if _, ok := usableKey(pub); !ok || !keyFits(pub, alg) {
		return nil, fmt.Errorf("load signer: key cannot sign %q tokens", alg)
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil {
		return nil, fmt.Errorf("load signer: unknown algorithm %q", alg)
	}
	k.Algorithm = alg
	k.Use = "sig"
	return &Signer{key: k, method: method}, nil
}

// KeyID returns the kid put in minted tokens' headers.
func (s *Signer) KeyID() string { return s.key.KeyID }

// JWKS returns a JWKS JSON document holding the public key, for a
// verifier's AUTH_JWKS_FILE or JWKS endpoint.
func (s *Signer) JWKS() ([]byte, error) {
	data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.key.Public()}})
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	return data, nil
}

// PrivateJWK returns the private key as a JWK, so a dev key can be kept in
// a file and reloaded with LoadSigner. Treat the result as a secret.
func (s *Signer) PrivateJWK() ([]byte, error) {
	data, err := json.Marshal(s.key)
	if err != nil {
		return nil, fmt.Errorf("encode private JWK: %w", err)
	}
	return data, nil
}

// Mint signs a token for c, issued now and expiring after c.TTL.
func (s *Signer) Mint(c TokenClaims) (string, error) {
	switch {
	case c.Subject == "":
		return "", errors.New("mint token: empty subject")
	case c.Issuer == "":
		return "", errors.New("mint token: empty issuer")
	case c.Audience == "":
		return "", errors.New("mint token: empty audience")
	case c.TTL <= 0:
		return "", fmt.Errorf("mint token: TTL %s is not positive", c.TTL)
	}
	now := c.IssuedAt
	if now.IsZero() {
		now = time.Now()
	}
	t := jwt.NewWithClaims(s.method, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(c.TTL)),
		},
		Roles: c.Roles,
		Scope: c.Scope,
	})
	t.Header["kid"] = s.key.KeyID
	signed, err := t.SignedString(s.key.Key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return signed, nil
}
