// Package contract converts between the orders domain and the orders.v1
// protobuf contract, names the NATS subjects of the orders' events, and
// encodes the stored answer of a PlaceOrder request.
package contract

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/apperr"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// Stream and subjects of the orders' events.
const (
	Stream                = "ORDERS"
	StreamSubjects        = "orders.>"
	SubjectOrderPlaced    = "orders.order.placed"
	SubjectOrderCancelled = "orders.order.cancelled"
)

// marshal encodes m deterministically, so that one answer is stored as
// the same bytes however often it is encoded.
func marshal(m proto.Message) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Items converts requested items. Product ids are parsed, which also puts
// them in canonical lower-case form.
func Items(in []*ordersv1.OrderItem) ([]domain.Item, error) {
	out := make([]domain.Item, len(in))
	for i, it := range in {
		id, err := uuid.Parse(it.GetProductId())
		if err != nil {
			return nil, apperr.Invalid(fmt.Sprintf("items[%d].product_id", i), "must be a UUID")
		}
		out[i] = domain.Item{ProductID: id, Quantity: it.GetQuantity()}
	}
	return out, nil
}

// Order converts an order to its message.
func Order(o domain.Order) *ordersv1.Order {
	return &ordersv1.Order{
		Id:          o.ID.String(),
		CustomerId:  o.CustomerID,
		Status:      status(o.Status),
		Lines:       Lines(o.Lines),
		Total:       money(o.Total),
		CreatedAt:   timestamp(o.CreatedAt),
		UpdatedAt:   timestamp(o.UpdatedAt),
		CancelledAt: timestamp(o.CancelledAt),
	}
}

// Lines converts order lines.
func Lines(ls []domain.Line) []*ordersv1.OrderLine {
	out := make([]*ordersv1.OrderLine, len(ls))
	for i, l := range ls {
		out[i] = &ordersv1.OrderLine{
			ProductId: l.ProductID.String(),
			Sku:       l.SKU,
			Name:      l.Name,
			Quantity:  l.Quantity,
			UnitPrice: money(l.UnitPrice),
			LineTotal: money(l.LineTotal),
		}
	}
	return out
}

// OrderFromMessage converts a message written by Order back to the domain.
func OrderFromMessage(m *ordersv1.Order) (domain.Order, error) {
	id, err := uuid.Parse(m.GetId())
	if err != nil {
		return domain.Order{}, fmt.Errorf("order id %q: %w", m.GetId(), err)
	}
	o := domain.Order{
		ID:          id,
		CustomerID:  m.GetCustomerId(),
		Status:      fromStatus(m.GetStatus()),
		Lines:       make([]domain.Line, len(m.GetLines())),
		Total:       fromMoney(m.GetTotal()),
		CreatedAt:   fromTimestamp(m.GetCreatedAt()),
		UpdatedAt:   fromTimestamp(m.GetUpdatedAt()),
		CancelledAt: fromTimestamp(m.GetCancelledAt()),
	}
	for i, l := range m.GetLines() {
		pid, err := uuid.Parse(l.GetProductId())
		if err != nil {
			return domain.Order{}, fmt.Errorf("order %s line %d product id %q: %w", id, i, l.GetProductId(), err)
		}
		o.Lines[i] = domain.Line{
			ProductID: pid,
			SKU:       l.GetSku(),
			Name:      l.GetName(),
			Quantity:  l.GetQuantity(),
			UnitPrice: fromMoney(l.GetUnitPrice()),
			LineTotal: fromMoney(l.GetLineTotal()),
		}
	}
	return o, nil
}

// EncodePlaceOrderResponse returns the stored form of a PlaceOrder answer,
// so that a retried request gets the very same response.
func EncodePlaceOrderResponse(o domain.Order) ([]byte, error) {
	b, err := marshal(&ordersv1.PlaceOrderResponse{Order: Order(o)})
	if err != nil {
		return nil, fmt.Errorf("marshal PlaceOrder response for order %s: %w", o.ID, err)
	}
	return b, nil
}

// DecodePlaceOrderResponse is the inverse of EncodePlaceOrderResponse.
func DecodePlaceOrderResponse(b []byte) (domain.Order, error) {
	var resp ordersv1.PlaceOrderResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		return domain.Order{}, fmt.Errorf("unmarshal stored PlaceOrder response: %w", err)
	}
	return OrderFromMessage(resp.GetOrder())
}

// OrderPlaced is the event of a newly confirmed order.
func OrderPlaced(o domain.Order) *ordersv1.OrderPlaced {
	return &ordersv1.OrderPlaced{
		OrderId:    o.ID.String(),
		CustomerId: o.CustomerID,
		Lines:      Lines(o.Lines),
		Total:      money(o.Total),
		OccurredAt: timestamp(o.CreatedAt),
	}
}

// OrderCancelled is the event of a cancelled order. Its lines tell
// catalogue what the released reservation held.
func OrderCancelled(o domain.Order) *ordersv1.OrderCancelled {
	return &ordersv1.OrderCancelled{
		OrderId:    o.ID.String(),
		CustomerId: o.CustomerID,
		Lines:      Lines(o.Lines),
		Reason:     o.CancelReason,
		OccurredAt: timestamp(o.CancelledAt),
	}
}

func status(s domain.Status) ordersv1.OrderStatus {
	switch s {
	case domain.StatusPending:
		return ordersv1.OrderStatus_ORDER_STATUS_PENDING
	case domain.StatusConfirmed:
		return ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED
	case domain.StatusCancelled:
		return ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
	}
	return ordersv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}

func fromStatus(s ordersv1.OrderStatus) domain.Status {
	switch s {
	case ordersv1.OrderStatus_ORDER_STATUS_PENDING:
		return domain.StatusPending
	case ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED:
		return domain.StatusConfirmed
	case ordersv1.OrderStatus_ORDER_STATUS_CANCELLED:
		return domain.StatusCancelled
	default:
		return 0
	}
}

func money(m domain.Money) *ordersv1.Money {
	return &ordersv1.Money{AmountMinor: m.AmountMinor, CurrencyCode: m.CurrencyCode}
}

func fromMoney(m *ordersv1.Money) domain.Money {
	return domain.Money{AmountMinor: m.GetAmountMinor(), CurrencyCode: m.GetCurrencyCode()}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTimestamp(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime().UTC()
}
