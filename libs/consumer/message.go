package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Message is one event delivered to a Handler.
type Message struct {
	// ID is the event id and the inbox key. It comes from the
	// Storefront-Event-Id header when present (a re-driven dead letter, whose
	// Nats-Msg-Id must differ from the original's to pass the stream's
	// duplicate window), else from Nats-Msg-Id. When a producer sent neither,
	// it is "<stream>:<stream sequence>", which is stable across redeliveries.
	ID string
	// Subject is the subject the event was published on.
	Subject string
	// Type is the event's full proto name from the Storefront-Event-Type header.
	Type string
	// Data is the binary protobuf payload.
	Data []byte
	// Headers are the message headers as received; treat them as read-only.
	Headers nats.Header
	// NumDelivered counts deliveries of this message, starting at 1. It
	// includes deliveries handed back during a database outage, so it is not
	// the count of attempts that MaxDeliver bounds.
	NumDelivered uint64
}

// Decode unmarshals Data into a new message of the type named by Type, looked
// up in the global protobuf registry, so any generated event package linked
// into the binary can be decoded.
func (m Message) Decode() (proto.Message, error) {
	if m.Type == "" {
		return nil, fmt.Errorf("decode event %s: no event type", m.ID)
	}
	name := protoreflect.FullName(m.Type)
	if !name.IsValid() {
		return nil, fmt.Errorf("decode event %s: invalid event type %q", m.ID, m.Type)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, fmt.Errorf("decode event %s: resolve type %q: %w", m.ID, m.Type, err)
	}
	event := mt.New().Interface()
	if err := proto.Unmarshal(m.Data, event); err != nil {
		return nil, fmt.Errorf("decode event %s as %s: %w", m.ID, m.Type, err)
	}
	return event, nil
}

// DecodeAs unmarshals Data into event, the type the handler expects on
// this subject. A message without a type header is read as that type; one
// whose header names another type was published on the wrong subject and
// is an error.
func (m Message) DecodeAs(event proto.Message) error {
	want := string(proto.MessageName(event))
	if m.Type != "" && m.Type != want {
		return fmt.Errorf("event %s on %s has type %q, want %s", m.ID, m.Subject, m.Type, want)
	}
	if err := proto.Unmarshal(m.Data, event); err != nil {
		return fmt.Errorf("decode event %s as %s: %w", m.ID, want, err)
	}
	return nil
}

// Handler applies one event, usually by calling the use case that the
// matching RPC calls. ctx carries the unit of work: the transaction that
// also holds the event's inbox row. Writes through postgres.InTx join it
// (postgres.TxFrom gives it to code that needs it directly), so they commit
// with the inbox row, exactly once. A returned error rolls it all back and
// the message is retried, or dead-lettered after the last attempt or at once
// when the error is Permanent. An error that the database caused (a lost
// connection, a server that does not answer) does not use up an attempt:
// the message is handed back and the runner waits for the database.
type Handler func(ctx context.Context, msg Message) error

// permanentError marks an error that retrying cannot fix.
type permanentError struct {
	err error
}

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }

func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err so that the message goes straight to the dead-letter
// stream instead of being retried: use it for payloads that can never be
// handled, such as undecodable events. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// isPermanent reports whether err, or any error it wraps, came from Permanent.
func isPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}
