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

// Policy is who may call what: health and reflection are public; every
// other method is denied until it is listed.
func Policy() auth.Policy {
	public := auth.Rule{Public: true}
	return auth.Policy{
		"/grpc.health.v1.Health/":                    public,
		"/grpc.reflection.v1.ServerReflection/":      public,
		"/grpc.reflection.v1alpha.ServerReflection/": public,
	}
}

// Spec is the analytics service as the host runs it.
func Spec() service.Spec[Config] {
	return service.Spec[Config]{Name: "analytics", Policy: Policy()}
}
