package outbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storefront-go/storefront/libs/broker"
	"github.com/storefront-go/storefront/libs/outbox"
	"github.com/storefront-go/storefront/libs/testenv"
)

// These tests fill JetStream up in both ways it answers when full, and
// check that the outbox treats that as an outage: rows wait, in order, none
// is parked or lost, and they all go out once there is room again.

// claimOrder returns the ids of every outbox row in the order the relay
// claims them, which is the order it publishes them in.
func claimOrder(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT id::text FROM outbox_events ORDER BY created_at, id`)
	if err != nil {
		t.Fatalf("list outbox rows: %v", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatalf("scan outbox row: %v", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list outbox rows: %v", err)
	}
	return ids
}

// streamOrder returns the Nats-Msg-Id of every message in stream, in stream
// sequence order, and fails the test if any message was removed from it.
func streamOrder(t *testing.T, stream jetstream.Stream) []string {
	t.Helper()
	msgs := messages(t, stream)
	ids := make([]string, 0, len(msgs))
	for i, msg := range msgs {
		if want := uint64(i) + 1; msg.Sequence != want {
			t.Fatalf("message %d has sequence %d, want %d: messages were removed from the stream", i, msg.Sequence, want)
		}
		ids = append(ids, msg.Header.Get(broker.HeaderMsgID))
	}
	return ids
}

// headAttempts returns the most attempts any row has had.
func headAttempts(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return queryInt(t, pool, "SELECT COALESCE(max(attempts), 0) FROM outbox_events")
}

// waitPastMaxAttempts waits until the head of the queue has had attempts
// well past maxAttempts, or until a row is parked (which checkWaiting then
// reports).
func waitPastMaxAttempts(t *testing.T, pool *pgxpool.Pool, maxAttempts int) {
	t.Helper()
	eventually(t, "attempts well past MaxAttempts", func() bool {
		return headAttempts(t, pool) >= maxAttempts+2 || parked(t, pool) > 0
	})
}

// checkWaiting checks the state while JetStream refuses the rows: wantPending
// rows wait and none is parked; only the head of the queue paid attempts,
// well past MaxAttempts, with wantErr recorded; the gauges show the backlog
// and the failures count as outages.
func checkWaiting(t *testing.T, pool *pgxpool.Pool, reg *prometheus.Registry, wantPending, maxAttempts int, wantErr string) {
	t.Helper()
	if got := pending(t, pool); got != wantPending {
		t.Errorf("pending rows while JetStream is full = %d, want %d", got, wantPending)
	}
	if got := parked(t, pool); got != 0 {
		t.Errorf("parked rows while JetStream is full = %d, want 0", got)
	}
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE attempts > 1 OR (attempts = 1 AND published_at IS NULL)"); got != 1 {
		t.Errorf("%d rows had failed attempts, want 1 (the head of the queue)", got)
	}
	var lastErr string
	if err := pool.QueryRow(t.Context(),
		`SELECT last_error FROM outbox_events WHERE published_at IS NULL AND attempts > $1`, maxAttempts).Scan(&lastErr); err != nil {
		t.Fatalf("read the head row: %v", err)
	}
	if !strings.Contains(lastErr, wantErr) {
		t.Errorf("head row last_error = %q, want it to contain %q", lastErr, wantErr)
	}
	eventually(t, "the pending gauge to show the backlog", func() bool {
		return metric(t, reg, "storefront_outbox_pending") == float64(wantPending)
	})
	if got := metric(t, reg, "storefront_outbox_oldest_pending_age_seconds"); got <= 0 {
		t.Errorf("oldest pending age = %v, want > 0 while rows wait", got)
	}
	if got := metricWith(t, reg, "storefront_outbox_publish_errors_total", "kind", "outage"); got < float64(maxAttempts) {
		t.Errorf(`publish_errors_total{kind="outage"} = %v, want >= %d`, got, maxAttempts)
	}
	if got := metricWith(t, reg, "storefront_outbox_publish_errors_total", "kind", "row"); got != 0 {
		t.Errorf(`publish_errors_total{kind="row"} = %v, want 0`, got)
	}
}

// checkDrained checks that every row was published once room was made, in
// the order the relay claims them, and that none was parked or dropped.
func checkDrained(t *testing.T, pool *pgxpool.Pool, reg *prometheus.Registry, stream jetstream.Stream, n int) {
	t.Helper()
	if got := parked(t, pool); got != 0 {
		t.Errorf("parked rows = %d, want 0", got)
	}
	if got := metric(t, reg, "storefront_outbox_dead_total"); got != 0 {
		t.Errorf("dead_total = %v, want 0", got)
	}
	want := claimOrder(t, pool)
	if len(want) != n {
		t.Fatalf("outbox holds %d rows, want %d", len(want), n)
	}
	if diff := cmp.Diff(want, streamOrder(t, stream)); diff != "" {
		t.Errorf("stream contents differ from the outbox in claim order (-want +got):\n%s", diff)
	}
	if got := metric(t, reg, "storefront_outbox_pending"); got != 0 {
		t.Errorf("pending gauge after draining = %v, want 0", got)
	}
}

// An account at its JetStream storage limit answers 400 with error code
// 10002: the account's fault, not the row's.
func TestAccountStorageLimitHoldsRowsUntilRaised(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	srv := testenv.EmbeddedNATS(t)
	js := connect(t, srv.URL())
	stream, prefix := newStream(t, js)

	const maxAttempts = 3
	relay, reg := newRelay(t, pool, js, fastRetries(maxAttempts))
	const before, during = 10, 30
	enqueue(t.Context(), t, pool, prefix, before, 5)
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush before the limit: %v", err)
	}

	// The account may store no more than it does now.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	info, err := js.AccountInfo(ctx)
	if err != nil {
		t.Fatalf("account info: %v", err)
	}
	srv.LimitAccountStorage(t, int64(info.Store))
	enqueue(t.Context(), t, pool, prefix, during, 5)

	stop := runRelay(t, relay)
	waitPastMaxAttempts(t, pool, maxAttempts)
	checkWaiting(t, pool, reg, during, maxAttempts, "err_code=10002")
	if got := streamCount(t, stream); got != before {
		t.Errorf("stream holds %d messages at the limit, want %d", got, before)
	}

	srv.LimitAccountStorage(t, -1)
	eventually(t, "every row published once the limit is lifted", func() bool { return pending(t, pool) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}
	checkDrained(t, pool, reg, stream, before+during)
}

// A discard-new stream at its MaxBytes answers 503 with error code 10077,
// "maximum bytes exceeded", and keeps what it holds.
func TestFullDiscardNewStreamHoldsRowsUntilRaised(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	prefix := "full" + uniqueToken()
	// Room for a few of the events below (a few hundred bytes each).
	spec := broker.StreamSpec{Name: strings.ToUpper(prefix), Subjects: []string{prefix + ".>"}, MaxBytes: 2048}
	stream := createStream(t, js, spec)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.Config.Discard != jetstream.DiscardNew {
		t.Fatalf("stream discard policy = %v, want %v", info.Config.Discard, jetstream.DiscardNew)
	}

	const n = 30
	enqueue(t.Context(), t, pool, prefix, n, 5)
	const maxAttempts = 3
	relay, reg := newRelay(t, pool, js, fastRetries(maxAttempts))
	stop := runRelay(t, relay)
	waitPastMaxAttempts(t, pool, maxAttempts)

	stored := int(streamCount(t, stream))
	if stored == 0 || stored >= n {
		t.Fatalf("stream holds %d of %d messages at its MaxBytes; want some, not all", stored, n)
	}
	checkWaiting(t, pool, reg, n-stored, maxAttempts, "maximum bytes exceeded")
	t.Logf("at MaxBytes %d: %d published, %d waiting", spec.MaxBytes, stored, n-stored)

	// An operator raises the limit in place.
	spec.MaxBytes = 1 << 20
	spec.DuplicateWindow = testDuplicateWindow
	if _, err := broker.EnsureStream(ctx, js, spec); err != nil {
		t.Fatalf("raise the stream's MaxBytes: %v", err)
	}
	eventually(t, "every row published once the limit is raised", func() bool { return pending(t, pool) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}
	checkDrained(t, pool, reg, stream, n)
}

// A row bound for a stream the service provisions but that does not exist
// yet waits for it instead of being parked like a row no stream will ever
// cover.
func TestExpectedStreamNotProvisionedYetHoldsRows(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	prefix := "late" + uniqueToken()
	spec := broker.StreamSpec{Name: strings.ToUpper(prefix), Subjects: []string{prefix + ".>"}}

	const n = 5
	enqueue(t.Context(), t, pool, prefix, n, n)
	const maxAttempts = 2
	reg := prometheus.NewRegistry()
	relay, err := outbox.NewRelay(pool, js, fastRetries(maxAttempts), nil, reg, outbox.WithStreamSubjects(spec.Subjects...))
	if err != nil {
		t.Fatalf("new relay: %v", err)
	}
	stop := runRelay(t, relay)
	waitPastMaxAttempts(t, pool, maxAttempts)
	checkWaiting(t, pool, reg, n, maxAttempts, "no stream covers the subject yet")

	stream := createStream(t, js, spec)
	eventually(t, "every row published once the stream exists", func() bool { return pending(t, pool) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}
	checkDrained(t, pool, reg, stream, n)
}
