package ports

import (
	"context"
	"fmt"

	"github.com/storefront-go/storefront/libs/consumer"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/analytics/internal/app"
	"github.com/storefront-go/storefront/services/analytics/internal/contract"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// Events handles the business events analytics consumes. Each handler runs
// in the unit of work that holds the event's inbox row, so the counters it
// changes commit with that row, once. An event that cannot be read is
// Permanent: it goes to the dead-letter stream at once.
type Events struct {
	app *app.Service
}

// NewEvents returns the event handlers over the use cases.
func NewEvents(a *app.Service) *Events { return &Events{app: a} }

// OrderPlaced is the consumer.Handler of orders.order.placed.
func (h *Events) OrderPlaced(ctx context.Context, msg consumer.Message) error {
	var e ordersv1.OrderPlaced
	if err := msg.DecodeAs(&e); err != nil {
		return consumer.Permanent(err)
	}
	o, err := contract.Order(&e)
	if err != nil {
		return consumer.Permanent(err)
	}
	return h.app.OrderPlaced(ctx, o)
}

// OrderCancelled is the consumer.Handler of orders.order.cancelled.
func (h *Events) OrderCancelled(ctx context.Context, msg consumer.Message) error {
	var e ordersv1.OrderCancelled
	if err := msg.DecodeAs(&e); err != nil {
		return consumer.Permanent(err)
	}
	o, err := contract.Order(&e)
	if err != nil {
		return consumer.Permanent(err)
	}
	return h.app.OrderCancelled(ctx, o)
}

// Product is the consumer.Handler of catalogue.product.created, .updated
// and .deleted, told apart by their type header: it keeps the product
// dimension.
func (h *Events) Product(ctx context.Context, msg consumer.Message) error {
	p, err := product(msg)
	if err != nil {
		return consumer.Permanent(err)
	}
	return h.app.ProductChanged(ctx, p)
}

func product(msg consumer.Message) (domain.Product, error) {
	ev, err := msg.Decode()
	if err != nil {
		return domain.Product{}, err //nolint:wrapcheck // Decode names the event
	}
	switch e := ev.(type) {
	case *cataloguev1.ProductCreated:
		return contract.Product(e.GetProduct(), e.GetOccurredAt())
	case *cataloguev1.ProductUpdated:
		return contract.Product(e.GetProduct(), e.GetOccurredAt())
	case *cataloguev1.ProductDeleted:
		return contract.DeletedProduct(e)
	default:
		return domain.Product{}, fmt.Errorf("event %s on %s has type %s, not a product event", msg.ID, msg.Subject, msg.Type)
	}
}
