package consumer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/broker"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got := Config{Stream: "ORDERS", Durable: "analytics"}.withDefaults()
	want := Config{
		Stream:         "ORDERS",
		Durable:        "analytics",
		AckWait:        30 * time.Second,
		MaxDeliver:     5,
		Backoff:        []time.Duration{time.Second, 5 * time.Second, 30 * time.Second},
		FetchBatch:     10,
		InboxRetention: 7 * 24 * time.Hour,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withDefaults() mismatch (-want +got):\n%s", diff)
	}
	if err := got.validate(); err != nil {
		t.Errorf("validate() of defaults = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{Stream: "ORDERS", Durable: "analytics"}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error
	}{
		{"missing stream", func(c *Config) { c.Stream = "" }, "stream is required"},
		{"missing durable", func(c *Config) { c.Durable = "" }, "durable is required"},
		{"durable with dot", func(c *Config) { c.Durable = "a.b" }, "may not contain"},
		{"durable with wildcard", func(c *Config) { c.Durable = "a*" }, "may not contain"},
		{"durable with space", func(c *Config) { c.Durable = "a b" }, "may not contain"},
		{"negative ack wait", func(c *Config) { c.AckWait = -time.Second }, "ack wait"},
		{"negative max deliver", func(c *Config) { c.MaxDeliver = -1 }, "max deliver"},
		{"negative backoff", func(c *Config) { c.Backoff = []time.Duration{time.Second, -time.Second} }, "backoff"},
		{"negative max ack pending", func(c *Config) { c.MaxAckPending = -1 }, "max ack pending"},
		{"negative fetch batch", func(c *Config) { c.FetchBatch = -1 }, "fetch batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.mutate(&cfg)
			err := cfg.withDefaults().validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConsumerConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want jetstream.ConsumerConfig
	}{
		{
			name: "backoff steps add to ack wait, deliveries unlimited, a redrive filter",
			cfg: Config{
				Stream: "ORDERS", Durable: "analytics", FilterSubjects: []string{"orders.order.placed"},
				AckWait: 10 * time.Second, MaxDeliver: 3, Backoff: []time.Duration{time.Second, 5 * time.Second},
				MaxAckPending: 100,
			},
			want: jetstream.ConsumerConfig{
				Durable:        "analytics",
				Description:    "storefront consumer analytics",
				DeliverPolicy:  jetstream.DeliverAllPolicy,
				AckPolicy:      jetstream.AckExplicitPolicy,
				AckWait:        11 * time.Second,
				MaxDeliver:     -1,
				BackOff:        []time.Duration{11 * time.Second, 15 * time.Second},
				MaxAckPending:  100,
				FilterSubjects: []string{"orders.order.placed", "orders._redrive.analytics.order.placed"},
			},
		},
		{
			name: "every backoff step however few the attempts, several filters",
			cfg: Config{
				Stream: "ORDERS", Durable: "billing", FilterSubjects: []string{"orders.order.placed", "orders.order.cancelled"},
				AckWait: time.Second, MaxDeliver: 1, Backoff: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second},
			},
			want: jetstream.ConsumerConfig{
				Durable:       "billing",
				Description:   "storefront consumer billing",
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       2 * time.Second,
				MaxDeliver:    -1,
				BackOff:       []time.Duration{2 * time.Second, 3 * time.Second, 4 * time.Second},
				FilterSubjects: []string{
					"orders.order.placed", "orders.order.cancelled",
					"orders._redrive.billing.order.placed", "orders._redrive.billing.order.cancelled",
				},
			},
		},
		{
			name: "a wildcard filter covers the redrive subject",
			cfg: Config{
				Stream: "ORDERS", Durable: "audit", FilterSubjects: []string{"orders.>"},
				AckWait: time.Second, Backoff: []time.Duration{time.Second},
			},
			want: jetstream.ConsumerConfig{
				Durable:       "audit",
				Description:   "storefront consumer audit",
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       2 * time.Second,
				MaxDeliver:    -1,
				BackOff:       []time.Duration{2 * time.Second},
				FilterSubject: "orders.>",
			},
		},
		{
			name: "no filter: every subject",
			cfg: Config{
				Stream: "ORDERS", Durable: "all",
				AckWait: time.Second, Backoff: []time.Duration{time.Second},
			},
			want: jetstream.ConsumerConfig{
				Durable:       "all",
				Description:   "storefront consumer all",
				DeliverPolicy: jetstream.DeliverAllPolicy,
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       2 * time.Second,
				MaxDeliver:    -1,
				BackOff:       []time.Duration{2 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.cfg.withDefaults().consumerConfig()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("consumerConfig() mismatch (-want +got):\n%s", diff)
			}
			if got.MaxDeliver != -1 && len(got.BackOff) > got.MaxDeliver {
				t.Errorf("server would reject %d backoff steps for max deliver %d", len(got.BackOff), got.MaxDeliver)
			}
		})
	}
}

