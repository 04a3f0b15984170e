// Command bench drives a running Storefront stack (make up) with a bounded
// load and reports each scenario's latency and throughput as ratios against
// a baseline measured in the same run: the gRPC health check, which crosses
// the same network, server and interceptors but does no work. Scenarios run
// in interleaved rounds so that drift on a noisy machine hits them all.
//
// Run "bench -h" for the flags; docs/benchmarks.md has recorded runs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
