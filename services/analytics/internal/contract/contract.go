// Package contract converts between the analytics domain and the protobuf
// contracts: analytics.v1 for the API, and the events of orders.v1 and
// catalogue.v1 that analytics consumes.
package contract

import (
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/apperr"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/services/analytics/internal/domain"
)

// Streams and subjects analytics consumes.
const (
	OrdersStream          = "ORDERS"
	SubjectOrderPlaced    = "orders.order.placed"
	SubjectOrderCancelled = "orders.order.cancelled"
	CatalogueStream       = "CATALOGUE"
	SubjectProductCreated = "catalogue.product.created"
	SubjectProductUpdated = "catalogue.product.updated"
	SubjectProductDeleted = "catalogue.product.deleted"
)

// Limits of analyticsv1.Event as its contract states them.
const (
	maxEventName     = 64
	maxUserID        = 128
	maxProperties    = 64
	maxPropertyKey   = 64
	maxPropertyValue = 1024
)

// ClearlyValid reports whether e plainly meets the contract's rules for an
// Event: canonical UUIDs, a name of the allowed ASCII characters, a time,
// and strings whose byte lengths are within the limits (a string's length
// in characters, which the rules bound, is never more than its length in
// bytes). It is a cheap sufficient check for the bulk path: what it clears
// protovalidate would accept (a fuzz test holds it to that), and an event
// it does not clear goes through protovalidate, whose answer stands.
func ClearlyValid(e *analyticsv1.Event) bool {
	if !canonicalUUID(e.GetEventId()) || e.GetOccurredAt() == nil || len(e.GetUserId()) > maxUserID {
		return false
	}
	if p := e.GetProductId(); p != "" && !canonicalUUID(p) {
		return false
	}
	name := e.GetEventName()
	if len(name) == 0 || len(name) > maxEventName || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' {
			return false
		}
	}
	if len(e.GetProperties()) > maxProperties {
		return false
	}
	for k, v := range e.GetProperties() {
		if len(k) == 0 || len(k) > maxPropertyKey || len(v) > maxPropertyValue {
			return false
		}
	}
	return true
}

// canonicalUUID reports whether s is a UUID in its 36-character form.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}

// Event converts a validated event. The request validation already checked
// the ids; a message that skipped it still cannot make a bad event.
func Event(e *analyticsv1.Event) (domain.Event, error) {
	id, err := uuid.Parse(e.GetEventId())
	if err != nil {
		return domain.Event{}, apperr.Invalid("event_id", "must be a UUID")
	}
	var product uuid.UUID
	if p := e.GetProductId(); p != "" {
		if product, err = uuid.Parse(p); err != nil {
			return domain.Event{}, apperr.Invalid("product_id", "must be a UUID")
		}
	}
	if !e.GetOccurredAt().IsValid() {
		return domain.Event{}, apperr.Invalid("occurred_at", "must be a valid timestamp")
	}
	return domain.Event{
		ID:         id,
		Name:       e.GetEventName(),
		UserID:     e.GetUserId(),
		OccurredAt: e.GetOccurredAt().AsTime(),
		ProductID:  product,
		Properties: e.GetProperties(),
	}, nil
}

// ProductStats converts a product's figures.
func ProductStats(s domain.ProductStats) *analyticsv1.ProductStats {
	out := &analyticsv1.ProductStats{
		ProductId:  s.ProductID.String(),
		Views:      s.Views,
		AddToCarts: s.AddToCarts,
		Orders:     s.Orders,
		UnitsSold:  s.UnitsSold,
		Name:       s.Name,
		CategoryId: s.CategoryID,
	}
	for _, m := range s.Revenue {
		out.Revenue = append(out.Revenue, &analyticsv1.Money{AmountMinor: m.AmountMinor, CurrencyCode: m.CurrencyCode})
	}
	return out
}

