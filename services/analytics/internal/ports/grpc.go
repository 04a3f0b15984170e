// Package ports serves analytics.v1.AnalyticsService over gRPC (and, through
// the host, Connect and gRPC-Web) and handles the orders' and catalogue's
// events analytics consumes. Handlers convert messages, call the use cases
// and return their errors as they are, for the errors interceptor to map to
// status codes; an event handler marks what can never succeed Permanent.
package ports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/storefront-go/storefront/libs/apperr"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	"github.com/storefront-go/storefront/libs/interceptor"
	"github.com/storefront-go/storefront/services/analytics/internal/app"
	"github.com/storefront-go/storefront/services/analytics/internal/contract"
)

// Handler implements analyticsv1.AnalyticsServiceServer.
type Handler struct {
	analyticsv1.UnimplementedAnalyticsServiceServer
	app *app.Service
	// validator checks streamed events one by one: the interceptor skips
	// StreamEvents, so one bad event is rejected alone.
	validator *interceptor.Validator
	// flushEvery writes a stream's queued events after this long even if
	// the batch is not full.
	flushEvery time.Duration
}

var _ analyticsv1.AnalyticsServiceServer = (*Handler)(nil)

// NewHandler returns a handler over the use cases; a stream's partial batch
// is written every flushEvery.
func NewHandler(a *app.Service, flushEvery time.Duration) (*Handler, error) {
	v, err := interceptor.NewValidator()
	if err != nil {
		return nil, err
	}
	if flushEvery <= 0 {
		flushEvery = time.Second
	}
	return &Handler{app: a, validator: v, flushEvery: flushEvery}, nil
}

// TrackEvent records one event.
func (h *Handler) TrackEvent(ctx context.Context, req *analyticsv1.TrackEventRequest) (*analyticsv1.TrackEventResponse, error) {
	e, err := contract.Event(req.GetEvent())
	if err != nil {
		return nil, err
	}
	duplicate, err := h.app.Track(ctx, e, "event.occurred_at")
	if err != nil {
		return nil, err
	}
	return &analyticsv1.TrackEventResponse{EventId: e.ID.String(), Duplicate: duplicate}, nil
}

// received is one message of a client stream, or the error that ended it.
type received struct {
	msg *analyticsv1.StreamEventsRequest
	err error
}

// StreamEvents records a stream of events in batches, written when full or
// every flushEvery, and answers the counts when the client closes its side.
// If the client goes away, the batches written so far stay written and the
// queued rest is dropped: clients send a broken stream again, whole, and
// the repeats are recorded once.
func (h *Handler) StreamEvents(stream grpc.ClientStreamingServer[analyticsv1.StreamEventsRequest, analyticsv1.StreamEventsResponse]) error {
	ctx := stream.Context()
	in := h.app.NewIngest()
	defer in.Close()
	msgs := make(chan received)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			msg, err := stream.Recv()
			select {
			case msgs <- received{msg, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	ticker := time.NewTicker(h.flushEvery)
	defer ticker.Stop()

	for index := int64(0); ; {
		select {
		case <-ticker.C:
			if err := in.Flush(ctx); err != nil {
				return err
			}
		case r := <-msgs:
			if errors.Is(r.err, io.EOF) {
				if err := in.Finish(ctx); err != nil {
					return err
				}
				return stream.SendAndClose(ingestResponse(in))
			}
			if r.err != nil {
				return r.err
			}
			n, err := h.add(ctx, in, index, r.msg)
			if err != nil {
				return in.Capped(ctx, err)
			}
			index += n
		}
	}
}

// maxEventsPerMessage bounds the events of one StreamEvents message; the
// rest of that message is rejected.
const maxEventsPerMessage = 1000

// add validates the events of one streamed message, event first, and
// hands them to the ingest; index numbers the first. It returns how many
// events the message counted for: a message without any is one rejected
// event.
func (h *Handler) add(ctx context.Context, in *app.Ingest, index int64, msg *analyticsv1.StreamEventsRequest) (int64, error) {
	events := msg.GetEvents()
	if ev := msg.GetEvent(); ev != nil {
		events = append([]*analyticsv1.Event{ev}, events...)
	}
	if len(events) == 0 {
		return 1, in.Reject(index, "", "event: value is required")
	}
	for i, ev := range events {
		var err error
		if i >= maxEventsPerMessage {
			err = in.Reject(index+int64(i), ev.GetEventId(), fmt.Sprintf("events: more than %d in one message", maxEventsPerMessage))
		} else {
			err = h.addEvent(ctx, in, index+int64(i), ev)
		}
		if err != nil {
			return int64(i + 1), err
		}
	}
	return int64(len(events)), nil
}

// addEvent validates one streamed event and hands it to the ingest.
func (h *Handler) addEvent(ctx context.Context, in *app.Ingest, index int64, ev *analyticsv1.Event) error {
	id := ev.GetEventId()
	// Most events clear the quick check; only the rest pay for the full
	// validation, whose answer stands.
	if !contract.ClearlyValid(ev) {
		if err := h.validator.Validate(&analyticsv1.StreamEventsRequest{Event: ev}); err != nil {
			return in.Reject(index, id, strings.TrimPrefix(status.Convert(err).Message(), "invalid request: "))
		}
	}
	e, err := contract.Event(ev)
	if err != nil {
		return in.Reject(index, id, err.Error())
	}
	return in.Add(ctx, index, e)
}

func ingestResponse(in *app.Ingest) *analyticsv1.StreamEventsResponse {
	resp := &analyticsv1.StreamEventsResponse{
		AcceptedCount:  in.Accepted,
		RejectedCount:  in.RejectedCount,
		DuplicateCount: in.Duplicates,
	}
	for _, r := range in.Rejected {
		resp.Rejected = append(resp.Rejected, &analyticsv1.RejectedEvent{Index: r.Index, EventId: r.EventID, Reason: r.Reason})
	}
	return resp
}

// GetProductStats answers one product's figures over a window.
func (h *Handler) GetProductStats(ctx context.Context, req *analyticsv1.GetProductStatsRequest) (*analyticsv1.GetProductStatsResponse, error) {
	id, err := uuid.Parse(req.GetProductId())
	if err != nil {
		return nil, apperr.Invalid("product_id", "must be a UUID")
	}
	st, w, err := h.app.ProductStats(ctx, id, req.GetStartTime().AsTime(), req.GetEndTime().AsTime())
	if err != nil {
		return nil, err
	}
	return &analyticsv1.GetProductStatsResponse{
		Stats:       contract.ProductStats(st),
		WindowStart: contract.Timestamp(w.Start),
		WindowEnd:   contract.Timestamp(w.End),
	}, nil
}

// TopProducts ranks products by a metric over a window.
func (h *Handler) TopProducts(ctx context.Context, req *analyticsv1.TopProductsRequest) (*analyticsv1.TopProductsResponse, error) {
	m, err := contract.Metric(req.GetMetric())
	if err != nil {
		return nil, err
	}
	top, w, err := h.app.TopProducts(ctx, m, req.GetCurrencyCode(), req.GetStartTime().AsTime(), req.GetEndTime().AsTime(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	resp := &analyticsv1.TopProductsResponse{WindowStart: contract.Timestamp(w.Start), WindowEnd: contract.Timestamp(w.End)}
	for _, s := range top {
		resp.Products = append(resp.Products, contract.ProductStats(s))
	}
	return resp, nil
}
