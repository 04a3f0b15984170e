package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// apiError builds the error PublishMsg returns for a JetStream API error
// in a PubAck.
func apiError(code int, errCode jetstream.ErrorCode, desc string) error {
	return fmt.Errorf("nats: %w", &jetstream.APIError{Code: code, ErrorCode: errCode, Description: desc})
}

func TestClassify(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("publish outbox event x to y: %w", err) }
	tests := []struct {
		name      string
		err       error
		connected bool
		want      verdict
	}{
		{name: "publish timeout", err: wrap(context.DeadlineExceeded), connected: true, want: transient},
		{name: "canceled", err: wrap(context.Canceled), connected: true, want: transient},
		{name: "nats timeout", err: wrap(nats.ErrTimeout), connected: true, want: transient},
		{name: "connection closed", err: wrap(nats.ErrConnectionClosed), connected: true, want: transient},
		{name: "reconnect buffer full", err: wrap(nats.ErrReconnectBufExceeded), connected: true, want: transient},
		{name: "invalid ack", err: wrap(jetstream.ErrInvalidJSAck), connected: true, want: transient},
		{name: "unknown error", err: errors.New("something odd"), connected: true, want: transient},
		{name: "no stream response", err: wrap(jetstream.ErrNoStreamResponse), connected: true, want: noResponders},
		{name: "no responders", err: wrap(nats.ErrNoResponders), connected: true, want: noResponders},
		{name: "no responders while disconnected", err: wrap(jetstream.ErrNoStreamResponse), connected: false, want: transient},
		{name: "max payload", err: wrap(nats.ErrMaxPayload), connected: true, want: rowSpecific},
		{name: "max payload while disconnected", err: wrap(nats.ErrMaxPayload), connected: false, want: transient},
		{name: "bad subject", err: wrap(nats.ErrBadSubject), connected: true, want: rowSpecific},
		{name: "stream max message size", err: wrap(apiError(400, jetstream.JSErrCodeStreamMessageExceedsMaximum, "message size exceeds maximum allowed")), connected: true, want: rowSpecific},
		{name: "sealed stream", err: wrap(apiError(400, 10109, "invalid operation on sealed stream")), connected: true, want: rowSpecific},
		{name: "cluster unavailable", err: wrap(apiError(503, 10008, "JetStream system temporarily unavailable")), connected: true, want: transient},
		{name: "stream full", err: wrap(apiError(503, 10077, "maximum messages exceeded")), connected: true, want: transient},
		{name: "insufficient resources", err: wrap(apiError(503, 10023, "insufficient resources")), connected: true, want: transient},
		{name: "api error while disconnected", err: wrap(apiError(400, jetstream.JSErrCodeStreamMessageExceedsMaximum, "too big")), connected: false, want: transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tc.err, tc.connected); got != tc.want {
				t.Errorf("classify(%v, connected=%t) = %v, want %v", tc.err, tc.connected, got, tc.want)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lookupErr error
		want      verdict
	}{
		{name: "no stream covers the subject", lookupErr: jetstream.ErrStreamNotFound, want: rowSpecific},
		{name: "stream not found as api error", lookupErr: &jetstream.APIError{Code: 404, ErrorCode: jetstream.JSErrCodeStreamNotFound, Description: "stream not found"}, want: rowSpecific},
		{name: "a stream covers it: its leader is away", lookupErr: nil, want: transient},
		{name: "jetstream unavailable", lookupErr: jetstream.ErrJetStreamNotEnabled, want: transient},
		{name: "lookup timed out", lookupErr: context.DeadlineExceeded, want: transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := settle(tc.lookupErr); got != tc.want {
				t.Errorf("settle(%v) = %v, want %v", tc.lookupErr, got, tc.want)
			}
		})
	}
}