// Metric converts a ranking metric; the request validation refuses the rest.
func Metric(m analyticsv1.Metric) (domain.Metric, error) {
	switch m {
	case analyticsv1.Metric_METRIC_VIEWS:
		return domain.MetricViews, nil
	case analyticsv1.Metric_METRIC_ADD_TO_CARTS:
		return domain.MetricAddToCarts, nil
	case analyticsv1.Metric_METRIC_ORDERS:
		return domain.MetricOrders, nil
	case analyticsv1.Metric_METRIC_UNITS_SOLD:
		return domain.MetricUnitsSold, nil
	case analyticsv1.Metric_METRIC_REVENUE:
		return domain.MetricRevenue, nil
	default:
		return 0, apperr.Invalid("metric", "must be a defined metric other than METRIC_UNSPECIFIED")
	}
}

// Timestamp converts a time.
func Timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// currencyCode is an ISO-4217 alphabetic code.
var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// orderEvent is what OrderPlaced and OrderCancelled have in common.
type orderEvent interface {
	GetOrderId() string
	GetLines() []*ordersv1.OrderLine
	GetOccurredAt() *timestamppb.Timestamp
}

// Order converts an OrderPlaced or OrderCancelled event.
func Order(e orderEvent) (domain.Order, error) {
	id, err := uuid.Parse(e.GetOrderId())
	if err != nil {
		return domain.Order{}, fmt.Errorf("order id %q: %w", e.GetOrderId(), err)
	}
	if !e.GetOccurredAt().IsValid() {
		return domain.Order{}, fmt.Errorf("order %s: no valid occurred_at", id)
	}
	o := domain.Order{ID: id, At: e.GetOccurredAt().AsTime()}
	for i, l := range e.GetLines() {
		pid, err := uuid.Parse(l.GetProductId())
		if err != nil {
			return domain.Order{}, fmt.Errorf("order %s line %d: product id %q: %w", id, i, l.GetProductId(), err)
		}
		total := l.GetLineTotal()
		if l.GetQuantity() <= 0 || total.GetAmountMinor() < 0 || !currencyCode.MatchString(total.GetCurrencyCode()) {
			return domain.Order{}, fmt.Errorf("order %s line %d: quantity %d, total %d %q", id, i, l.GetQuantity(), total.GetAmountMinor(), total.GetCurrencyCode())
		}
		o.Lines = append(o.Lines, domain.OrderLine{
			ProductID: pid,
			Quantity:  int64(l.GetQuantity()),
			Total:     domain.Money{AmountMinor: total.GetAmountMinor(), CurrencyCode: total.GetCurrencyCode()},
		})
	}
	if len(o.Lines) == 0 {
		return domain.Order{}, fmt.Errorf("order %s has no lines", id)
	}
	return o, nil
}

// Product converts a ProductCreated or ProductUpdated event's product.
func Product(p *cataloguev1.Product, at *timestamppb.Timestamp) (domain.Product, error) {
	id, err := uuid.Parse(p.GetId())
	if err != nil {
		return domain.Product{}, fmt.Errorf("product id %q: %w", p.GetId(), err)
	}
	if !at.IsValid() {
		return domain.Product{}, fmt.Errorf("product %s: no valid occurred_at", id)
	}
	return domain.Product{ID: id, Name: p.GetName(), CategoryID: p.GetCategoryId(), ChangedAt: at.AsTime()}, nil
}

// DeletedProduct converts a ProductDeleted event.
func DeletedProduct(e *cataloguev1.ProductDeleted) (domain.Product, error) {
	id, err := uuid.Parse(e.GetProductId())
	if err != nil {
		return domain.Product{}, fmt.Errorf("product id %q: %w", e.GetProductId(), err)
	}
	if !e.GetOccurredAt().IsValid() {
		return domain.Product{}, fmt.Errorf("product %s: no valid occurred_at", id)
	}
	return domain.Product{ID: id, Deleted: true, ChangedAt: e.GetOccurredAt().AsTime()}, nil
}
