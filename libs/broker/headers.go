package broker

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
)

const (
	// HeaderMsgID carries the event id; JetStream drops a second message
	// with the same id inside the stream's duplicate window.
	HeaderMsgID = jetstream.MsgIDHeader
	// HeaderType carries the event's full protobuf message name, so a
	// consumer can decode the payload without knowing the subject.
	HeaderType = "Storefront-Event-Type"
	// HeaderTraceParent is the W3C trace context header.
	HeaderTraceParent = "traceparent"
	// HeaderTraceState is the W3C trace state header.
	HeaderTraceState = "tracestate"

	// HeaderOriginalSubject records, on a dead-lettered copy, the subject
	// the message was first published on.
	HeaderOriginalSubject = "Storefront-Original-Subject"
	// HeaderDeadLetterReason records why a consumer gave up on a message.
	HeaderDeadLetterReason = "Storefront-Dead-Letter-Reason"
	// HeaderConsumer records the durable consumer that dead-lettered a message.
	HeaderConsumer = "Storefront-Consumer"
	// HeaderDeliveryCount records how often a message was delivered before
	// it was dead-lettered.
	HeaderDeliveryCount = "Storefront-Delivery-Count"
)

// HeaderCarrier adapts nats.Header to propagation.TextMapCarrier.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value stored under key.
func (c HeaderCarrier) Get(key string) string {
	return nats.Header(c).Get(key)
}

// Set replaces the values stored under key.
func (c HeaderCarrier) Set(key, value string) {
	nats.Header(c).Set(key, value)
}

// Keys lists the header names present.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace writes the span context in ctx into h as W3C trace context.
// It uses the TraceContext propagator directly rather than the global one,
// so behaviour does not depend on process-wide setup. h must not be nil.
func InjectTrace(ctx context.Context, h nats.Header) {
	propagation.TraceContext{}.Inject(ctx, HeaderCarrier(h))
}

// ExtractTrace returns ctx carrying the remote span context found in h, if
// any.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, HeaderCarrier(h))
}
