// Command orders serves orders.v1.OrderService: idempotent order placement
// against catalogue's stock, and cancellation. See "orders help".
package main

import (
	"os"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/orders/internal/server"
)

func main() {
	os.Exit(service.Main(server.Spec()))
}
