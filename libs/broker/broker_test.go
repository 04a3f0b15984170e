package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
	want := broker.Config{
		URL:             "nats://nats:4222",
		ReplicaCount:    1,
		DuplicateWindow: 2 * time.Hour,
		MaxAge:          broker.DefaultStreamMaxAge,
		MaxBytes:        broker.DefaultStreamMaxBytes,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	if want.MaxAge != 7*24*time.Hour || want.MaxBytes != 1<<30 {
		t.Errorf("defaults = %v and %d bytes, want 7 days and 1 GiB", want.MaxAge, want.MaxBytes)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	spec := got.StreamSpec("ORDERS", "orders.>")
	wantSpec := broker.StreamSpec{
		Name:            "ORDERS",
		Subjects:        []string{"orders.>"},
		Replicas:        1,
		DuplicateWindow: 2 * time.Hour,
		MaxAge:          7 * 24 * time.Hour,
		MaxBytes:        1 << 30,
	}
	if diff := cmp.Diff(wantSpec, spec); diff != "" {
		t.Errorf("stream spec mismatch (-want +got):\n%s", diff)
	}
}

func TestConfigStreamLimitsFromEnvironment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		maxBytes string
		want     broker.ByteSize
	}{
		{maxBytes: "1073741824", want: 1 << 30},
		{maxBytes: "4GiB", want: 4 << 30},
		{maxBytes: "512MiB", want: 512 << 20},
		{maxBytes: "64KiB", want: 64 << 10},
		{maxBytes: "2TiB", want: 2 << 40},
		{maxBytes: "100B", want: 100},
		{maxBytes: " 3 GiB ", want: 3 << 30},
		{maxBytes: "0", want: 0},
	}
	for _, tc := range tests {
		got, err := env.ParseAsWithOptions[broker.Config](env.Options{Environment: map[string]string{
			"NATS_URL":              "nats://nats:4222",
			"NATS_STREAM_MAX_AGE":   "720h",
			"NATS_STREAM_MAX_BYTES": tc.maxBytes,
		}})
		if err != nil {
			t.Errorf("NATS_STREAM_MAX_BYTES=%q: %v", tc.maxBytes, err)
			continue
		}
		if got.MaxBytes != tc.want || got.MaxAge != 720*time.Hour {
			t.Errorf("NATS_STREAM_MAX_BYTES=%q: max bytes %d, max age %v; want %d, 720h", tc.maxBytes, got.MaxBytes, got.MaxAge, tc.want)
		}
	}
	for _, bad := range []string{"GiB", "1GB", "1.5GiB", "-1", "1 PiB", "9000000TiB"} {
		if _, err := env.ParseAsWithOptions[broker.Config](env.Options{Environment: map[string]string{
			"NATS_URL":              "nats://nats:4222",
			"NATS_STREAM_MAX_BYTES": bad,
		}}); err == nil {
			t.Errorf("NATS_STREAM_MAX_BYTES=%q: no error", bad)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	for size, want := range map[broker.ByteSize]string{
		0: "0B", 100: "100B", 1 << 30: "1GiB", 1536 << 20: "1536MiB", 3 << 40: "3TiB", 1025: "1025B",
	} {
		if got := size.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(size), got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := broker.Config{URL: "nats://nats:4222", ReplicaCount: 3, DuplicateWindow: 2 * time.Hour, MaxAge: 7 * 24 * time.Hour, MaxBytes: 1 << 30}
	tests := []struct {
		name    string
		change  func(*broker.Config)
		wantErr string
	}{
		{name: "valid", change: func(*broker.Config) {}},
		{name: "no limits", change: func(c *broker.Config) { c.MaxAge, c.MaxBytes = 0, 0 }},
		{name: "window equal to age", change: func(c *broker.Config) { c.MaxAge = c.DuplicateWindow }},
		{name: "window longer than age", change: func(c *broker.Config) { c.MaxAge = time.Hour }, wantErr: "NATS_DUPLICATE_WINDOW: 2h0m0s is longer than NATS_STREAM_MAX_AGE 1h0m0s"},
		{name: "negative age", change: func(c *broker.Config) { c.MaxAge = -time.Hour }, wantErr: "NATS_STREAM_MAX_AGE"},
		{name: "negative window", change: func(c *broker.Config) { c.DuplicateWindow = -time.Hour }, wantErr: "NATS_DUPLICATE_WINDOW"},
		{name: "negative size", change: func(c *broker.Config) { c.MaxBytes = -1 }, wantErr: "NATS_STREAM_MAX_BYTES"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := valid
			tc.change(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.wantErr)
			}
		})
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

	spec := broker.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}, DuplicateWindow: time.Minute, MaxAge: time.Hour, MaxBytes: 1 << 20}
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
		got.Duplicates != 2*time.Minute || got.MaxAge != time.Hour || got.MaxBytes != 1<<20 ||
		got.Discard != jetstream.DiscardNew || !slices.Equal(got.Subjects, []string{"orders.>"}) {
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
	// Full, it refuses new dead letters rather than dropping old ones.
	if info.Config.Discard != jetstream.DiscardNew || info.Config.MaxBytes != int64(broker.DefaultDeadLetterMaxBytes) {
		t.Errorf("dead-letter stream discard %v, max bytes %d; want %v, %d",
			info.Config.Discard, info.Config.MaxBytes, jetstream.DiscardNew, int64(broker.DefaultDeadLetterMaxBytes))
	}
	// A limit the caller sets is kept.
	if stream, err = broker.EnsureDeadLetterStream(ctx, js, broker.StreamSpec{DuplicateWindow: time.Minute, MaxBytes: 1 << 20}); err != nil {
		t.Fatalf("ensure dead-letter stream with a limit: %v", err)
	}
	if got := stream.CachedInfo().Config.MaxBytes; got != 1<<20 {
		t.Errorf("dead-letter stream max bytes = %d, want %d", got, 1<<20)
	}
}

