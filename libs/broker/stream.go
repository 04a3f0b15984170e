package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DeadLetterStream holds messages that consumers gave up on.
	DeadLetterStream = "DEADLETTER"
	// DeadLetterSubjects is the subject filter of DeadLetterStream.
	DeadLetterSubjects = "deadletter.>"
	// deadLetterPrefix starts every dead-letter subject.
	deadLetterPrefix = "deadletter."
)

// DeadLetterSubject is the subject a durable consumer dead-letters to, so
// each consumer's failures can be listed and re-driven on their own.
func DeadLetterSubject(durable string) string {
	return deadLetterPrefix + durable
}

// DefaultDeadLetterMaxBytes bounds DeadLetterStream when the spec given to
// EnsureDeadLetterStream sets no MaxBytes. A consumer failing on every
// event can dead-letter a whole stream's worth, so it matches
// DefaultStreamMaxBytes.
const DefaultDeadLetterMaxBytes = DefaultStreamMaxBytes

// StreamSpec describes a stream to provision. Zero values take defaults:
// one replica, no duplicate window set by us (the server's default of two
// minutes applies), and unlimited age and size. Config.StreamSpec fills in
// the configured limits.
type StreamSpec struct {
	Name            string
	Subjects        []string
	Replicas        int
	DuplicateWindow time.Duration
	MaxAge          time.Duration
	// MaxBytes bounds the stream's size; zero means unlimited.
	MaxBytes int64
	// MaxMsgSize bounds one message's size; zero means the server limit.
	MaxMsgSize int32
}

// EnsureStream creates the stream, or updates it to match spec when it
// already exists, so every replica can call it at start.
//
// Every stream carries work, so it discards new messages when full
// (jetstream.DiscardNew): a publish to a stream at its MaxBytes is refused
// (503, err_code 10077, "maximum bytes exceeded") and the outbox holds the
// event until there is room, instead of the stream silently dropping its
// oldest events, which a lagging consumer may not have read yet. Updating
// a stream created without these settings switches it over in place and
// keeps every message, even when it already holds more than MaxBytes: a
// discard-new stream is never trimmed to its size limit, it refuses new
// messages until enough old ones age out (MaxAge) or are removed.
func EnsureStream(ctx context.Context, js jetstream.JetStream, spec StreamSpec) (jetstream.Stream, error) {
	if spec.Name == "" {
		return nil, errors.New("ensure stream: empty name")
	}
	if len(spec.Subjects) == 0 {
		return nil, fmt.Errorf("ensure stream %s: no subjects", spec.Name)
	}
	replicas := spec.Replicas
	if replicas <= 0 {
		replicas = 1
	}
	cfg := jetstream.StreamConfig{
		Name:       spec.Name,
		Subjects:   spec.Subjects,
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		Replicas:   replicas,
		Discard:    jetstream.DiscardNew,
		Duplicates: spec.DuplicateWindow,
		MaxAge:     spec.MaxAge,
		MaxBytes:   spec.MaxBytes,
		MaxMsgSize: spec.MaxMsgSize,
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	if cfg.MaxMsgSize == 0 {
		cfg.MaxMsgSize = -1
	}
	stream, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", spec.Name, err)
	}
	return stream, nil
}

// EnsureDeadLetterStream provisions DeadLetterStream. The name and subjects
// of spec are replaced; its replicas, duplicate window and limits apply,
// and a spec without MaxBytes gets DefaultDeadLetterMaxBytes. Like every
// stream it discards new messages when full, so old dead letters are never
// dropped to make room for new ones: a full dead-letter stream refuses the
// copy, and the consumer leaves the message on its own stream, retrying
// while it has deliveries left and logging it as stranded after that.
func EnsureDeadLetterStream(ctx context.Context, js jetstream.JetStream, spec StreamSpec) (jetstream.Stream, error) {
	spec.Name = DeadLetterStream
	spec.Subjects = []string{DeadLetterSubjects}
	if spec.MaxBytes == 0 {
		spec.MaxBytes = int64(DefaultDeadLetterMaxBytes)
	}
	return EnsureStream(ctx, js, spec)
}
