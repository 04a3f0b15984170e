module github.com/storefront-go/storefront/services/analytics

go 1.26.7
