// Command catalogue serves catalogue.v1.CatalogueService: products, search,
// stock, reservations and availability streams. See "catalogue help".
package main

import (
	"os"

	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/catalogue/internal/server"
)

func main() {
	os.Exit(service.Main(server.Spec()))
}
