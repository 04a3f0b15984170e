package domain_test

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

func TestMoneyAdd(t *testing.T) {
	t.Parallel()
	eur := func(n int64) domain.Money { return domain.Money{AmountMinor: n, CurrencyCode: "EUR"} }
	tests := []struct {
		name    string
		a, b    domain.Money
		want    domain.Money
		wantErr error
	}{
		{name: "sum", a: eur(150), b: eur(250), want: eur(400)},
		{name: "zero", a: eur(0), b: eur(0), want: eur(0)},
		{name: "up to max", a: eur(math.MaxInt64 - 1), b: eur(1), want: eur(math.MaxInt64)},
		{name: "overflow", a: eur(math.MaxInt64), b: eur(1), wantErr: domain.ErrAmountOverflow},
		{name: "underflow", a: eur(math.MinInt64), b: eur(-1), wantErr: domain.ErrAmountOverflow},
		{name: "other currency", a: eur(1), b: domain.Money{AmountMinor: 1, CurrencyCode: "USD"}, wantErr: domain.ErrFailedPrecondition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.a.Add(tc.b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Add error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Add mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMoneyTimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		amount  int64
		qty     int32
		want    int64
		wantErr bool
	}{
		{name: "simple", amount: 1999, qty: 3, want: 5997},
		{name: "zero quantity", amount: 1999, qty: 0, want: 0},
		{name: "largest that fits", amount: math.MaxInt64 / 1000, qty: 1000, want: math.MaxInt64 / 1000 * 1000},
		{name: "overflow", amount: math.MaxInt64/1000 + 1, qty: 1000, wantErr: true},
		{name: "negative quantity", amount: 1, qty: -1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.Money{AmountMinor: tc.amount, CurrencyCode: "EUR"}.Times(tc.qty)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Times error = %v, want error %t", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got.AmountMinor != tc.want || got.CurrencyCode != "EUR" {
				t.Errorf("Times = %+v, want %d EUR", got, tc.want)
			}
		})
	}
}
