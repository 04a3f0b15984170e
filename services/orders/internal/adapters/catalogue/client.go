// Package catalogue calls catalogue.v1.CatalogueService for the orders use
// cases and turns its answers into orders domain values and errors. The
// connection comes from libs/grpcclient, which adds deadlines, retries of
// the idempotent methods and the circuit breaker.
package catalogue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/libs/grpcclient"
	"github.com/storefront-go/storefront/services/orders/internal/app"
	"github.com/storefront-go/storefront/services/orders/internal/domain"
)

// IdempotentMethods are the catalogue methods orders calls that are safe to
// retry: reads, and reservations keyed by the order id.
func IdempotentMethods() []string {
	return []string{
		cataloguev1.CatalogueService_BatchGetProducts_FullMethodName,
		cataloguev1.CatalogueService_ReserveStock_FullMethodName,
		cataloguev1.CatalogueService_ConfirmReservation_FullMethodName,
		cataloguev1.CatalogueService_ReleaseStock_FullMethodName,
	}
}

// Dial connects to catalogue with the house client defaults, sending creds
// (the orders service token) on every call. breaker, when not nil, reports
// the connection's circuit breaker.
func Dial(cfg grpcclient.Config, creds credentials.PerRPCCredentials, logger *slog.Logger, reg prometheus.Registerer, breaker *grpcclient.BreakerState) (*grpc.ClientConn, error) {
	if cfg.Name == "" {
		cfg.Name = "catalogue"
	}
	return grpcclient.Dial(cfg,
		grpcclient.WithBreakerState(breaker),
		grpcclient.WithIdempotentMethods(IdempotentMethods()...),
		grpcclient.WithDialOptions(grpc.WithPerRPCCredentials(creds)),
		grpcclient.WithLogger(logger),
		grpcclient.WithRegisterer(reg),
	)
}

// Client implements app.Catalogue over a catalogue connection.
type Client struct {
	api     cataloguev1.CatalogueServiceClient
	breaker *grpcclient.BreakerState
}

var (
	_ app.Catalogue            = (*Client)(nil)
	_ app.ReservationConfirmer = (*Client)(nil)
)

// New returns a client over conn. breaker, when not nil, is conn's circuit
// breaker (see Dial), which Unavailable reads.
func New(conn grpc.ClientConnInterface, breaker *grpcclient.BreakerState) *Client {
	return &Client{api: cataloguev1.NewCatalogueServiceClient(conn), breaker: breaker}
}

// Unavailable returns the error every call fails with while the circuit
// breaker is open, else nil.
func (c *Client) Unavailable() error {
	if c.breaker == nil || !c.breaker.Open() {
		return nil
	}
	return &domain.CatalogueUnavailableError{Reason: reasonBreakerOpen, Cause: errors.New("catalogue: " + grpcclient.BreakerOpen), Unsent: true}
}

// Products returns the products with the given ids, or a
// *domain.ProductNotFoundError naming every unknown one.
func (c *Client) Products(ctx context.Context, ids []uuid.UUID) ([]domain.Product, error) {
	req := &cataloguev1.BatchGetProductsRequest{ProductIds: make([]string, len(ids))}
	for i, id := range ids {
		req.ProductIds[i] = id.String()
	}
	resp, err := c.api.BatchGetProducts(ctx, req)
	if err != nil {
		return nil, mapError(ctx, "get products", ids, err)
	}
	if missing := resp.GetNotFoundIds(); len(missing) > 0 {
		nf := &domain.ProductNotFoundError{}
		for _, raw := range missing {
			id, err := uuid.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("get products: catalogue reported malformed id %q", raw)
			}
			nf.IDs = append(nf.IDs, id)
		}
		return nil, nf
	}
	out := make([]domain.Product, 0, len(resp.GetProducts()))
	for _, p := range resp.GetProducts() {
		id, err := uuid.Parse(p.GetId())
		if err != nil {
			return nil, fmt.Errorf("get products: catalogue returned malformed id %q", p.GetId())
		}
		if p.GetPrice() == nil {
			return nil, fmt.Errorf("get products: product %s has no price", id)
		}
		out = append(out, domain.Product{
			ID:    id,
			SKU:   p.GetSku(),
			Name:  p.GetName(),
			Price: domain.Money{AmountMinor: p.GetPrice().GetAmountMinor(), CurrencyCode: p.GetPrice().GetCurrencyCode()},
		})
	}
	return out, nil
}

