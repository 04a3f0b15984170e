// Package server is the analytics service's wiring on the service host in
// libs/service. Until AnalyticsService lands it adds nothing of its own: the
// host serves health, reflection, the HTTP probes and metrics, and connects
// to the analytics database and NATS as the other services do.
package server

import (
	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/service"
)

// Config is the analytics configuration, read from the environment.
type Config struct {
	service.Config
}

// Spec is the analytics service as the host runs it.
func Spec() service.Spec[Config] {
	// Until its RPCs land it lists none: the host serves health and
	// reflection to anyone and denies everything else.
	return service.Spec[Config]{Name: "analytics", Policy: auth.Policy{}}
}
