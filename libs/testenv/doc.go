// Package testenv is the harness of integration tests. It starts the
// infrastructure they run against: Postgres and NATS containers through
// testcontainers-go, and an in-process NATS server that a test can stop
// and restart to simulate an outage. It runs the services under test: a
// token issuer whose JWKS replicas trust (Auth), a replica's environment
// (ReplicaEnv), a replica in this process (StartReplica) and a service
// binary as a subprocess (BuildBinary, NewProcess), each stopped when its
// test ends, with its logs reported when the test fails.
//
// No image registry is reachable on the build machines, so image names come
// from STOREFRONT_POSTGRES_IMAGE and STOREFRONT_NATS_IMAGE, and the
// testcontainers reaper (Ryuk) is disabled unless the caller configured it;
// every container is terminated explicitly instead.
package testenv
