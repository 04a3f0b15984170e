package ports_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/consumer"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/adapters/cache"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
	"github.com/storefront-go/storefront/services/catalogue/internal/ports"
)

// fakeReleaser records the reservations it is asked to release and answers
// with a fixed outcome. The unit of work is not its concern here.
type fakeReleaser struct {
	r        domain.Reservation
	released bool
	err      error
	calls    []uuid.UUID
}

func (f *fakeReleaser) Release(_ context.Context, id uuid.UUID) (domain.Reservation, bool, error) {
	f.calls = append(f.calls, id)
	return f.r, f.released, f.err
}

func (f *fakeReleaser) AdjustStock(context.Context, uuid.UUID, int64) (domain.Product, error) {
	return domain.Product{}, errors.New("not used")
}

func (f *fakeReleaser) Reserve(context.Context, uuid.UUID, []domain.ReservationItem, time.Duration) (domain.Reservation, error) {
	return domain.Reservation{}, errors.New("not used")
}

// noCache is a product cache that holds nothing.
type noCache struct{}

func (noCache) Get(uuid.UUID) (domain.Product, cache.Generation, bool) {
	return domain.Product{}, 0, false
}

func (noCache) Put(uuid.UUID, domain.Product, cache.Generation) bool { return false }

func (noCache) Invalidate(uuid.UUID) {}

// newApp is the use cases over d, with an empty cache.
func newApp(d app.Deps, logger *slog.Logger) *app.Service {
	d.Cache = noCache{}
	return app.New(d, app.Config{}, logger)
}

// isPermanent reports whether err carries consumer.Permanent's mark, whose
// type the consumer package does not export.
func isPermanent(err error) bool {
	target := reflect.New(reflect.TypeOf(consumer.Permanent(errors.New("probe"))))
	return errors.As(err, target.Interface())
}

func TestOrderCancelledHandle(t *testing.T) {
	t.Parallel()
	order := uuid.MustParse("0193a3c4-0000-7000-8000-0000000000aa")
	cancelled := func(orderID string) []byte {
		b, err := proto.Marshal(&ordersv1.OrderCancelled{OrderId: orderID, CustomerId: "c-1", Reason: "customer"})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return b
	}
	eventType := string(proto.MessageName(&ordersv1.OrderCancelled{}))
	storeDown := errors.New("connection reset")

	tests := []struct {
		name          string
		msgType       string
		data          []byte
		releaser      fakeReleaser
		wantCalls     []uuid.UUID
		wantErr       error // matched with errors.Is; nil means success
		wantPermanent bool
	}{
		{
			name:      "releases the order's reservation",
			msgType:   eventType,
			data:      cancelled(order.String()),
			releaser:  fakeReleaser{r: domain.Reservation{ID: order, Status: domain.ReservationReleased}, released: true},
			wantCalls: []uuid.UUID{order},
		},
		{
			name:      "already released is a no-op",
			msgType:   eventType,
			data:      cancelled(order.String()),
			releaser:  fakeReleaser{r: domain.Reservation{ID: order, Status: domain.ReservationReleased}},
			wantCalls: []uuid.UUID{order},
		},
		{
			name:      "expired is a no-op",
			msgType:   eventType,
			data:      cancelled(order.String()),
			releaser:  fakeReleaser{r: domain.Reservation{ID: order, Status: domain.ReservationExpired}},
			wantCalls: []uuid.UUID{order},
		},
		{
			name:      "unknown reservation is acknowledged",
			msgType:   eventType,
			data:      cancelled(order.String()),
			releaser:  fakeReleaser{err: domain.ReservationNotFound(order)},
			wantCalls: []uuid.UUID{order},
		},
		{
			name:      "no type header is read by subject",
			data:      cancelled(order.String()),
			releaser:  fakeReleaser{released: true},
			wantCalls: []uuid.UUID{order},
		},
		{
			name:      "store failure is retried",
			msgType:   eventType,
			data:      cancelled(order.String()),
			releaser:  fakeReleaser{err: storeDown},
			wantCalls: []uuid.UUID{order},
			wantErr:   storeDown,
		},
		{
			name:          "undecodable payload is permanent",
			msgType:       eventType,
			data:          []byte{0xff, 0xff, 0xff},
			wantPermanent: true,
		},
		{
			name:          "other event type is permanent",
			msgType:       string(proto.MessageName(&ordersv1.OrderPlaced{})),
			data:          cancelled(order.String()),
			wantPermanent: true,
		},
		{
			name:          "missing order id is permanent",
			msgType:       eventType,
			data:          cancelled(""),
			wantPermanent: true,
		},
		{
			name:          "malformed order id is permanent",
			msgType:       eventType,
			data:          cancelled("order-1"),
			wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rel := tt.releaser
			logger := slog.New(slog.DiscardHandler)
			h := ports.NewOrderCancelled(newApp(app.Deps{Stock: &rel}, logger), logger)
			err := h.Handle(t.Context(), consumer.Message{
				ID: "evt-1", Subject: "orders.order.cancelled", Type: tt.msgType, Data: tt.data, NumDelivered: 1,
			})
			switch {
			case tt.wantPermanent:
				if !isPermanent(err) {
					t.Errorf("error = %v, want a permanent one", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || isPermanent(err) {
					t.Errorf("error = %v, want %v and retryable", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("error = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.wantCalls, rel.calls); diff != "" {
				t.Errorf("released reservations (-want +got):\n%s", diff)
			}
		})
	}
}
