// Command analytics serves health, probes and metrics until
// analytics.v1.AnalyticsService lands. See "analytics help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/analytics/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := service.Main(ctx, os.Args[1:], server.Spec())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "analytics:", err)
		os.Exit(1)
	}
}
