// Package server is the orders service's wiring: its configuration, its
// access policy, and how its own parts (store, catalogue client, use cases,
// handler and idempotency key sweeper) sit on the service host in
// libs/service, which owns everything every service starts and stops. The
// command runs it; integration tests run it in process.
package server

import (
	"context"
	"fmt"
	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/auth"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/services/orders/internal/adapters/catalogue"
	pgstore "github.com/storefront-go/storefront/services/orders/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/contract"
	"github.com/storefront-go/storefront/services/orders/internal/ports"
)

const (
	// DefaultCatalogueAddr is the catalogue target when CATALOGUE_ADDR is unset.
	DefaultCatalogueAddr = "dns:///catalogue:50051"
	// UnconfirmedReservationsMetric counts placed orders whose reservation
	// catalogue could no longer confirm: the orders that may be oversold.
	UnconfirmedReservationsMetric = "storefront_orders_unconfirmed_reservations_total"
)

// Config is the orders configuration, read from the environment: the
// host's part (servers, Postgres, NATS, auth, outbox) and its own.
type Config struct {
	service.Config
	Orders app.Config
	// Catalogue is the catalogue client: CATALOGUE_ADDR, CATALOGUE_TIMEOUT,
	// CATALOGUE_BREAKER_* and so on (see libs/grpcclient).
	Catalogue grpcclient.Config `envPrefix:"CATALOGUE_"`
	// CatalogueTokenFile holds the JWT (role "service") sent to catalogue;
	// it is re-read when it changes. It wins over CatalogueToken.
	CatalogueTokenFile string `env:"CATALOGUE_TOKEN_FILE"`
	// CatalogueToken is the JWT sent to catalogue when no file is set.
	CatalogueToken string `env:"CATALOGUE_TOKEN"`
}

// Roles that may call the orders RPCs.
const (
	// CustomerRole is held by shoppers, whose token subject is their
	// customer id.
	CustomerRole = "customer"
	// AdminRole may read and act on any customer's orders.
	AdminRole = ports.AdminRole
)

// Policy is who may call what: every orders RPC needs a customer's token,
// or an admin's (the use cases then scope a customer to their own orders);
// other identities, such as another service's, are refused. Health and
// reflection are public on every replica (the host adds them).
func Policy() auth.Policy {
	customer := auth.Rule{Roles: []string{CustomerRole, AdminRole}}
	return auth.Policy{
		ordersv1.OrderService_PlaceOrder_FullMethodName:  customer,
		ordersv1.OrderService_GetOrder_FullMethodName:    customer,
		ordersv1.OrderService_ListOrders_FullMethodName:  customer,
		ordersv1.OrderService_CancelOrder_FullMethodName: customer,
	}
}

// Spec is the orders service as the host runs it.
func Spec() service.Spec[Config] {
	return service.Spec[Config]{
		Name:    "orders",
		Migrate: pgstore.Migrate,
		Streams: []service.Stream{{Name: contract.Stream, Subjects: []string{contract.StreamSubjects}}},
		Policy:  Policy(),
		// orders has no public read: `orders check` asks for an order
		// without a token and wants it refused.
		Probe: service.RefusedWithoutToken(func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := ordersv1.NewOrderServiceClient(conn).GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: uuid.NewString()})
			return err
		}),
		Wire: wire,
	}
}

// wire builds the orders service on the host: the catalogue client (with
// its token, breaker and metrics), the store, the use cases and their gRPC
// handler, and the idempotency key sweeper.
func wire(_ context.Context, h *service.Host, cfg Config) error {
	logger := h.Logger()
	creds, err := catalogue.NewCredentials(cfg.CatalogueToken, cfg.CatalogueTokenFile)
	if err != nil {
		return err
	}
	catCfg := cfg.Catalogue
	if catCfg.Target == "" {
		catCfg.Target = DefaultCatalogueAddr
	}
	// PlaceOrder fails fast, without touching its database, while the
	// breaker is open.
	var breaker grpcclient.BreakerState
	conn, err := catalogue.Dial(catCfg, creds, logger, h.Registry(), &breaker)
	if err != nil {
		return err
	}
	h.OnClose(conn.Close)
	unconfirmed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: UnconfirmedReservationsMetric,
		Help: "Placed orders whose stock reservation had been released or had expired before catalogue could confirm it; each may be oversold.",
	})
	if err := h.Registry().Register(unconfirmed); err != nil {
		return fmt.Errorf("register %s: %w", UnconfirmedReservationsMetric, err)
	}
	store := pgstore.New(h.Pool())
	catClient := catalogue.New(conn, &breaker)
	svc := app.New(app.Deps{
		Catalogue:   catClient,
		Confirmer:   catClient,
		Keys:        store,
		Orders:      store,
		Reader:      store,
		Unconfirmed: unconfirmed,
	}, cfg.Orders, logger)

	h.Register(&ordersv1.OrderService_ServiceDesc, ports.NewHandler(svc))
	h.Every("delete expired idempotency keys", cfg.Orders.SweepInterval, svc.SweepKeys)
	return nil
}
