// Package auth authenticates and authorizes gRPC calls with bearer JWTs.
//
// An [Authenticator] verifies tokens against a JWKS (from a file or an
// http(s) URL, refreshed in the background), then applies a deny-by-default
// per-method [Policy]. Its interceptors put the caller's [Principal] in the
// request context. [Signer] mints tokens for development and tests.
package auth
