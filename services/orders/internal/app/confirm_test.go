package app_test

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

func TestPlaceOrderConfirmsTheReservation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 2}))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	if diff := cmp.Diff([]uuid.UUID{o.ID}, f.cat.confirmCalls()); diff != "" {
		t.Errorf("confirmed reservations (-want +got):\n%s", diff)
	}
	// A replay answers from the stored response and calls catalogue for nothing.
	if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 2})); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got := len(f.cat.confirmCalls()); got != 1 {
		t.Errorf("confirm calls after a replay = %d, want 1", got)
	}
	if got := f.unconfirmed.value(); got != 0 {
		t.Errorf("unconfirmed counter = %d, want 0", got)
	}
}

// The order is committed before the confirmation: a failed confirmation is
// logged and leaves the order (and its reservation) in place; only one that
// found the reservation ended is an ERROR, and counted.
func TestPlaceOrderConfirmFailureKeepsTheOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		err             error
		wantUnconfirmed int
		wantLevel       slog.Level
	}{
		{
			name:      "catalogue unavailable",
			err:       &domain.CatalogueUnavailableError{Reason: "timed out", Cause: errors.New("deadline exceeded")},
			wantLevel: slog.LevelWarn,
		},
		{
			name:      "unexpected",
			err:       errors.New("confirm reservation: rpc error: code = Unimplemented"),
			wantLevel: slog.LevelWarn,
		},
		{
			name:            "reservation expired first",
			err:             &domain.ReservationEndedError{OrderID: uuid.New(), Detail: "reservation is EXPIRED"},
			wantUnconfirmed: 1,
			wantLevel:       slog.LevelError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, app.Config{})
			f.cat.confirmErr = tc.err
			o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 2}))
			if err != nil {
				t.Fatalf("PlaceOrder failed with the order committed: %v", err)
			}
			if stored, err := f.store.Get(t.Context(), o.ID); err != nil || stored.Status != domain.StatusConfirmed {
				t.Errorf("stored order = %v, %v; want it CONFIRMED", stored.Status, err)
			}
			if _, active, released := f.cat.counts(); active != 1 || len(released) != 0 {
				t.Errorf("%d active reservations and %d releases, want 1 and 0: the order keeps its reservation", active, len(released))
			}
			if got := f.unconfirmed.value(); got != tc.wantUnconfirmed {
				t.Errorf("unconfirmed counter = %d, want %d", got, tc.wantUnconfirmed)
			}
			if got := len(f.logs.at(tc.wantLevel)); got != 1 {
				t.Errorf("%d records at %v, want 1 (warn %q, error %q)", got, tc.wantLevel, f.logs.at(slog.LevelWarn), f.logs.at(slog.LevelError))
			}
		})
	}
}

