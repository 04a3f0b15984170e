package domain

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/storefront-go/storefront/libs/apperr"
)

// Limits of one order; the contract enforces the same at the edge.
const (
	MaxItems    = 50
	MaxQuantity = 1000
)

// Status is where an order is in its life.
type Status int

// Orders are written CONFIRMED, once stock is reserved, and may then be
// CANCELLED. PENDING exists in the contract but is never stored.
const (
	StatusPending Status = iota + 1
	StatusConfirmed
	StatusCancelled
)

// String returns the status as stored in the database.
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "PENDING"
	case StatusConfirmed:
		return "CONFIRMED"
	case StatusCancelled:
		return "CANCELLED"
	}
	return "UNSPECIFIED"
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, bool) {
	for _, st := range []Status{StatusPending, StatusConfirmed, StatusCancelled} {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Item is one requested product and quantity.
type Item struct {
	ProductID uuid.UUID
	Quantity  int32
}

// NormalizeItems checks items and returns them sorted by product id, so
// that two requests listing the same items in another order are the same
// request, and reservations lock rows in one order.
func NormalizeItems(items []Item) ([]Item, error) {
	if len(items) == 0 || len(items) > MaxItems {
		return nil, apperr.Invalid("items", fmt.Sprintf("must hold 1 to %d items", MaxItems))
	}
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b Item) int { return bytes.Compare(a.ProductID[:], b.ProductID[:]) })
	for i, it := range sorted {
		if it.ProductID == uuid.Nil {
			return nil, apperr.Invalid("items.product_id", "must be a UUID")
		}
		if it.Quantity <= 0 || it.Quantity > MaxQuantity {
			return nil, apperr.Invalid("items.quantity", fmt.Sprintf("must be 1 to %d", MaxQuantity))
		}
		if i > 0 && sorted[i-1].ProductID == it.ProductID {
			return nil, apperr.Invalid("items", "each product may appear only once")
		}
	}
	return sorted, nil
}

// Product is what an order needs to know about a product when it is placed.
type Product struct {
	ID    uuid.UUID
	SKU   string
	Name  string
	Price Money
}

// Line is one product of an order, priced when the order was placed.
type Line struct {
	ProductID uuid.UUID
	SKU       string
	Name      string
	Quantity  int32
	UnitPrice Money
	LineTotal Money
}

// Order is a customer's purchase.
type Order struct {
	ID         uuid.UUID
	CustomerID string
	Status     Status
	// Lines are sorted by product id.
	Lines        []Line
	Total        Money
	CreatedAt    time.Time
	UpdatedAt    time.Time
	CancelledAt  time.Time // zero unless cancelled
	CancelReason string
}

// NewOrder prices normalised items with products (which must hold every
// item's product) and returns a CONFIRMED order created at now. Every line
// must share one currency, and no amount may overflow.
func NewOrder(id uuid.UUID, customerID string, items []Item, products map[uuid.UUID]Product, now time.Time) (Order, error) {
	if len(items) == 0 {
		return Order{}, apperr.Invalid("items", "must not be empty")
	}
	now = Timestamp(now)
	o := Order{
		ID:         id,
		CustomerID: customerID,
		Status:     StatusConfirmed,
		Lines:      make([]Line, 0, len(items)),
		CreatedAt:  now,
		UpdatedAt:  now,
	}
	var currencies []string
	for _, it := range items {
		p, ok := products[it.ProductID]
		if !ok {
			return Order{}, &ProductNotFoundError{IDs: []uuid.UUID{it.ProductID}}
		}
		if !slices.Contains(currencies, p.Price.CurrencyCode) {
			currencies = append(currencies, p.Price.CurrencyCode)
		}
		total, err := p.Price.Times(it.Quantity)
		if err != nil {
			return Order{}, fmt.Errorf("price product %s: %w", it.ProductID, err)
		}
		o.Lines = append(o.Lines, Line{
			ProductID: it.ProductID,
			SKU:       p.SKU,
			Name:      p.Name,
			Quantity:  it.Quantity,
			UnitPrice: p.Price,
			LineTotal: total,
		})
	}
	if len(currencies) > 1 {
		slices.Sort(currencies)
		return Order{}, &CurrencyMismatchError{Currencies: currencies}
	}
	total := Money{CurrencyCode: currencies[0]}
	for _, l := range o.Lines {
		var err error
		if total, err = total.Add(l.LineTotal); err != nil {
			return Order{}, fmt.Errorf("total order: %w", err)
		}
	}
	o.Total = total
	return o, nil
}

// Items returns the order's products and quantities, for its reservation.
func (o Order) Items() []Item {
	items := make([]Item, len(o.Lines))
	for i, l := range o.Lines {
		items[i] = Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return items
}

// Cancel moves a CONFIRMED order to CANCELLED at now and reports whether it
// changed. Cancelling a cancelled order changes nothing, so a retried
// cancel is harmless.
func (o *Order) Cancel(reason string, now time.Time) (bool, error) {
	switch o.Status {
	case StatusCancelled:
		return false, nil
	case StatusConfirmed:
		now = Timestamp(now)
		o.Status = StatusCancelled
		o.CancelledAt = now
		o.UpdatedAt = now
		o.CancelReason = reason
		return true, nil
	default:
		return false, &OrderStatusError{ID: o.ID, Status: o.Status, Action: "cancelled"}
	}
}

// Timestamp returns t in UTC at the microsecond precision Postgres keeps,
// so an order read back equals the order written.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
