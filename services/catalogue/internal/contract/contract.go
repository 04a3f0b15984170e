// Package contract converts between domain types and the catalogue.v1
// protobuf contract, reads the orders.v1 events the catalogue consumes, and
// names the NATS streams and subjects involved.
package contract

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/apperr"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Stream and subjects of the catalogue's events.
const (
	Stream                = "CATALOGUE"
	StreamSubjects        = "catalogue.>"
	SubjectProductCreated = "catalogue.product.created"
	SubjectProductUpdated = "catalogue.product.updated"
	SubjectProductDeleted = "catalogue.product.deleted"
	SubjectStockChanged   = "catalogue.stock.changed"
)

// Stream and subjects of the orders' events that the catalogue consumes. The
// orders service owns the stream and provisions it; the catalogue never does.
const (
	OrdersStream          = "ORDERS"
	SubjectOrderPlaced    = "orders.order.placed"
	SubjectOrderCancelled = "orders.order.cancelled"
)

// PlacedReservation returns the reservation an OrderPlaced event confirms:
// orders reserve stock under the order's id.
func PlacedReservation(e *ordersv1.OrderPlaced) (uuid.UUID, error) {
	return orderReservation("order placed", e.GetOrderId())
}

// CancelledReservation returns the reservation an OrderCancelled event ends:
// orders reserve stock under the order's id.
func CancelledReservation(e *ordersv1.OrderCancelled) (uuid.UUID, error) {
	return orderReservation("order cancelled", e.GetOrderId())
}

// orderReservation parses the order id of an event as its reservation id.
func orderReservation(event, orderID string) (uuid.UUID, error) {
	id, err := uuid.Parse(orderID)
	if err != nil {
		return uuid.Nil, fmt.Errorf("%s event: order id %q: %w", event, orderID, err)
	}
	if id == uuid.Nil {
		return uuid.Nil, fmt.Errorf("%s event: order id is the nil UUID", event)
	}
	return id, nil
}

// Product converts a product to its message.
func Product(p domain.Product) *cataloguev1.Product {
	return &cataloguev1.Product{
		Id:          p.ID.String(),
		Sku:         p.SKU,
		Name:        p.Name,
		Description: p.Description,
		CategoryId:  p.CategoryID,
		Price:       &cataloguev1.Money{AmountMinor: p.Price.AmountMinor, CurrencyCode: p.Price.CurrencyCode},
		StockQty:    p.StockQty,
		ImageUrls:   slices.Clone(p.ImageURLs),
		CreatedAt:   timestamppb.New(p.CreatedAt),
		UpdatedAt:   timestamppb.New(p.UpdatedAt),
	}
}

// Products converts a slice of products.
func Products(ps []domain.Product) []*cataloguev1.Product {
	out := make([]*cataloguev1.Product, len(ps))
	for i, p := range ps {
		out[i] = Product(p)
	}
	return out
}

// Fields takes the caller-chosen fields of a product message.
func Fields(p *cataloguev1.Product) domain.ProductFields {
	return domain.ProductFields{
		SKU:         p.GetSku(),
		Name:        p.GetName(),
		Description: p.GetDescription(),
		CategoryID:  p.GetCategoryId(),
		Price:       money(p.GetPrice()),
		ImageURLs:   slices.Clone(p.GetImageUrls()),
	}
}

// NewProduct converts a create request.
func NewProduct(req *cataloguev1.CreateProductRequest) domain.NewProduct {
	return domain.NewProduct{
		ProductFields: domain.ProductFields{
			SKU:         req.GetSku(),
			Name:        req.GetName(),
			Description: req.GetDescription(),
			CategoryID:  req.GetCategoryId(),
			Price:       money(req.GetPrice()),
			ImageURLs:   slices.Clone(req.GetImageUrls()),
		},
		StockQty: req.GetStockQty(),
	}
}

