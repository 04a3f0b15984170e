package domain_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

var (
	p1 = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	p2 = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	p3 = uuid.MustParse("33333333-3333-4333-8333-333333333333")
)

func TestNormalizeItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []domain.Item
		want    []domain.Item
		wantErr bool
	}{
		{
			name: "sorted by product id",
			in:   []domain.Item{{ProductID: p3, Quantity: 1}, {ProductID: p1, Quantity: 2}, {ProductID: p2, Quantity: 3}},
			want: []domain.Item{{ProductID: p1, Quantity: 2}, {ProductID: p2, Quantity: 3}, {ProductID: p3, Quantity: 1}},
		},
		{name: "empty", in: nil, wantErr: true},
		{name: "duplicate product", in: []domain.Item{{ProductID: p1, Quantity: 1}, {ProductID: p1, Quantity: 2}}, wantErr: true},
		{name: "zero quantity", in: []domain.Item{{ProductID: p1, Quantity: 0}}, wantErr: true},
		{name: "quantity too large", in: []domain.Item{{ProductID: p1, Quantity: domain.MaxQuantity + 1}}, wantErr: true},
		{name: "nil product", in: []domain.Item{{ProductID: uuid.Nil, Quantity: 1}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.NormalizeItems(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NormalizeItems error = %v, want error %t", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NormalizeItems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewOrderTotals(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", 3600))
	products := map[uuid.UUID]domain.Product{
		p1: {ID: p1, SKU: "A-1", Name: "Apple", Price: domain.Money{AmountMinor: 125, CurrencyCode: "EUR"}},
		p2: {ID: p2, SKU: "B-2", Name: "Bread", Price: domain.Money{AmountMinor: 350, CurrencyCode: "EUR"}},
	}
	id := uuid.New()
	items := []domain.Item{{ProductID: p1, Quantity: 4}, {ProductID: p2, Quantity: 2}}
	got, err := domain.NewOrder(id, "cust-1", items, products, now)
	if err != nil {
		t.Fatalf("NewOrder: %v", err)
	}
	want := domain.Order{
		ID:         id,
		CustomerID: "cust-1",
		Status:     domain.StatusConfirmed,
		Lines: []domain.Line{
			{ProductID: p1, SKU: "A-1", Name: "Apple", Quantity: 4, UnitPrice: domain.Money{AmountMinor: 125, CurrencyCode: "EUR"}, LineTotal: domain.Money{AmountMinor: 500, CurrencyCode: "EUR"}},
			{ProductID: p2, SKU: "B-2", Name: "Bread", Quantity: 2, UnitPrice: domain.Money{AmountMinor: 350, CurrencyCode: "EUR"}, LineTotal: domain.Money{AmountMinor: 700, CurrencyCode: "EUR"}},
		},
		Total: domain.Money{AmountMinor: 1200, CurrencyCode: "EUR"},
		// UTC, truncated to what Postgres keeps.
		CreatedAt: time.Date(2030, 1, 2, 2, 4, 5, 6000, time.UTC),
		UpdatedAt: time.Date(2030, 1, 2, 2, 4, 5, 6000, time.UTC),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewOrder mismatch (-want +got):\n%s", diff)
	}
}

func TestNewOrderRejects(t *testing.T) {
	t.Parallel()
	eur := domain.Money{AmountMinor: 100, CurrencyCode: "EUR"}
	tests := []struct {
		name     string
		products map[uuid.UUID]domain.Product
		items    []domain.Item
		want     error
	}{
		{
			name: "mixed currencies",
			products: map[uuid.UUID]domain.Product{
				p1: {ID: p1, Price: eur},
				p2: {ID: p2, Price: domain.Money{AmountMinor: 100, CurrencyCode: "USD"}},
			},
			items: []domain.Item{{ProductID: p1, Quantity: 1}, {ProductID: p2, Quantity: 1}},
			want:  domain.ErrFailedPrecondition,
		},
		{
			name:     "unknown product",
			products: map[uuid.UUID]domain.Product{p1: {ID: p1, Price: eur}},
			items:    []domain.Item{{ProductID: p1, Quantity: 1}, {ProductID: p2, Quantity: 1}},
			want:     domain.ErrNotFound,
		},
		{
			name:     "line overflows",
			products: map[uuid.UUID]domain.Product{p1: {ID: p1, Price: domain.Money{AmountMinor: math.MaxInt64 / 2, CurrencyCode: "EUR"}}},
			items:    []domain.Item{{ProductID: p1, Quantity: 3}},
			want:     domain.ErrAmountOverflow,
		},
		{
			name: "total overflows",
			products: map[uuid.UUID]domain.Product{
				p1: {ID: p1, Price: domain.Money{AmountMinor: math.MaxInt64 / 2, CurrencyCode: "EUR"}},
				p2: {ID: p2, Price: domain.Money{AmountMinor: math.MaxInt64 / 2, CurrencyCode: "EUR"}},
			},
			items: []domain.Item{{ProductID: p1, Quantity: 1}, {ProductID: p2, Quantity: 2}},
			want:  domain.ErrAmountOverflow,
		},
		{name: "no items", products: nil, items: nil, want: domain.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.NewOrder(uuid.New(), "c", tc.items, tc.products, time.Now())
			if !errors.Is(err, tc.want) {
				t.Errorf("NewOrder error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cancelAt := created.Add(time.Hour)
	o := domain.Order{ID: uuid.New(), Status: domain.StatusConfirmed, CreatedAt: created, UpdatedAt: created}

	changed, err := o.Cancel("changed my mind", cancelAt)
	if err != nil || !changed {
		t.Fatalf("first Cancel = %t, %v; want true, nil", changed, err)
	}
	if o.Status != domain.StatusCancelled || !o.CancelledAt.Equal(cancelAt) || !o.UpdatedAt.Equal(cancelAt) || o.CancelReason != "changed my mind" {
		t.Errorf("after Cancel: %+v", o)
	}

	before := o
	changed, err = o.Cancel("again", cancelAt.Add(time.Hour))
	if err != nil || changed {
		t.Fatalf("second Cancel = %t, %v; want false, nil", changed, err)
	}
	if diff := cmp.Diff(before, o); diff != "" {
		t.Errorf("second Cancel changed the order (-before +after):\n%s", diff)
	}

	pending := domain.Order{ID: uuid.New(), Status: domain.StatusPending}
	if _, err := pending.Cancel("", cancelAt); !errors.Is(err, domain.ErrFailedPrecondition) {
		t.Errorf("Cancel of a pending order: error = %v, want ErrFailedPrecondition", err)
	}
}

func TestStatusRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []domain.Status{domain.StatusPending, domain.StatusConfirmed, domain.StatusCancelled} {
		got, ok := domain.ParseStatus(s.String())
		if !ok || got != s {
			t.Errorf("ParseStatus(%q) = %v, %t; want %v", s.String(), got, ok, s)
		}
	}
	if _, ok := domain.ParseStatus("SHIPPED"); ok {
		t.Error("ParseStatus(SHIPPED) succeeded")
	}
}
