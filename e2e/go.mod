module github.com/storefront-go/storefront/e2e

go 1.26.7