func money(m *cataloguev1.Money) domain.Money {
	return domain.Money{AmountMinor: m.GetAmountMinor(), CurrencyCode: m.GetCurrencyCode()}
}

// Category converts a category.
func Category(c domain.Category) *cataloguev1.Category {
	return &cataloguev1.Category{Id: c.ID, Name: c.Name}
}

// Reservation converts a reservation.
func Reservation(r domain.Reservation) *cataloguev1.Reservation {
	items := make([]*cataloguev1.ReservationItem, len(r.Items))
	for i, it := range r.Items {
		items[i] = &cataloguev1.ReservationItem{ProductId: it.ProductID.String(), Quantity: it.Quantity}
	}
	return &cataloguev1.Reservation{
		Id:        r.ID.String(),
		Items:     items,
		Status:    reservationStatus(r.Status),
		CreatedAt: timestamppb.New(r.CreatedAt),
		ExpiresAt: timestamppb.New(r.ExpiresAt),
	}
}

func reservationStatus(s domain.ReservationStatus) cataloguev1.ReservationStatus {
	switch s {
	case domain.ReservationActive:
		return cataloguev1.ReservationStatus_RESERVATION_STATUS_ACTIVE
	case domain.ReservationReleased:
		return cataloguev1.ReservationStatus_RESERVATION_STATUS_RELEASED
	case domain.ReservationExpired:
		return cataloguev1.ReservationStatus_RESERVATION_STATUS_EXPIRED
	case domain.ReservationConfirmed:
		return cataloguev1.ReservationStatus_RESERVATION_STATUS_CONFIRMED
	}
	return cataloguev1.ReservationStatus_RESERVATION_STATUS_UNSPECIFIED
}

// ReservationItems converts request items, checking their product ids.
func ReservationItems(items []*cataloguev1.ReservationItem) ([]domain.ReservationItem, error) {
	out := make([]domain.ReservationItem, len(items))
	for i, it := range items {
		id, err := ParseID(fmt.Sprintf("items[%d].product_id", i), it.GetProductId())
		if err != nil {
			return nil, err
		}
		out[i] = domain.ReservationItem{ProductID: id, Quantity: it.GetQuantity()}
	}
	return out, nil
}

// ParseID parses a UUID, naming field when it is malformed. Requests are
// validated before handlers run, so this guards handlers called directly.
func ParseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, apperr.Invalid(field, "must be a UUID")
	}
	return id, nil
}

// ParseIDs parses a list of UUIDs.
func ParseIDs(field string, ss []string) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, len(ss))
	for i, s := range ss {
		id, err := ParseID(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

// StockChanged converts a stock change to its event.
func StockChanged(c domain.StockChange) *cataloguev1.StockChanged {
	e := &cataloguev1.StockChanged{
		ProductId:  c.ProductID.String(),
		Available:  c.Available,
		Delta:      c.Delta,
		Reason:     c.Reason,
		OccurredAt: timestamppb.New(c.At),
	}
	if c.ReservationID != uuid.Nil {
		e.ReservationId = c.ReservationID.String()
	}
	return e
}

// StockChange converts a received event back into a stock change.
func StockChange(e *cataloguev1.StockChanged) (domain.StockChange, error) {
	id, err := uuid.Parse(e.GetProductId())
	if err != nil {
		return domain.StockChange{}, fmt.Errorf("stock changed event: product id %q: %w", e.GetProductId(), err)
	}
	var rid uuid.UUID
	if e.GetReservationId() != "" {
		if rid, err = uuid.Parse(e.GetReservationId()); err != nil {
			return domain.StockChange{}, fmt.Errorf("stock changed event: reservation id %q: %w", e.GetReservationId(), err)
		}
	}
	return domain.StockChange{
		ProductID:     id,
		Available:     e.GetAvailable(),
		Delta:         e.GetDelta(),
		Reason:        e.GetReason(),
		ReservationID: rid,
		At:            e.GetOccurredAt().AsTime(),
	}, nil
}
