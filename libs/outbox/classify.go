package outbox

import (
	"context"
	"errors"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// verdict says whose fault a failed publish is, which decides what the
// relay does next.
type verdict int

const (
	// transient: the connection, the stream or JetStream as a whole is in
	// trouble, so the next rows would fail too. The batch stops and the
	// relay backs off; the row is never parked for it.
	transient verdict = iota
	// rowSpecific: this row cannot be published as it is. Its attempt is
	// recorded, it is retried after a pause and parked at MaxAttempts, and
	// the batch goes on with the next rows.
	rowSpecific
	// noResponders: nothing answered on the subject although the connection
	// is up. Either no stream covers the subject (the row's fault) or the
	// stream's leader is away (transient); settle tells them apart.
	noResponders
)

func (v verdict) String() string {
	switch v {
	case transient:
		return "transient"
	case rowSpecific:
		return "row-specific"
	case noResponders:
		return "no responders"
	default:
		return "unknown"
	}
}

// classify judges a publish error. connected reports whether the NATS
// connection was up after the failure: while it is down every error is
// transient, whatever it says. Unknown errors are transient, because
// wrongly parking a good row is worse than retrying a bad one.
func classify(err error, connected bool) verdict {
	if !connected {
		return transient
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.Is(err, nats.ErrTimeout):
		return transient
	case errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrNoResponders):
		return noResponders
	case errors.Is(err, nats.ErrMaxPayload),
		errors.Is(err, nats.ErrBadSubject):
		return rowSpecific
	}
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok {
		// 4xx: the stream refuses this message (too large, headers too
		// large, sealed stream) and will refuse it again. 5xx: the stream or
		// cluster is unavailable, full or short of resources.
		if apiErr.Code >= http.StatusBadRequest && apiErr.Code < http.StatusInternalServerError {
			return rowSpecific
		}
	}
	return transient
}

// settle resolves a noResponders verdict from lookupErr, the error of
// asking JetStream which stream covers the row's subject: the row is at
// fault only when JetStream answers that none does.
func settle(lookupErr error) verdict {
	if errors.Is(lookupErr, jetstream.ErrStreamNotFound) {
		return rowSpecific
	}
	return transient
}