// Reserve reserves items under reservationID, all or none.
func (c *Client) Reserve(ctx context.Context, reservationID uuid.UUID, items []domain.Item) error {
	req := &cataloguev1.ReserveStockRequest{
		ReservationId: reservationID.String(),
		Items:         make([]*cataloguev1.ReservationItem, len(items)),
	}
	ids := make([]uuid.UUID, len(items))
	for i, it := range items {
		req.Items[i] = &cataloguev1.ReservationItem{ProductId: it.ProductID.String(), Quantity: it.Quantity}
		ids[i] = it.ProductID
	}
	resp, err := c.api.ReserveStock(ctx, req)
	if err != nil {
		return mapError(ctx, "reserve stock for order "+reservationID.String(), ids, err)
	}
	// A repeated reservation id returns the stored reservation, which may
	// have ended; only an active one holds the stock the order needs.
	if st := resp.GetReservation().GetStatus(); st != cataloguev1.ReservationStatus_RESERVATION_STATUS_ACTIVE {
		return fmt.Errorf("reserve stock for order %s: reservation is %s", reservationID, st)
	}
	return nil
}

// Confirm hands the reservation to the order placed with it, so that it no
// longer expires; confirming it again is a no-op. A reservation that was
// released or expired first, or that catalogue does not know, gives a
// *domain.ReservationEndedError.
func (c *Client) Confirm(ctx context.Context, reservationID uuid.UUID) error {
	op := "confirm reservation of order " + reservationID.String()
	_, err := c.api.ConfirmReservation(ctx, &cataloguev1.ConfirmReservationRequest{ReservationId: reservationID.String()})
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		if st, ok := status.FromError(err); ok && (st.Code() == codes.FailedPrecondition || st.Code() == codes.NotFound) {
			return &domain.ReservationEndedError{OrderID: reservationID, Detail: st.Message()}
		}
	}
	return mapError(ctx, op, nil, err)
}

// Release gives the reservation's stock back; it is a no-op when the
// reservation already ended.
func (c *Client) Release(ctx context.Context, reservationID uuid.UUID) error {
	_, err := c.api.ReleaseStock(ctx, &cataloguev1.ReleaseStockRequest{ReservationId: reservationID.String()})
	if err != nil {
		return mapError(ctx, "release stock of order "+reservationID.String(), nil, err)
	}
	return nil
}

// uuidPattern finds product ids in catalogue's messages.
var uuidPattern = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// mapError turns a failed catalogue call into a domain error. requested
// lists the products of the call, to name the ones catalogue complained
// about.
func mapError(ctx context.Context, op string, requested []uuid.UUID, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller gave up or ran out of time; that is the story to tell.
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		reason := unavailableReason(st)
		return &domain.CatalogueUnavailableError{
			Reason: reason, Cause: fmt.Errorf("%s: %w", op, err), Unsent: reason == reasonBreakerOpen,
		}
	case codes.NotFound:
		if ids := mentioned(st.Message(), requested); len(ids) > 0 {
			return &domain.ProductNotFoundError{IDs: ids}
		}
		return fmt.Errorf("%s: %w", op, err)
	case codes.FailedPrecondition:
		return insufficientStock(st, requested)
	default:
		// Anything else (a rejected token, a conflict) is a fault on our
		// side, not something the caller can act on.
		return fmt.Errorf("%s: %w", op, err)
	}
}

// reasonBreakerOpen is the reason given when the breaker rejected a call.
const reasonBreakerOpen = grpcclient.BreakerOpen

// unavailableReason says why catalogue could not answer, without the
// transport's internals (addresses, dial errors) that callers must not see.
func unavailableReason(st *status.Status) string {
	switch {
	case grpcclient.IsBreakerOpen(st.Err()):
		return reasonBreakerOpen
	case st.Code() == codes.DeadlineExceeded:
		return "timed out"
	case st.Code() == codes.ResourceExhausted:
		return "overloaded"
	}
	return "not reachable"
}

// insufficientStock reads the products short of stock from catalogue's
// PreconditionFailure details, or failing that from its message.
func insufficientStock(st *status.Status, requested []uuid.UUID) error {
	e := &domain.InsufficientStockError{Message: st.Message()}
	for _, d := range st.Details() {
		pf, ok := d.(*errdetails.PreconditionFailure)
		if !ok {
			continue
		}
		for _, v := range pf.GetViolations() {
			id, err := uuid.Parse(strings.TrimPrefix(v.GetSubject(), "products/"))
			if err != nil {
				continue
			}
			e.Shortages = append(e.Shortages, domain.Shortage{ProductID: id, Detail: v.GetDescription()})
		}
	}
	if len(e.Shortages) == 0 {
		for _, id := range mentioned(st.Message(), requested) {
			e.Shortages = append(e.Shortages, domain.Shortage{ProductID: id})
		}
	}
	if len(e.Shortages) == 0 && !strings.Contains(strings.ToLower(st.Message()), "stock") {
		return &domain.CataloguePreconditionError{Message: st.Message()}
	}
	return e
}

// mentioned returns the requested ids that msg names, in request order.
func mentioned(msg string, requested []uuid.UUID) []uuid.UUID {
	found := map[uuid.UUID]bool{}
	for _, s := range uuidPattern.FindAllString(msg, -1) {
		if id, err := uuid.Parse(s); err == nil {
			found[id] = true
		}
	}
	var out []uuid.UUID
	for _, id := range requested {
		if found[id] {
			out = append(out, id)
		}
	}
	return out
}
