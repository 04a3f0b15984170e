// Package events feeds the catalogue's own events back into this replica:
// product and stock changes invalidate the read cache, and stock changes go
// to the availability watchers. Every replica reads the same subjects, so a
// write through any of them reaches all of them.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	cataloguev1 "github.com/storefront-go/storefront/libs/gen/catalogue/v1"
	"github.com/storefront-go/storefront/services/catalogue/internal/contract"
	"github.com/storefront-go/storefront/services/catalogue/internal/domain"
)

// Invalidator drops cached products.
type Invalidator interface {
	Invalidate(id uuid.UUID)
	// Purge drops everything, for when changes may have been missed.
	Purge()
}

// Publisher fans stock changes out to watchers.
type Publisher interface {
	Publish(c domain.StockChange)
}

// Subscription reads the catalogue's events until stopped.
type Subscription struct {
	consume jetstream.ConsumeContext
}

// Subscribe starts an ordered consumer on the stream for product updates,
// deletions and stock changes, starting with the next message. An ordered
// consumer recreates itself after a gap or a reconnect and resumes where it
// stopped, so no invalidation is skipped while NATS comes and goes.
func Subscribe(ctx context.Context, js jetstream.JetStream, stream string, cache Invalidator, hub Publisher, logger *slog.Logger) (*Subscription, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{contract.SubjectProductUpdated, contract.SubjectProductDeleted, contract.SubjectStockChanged},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("create ordered consumer on %s: %w", stream, err)
	}
	h := handler{cache: cache, hub: hub, logger: logger.With(slog.String("component", "events"))}
	cc, err := cons.Consume(h.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The consumer recovers by itself; dropping the cache guards
		// against anything it could not replay.
		h.logger.Warn("catalogue event consumer error; purging product cache", slog.Any("error", err))
		cache.Purge()
	}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", stream, err)
	}
	return &Subscription{consume: cc}, nil
}

// Stop drains the subscription: messages already received are handled,
// then it ends. It waits until then or until ctx is done.
func (s *Subscription) Stop(ctx context.Context) error {
	s.consume.Drain()
	select {
	case <-s.consume.Closed():
		return nil
	case <-ctx.Done():
		s.consume.Stop()
		return fmt.Errorf("drain catalogue events: %w", ctx.Err())
	}
}

// drainTimeout bounds draining the subscription at shutdown.
const drainTimeout = 5 * time.Second

// Follow returns a worker for the host: once ready is closed (the stream
// exists) it subscribes, drops the cache (changes made before the
// subscription started may have been missed), applies events until ctx is
// done, and then drains the subscription.
func Follow(ready <-chan struct{}, js jetstream.JetStream, stream string, cache Invalidator, hub Publisher, logger *slog.Logger) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-ready:
		case <-ctx.Done():
			return nil
		}
		sub, err := Subscribe(ctx, js, stream, cache, hub, logger)
		if err != nil {
			return err
		}
		cache.Purge()
		<-ctx.Done()
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		defer cancel()
		return sub.Stop(stopCtx)
	}
}

type handler struct {
	cache  Invalidator
	hub    Publisher
	logger *slog.Logger
}

// handle applies one event. Ordered consumers need no acks.
func (h handler) handle(msg jetstream.Msg) {
	if err := h.apply(msg.Subject(), msg.Data()); err != nil {
		h.logger.Warn("skip catalogue event", slog.String("subject", msg.Subject()), slog.Any("error", err))
	}
}

func (h handler) apply(subject string, data []byte) error {
	switch subject {
	case contract.SubjectStockChanged:
		var e cataloguev1.StockChanged
		if err := proto.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		c, err := contract.StockChange(&e)
		if err != nil {
			return err
		}
		h.cache.Invalidate(c.ProductID)
		h.hub.Publish(c)
	case contract.SubjectProductUpdated:
		var e cataloguev1.ProductUpdated
		if err := proto.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		return h.invalidate(e.GetProduct().GetId())
	case contract.SubjectProductDeleted:
		var e cataloguev1.ProductDeleted
		if err := proto.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		return h.invalidate(e.GetProductId())
	}
	return nil
}

func (h handler) invalidate(rawID string) error {
	id, err := uuid.Parse(rawID)
	if err != nil {
		return fmt.Errorf("product id %q: %w", rawID, err)
	}
	h.cache.Invalidate(id)
	return nil
}