// A stream created before it had limits (discard old, no MaxBytes) is
// switched over in place: it keeps every message, even beyond its new
// MaxBytes, and refuses new ones while full instead of dropping old ones.
func TestEnsureStreamUpdatesStreamCreatedWithoutLimits(t *testing.T) {
	t.Parallel()
	srv := testenv.EmbeddedNATS(t)
	js := jetStream(t, srv.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "LEGACY", Subjects: []string{"legacy.>"}, Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld,
	}); err != nil {
		t.Fatalf("create stream without limits: %v", err)
	}
	const n = 20
	payload := make([]byte, 1024)
	for i := range n {
		if _, err := js.Publish(ctx, fmt.Sprintf("legacy.event.%d", i), payload); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}

	const maxBytes = 8 << 10 // less than the n KiB the stream holds
	stream, err := broker.EnsureStream(ctx, js, broker.StreamSpec{
		Name: "LEGACY", Subjects: []string{"legacy.>"}, DuplicateWindow: time.Minute, MaxAge: time.Hour, MaxBytes: maxBytes,
	})
	if err != nil {
		t.Fatalf("ensure stream over one created without limits: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if c := info.Config; c.Discard != jetstream.DiscardNew || c.MaxBytes != maxBytes || c.MaxAge != time.Hour || c.Duplicates != time.Minute {
		t.Errorf("updated config: discard %v, max bytes %d, max age %v, duplicates %v; want %v, %d, 1h, 1m",
			c.Discard, c.MaxBytes, c.MaxAge, c.Duplicates, jetstream.DiscardNew, maxBytes)
	}
	if info.State.Msgs != n || info.State.FirstSeq != 1 {
		t.Errorf("stream holds %d messages from seq %d after the update, want all %d from seq 1", info.State.Msgs, info.State.FirstSeq, n)
	}

	// Full: a publish is refused the way a full discard-new stream answers.
	_, err = js.Publish(ctx, "legacy.event.new", payload)
	apiErr, ok := errors.AsType[*jetstream.APIError](err)
	if !ok || apiErr.Code != 503 || apiErr.ErrorCode != 10077 || apiErr.Description != "maximum bytes exceeded" {
		t.Errorf("publish to the full stream: %v; want API error 503, err_code 10077, maximum bytes exceeded", err)
	}
	if info, err = stream.Info(ctx); err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != n || info.State.FirstSeq != 1 {
		t.Errorf("stream holds %d messages from seq %d after the refused publish, want all %d from seq 1", info.State.Msgs, info.State.FirstSeq, n)
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
