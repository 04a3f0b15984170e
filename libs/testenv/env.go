package testenv

import (
	"fmt"
	"os"
)

const (
	// PostgresImageEnv names the variable that overrides the Postgres image.
	PostgresImageEnv = "STOREFRONT_POSTGRES_IMAGE"
	// NATSImageEnv names the variable that overrides the NATS image.
	NATSImageEnv = "STOREFRONT_NATS_IMAGE"

	// DefaultPostgresImage is used when PostgresImageEnv is unset.
	DefaultPostgresImage = "postgres:17-alpine"
	// DefaultNATSImage is used when NATSImageEnv is unset.
	DefaultNATSImage = "nats:2.12-alpine"

	ryukDisabledEnv = "TESTCONTAINERS_RYUK_DISABLED"
)

// imageFromEnv returns the image named by env, or def when it is unset.
func imageFromEnv(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

// disableRyuk turns the reaper off unless the caller chose otherwise: its
// image can't be pulled here, and testenv terminates containers itself.
// testcontainers reads its configuration once, so this must run before the
// first container starts.
func disableRyuk() error {
	if _, ok := os.LookupEnv(ryukDisabledEnv); ok {
		return nil
	}
	if err := os.Setenv(ryukDisabledEnv, "true"); err != nil {
		return fmt.Errorf("set %s: %w", ryukDisabledEnv, err)
	}
	return nil
}
