// Command orders serves orders.v1.OrderService: idempotent order placement
// against catalogue's stock, and cancellation. See "orders help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/orders/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := service.Main(ctx, os.Args[1:], server.Spec())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}
