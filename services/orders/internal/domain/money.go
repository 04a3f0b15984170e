package domain

import (
	"fmt"
	"math"
)

// Money is an amount in a currency's minor units. Arithmetic is checked:
// an order total that would wrap around is an error, never a wrong price.
type Money struct {
	AmountMinor  int64
	CurrencyCode string
}

// Add returns m+o. Both must be in the same currency.
func (m Money) Add(o Money) (Money, error) {
	if m.CurrencyCode != o.CurrencyCode {
		return Money{}, &CurrencyMismatchError{Currencies: []string{m.CurrencyCode, o.CurrencyCode}}
	}
	if (o.AmountMinor > 0 && m.AmountMinor > math.MaxInt64-o.AmountMinor) ||
		(o.AmountMinor < 0 && m.AmountMinor < math.MinInt64-o.AmountMinor) {
		return Money{}, fmt.Errorf("%w: %d + %d %s", ErrAmountOverflow, m.AmountMinor, o.AmountMinor, m.CurrencyCode)
	}
	return Money{AmountMinor: m.AmountMinor + o.AmountMinor, CurrencyCode: m.CurrencyCode}, nil
}

// Times returns m multiplied by a non-negative quantity.
func (m Money) Times(qty int32) (Money, error) {
	if qty < 0 {
		return Money{}, fmt.Errorf("multiply %d %s by negative quantity %d", m.AmountMinor, m.CurrencyCode, qty)
	}
	q := int64(qty)
	if q != 0 && (m.AmountMinor > math.MaxInt64/q || m.AmountMinor < math.MinInt64/q) {
		return Money{}, fmt.Errorf("%w: %d × %d %s", ErrAmountOverflow, m.AmountMinor, q, m.CurrencyCode)
	}
	return Money{AmountMinor: m.AmountMinor * q, CurrencyCode: m.CurrencyCode}, nil
}
