package auth

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Defaults applied by [New] to zero fields of [Config].
const (
	DefaultLeeway          = 30 * time.Second
	DefaultRefreshInterval = 5 * time.Minute
)

// DefaultAlgorithms are the signing algorithms accepted when
// Config.Algorithms is empty.
func DefaultAlgorithms() []string { return []string{"RS256", "ES256", "EdDSA"} }

// supportedAlgorithms are the asymmetric algorithms a Config may pin.
// HMAC and "none" are deliberately absent: a public JWKS must never
// become a shared secret.
func supportedAlgorithms() []string {
	return []string{
		"RS256", "RS384", "RS512",
		"PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512",
		"EdDSA",
	}
}

// Config says where the verification keys come from and what a valid token
// looks like. Exactly one of JWKSFile and JWKSURL must be set. Zero Leeway,
// RefreshInterval and Algorithms take the package defaults.
type Config struct {
	// JWKSFile is a path to a JWKS JSON document.
	JWKSFile string `env:"AUTH_JWKS_FILE"`
	// JWKSURL is an http(s) URL serving a JWKS JSON document.
	JWKSURL string `env:"AUTH_JWKS_URL"`
	// Issuer must equal the token's iss claim.
	Issuer string `env:"AUTH_ISSUER"`
	// Audience must appear in the token's aud claim.
	Audience string `env:"AUTH_AUDIENCE"`
	// Algorithms lists the accepted JWS algorithms.
	Algorithms []string `env:"AUTH_ALGORITHMS" envDefault:"RS256,ES256,EdDSA"`
	// Leeway tolerates clock skew on exp and nbf.
	Leeway time.Duration `env:"AUTH_LEEWAY" envDefault:"30s"`
	// RefreshInterval is how often the JWKS is reloaded.
	RefreshInterval time.Duration `env:"AUTH_JWKS_REFRESH" envDefault:"5m"`
}

// withDefaults returns a copy of c with defaults filled in and checks it.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.JWKSFile == "" && c.JWKSURL == "":
		return c, errors.New("one of JWKS file or JWKS URL is required")
	case c.JWKSFile != "" && c.JWKSURL != "":
		return c, errors.New("JWKS file and JWKS URL are mutually exclusive")
	case c.Issuer == "":
		return c, errors.New("issuer is required")
	case c.Audience == "":
		return c, errors.New("audience is required")
	case c.Leeway < 0:
		return c, fmt.Errorf("leeway %s is negative", c.Leeway)
	case c.RefreshInterval < 0:
		return c, fmt.Errorf("JWKS refresh interval %s is negative", c.RefreshInterval)
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil {
			return c, fmt.Errorf("parse JWKS URL: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("JWKS URL %q is not an absolute http(s) URL", c.JWKSURL)
		}
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms()
	}
	c.Algorithms = slices.Clone(c.Algorithms)
	for _, alg := range c.Algorithms {
		if !slices.Contains(supportedAlgorithms(), alg) {
			return c, fmt.Errorf("algorithm %q is not allowed (want one of %v)", alg, supportedAlgorithms())
		}
	}
	return c, nil
}
