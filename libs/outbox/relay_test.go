package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/storefront-go/storefront/libs/broker"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/outbox"
	"github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/testenv"
)

// waitTimeout bounds every wait for asynchronous work; it only prevents
// hangs and is never asserted on.
const waitTimeout = 60 * time.Second

const eventType = "orders.v1.OrderPlaced"

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; needs Docker")
	}
}

// newPool returns a pool on a fresh, migrated database.
func newPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.NewPool(tb.Context(), postgres.Config{URL: pg.NewDatabase(tb), MaxConns: 20})
	if err != nil {
		tb.Fatalf("new pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	if err := outbox.Migrate(tb.Context(), pool); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return pool
}

func connect(tb testing.TB, url string) jetstream.JetStream {
	tb.Helper()
	nc, err := broker.Connect(broker.Config{URL: url, Name: tb.Name()}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("connect nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return js
}

// newStream creates a stream of the test's own, and returns it with the
// subject prefix it captures.
func newStream(tb testing.TB, js jetstream.JetStream) (jetstream.Stream, string) {
	tb.Helper()
	suffix := strings.ReplaceAll(uuid.NewString(), "-", "")
	prefix := "t" + suffix
	return createStream(tb, js, broker.StreamSpec{Name: "T" + suffix, Subjects: []string{prefix + ".>"}}), prefix
}

// testDuplicateWindow is the duplicate window of the tests' streams.
const testDuplicateWindow = time.Hour

// createStream creates the stream spec describes, with a duplicate window
// of testDuplicateWindow, and deletes it when the test ends.
func createStream(tb testing.TB, js jetstream.JetStream, spec broker.StreamSpec) jetstream.Stream {
	tb.Helper()
	spec.DuplicateWindow = testDuplicateWindow
	ctx, cancel := context.WithTimeout(tb.Context(), waitTimeout)
	defer cancel()
	stream, err := broker.EnsureStream(ctx, js, spec)
	if err != nil {
		tb.Fatalf("ensure stream: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.Context()), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, spec.Name)
	})
	return stream
}

func newRelay(tb testing.TB, pool *pgxpool.Pool, js jetstream.JetStream, cfg outbox.RelayConfig, opts ...outbox.Option) (*outbox.Relay, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	relay, err := outbox.NewRelay(pool, js, cfg, slog.New(slog.DiscardHandler), reg, opts...)
	if err != nil {
		tb.Fatalf("new relay: %v", err)
	}
	return relay, reg
}

type enqueued struct {
	subject string
	event   *ordersv1.OrderPlaced
}

// enqueue stores n events in transactions of perTx events each.
func enqueue(ctx context.Context, tb testing.TB, pool *pgxpool.Pool, prefix string, n, perTx int) map[uuid.UUID]enqueued {
	tb.Helper()
	want := make(map[uuid.UUID]enqueued, n)
	for start := 0; start < n; start += perTx {
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			for i := start; i < min(start+perTx, n); i++ {
				ev := &ordersv1.OrderPlaced{OrderId: fmt.Sprintf("order-%d", i), CustomerId: "customer-1"}
				subject := prefix + ".order.placed"
				id, err := outbox.Enqueue(ctx, tx, subject, ev)
				if err != nil {
					return err
				}
				want[id] = enqueued{subject: subject, event: ev}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("enqueue: %v", err)
		}
	}
	return want
}

// messages reads every message in stream.
func messages(t *testing.T, stream jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var msgs []*jetstream.RawStreamMsg
	if info.State.Msgs == 0 {
		return msgs
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

func streamCount(t *testing.T, stream jetstream.Stream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return info.State.Msgs
}

func queryInt(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

// pending counts rows waiting to be published; parked rows are not pending.
func pending(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE published_at IS NULL AND dead_at IS NULL")
}

func parked(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE dead_at IS NOT NULL")
}

// metric returns the value of the named gauge or counter in reg, summed
// over its labels.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return metricWith(t, reg, name, "", "")
}

// metricWith returns the value of the named gauge or counter in reg, summed
// over the series whose label is value (over every series when label is
// empty).
func metricWith(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		var sum float64
		found := false
		for _, m := range f.GetMetric() {
			if label != "" && !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == label && l.GetValue() == value
			}) {
				continue
			}
			found = true
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			} else {
				sum += m.GetCounter().GetValue()
			}
		}
		if !found {
			t.Fatalf("metric %s has no series with %s=%q", name, label, value)
		}
		return sum
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// eventually polls cond until it holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runRelay runs relay in the background; the returned stop cancels it and
// returns Run's result.
func runRelay(t *testing.T, relay *outbox.Relay) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(waitTimeout):
				result = errors.New("relay did not stop")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestRelayDeliversEveryRow(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)
	const n = 200
	want := enqueue(t.Context(), t, pool, prefix, n, 30)

	relay, reg := newRelay(t, pool, js, outbox.RelayConfig{})
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush: %v", err)
	}

	msgs := messages(t, stream)
	if len(msgs) != n {
		t.Fatalf("stream holds %d messages, want %d", len(msgs), n)
	}
	seen := make(map[uuid.UUID]bool, n)
	for _, msg := range msgs {
		id, err := uuid.Parse(msg.Header.Get(broker.HeaderMsgID))
		if err != nil {
			t.Fatalf("message %d: bad %s %q: %v", msg.Sequence, broker.HeaderMsgID, msg.Header.Get(broker.HeaderMsgID), err)
		}
		exp, ok := want[id]
		if !ok {
			t.Errorf("message %d has unknown id %s", msg.Sequence, id)
			continue
		}
		if seen[id] {
			t.Errorf("id %s published twice", id)
		}
		seen[id] = true
		if msg.Subject != exp.subject {
			t.Errorf("message %s subject = %q, want %q", id, msg.Subject, exp.subject)
		}
		if got := msg.Header.Get(broker.HeaderType); got != eventType {
			t.Errorf("message %s type = %q, want %q", id, got, eventType)
		}
		var got ordersv1.OrderPlaced
		if err := proto.Unmarshal(msg.Data, &got); err != nil {
			t.Fatalf("message %s payload: %v", id, err)
		}
		if diff := cmp.Diff(exp.event, &got, protocmp.Transform()); diff != "" {
			t.Errorf("message %s payload mismatch (-want +got):\n%s", id, diff)
		}
	}
	if got := pending(t, pool); got != 0 {
		t.Errorf("pending rows = %d, want 0", got)
	}
	if got := metric(t, reg, "storefront_outbox_pending"); got != 0 {
		t.Errorf("pending gauge = %v, want 0", got)
	}
	if got := metric(t, reg, "storefront_outbox_published_total"); got != n {
		t.Errorf("published_total = %v, want %d", got, n)
	}
}

func TestRelayRecoversFromNATSOutage(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	srv := testenv.EmbeddedNATS(t)
	js := connect(t, srv.URL())
	stream, prefix := newStream(t, js)

	srv.Shutdown()
	const n = 20
	want := enqueue(t.Context(), t, pool, prefix, n, 5)

	relay, reg := newRelay(t, pool, js, outbox.RelayConfig{
		PollInterval:   20 * time.Millisecond,
		MaxBackoff:     200 * time.Millisecond,
		PublishTimeout: 300 * time.Millisecond,
	})
	stop := runRelay(t, relay)

	// The relay keeps trying: the first row in line collects attempts.
	eventually(t, "repeated failed attempts", func() bool {
		return queryInt(t, pool, "SELECT COALESCE(max(attempts), 0) FROM outbox_events") >= 2
	})
	if got := pending(t, pool); got != n {
		t.Errorf("pending rows during outage = %d, want %d", got, n)
	}
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE attempts > 0 AND last_error IS NOT NULL AND published_at IS NULL"); got == 0 {
		t.Error("no row records a failed attempt")
	}
	if got := metric(t, reg, "storefront_outbox_publish_errors_total"); got < 2 {
		t.Errorf("publish_errors_total = %v, want >= 2", got)
	}
	eventually(t, "pending gauge", func() bool { return metric(t, reg, "storefront_outbox_pending") == n })

	srv.Restart(t)
	eventually(t, "all rows published after restart", func() bool { return pending(t, pool) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}

	msgs := messages(t, stream)
	if len(msgs) != n {
		t.Errorf("stream holds %d messages, want %d", len(msgs), n)
	}
	var gotIDs, wantIDs []string
	for _, msg := range msgs {
		gotIDs = append(gotIDs, msg.Header.Get(broker.HeaderMsgID))
	}
	for id := range want {
		wantIDs = append(wantIDs, id.String())
	}
	slices.Sort(gotIDs)
	slices.Sort(wantIDs)
	if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
		t.Errorf("published ids mismatch (-want +got):\n%s", diff)
	}
}

