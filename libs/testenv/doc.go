// Package testenv starts the infrastructure that integration tests run
// against: Postgres and NATS containers through testcontainers-go, and an
// in-process NATS server that a test can stop and restart to simulate an
// outage.
//
// No image registry is reachable on the build machines, so image names come
// from STOREFRONT_POSTGRES_IMAGE and STOREFRONT_NATS_IMAGE, and the
// testcontainers reaper (Ryuk) is disabled unless the caller configured it;
// every container is terminated explicitly instead.
package testenv
