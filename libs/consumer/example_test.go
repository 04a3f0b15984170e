package consumer_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/consumer"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/postgres"
)

// A service consumes orders.order.placed: the inbox is migrated with the
// service's own schema, and the runner lives as long as the process.
func ExampleNew() {
	run := func(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) error {
		if err := consumer.Migrate(ctx, pool); err != nil {
			return err
		}
		handle := func(ctx context.Context, msg consumer.Message) error {
			event, err := msg.Decode()
			if err != nil {
				return consumer.Permanent(err)
			}
			placed, ok := event.(*ordersv1.OrderPlaced)
			if !ok {
				return consumer.Permanent(fmt.Errorf("unexpected event %s", msg.Type))
			}
			// InTx joins the unit of work in ctx: the insert commits with
			// the event's inbox row.
			return postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO order_stats (order_id) VALUES ($1)`, placed.GetOrderId())
				return err
			})
		}
		r, err := consumer.New(pool, js, consumer.Config{
			Stream:         "ORDERS",
			Durable:        "analytics-orders",
			FilterSubjects: []string{"orders.order.placed"},
		}, handle, logger, reg)
		if err != nil {
			return err
		}
		return r.Run(ctx) // returns after draining once ctx is done
	}
	_ = run
}