func TestRepublishAfterCrashIsDeduplicated(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)
	const n = 50
	enqueue(t.Context(), t, pool, prefix, n, 10)

	relay, _ := newRelay(t, pool, js, outbox.RelayConfig{BatchSize: 20})
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := streamCount(t, stream); got != n {
		t.Fatalf("stream holds %d messages after first flush, want %d", got, n)
	}

	// Simulate a crash after the PubAcks and before the rows were marked.
	if _, err := pool.Exec(t.Context(), "UPDATE outbox_events SET published_at = NULL"); err != nil {
		t.Fatalf("reset rows: %v", err)
	}
	restarted, reg := newRelay(t, pool, js, outbox.RelayConfig{BatchSize: 20})
	if err := restarted.Flush(t.Context()); err != nil {
		t.Fatalf("flush after crash: %v", err)
	}
	if got := streamCount(t, stream); got != n {
		t.Errorf("stream holds %d messages after re-publish, want %d", got, n)
	}
	if got := pending(t, pool); got != 0 {
		t.Errorf("pending rows = %d, want 0", got)
	}
	if got := metric(t, reg, "storefront_outbox_publish_duplicates_total"); got != n {
		t.Errorf("duplicates_total = %v, want %d", got, n)
	}
}

func TestConcurrentRelaysDeliverOnce(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)
	const n = 400
	enqueue(t.Context(), t, pool, prefix, n, 50)

	cfg := outbox.RelayConfig{BatchSize: 10, PollInterval: 10 * time.Millisecond}
	relayA, regA := newRelay(t, pool, js, cfg)
	relayB, regB := newRelay(t, pool, connect(t, natsServer.URL()), cfg)
	stopA, stopB := runRelay(t, relayA), runRelay(t, relayB)

	eventually(t, "all rows published", func() bool { return pending(t, pool) == 0 })
	if err := stopA(); err != nil {
		t.Errorf("relay A: %v", err)
	}
	if err := stopB(); err != nil {
		t.Errorf("relay B: %v", err)
	}

	if got := streamCount(t, stream); got != n {
		t.Errorf("stream holds %d messages, want %d", got, n)
	}
	// Exactly once, not merely deduplicated: no row was published twice.
	published := metric(t, regA, "storefront_outbox_published_total") + metric(t, regB, "storefront_outbox_published_total")
	if published != n {
		t.Errorf("relays published %v messages together, want %d", published, n)
	}
	for name, reg := range map[string]*prometheus.Registry{"A": regA, "B": regB} {
		if got := metric(t, reg, "storefront_outbox_publish_duplicates_total"); got != 0 {
			t.Errorf("relay %s saw %v duplicates, want 0", name, got)
		}
		if got := metric(t, reg, "storefront_outbox_publish_errors_total"); got != 0 {
			t.Errorf("relay %s saw %v publish errors, want 0", name, got)
		}
	}
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE attempts <> 1"); got != 0 {
		t.Errorf("%d rows were attempted other than once", got)
	}
}

