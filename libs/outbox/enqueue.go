package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
)

// Enqueue stores event for publication on subject as part of tx, so the
// event exists if and only if tx commits. The W3C trace context of ctx is
// stored with it and travels as message headers. The returned id, a UUIDv7,
// becomes the message's Nats-Msg-Id.
func Enqueue(ctx context.Context, tx pgx.Tx, subject string, event proto.Message) (uuid.UUID, error) {
	if subject == "" {
		return uuid.Nil, errors.New("enqueue event: empty subject")
	}
	if event == nil || !event.ProtoReflect().IsValid() {
		return uuid.Nil, fmt.Errorf("enqueue event on %s: nil event", subject)
	}
	eventType := string(event.ProtoReflect().Descriptor().FullName())
	payload, err := proto.Marshal(event)
	if err != nil {
		return uuid.Nil, fmt.Errorf("marshal %s: %w", eventType, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("new event id: %w", err)
	}
	headers := propagation.MapCarrier{}
	// The propagator is used directly, not otel's global one, so what is
	// stored does not depend on process-wide setup.
	propagation.TraceContext{}.Inject(ctx, headers)
	_, err = tx.Exec(ctx,
		`INSERT INTO outbox_events (id, subject, event_type, payload, headers)
		 VALUES ($1, $2, $3, $4, $5)`,
		id, subject, eventType, payload, map[string]string(headers))
	if err != nil {
		return uuid.Nil, fmt.Errorf("insert outbox event %s (%s): %w", id, eventType, err)
	}
	return id, nil
}
