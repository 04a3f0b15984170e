// Command storefrontctl is the command-line client for a Storefront stack.
// It lists, searches and creates products, reserves, releases and watches
// stock through the generated catalogue gRPC client, seeds demo data, mints
// tokens with the dev signing key of the local compose stack, and lists and
// re-drives the dead letters of the NATS JetStream consumers, sends
// analytics events and reads product statistics.
//
// Run "storefrontctl help" for the commands and flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
