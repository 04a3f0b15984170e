// Command shopfront serves a small demo shop page: plain HTML and
// JavaScript, embedded in the binary, that call catalogue, orders and
// analytics straight from the browser with the Connect protocol over fetch
// (unary JSON, and the WatchAvailability server stream read from the
// response body). It is a development tool and the e2e suite's browser
// client.
//
// `make up` already runs it on http://127.0.0.1:8080 (deploy/compose/stack.sh).
// To run it by hand against `make up`'s stack, minting a customer token
// from the dev key (the issuer and audience default to the ones in
// deploy/compose/service.env):
//
//	go run ./tools/shopfront -signing-key deploy/compose/dev-signing-key.json -issuer storefront-dev
//
// or with a token minted elsewhere (-token, default $STOREFRONT_TOKEN).
// The services answer browsers only from the origins in
// CORS_ALLOWED_ORIGINS, and deploy/compose/service.env lists only :8080, so
// first stop the copy `make up` started (its pid is in
// .cache/compose/shopfront.pid).
//
// The page reads its token from /config.json: anyone who can reach -addr
// can place orders as -sub, which is why it listens on loopback by default.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
