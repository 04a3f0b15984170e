package ports_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/storefront-go/storefront/libs/consumer"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/app"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
	"github.com/storefront-go/storefront/services/catalogue/internal/ports"
)

// fakeConfirmer records the reservations it is asked to confirm and answers
// with a fixed outcome. The unit of work is not its concern here.
type fakeConfirmer struct {
	r      domain.Reservation
	result domain.ConfirmResult
	err    error
	calls  []uuid.UUID
}

func (f *fakeConfirmer) Confirm(_ context.Context, id uuid.UUID) (domain.Reservation, domain.ConfirmResult, error) {
	f.calls = append(f.calls, id)
	return f.r, f.result, f.err
}

// levels records the level of every log record, to check how loudly an
// outcome is reported.
type levels struct {
	mu  sync.Mutex
	got []slog.Level
}

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }

func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r.Level)
	return nil
}

func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }

func (l *levels) WithGroup(string) slog.Handler { return l }

func (l *levels) levels() []slog.Level {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]slog.Level(nil), l.got...)
}

// reasons records what a ReasonCounter counts.
type reasons struct{ got []string }

func (r *reasons) Inc(reason string) { r.got = append(r.got, reason) }

func TestOrderPlacedHandle(t *testing.T) {
	t.Parallel()
	order := uuid.MustParse("0193a3c4-0000-7000-8000-0000000000bb")
	placed := func(orderID string) []byte {
		b, err := proto.Marshal(&ordersv1.OrderPlaced{OrderId: orderID, CustomerId: "c-1"})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return b
	}
	eventType := string(proto.MessageName(&ordersv1.OrderPlaced{}))
	storeDown := errors.New("connection reset")

	tests := []struct {
		name          string
		msgType       string
		data          []byte
		confirmer     fakeConfirmer
		wantCalls     []uuid.UUID
		wantLogs      []slog.Level
		wantUnbacked  []string // reasons counted as orders without held stock
		wantErr       error    // matched with errors.Is; nil means success
		wantPermanent bool
	}{
		{
			name:      "confirms the order's reservation",
			msgType:   eventType,
			data:      placed(order.String()),
			confirmer: fakeConfirmer{r: domain.Reservation{ID: order, Status: domain.ReservationConfirmed}, result: domain.ConfirmConfirmed},
			wantCalls: []uuid.UUID{order},
			wantLogs:  []slog.Level{slog.LevelInfo},
		},
		{
			name:      "already confirmed is a no-op",
			msgType:   eventType,
			data:      placed(order.String()),
			confirmer: fakeConfirmer{r: domain.Reservation{ID: order, Status: domain.ReservationConfirmed}},
			wantCalls: []uuid.UUID{order},
			wantLogs:  []slog.Level{slog.LevelDebug},
		},
		{
			name:      "released is a no-op",
			msgType:   eventType,
			data:      placed(order.String()),
			confirmer: fakeConfirmer{r: domain.Reservation{ID: order, Status: domain.ReservationReleased}},
			wantCalls: []uuid.UUID{order},
			wantLogs:  []slog.Level{slog.LevelInfo},
		},
		{
			name:      "expired and reinstated is a warning",
			msgType:   eventType,
			data:      placed(order.String()),
			confirmer: fakeConfirmer{r: domain.Reservation{ID: order, Status: domain.ReservationConfirmed}, result: domain.ConfirmReinstated},
			wantCalls: []uuid.UUID{order},
			wantLogs:  []slog.Level{slog.LevelWarn},
		},
		{
			name:         "expired and short of stock is an error, acknowledged",
			msgType:      eventType,
			data:         placed(order.String()),
			confirmer:    fakeConfirmer{r: domain.Reservation{ID: order, Status: domain.ReservationExpired}},
			wantCalls:    []uuid.UUID{order},
			wantLogs:     []slog.Level{slog.LevelError},
			wantUnbacked: []string{app.ReasonExpiredNotReinstated},
		},
		{
			name:      "unknown reservation is acknowledged",
			msgType:   eventType,
			data:      placed(order.String()),
			confirmer: fakeConfirmer{err: domain.ReservationNotFound(order)},
			wantCalls: []uuid.UUID{order},
			wantLogs:  []slog.Level{slog.LevelInfo},
		},
		{
			name:      "no type header is read by subject",
			data:      placed(order.String()),
			confirmer: fakeConfirmer{r: domain.Reservation{ID: order, Status: domain.ReservationConfirmed}, result: domain.ConfirmConfirmed},
			wantCalls: []uuid.UUID{order},
			wantLogs:  []slog.Level{slog.LevelInfo},
		},
		{
			name:      "store failure is retried",
			msgType:   eventType,
			data:      placed(order.String()),
			confirmer: fakeConfirmer{err: storeDown},
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
			msgType:       string(proto.MessageName(&ordersv1.OrderCancelled{})),
			data:          placed(order.String()),
			wantPermanent: true,
		},
		{
			name:          "missing order id is permanent",
			msgType:       eventType,
			data:          placed(""),
			wantPermanent: true,
		},
		{
			name:          "malformed order id is permanent",
			msgType:       eventType,
			data:          placed("order-1"),
			wantPermanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.confirmer
			logs := &levels{}
			logger := slog.New(logs)
			unbacked := &reasons{}
			h := ports.NewOrderPlaced(newApp(app.Deps{Confirmer: &c, Unbacked: unbacked}, logger), logger)
			err := h.Handle(t.Context(), consumer.Message{
				ID: "evt-1", Subject: "orders.order.placed", Type: tt.msgType, Data: tt.data, NumDelivered: 1,
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
			if diff := cmp.Diff(tt.wantCalls, c.calls); diff != "" {
				t.Errorf("confirmed reservations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLogs, logs.levels()); diff != "" {
				t.Errorf("log levels (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnbacked, unbacked.got); diff != "" {
				t.Errorf("unbacked orders counted (-want +got):\n%s", diff)
			}
		})
	}
}
