package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/storefront-go/storefront/libs/auth"
)

// mintToken signs a token with the private JWK in keyPath, loaded the way
// `storefrontctl token` loads it (auth.LoadSigner).
func mintToken(keyPath string, claims auth.TokenClaims) (string, error) {
	jwk, err := os.ReadFile(keyPath) // #nosec G304 -- the user names the key file
	if err != nil {
		return "", fmt.Errorf("read signing key: %w", err)
	}
	signer, err := auth.LoadSigner(jwk)
	if err != nil {
		return "", fmt.Errorf("signing key %s: %w", keyPath, err)
	}
	tok, err := signer.Mint(claims)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return tok, nil
}

// tokenSubject returns the sub claim of a JWT without verifying it, or ""
// when there is none. It only names the page's analytics user; the
// services verify the token.
func tokenSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return ""
	}
	return claims.Sub
}
