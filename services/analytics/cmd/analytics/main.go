// Command analytics serves health, probes and metrics until
// analytics.v1.AnalyticsService lands. See "analytics help".
package main

import (
	"os"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/analytics/internal/server"
)

func main() {
	os.Exit(service.Main(server.Spec()))
}
