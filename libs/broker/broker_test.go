package broker_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/testenv"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := env.ParseAsWithOptions[broker.Config](env.Options{
		Environment: map[string]string{"NATS_URL": "nats://nats:4222"},
	})
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	want := broker.Config{URL: "nats://nats:4222", ReplicaCount: 1, DuplicateWindow: 2 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	spec := got.StreamSpec("ORDERS", "orders.>")
	wantSpec := broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 1, DuplicateWindow: 2 * time.Hour}
	if diff := cmp.Diff(wantSpec, spec); diff != "" {
		t.Errorf("stream spec mismatch (-want +got):\n%s", diff)
	}
}

func TestDeadLetterSubject(t *testing.T) {
	t.Parallel()
	if got, want := broker.DeadLetterSubject("analytics-orders"), "deadletter.analytics-orders"; got != want {
		t.Errorf("DeadLetterSubject = %q, want %q", got, want)
	}
}

func TestHeaderCarrier(t *testing.T) {
	t.Parallel()
	h := nats.Header{}
	c := broker.HeaderCarrier(h)
	c.Set("traceparent", "a")
	c.Set("traceparent", "b")
	c.Set("tracestate", "k=v")
	if got := c.Get("traceparent"); got != "b" {
		t.Errorf("Get(traceparent) = %q, want %q", got, "b")
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q, want empty", got)
	}
	keys := c.Keys()
	slices.Sort(keys)
	if diff := cmp.Diff([]string{"traceparent", "tracestate"}, keys); diff != "" {
		t.Errorf("keys mismatch (-want +got):\n%s", diff)
	}
	// The carrier writes through to the nats.Header it wraps.
	if got := h.Get("tracestate"); got != "k=v" {
		t.Errorf("underlying header tracestate = %q, want %q", got, "k=v")
	}
}

func TestTraceRoundTrip(t *testing.T) {
	t.Parallel()
	traceID := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID := trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	ts, err := trace.ParseTraceState("vendor=value")
	if err != nil {
		t.Fatalf("parse trace state: %v", err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    traceID,
		SpanID:     spanID,
		TraceFlags: trace.FlagsSampled,
		TraceState: ts,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)

	h := nats.Header{}
	broker.InjectTrace(ctx, h)
	if got, want := h.Get(broker.HeaderTraceParent), "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"; got != want {
		t.Errorf("traceparent = %q, want %q", got, want)
	}
	if got, want := h.Get(broker.HeaderTraceState), "vendor=value"; got != want {
		t.Errorf("tracestate = %q, want %q", got, want)
	}

	got := trace.SpanContextFromContext(broker.ExtractTrace(t.Context(), h))
	if !got.IsRemote() || got.TraceID() != traceID || got.SpanID() != spanID || !got.IsSampled() {
		t.Errorf("extracted span context = %+v, want remote %s/%s sampled", got, traceID, spanID)
	}
	if got.TraceState().String() != "vendor=value" {
		t.Errorf("extracted trace state = %q", got.TraceState().String())
	}
}

func TestExtractTraceWithoutHeaders(t *testing.T) {
	t.Parallel()
	for _, h := range []nats.Header{nil, {}} {
		if sc := trace.SpanContextFromContext(broker.ExtractTrace(t.Context(), h)); sc.IsValid() {
			t.Errorf("ExtractTrace(%v) = valid span context %v", h, sc)
		}
	}
}

func jetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := broker.Connect(broker.Config{URL: url, Name: t.Name()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

func TestEnsureStream(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	js := jetStream(t, srv.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	spec := broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}, DuplicateWindow: time.Minute, MaxAge: time.Hour}
	if _, err := broker.EnsureStream(ctx, js, spec); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	// A second call with a changed spec updates the stream in place.
	spec.DuplicateWindow = 2 * time.Minute
	stream, err := broker.EnsureStream(ctx, js, spec)
	if err != nil {
		t.Fatalf("ensure stream again: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	got := info.Config
	if got.Storage != jetstream.FileStorage || got.Retention != jetstream.LimitsPolicy || got.Replicas != 1 ||
		got.Duplicates != 2*time.Minute || got.MaxAge != time.Hour || !slices.Equal(got.Subjects, []string{"orders.>"}) {
		t.Errorf("stream config = %+v", got)
	}

	// The duplicate window drops a second message with the same id.
	for range 2 {
		msg := &nats.Msg{Subject: "orders.order.placed", Data: []byte("x"), Header: nats.Header{}}
		msg.Header.Set(broker.HeaderMsgID, "event-1")
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream messages = %d, want 1 (duplicate dropped)", info.State.Msgs)
	}
}

func TestEnsureStreamRejectsBadSpec(t *testing.T) {
	t.Parallel()
	for name, spec := range map[string]broker.StreamSpec{
		"no name":     {Subjects: []string{"x.>"}},
		"no subjects": {Name: "X"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Validation happens before JetStream is used.
			if _, err := broker.EnsureStream(t.Context(), nil, spec); err == nil {
				t.Error("got nil error")
			}
		})
	}
}

func TestEnsureDeadLetterStream(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	js := jetStream(t, srv.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := broker.EnsureDeadLetterStream(ctx, js, broker.StreamSpec{DuplicateWindow: time.Minute})
	if err != nil {
		t.Fatalf("ensure dead-letter stream: %v", err)
	}
	if _, err := js.Publish(ctx, broker.DeadLetterSubject("c1"), []byte("x")); err != nil {
		t.Fatalf("publish dead letter: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.Config.Name != broker.DeadLetterStream || info.State.Msgs != 1 {
		t.Errorf("dead-letter stream %s holds %d messages, want %s with 1", info.Config.Name, info.State.Msgs, broker.DeadLetterStream)
	}
}

func TestConnectWaitsForServer(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	srv.Shutdown()

	// The server is down: Connect still returns a connection that retries.
	nc, err := broker.Connect(broker.Config{URL: srv.URL()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("connect with server down: %v", err)
	}
	t.Cleanup(nc.Close)
	if nc.IsConnected() {
		t.Fatal("connected to a server that is down")
	}

	srv.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatalf("not connected after restart; status %v", nc.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := nc.Flush(); err != nil {
		t.Errorf("flush after reconnect: %v", err)
	}
}
