package outbox

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// verdict says whose fault a failed publish is, which decides what the
// relay does next.
type verdict int

const (
	// transient: an outage. The connection, the stream or JetStream as a
	// whole is in trouble (down, full, over a quota, electing a leader), so
	// the next rows would fail too. The batch stops and the relay backs
	// off; the row is never parked for it.
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

// JetStream error codes (the err_code of a PubAck error) that are the
// row's own fault. They and their meaning come from nats-server's
// server/errors.json (v2.15.2), and where a publish can get them from its
// publish paths: processJetStreamMsg in server/stream.go,
// processClusteredInboundMsg in server/jetstream_cluster.go and
// checkMsgHeadersPreClusteredProposal in server/jetstream_batching.go.
const (
	// codeMessageExceedsMaximum (400, JSStreamMessageExceedsMaximumErr):
	// the message is larger than the stream's MaxMsgSize or the server's
	// max_payload. The same bytes are refused every time.
	codeMessageExceedsMaximum jetstream.ErrorCode = 10054
	// codeHeaderExceedsMaximum (400, JSStreamHeaderExceedsMaximumErr): the
	// message's headers exceed 64 KiB; again a property of the row.
	codeHeaderExceedsMaximum jetstream.ErrorCode = 10097
	// codeStreamSealed (400, JSStreamSealedErr): the stream is sealed and a
	// sealed stream can never be unsealed, so waiting cannot help. Not the
	// row's doing, but final for it: parking lets rows bound for other
	// streams go on, and an operator requeues once the stream is replaced.
	codeStreamSealed jetstream.ErrorCode = 10109
	// codeStreamStoreFailed (503, JSStreamStoreFailedF) wraps a store
	// error. It is the row's fault only when the error is that the record
	// is too large for the file store (descStoreMsgTooLarge); otherwise it
	// is a discard-new stream at its MaxBytes, MaxMsgs or MaxMsgsPerSubject
	// ("maximum bytes exceeded", ...) or a closed store: an outage.
	codeStreamStoreFailed jetstream.ErrorCode = 10077
	// descStoreMsgTooLarge is the description of codeStreamStoreFailed for
	// ErrMsgTooLarge (server/store.go), a record over the file store's
	// 32 MiB record limit.
	descStoreMsgTooLarge = "message too large"
)

// classify judges a publish error. connected reports whether the NATS
// connection was up after the failure: while it is down every error is
// transient, whatever it says.
//
// A JetStream API error is judged by its error code, not by its HTTP-like
// status: the account quota (10002 JSAccountResourcesExceededErr) is a 400
// like a too-large message, while a message too large for the file store
// is a 503 like a full stream. Only the codes listed with
// codeMessageExceedsMaximum are the row's fault. Every other code is an
// outage: account or server resources exceeded (10002, 10023, 10028,
// 10047), a full discard-new stream (10077), no limits for the account
// (10120), JetStream or the account not enabled (10035, 10039, 10076), the
// stream not found (10059), cluster or leader unavailable (10004, 10008,
// 10009, 10118), too many requests (10167), and a duplicate id still being
// proposed (10158, retried into a duplicate ack). So is any code this list
// does not know, including those the relay cannot provoke because it sets
// none of their headers (TTLs, counters, schedules, batches, expected
// sequences): wrongly parking a good row is worse than stopping on a bad
// one, which the backlog metrics and last_error make visible.
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
		// The client refuses these before sending: larger than the
		// server's max_payload, or not a valid subject.
		return rowSpecific
	}
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok && rowFault(apiErr) {
		return rowSpecific
	}
	return transient
}

// rowFault reports whether a JetStream API error refuses the message for
// what it is, so that it will be refused again however long the relay waits.
func rowFault(apiErr *jetstream.APIError) bool {
	switch apiErr.ErrorCode {
	case codeMessageExceedsMaximum, codeHeaderExceedsMaximum, codeStreamSealed:
		return true
	case codeStreamStoreFailed:
		return strings.EqualFold(apiErr.Description, descStoreMsgTooLarge)
	default:
		return false
	}
}

// settle resolves a noResponders verdict from lookupErr, the error of
// asking JetStream which stream covers the row's subject: the row is at
// fault only when JetStream answers that none does and no stream is
// expected to (expected reports that the service provisions a stream for
// the subject, which may not exist yet).
func settle(lookupErr error, expected bool) verdict {
	if errors.Is(lookupErr, jetstream.ErrStreamNotFound) && !expected {
		return rowSpecific
	}
	return transient
}

// subjectMatches reports whether subject is one that filter (which may
// hold the wildcards * and >) captures.
func subjectMatches(subject, filter string) bool {
	subj := strings.Split(subject, ".")
	filt := strings.Split(filter, ".")
	for i, f := range filt {
		switch {
		case f == ">":
			return len(subj) > i
		case i >= len(subj):
			return false
		case f != "*" && f != subj[i]:
			return false
		}
	}
	return len(subj) == len(filt)
}
