package outbox_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/outbox"
)

func TestNewRelayRejectsMissingDependencies(t *testing.T) {
	t.Parallel()
	if _, err := outbox.NewRelay(nil, nil, outbox.RelayConfig{}, nil, prometheus.NewRegistry()); err == nil {
		t.Error("NewRelay(nil pool): got nil error")
	}
	// A pool that is never used: pgxpool connects lazily.
	pool, err := pgxpool.New(t.Context(), "postgres://u:p@127.0.0.1:1/db")
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := outbox.NewRelay(pool, nil, outbox.RelayConfig{}, nil, prometheus.NewRegistry()); err == nil {
		t.Error("NewRelay(nil jetstream): got nil error")
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		subject string
		event   proto.Message
	}{
		{name: "empty subject", subject: "", event: wrapperspb.String("x")},
		{name: "nil event", subject: "orders.order.placed", event: nil},
		{name: "typed nil event", subject: "orders.order.placed", event: (*ordersv1.OrderPlaced)(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Validation happens before the transaction is used, so nil is safe.
			if _, err := outbox.Enqueue(t.Context(), nil, tc.subject, tc.event); err == nil {
				t.Error("got nil error")
			}
		})
	}
}
