module github.com/storefront-go/storefront/services/orders

go 1.26.7
