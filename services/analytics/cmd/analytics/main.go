// Command analytics serves analytics.v1.AnalyticsService: event ingest,
// counters fed by the orders' and catalogue's events, and product
// statistics. See "analytics help".
package main

import (
	"os"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/analytics/internal/server"
)

func main() {
	os.Exit(service.Main(server.Spec()))
}
