package domain

import (
	"bytes"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Counts are a product's counters over some time.
type Counts struct {
	Views      int64
	AddToCarts int64
	Orders     int64
	UnitsSold  int64
}

// Money is an amount in a currency's minor units.
type Money struct {
	AmountMinor  int64
	CurrencyCode string
}

// Delta is what to add to one product's counters in the minute that starts
// at Minute. Revenue is per currency.
type Delta struct {
	ProductID uuid.UUID
	Minute    time.Time
	Counts
	Revenue map[string]int64
}

// EventDeltas adds up the counted events per product and minute, in
// (product, minute) order. Events about no product, or with a name that
// is not counted, add nothing.
func EventDeltas(events []Event) []Delta {
	type key struct {
		product uuid.UUID
		minute  int64
	}
	acc := map[key]*Delta{}
	for _, e := range events {
		if e.ProductID == uuid.Nil || (e.Name != EventProductViewed && e.Name != EventAddToCart) {
			continue
		}
		m := e.OccurredAt.UTC().Truncate(time.Minute)
		k := key{e.ProductID, m.Unix()}
		d, ok := acc[k]
		if !ok {
			d = &Delta{ProductID: e.ProductID, Minute: m}
			acc[k] = d
		}
		if e.Name == EventProductViewed {
			d.Views++
		} else {
			d.AddToCarts++
		}
	}
	out := make([]Delta, 0, len(acc))
	for _, d := range acc {
		out = append(out, *d)
	}
	SortDeltas(out)
	return out
}

// SortDeltas orders deltas by product then minute, the order their rows
// are locked in, so concurrent writers never deadlock.
func SortDeltas(ds []Delta) {
	slices.SortFunc(ds, func(a, b Delta) int {
		if c := bytes.Compare(a.ProductID[:], b.ProductID[:]); c != 0 {
			return c
		}
		return a.Minute.Compare(b.Minute)
	})
}

// OrderLine is one product of an order, as analytics counts it.
type OrderLine struct {
	ProductID uuid.UUID
	Quantity  int64
	Total     Money
}

// Order is a placed (or cancelled) order's contribution to the counters.
type Order struct {
	ID uuid.UUID
	// At is when the event happened: placement or cancellation.
	At    time.Time
	Lines []OrderLine
}

// OrderDeltas is what an order placed at placedAt adds to its products'
// counters, sign 1, or takes away when it is cancelled, sign -1. A product
// on several lines counts as one order.
func OrderDeltas(lines []OrderLine, placedAt time.Time, sign int64) []Delta {
	m := placedAt.UTC().Truncate(time.Minute)
	acc := map[uuid.UUID]*Delta{}
	for _, l := range lines {
		d, ok := acc[l.ProductID]
		if !ok {
			d = &Delta{ProductID: l.ProductID, Minute: m, Revenue: map[string]int64{}}
			d.Orders = sign
			acc[l.ProductID] = d
		}
		d.UnitsSold += sign * l.Quantity
		d.Revenue[l.Total.CurrencyCode] += sign * l.Total.AmountMinor
	}
	out := make([]Delta, 0, len(acc))
	for _, d := range acc {
		out = append(out, *d)
	}
	SortDeltas(out)
	return out
}

// Metric is what TopProducts ranks by.
type Metric int

// The metrics.
const (
	MetricViews Metric = iota + 1
	MetricAddToCarts
	MetricOrders
	MetricUnitsSold
	MetricRevenue
)

// ProductStats are one product's figures over a window.
type ProductStats struct {
	ProductID  uuid.UUID
	Name       string
	CategoryID string
	Counts
	// Revenue has one entry per currency, by currency code.
	Revenue []Money
}

// Product is the catalogue's view of a product, as its events announce it.
type Product struct {
	ID         uuid.UUID
	Name       string
	CategoryID string
	Deleted    bool
	// ChangedAt orders the announcements: an older one never overwrites a
	// newer one that arrived first.
	ChangedAt time.Time
}
