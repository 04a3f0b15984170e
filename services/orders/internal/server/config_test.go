package server_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/libs/auth"
	"github.com/storefront-go/storefront/libs/config"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/server"
)

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadWithEnv[server.Config](map[string]string{
		"DATABASE_URL":                   "postgres://orders@db/orders",
		"NATS_URL":                       "nats://nats:4222",
		"CATALOGUE_ADDR":                 "dns:///catalogue:50051",
		"CATALOGUE_TIMEOUT":              "750ms",
		"CATALOGUE_BREAKER_OPEN_TIMEOUT": "5s",
		"CATALOGUE_TOKEN_FILE":           "/run/secrets/catalogue-token",
		"IDEMPOTENCY_TTL":                "48h",
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	got := struct {
		Target, TokenFile          string
		Timeout, OpenTimeout       time.Duration
		MaxAttempts                int
		KeyTTL, Lease, Wait, Sweep time.Duration
		Migrate                    bool
		GRPC                       string
	}{
		cfg.Catalogue.Target, cfg.CatalogueTokenFile,
		cfg.Catalogue.DefaultTimeout, cfg.Catalogue.BreakerOpenTimeout,
		cfg.Catalogue.MaxAttempts,
		cfg.Orders.KeyTTL, cfg.Orders.ClaimLease, cfg.Orders.DuplicateWait, cfg.Orders.SweepInterval,
		cfg.MigrateOnStart,
		cfg.Server.GRPCAddr,
	}
	want := got
	want.Target, want.TokenFile = "dns:///catalogue:50051", "/run/secrets/catalogue-token"
	want.Timeout, want.OpenTimeout, want.MaxAttempts = 750*time.Millisecond, 5*time.Second, 3
	want.KeyTTL, want.Lease, want.Wait, want.Sweep = 48*time.Hour, app.DefaultClaimLease, app.DefaultDuplicateWait, app.DefaultSweepInterval
	want.Migrate, want.GRPC = true, ":50051"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestPolicyCoversEveryMethod(t *testing.T) {
	t.Parallel()
	policy := service.WithInfrastructure(server.Policy())
	methods := ordersv1.File_orders_v1_orders_proto.Services().ByName("OrderService").Methods()
	if methods.Len() == 0 {
		t.Fatal("OrderService has no methods")
	}
	for i := range methods.Len() {
		full := "/orders.v1.OrderService/" + string(methods.Get(i).Name())
		rule, ok := policy[full]
		if !ok {
			t.Errorf("%s is not in the policy, so every call is denied", full)
			continue
		}
		if diff := cmp.Diff(auth.Rule{Roles: []string{"customer", "admin"}}, rule); diff != "" {
			t.Errorf("%s rule (-want a customer or an admin +got):\n%s", full, diff)
		}
	}
	if !policy["/grpc.health.v1.Health/"].Public {
		t.Error("health is not public")
	}
}
