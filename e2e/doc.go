// Package e2e holds Storefront's black-box end-to-end suite: it starts Postgres,
// NATS and the service images with testcontainers-go and talks to the services
// only through their public APIs.
package e2e
