package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/storefront-go/storefront/libs/auth"
)

// The dev stack's token settings; deploy/compose/service.env uses the same.
const (
	defaultKeyPath  = "deploy/compose/dev-signing-key.json"
	defaultIssuer   = "storefront-dev"
	defaultAudience = "storefront"
	defaultKeyID    = "storefront-dev-1"
)

// token mints a JWT with a private JWK, by default the dev stack's key.
func (c *cli) token(args []string) error {
	fs := c.flagSet("token", "token --sub SUBJECT [--role ROLE]... [--scope S] [--ttl 1h] [--key FILE]")
	sub := fs.String("sub", "", "token `subject` (required)")
	var roles stringList
	fs.Var(&roles, "role", "`role` claim, like admin or service (repeatable)")
	scope := fs.String("scope", "", "space-separated `scopes`")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	key := fs.String("key", "", "private JWK `file` (default $STOREFRONT_SIGNING_KEY or "+defaultKeyPath+" in this or a parent directory)")
	issuer := fs.String("issuer", defaultIssuer, "iss claim")
	audience := fs.String("audience", defaultAudience, "aud claim")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("token: unexpected argument %q", rest[0])
	}
	if *sub == "" {
		return usagef("token: --sub is required")
	}
	if *ttl <= 0 {
		return usagef("token: --ttl must be positive")
	}
	path := *key
	if path == "" {
		path = c.getenv("STOREFRONT_SIGNING_KEY")
	}
	if path == "" {
		if path, err = findUp(defaultKeyPath); err != nil {
			return err
		}
	}
	jwk, err := os.ReadFile(path) // #nosec G304 -- the user names the key file
	if err != nil {
		return fmt.Errorf("read signing key: %w", err)
	}
	signer, err := auth.LoadSigner(jwk)
	if err != nil {
		return fmt.Errorf("signing key %s: %w", path, err)
	}
	tok, err := signer.Mint(auth.TokenClaims{
		Subject: *sub, Roles: roles, Scope: *scope, Issuer: *issuer, Audience: *audience, TTL: *ttl,
	})
	if err != nil {
		return err
	}
	p := &printer{w: c.stdout}
	p.printf("%s\n", tok)
	return p.err
}

// keygen writes a new Ed25519 signing key and its public JWKS: how the dev
// stack's key pair was made, and how to replace it.
func (c *cli) keygen(args []string) error {
	fs := c.flagSet("keygen", "keygen --private FILE --jwks FILE [--kid KID] [--force]")
	kid := fs.String("kid", defaultKeyID, "key `id` put in the JWK and in minted tokens")
	private := fs.String("private", "", "where to write the private JWK (required)")
	jwks := fs.String("jwks", "", "where to write the public JWKS (required)")
	force := fs.Bool("force", false, "overwrite existing files")
	rest, err := c.parseCommand(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("keygen: unexpected argument %q", rest[0])
	}
	if *private == "" || *jwks == "" {
		return usagef("keygen: --private and --jwks are required")
	}
	if !*force {
		for _, path := range []string{*private, *jwks} {
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("keygen: %s exists; pass --force to replace it", path)
			}
		}
	}
	signer, err := auth.NewSigner(*kid)
	if err != nil {
		return err
	}
	priv, err := signer.PrivateJWK()
	if err != nil {
		return err
	}
	pub, err := signer.JWKS()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*private, append(priv, '\n'), 0o600); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	// Services read the JWKS as a non-root container user: it must be world-readable.
	if err := os.WriteFile(*jwks, append(pub, '\n'), 0o644); err != nil { // #nosec G306 -- public keys only
		return fmt.Errorf("write JWKS: %w", err)
	}
	// WriteFile keeps an existing file's mode; make it right either way.
	if err := os.Chmod(*jwks, 0o644); err != nil { // #nosec G302 -- public keys only
		return fmt.Errorf("chmod JWKS: %w", err)
	}
	p := &printer{w: c.stdout}
	p.printf("wrote private key %s and JWKS %s (kid %s)\n", *private, *jwks, *kid)
	return p.err
}

// findUp looks for rel in the working directory and then in its parents,
// so "storefrontctl token" works from anywhere inside the repository.
func findUp(rel string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find %s: %w", rel, err)
	}
	dir := wd
	// Stop at the root; the bound only guards against a pathological path.
	for range 256 {
		candidate := filepath.Join(dir, rel)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find %s: %w", rel, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("%s not found in %s or its parents; pass --key or set STOREFRONT_SIGNING_KEY", rel, wd)
}
