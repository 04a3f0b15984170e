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
	type testCase struct {
		name      string
		err       error
		connected bool
		want      verdict
	}
	tests := []testCase{
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
	// Every JetStream error code a publish can get, as nats-server v2.15.2
	// sends it (server/errors.json), judged by code and not by status.
	codes := []struct {
		status int
		code   jetstream.ErrorCode
		desc   string
		want   verdict
	}{
		// The row's own fault.
		{status: 400, code: 10054, desc: "message size exceeds maximum allowed", want: rowSpecific},
		{status: 400, code: 10097, desc: "header size exceeds maximum allowed of 64k", want: rowSpecific},
		{status: 400, code: 10109, desc: "invalid operation on sealed stream", want: rowSpecific},
		{status: 503, code: 10077, desc: "message too large", want: rowSpecific},
		// Outages: quotas and resources.
		{status: 400, code: 10002, desc: "resource limits exceeded for account", want: transient},
		{status: 400, code: 10120, desc: "no JetStream default or applicable tiered limit present", want: transient},
		{status: 503, code: 10023, desc: "insufficient resources", want: transient},
		{status: 500, code: 10028, desc: "insufficient memory resources available", want: transient},
		{status: 500, code: 10047, desc: "insufficient storage resources available", want: transient},
		// Outages: a full discard-new stream, or its store closed.
		{status: 503, code: 10077, desc: "maximum bytes exceeded", want: transient},
		{status: 503, code: 10077, desc: "maximum messages exceeded", want: transient},
		{status: 503, code: 10077, desc: "maximum messages per subject exceeded", want: transient},
		{status: 503, code: 10077, desc: "store closed", want: transient},
		// Outages: JetStream, the stream or the cluster unavailable.
		{status: 404, code: 10059, desc: "stream not found", want: transient},
		{status: 503, code: 10035, desc: "account not found", want: transient},
		{status: 503, code: 10039, desc: "JetStream not enabled for account", want: transient},
		{status: 503, code: 10076, desc: "JetStream not enabled", want: transient},
		{status: 503, code: 10004, desc: "incomplete results", want: transient},
		{status: 503, code: 10008, desc: "JetStream system temporarily unavailable", want: transient},
		{status: 500, code: 10009, desc: "JetStream cluster can not handle request", want: transient},
		{status: 500, code: 10118, desc: "stream is offline", want: transient},
		{status: 503, code: 10063, desc: "expected stream sequence does not match", want: transient},
		{status: 429, code: 10167, desc: "too many requests", want: transient},
		{status: 409, code: 10158, desc: "duplicate message id is in process", want: transient},
		// Codes the relay cannot provoke, and unknown ones: an outage, never
		// a guess that parks a good row.
		{status: 400, code: 10003, desc: "bad request", want: transient},
		{status: 400, code: 10060, desc: "expected stream does not match", want: transient},
		{status: 400, code: 10071, desc: "wrong last sequence: 1", want: transient},
		{status: 400, code: 10166, desc: "per-message TTL is disabled", want: transient},
		{status: 400, code: 65000, desc: "from a future server", want: transient},
		{status: 503, code: 65001, desc: "from a future server", want: transient},
	}
	for _, c := range codes {
		tests = append(tests, testCase{
			name:      fmt.Sprintf("code %d status %d %s", c.code, c.status, c.desc),
			err:       wrap(apiError(c.status, c.code, c.desc)),
			connected: true,
			want:      c.want,
		})
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
		expected  bool
		want      verdict
	}{
		{name: "no stream covers the subject", lookupErr: jetstream.ErrStreamNotFound, want: rowSpecific},
		{name: "stream not found as api error", lookupErr: &jetstream.APIError{Code: 404, ErrorCode: jetstream.JSErrCodeStreamNotFound, Description: "stream not found"}, want: rowSpecific},
		{name: "a stream covers it: its leader is away", lookupErr: nil, want: transient},
		{name: "jetstream unavailable", lookupErr: jetstream.ErrJetStreamNotEnabled, want: transient},
		{name: "lookup timed out", lookupErr: context.DeadlineExceeded, want: transient},
		{name: "expected stream not provisioned yet", lookupErr: jetstream.ErrStreamNotFound, expected: true, want: transient},
		{name: "expected stream whose leader is away", lookupErr: nil, expected: true, want: transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := settle(tc.lookupErr, tc.expected); got != tc.want {
				t.Errorf("settle(%v, expected=%t) = %v, want %v", tc.lookupErr, tc.expected, got, tc.want)
			}
		})
	}
}

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subject, filter string
		want            bool
	}{
		{subject: "orders.order.placed", filter: "orders.>", want: true},
		{subject: "orders", filter: "orders.>", want: false},
		{subject: "orders.order.placed", filter: "orders.*.placed", want: true},
		{subject: "orders.order.cancelled", filter: "orders.*.placed", want: false},
		{subject: "orders.order.placed", filter: "orders.*", want: false},
		{subject: "orders.order", filter: "orders.*", want: true},
		{subject: "orders.order.placed", filter: "orders.order.placed", want: true},
		{subject: "orders.order.placed.v2", filter: "orders.order.placed", want: false},
		{subject: "catalogue.stock.changed", filter: "orders.>", want: false},
		{subject: "ordersx.order.placed", filter: "orders.>", want: false},
		{subject: "anything.at.all", filter: ">", want: true},
	}
	for _, tc := range tests {
		if got := subjectMatches(tc.subject, tc.filter); got != tc.want {
			t.Errorf("subjectMatches(%q, %q) = %t, want %t", tc.subject, tc.filter, got, tc.want)
		}
	}
}