func TestRolledBackEnqueueLeavesNothing(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)

	errAbort := errors.New("business rule failed")
	var rolledBack uuid.UUID
	err := postgres.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		id, err := outbox.Enqueue(t.Context(), tx, prefix+".order.placed", &ordersv1.OrderPlaced{OrderId: "rolled-back"})
		if err != nil {
			return err
		}
		rolledBack = id
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("InTx error = %v, want %v", err, errAbort)
	}
	committed := enqueue(t.Context(), t, pool, prefix, 1, 1)

	relay, _ := newRelay(t, pool, js, outbox.RelayConfig{})
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE id = $1", rolledBack); got != 0 {
		t.Errorf("rolled-back event stored %d times", got)
	}
	msgs := messages(t, stream)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1 (the committed event)", len(msgs))
	}
	for id := range committed {
		if got := msgs[0].Header.Get(broker.HeaderMsgID); got != id.String() {
			t.Errorf("published id = %s, want committed event %s", got, id)
		}
	}
}

func TestCleanupDeletesOnlyOldPublishedRows(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())

	// More old rows than one cleanup batch, to cover batching.
	const oldPublished = 2500
	insert := func(count int, createdAgo, publishedAgo string) {
		t.Helper()
		_, err := pool.Exec(t.Context(), `
			INSERT INTO outbox_events (id, subject, event_type, payload, created_at, published_at)
			SELECT gen_random_uuid(), 'x.y', 'orders.v1.OrderPlaced', '\x00'::bytea,
			       now() - $2::interval,
			       now() - $3::interval
			  FROM generate_series(1, $1)`, count, createdAgo, publishedAgo)
		if err != nil {
			t.Fatalf("insert rows: %v", err)
		}
	}
	insert(oldPublished, "100 hours", "99 hours")
	insert(3, "2 hours", "1 hour")
	if _, err := pool.Exec(t.Context(), `
		INSERT INTO outbox_events (id, subject, event_type, payload, created_at)
		VALUES (gen_random_uuid(), 'x.y', 'orders.v1.OrderPlaced', '\x00'::bytea, now() - interval '200 hours')`); err != nil {
		t.Fatalf("insert pending row: %v", err)
	}
	if _, err := pool.Exec(t.Context(), `
		INSERT INTO outbox_events (id, subject, event_type, payload, created_at, attempts, dead_at)
		VALUES (gen_random_uuid(), 'x.y', 'orders.v1.OrderPlaced', '\x00'::bytea, now() - interval '300 hours', 20, now() - interval '299 hours')`); err != nil {
		t.Fatalf("insert parked row: %v", err)
	}

	relay, reg := newRelay(t, pool, js, outbox.RelayConfig{Retention: 72 * time.Hour})
	deleted, err := relay.Cleanup(t.Context())
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if deleted != oldPublished {
		t.Errorf("cleanup deleted %d rows, want %d", deleted, oldPublished)
	}
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL"); got != 3 {
		t.Errorf("recent published rows left = %d, want 3", got)
	}
	if got := pending(t, pool); got != 1 {
		t.Errorf("pending rows left = %d, want 1 (old pending rows are never deleted)", got)
	}
	if got := parked(t, pool); got != 1 {
		t.Errorf("parked rows left = %d, want 1 (parked rows are kept for operators)", got)
	}
	if got := metric(t, reg, "storefront_outbox_cleaned_up_total"); got != oldPublished {
		t.Errorf("cleaned_up_total = %v, want %d", got, oldPublished)
	}
}

