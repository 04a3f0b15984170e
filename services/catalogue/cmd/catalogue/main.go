// Command catalogue serves catalogue.v1.CatalogueService: products, search,
// stock, reservations and availability streams. See "catalogue help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/catalogue/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := service.Main(ctx, os.Args[1:], server.Spec())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "catalogue:", err)
		os.Exit(1)
	}
}