func TestBackoffAfter(t *testing.T) {
	t.Parallel()
	cfg := Config{Backoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}}
	tests := []struct {
		attempt int64
		want    time.Duration
	}{
		{0, time.Second},
		{1, time.Second},
		{2, 5 * time.Second},
		{3, 30 * time.Second},
		{4, 30 * time.Second},
		{1 << 40, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.attempt, 10), func(t *testing.T) {
			t.Parallel()
			if got := cfg.backoffAfter(tt.attempt); got != tt.want {
				t.Errorf("backoffAfter(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
	if got := (Config{}).backoffAfter(3); got != 0 {
		t.Errorf("backoffAfter with no backoff = %s, want 0", got)
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("bad payload")
	tests := []struct {
		name          string
		err           error
		wantPermanent bool
	}{
		{"plain error", base, false},
		{"permanent", Permanent(base), true},
		{"wrapped permanent", fmt.Errorf("handle event 1: %w", Permanent(base)), true},
		{"joined permanent", errors.Join(errors.New("rollback"), Permanent(base)), true},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := isPermanent(tt.err); got != tt.wantPermanent {
				t.Errorf("isPermanent(%v) = %t, want %t", tt.err, got, tt.wantPermanent)
			}
			if tt.err != nil && !errors.Is(tt.err, base) {
				t.Errorf("errors.Is(%v, base) = false; Permanent must keep the cause", tt.err)
			}
		})
	}
	if err := Permanent(nil); err != nil {
		t.Errorf("Permanent(nil) = %v, want nil", err)
	}
}

func TestDeadLetterHeaders(t *testing.T) {
	t.Parallel()
	msg := Message{
		ID:      "0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e",
		Subject: "orders.order.placed",
		Type:    "orders.v1.OrderPlaced",
		Headers: nats.Header{
			broker.HeaderMsgID:            {"0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e"},
			broker.HeaderType:             {"orders.v1.OrderPlaced"},
			"traceparent":                 {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			"Nats-Expected-Stream":        {"ORDERS"},
			"Nats-Expected-Last-Sequence": {"41"},
		},
		NumDelivered: 5,
	}
	got := deadLetterHeaders(msg, "analytics", fmt.Errorf("handle event: %w", errors.New("boom\r\nat line 2")))
	want := nats.Header{
		broker.HeaderMsgID:            {"analytics:0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e"},
		broker.HeaderType:             {"orders.v1.OrderPlaced"},
		"traceparent":                 {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		HeaderEventID:                 {"0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e"},
		broker.HeaderOriginalSubject:  {"orders.order.placed"},
		broker.HeaderConsumer:         {"analytics"},
		broker.HeaderDeliveryCount:    {"5"},
		broker.HeaderDeadLetterReason: {"handle event: boom  at line 2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deadLetterHeaders() mismatch (-want +got):\n%s", diff)
	}
	if len(msg.Headers) != 5 || msg.Headers.Get(broker.HeaderMsgID) != msg.ID {
		t.Errorf("deadLetterHeaders() changed the original headers: %v", msg.Headers)
	}
}

func TestDeadLetterHeadersOfRedrivenEvent(t *testing.T) {
	t.Parallel()
	// A re-driven event that fails again: its dead letter must not reuse the
	// first dead letter's Nats-Msg-Id, or the stream would drop it as a
	// duplicate and the event would be lost.
	const eventID = "0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e"
	msg := Message{
		ID:      eventID,
		Subject: "orders.order.placed",
		Headers: nats.Header{
			broker.HeaderMsgID: {eventID + ":redrive:17"},
			HeaderEventID:      {eventID},
		},
		NumDelivered: 1,
	}
	got := deadLetterHeaders(msg, "analytics", Permanent(errors.New("still broken")))
	if diff := cmp.Diff([]string{"analytics:" + eventID + ":redrive:17"}, got[broker.HeaderMsgID]); diff != "" {
		t.Errorf("Nats-Msg-Id mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{eventID}, got[HeaderEventID]); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", HeaderEventID, diff)
	}
}

func TestMessageID(t *testing.T) {
	t.Parallel()
	const eventID = "0195f0a2-7c1e-7b3a-9d2e-1f4a5b6c7d8e"
	tests := []struct {
		name    string
		headers nats.Header
		want    string
	}{
		{
			name:    "Nats-Msg-Id is the event id",
			headers: nats.Header{broker.HeaderMsgID: {eventID}},
			want:    eventID,
		},
		{
			name: "Storefront-Event-Id wins over the Nats-Msg-Id of a re-driven event",
			headers: nats.Header{
				broker.HeaderMsgID: {eventID + ":redrive:42"},
				HeaderEventID:      {eventID},
			},
			want: eventID,
		},
		{
			name:    "Storefront-Event-Id alone",
			headers: nats.Header{HeaderEventID: {eventID}},
			want:    eventID,
		},
		{
			name:    "an empty Storefront-Event-Id is ignored",
			headers: nats.Header{broker.HeaderMsgID: {eventID}, HeaderEventID: {""}},
			want:    eventID,
		},
		{
			name:    "no id: stream and sequence",
			headers: nats.Header{broker.HeaderType: {"orders.v1.OrderPlaced"}},
			want:    "ORDERS:7",
		},
		{
			name:    "no headers at all",
			headers: nil,
			want:    "ORDERS:7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := messageID(tt.headers, "ORDERS", 7); got != tt.want {
				t.Errorf("messageID() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHeaderValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"short", "boom", 10, "boom"},
		{"newlines", "a\nb\r\nc", 10, "a b  c"},
		{"cut", "abcdef", 3, "abc"},
		{"cut inside a rune", "aé", 2, "a"},
		{"invalid utf8", "a\xffb", 10, "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := headerValue(tt.in, tt.limit)
			if got != tt.want {
				t.Errorf("headerValue(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
			if !utf8.ValidString(got) || len(got) > tt.limit {
				t.Errorf("headerValue(%q, %d) = %q is not a valid bounded header value", tt.in, tt.limit, got)
			}
		})
	}
}

func TestMetricsSharedAcrossRunners(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a, err := newMetrics(reg, "a")
	if err != nil {
		t.Fatalf("newMetrics(a) error = %v", err)
	}
	b, err := newMetrics(reg, "b")
	if err != nil {
		t.Fatalf("newMetrics(b) error = %v; a second runner must reuse the collectors", err)
	}
	a.count(outcomeProcessed)
	a.count(outcomeProcessed)
	b.count(outcomeDeadLettered)
	b.deadLetters.Inc()
	b.pending.Set(7)

	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"storefront_consumer_messages_total", map[string]string{"consumer": "a", "outcome": "processed"}, 2},
		{"storefront_consumer_messages_total", map[string]string{"consumer": "a", "outcome": "duplicate"}, 0},
		{"storefront_consumer_messages_total", map[string]string{"consumer": "b", "outcome": "dead_lettered"}, 1},
		{"storefront_consumer_dead_letters_total", map[string]string{"consumer": "b"}, 1},
		{"storefront_consumer_pending", map[string]string{"consumer": "b"}, 7},
	}
	for _, tt := range tests {
		got, ok := gather(t, reg, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %t), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := New(nil, nil, Config{Stream: "ORDERS"}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "durable is required") {
		t.Errorf("New() error = %v, want a config error", err)
	}
	_, err = New(nil, nil, Config{Stream: "ORDERS", Durable: "x"}, nil, nil, nil)
	if err == nil {
		t.Error("New() without pool, jetstream and handler succeeded")
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"stream not there yet", fmt.Errorf("create consumer: %w", jetstream.ErrStreamNotFound), true},
		{"timeout", fmt.Errorf("create consumer: %w", context.DeadlineExceeded), true},
		{"no responders", nats.ErrNoResponders, true},
		{"server rejected config", &jetstream.APIError{Code: 400, ErrorCode: 10084, Description: "consumer config invalid"}, false},
		{"invalid subject", fmt.Errorf("%w: a..b", jetstream.ErrInvalidSubject), false},
		{"connection closed", nats.ErrConnectionClosed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("retryable(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
}

func TestConfigRejectsRetentionShorterThanRedeliveries(t *testing.T) {
	t.Parallel()
	cfg := Config{Stream: "ORDERS", Durable: "analytics", InboxRetention: time.Minute}.withDefaults()
	// Defaults: 6 deliveries of 30s plus 1s+5s+30s+30s+30s of backoff = 276s.
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "redelivery horizon 4m36s") {
		t.Errorf("validate() = %v, want a redelivery-horizon error naming 4m36s", err)
	}
	cfg.InboxRetention = 5 * time.Minute
	if err := cfg.validate(); err != nil {
		t.Errorf("validate() with 5m retention = %v", err)
	}
}