func TestTraceContextTravelsWithEvent(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)

	ts, err := trace.ParseTraceState("storefront=test")
	if err != nil {
		t.Fatalf("trace state: %v", err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
		TraceState: ts,
	})
	traced := trace.ContextWithSpanContext(t.Context(), sc)
	tracedIDs := enqueue(traced, t, pool, prefix, 1, 1)
	untracedIDs := enqueue(t.Context(), t, pool, prefix, 1, 1)

	relay, _ := newRelay(t, pool, js, outbox.RelayConfig{})
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	byID := map[string]nats.Header{}
	for _, msg := range messages(t, stream) {
		byID[msg.Header.Get(broker.HeaderMsgID)] = msg.Header
	}
	for id := range tracedIDs {
		h := byID[id.String()]
		if got, want := h.Get(broker.HeaderTraceParent), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
			t.Errorf("traceparent = %q, want %q", got, want)
		}
		if got, want := h.Get(broker.HeaderTraceState), "storefront=test"; got != want {
			t.Errorf("tracestate = %q, want %q", got, want)
		}
		// The consumer side recovers the producer's span as remote parent.
		got := trace.SpanContextFromContext(broker.ExtractTrace(t.Context(), h))
		if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
			t.Errorf("extracted span context = %v, want remote %v", got, sc)
		}
	}
	for id := range untracedIDs {
		h, ok := byID[id.String()]
		if !ok {
			t.Fatalf("untraced event %s not published", id)
		}
		if got := h.Get(broker.HeaderTraceParent); got != "" {
			t.Errorf("untraced event has traceparent %q", got)
		}
	}
}

// With a recording tracer, a traced event's publish is a producer span,
// child of the enqueuing span, and the published traceparent names it, so
// consumer spans hang off the publish. Untraced events start no trace.
func TestPublishSpanJoinsEnqueueAndConsumers(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, enqueueSpan := tp.Tracer("test").Start(t.Context(), "place order")
	tracedIDs := enqueue(ctx, t, pool, prefix, 1, 1)
	enqueueSpan.End()
	enqueue(t.Context(), t, pool, prefix, 1, 1)

	relay, _ := newRelay(t, pool, js, outbox.RelayConfig{}, outbox.WithTracerProvider(tp))
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	var publishes []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if strings.HasPrefix(s.Name(), "publish ") {
			publishes = append(publishes, s)
		}
	}
	if len(publishes) != 1 {
		t.Fatalf("publish spans = %d, want 1 (the traced event only)", len(publishes))
	}
	pub := publishes[0]
	if pub.SpanKind() != trace.SpanKindProducer || pub.Parent().SpanID() != enqueueSpan.SpanContext().SpanID() || pub.SpanContext().TraceID() != enqueueSpan.SpanContext().TraceID() {
		t.Errorf("publish span kind %v parent %v, want a producer child of %v", pub.SpanKind(), pub.Parent(), enqueueSpan.SpanContext())
	}
	for _, msg := range messages(t, stream) {
		if _, traced := tracedIDs[uuid.MustParse(msg.Header.Get(broker.HeaderMsgID))]; !traced {
			continue
		}
		got := trace.SpanContextFromContext(broker.ExtractTrace(t.Context(), msg.Header))
		if got.SpanID() != pub.SpanContext().SpanID() {
			t.Errorf("published traceparent names span %v, want the publish span %v", got.SpanID(), pub.SpanContext().SpanID())
		}
	}
}