// A commit whose answer is lost may have happened: the order is read back
// before its reservation is released, so a committed order never loses it.
func TestPlaceOrderAmbiguousCommit(t *testing.T) {
	t.Parallel()

	t.Run("committed after all", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, app.Config{})
		f.store.createErr = errors.New("commit: unexpected EOF")
		f.store.commitThenFail = true
		o, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4}))
		if err != nil {
			t.Fatalf("PlaceOrder of a committed order: %v", err)
		}
		stored, err := f.store.Get(t.Context(), o.ID)
		if err != nil {
			t.Fatalf("get the order: %v", err)
		}
		if diff := cmp.Diff(stored, o); diff != "" {
			t.Errorf("returned order differs from the stored one (-stored +returned):\n%s", diff)
		}
		if _, active, released := f.cat.counts(); active != 1 || len(released) != 0 {
			t.Errorf("%d active reservations and %d releases, want 1 and 0", active, len(released))
		}
		if got := f.cat.stockOf(apple.ID); got != 96 {
			t.Errorf("apple stock = %d, want 96 (held for the order)", got)
		}
		if diff := cmp.Diff([]uuid.UUID{o.ID}, f.cat.confirmCalls()); diff != "" {
			t.Errorf("confirmed reservations (-want +got):\n%s", diff)
		}
		// The key completed with the commit: a retry replays the order.
		f.store.createErr, f.store.commitThenFail = nil, false
		again, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4}))
		if err != nil || again.ID != o.ID {
			t.Errorf("retry = %v, %v; want the committed order %s", again.ID, err, o.ID)
		}
	})

	t.Run("not committed", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, app.Config{})
		f.store.createErr = errors.New("commit: unexpected EOF")
		if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4})); err == nil {
			t.Fatal("PlaceOrder succeeded without an order")
		}
		if _, active, released := f.cat.counts(); active != 0 || len(released) != 1 {
			t.Errorf("%d active reservations and %d releases, want 0 and 1", active, len(released))
		}
		if got := len(f.cat.confirmCalls()); got != 0 {
			t.Errorf("%d confirm calls, want none", got)
		}
	})

	t.Run("cannot tell", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, app.Config{})
		f.store.createErr = errors.New("commit: unexpected EOF")
		f.store.getErr = errors.New("dial tcp: connection refused")
		_, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4}))
		if err == nil {
			t.Fatal("PlaceOrder succeeded without knowing whether the order exists")
		}
		// Released, the stock of an order that did commit would be sold
		// twice; held, it expires by itself if the order did not commit.
		if _, active, released := f.cat.counts(); active != 1 || len(released) != 0 {
			t.Errorf("%d active reservations and %d releases, want 1 and 0 (left to its TTL)", active, len(released))
		}
		// The key is free again, so a retry places the order anew.
		f.store.createErr, f.store.getErr = nil, nil
		if _, err := f.svc.PlaceOrder(t.Context(), alice, placeReq("key-0001", domain.Item{ProductID: apple.ID, Quantity: 4})); err != nil {
			t.Errorf("retry after the database recovered: %v", err)
		}
	})
}

func TestListOrdersAdminSeesEveryCustomer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, app.Config{})
	var placed []domain.Order
	for i, c := range []app.Caller{alice, bob, alice, bob, alice} {
		o, err := f.svc.PlaceOrder(t.Context(), c, placeReq("all-key-"+string(rune('a'+i)), domain.Item{ProductID: apple.ID, Quantity: 1}))
		if err != nil {
			t.Fatalf("PlaceOrder %d: %v", i, err)
		}
		placed = append(placed, o)
	}

	var (
		got   []domain.Order
		token string
		pages int
	)
	for pages = 1; pages <= 10; pages++ {
		page, err := f.svc.ListOrders(t.Context(), admin, app.ListOrders{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListOrders page %d: %v", pages, err)
		}
		got = append(got, page.Orders...)
		if token = page.NextPageToken; token == "" {
			break
		}
		// The token resumes only the listing it came from.
		if _, err := f.svc.ListOrders(t.Context(), admin, app.ListOrders{CustomerID: "alice", PageToken: token}); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("the all-customers token used for alice's listing: %v, want invalid argument", err)
		}
	}
	if pages != 3 {
		t.Errorf("took %d pages, want 3", pages)
	}
	if diff := cmp.Diff(sortedIDs(placed), sortedIDs(got)); diff != "" {
		t.Errorf("listed orders (-placed +listed):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].CreatedAt.After(got[i-1].CreatedAt) {
			t.Errorf("order %d is newer than order %d: not newest first", i, i-1)
		}
	}

	// A customer who names nobody still gets only their own orders.
	page, err := f.svc.ListOrders(t.Context(), bob, app.ListOrders{})
	if err != nil {
		t.Fatalf("bob's listing: %v", err)
	}
	for _, o := range page.Orders {
		if o.CustomerID != "bob" {
			t.Errorf("bob's listing holds %s's order %s", o.CustomerID, o.ID)
		}
	}
	if len(page.Orders) != 2 {
		t.Errorf("bob's listing = %d orders, want 2", len(page.Orders))
	}
}
