package outbox_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/storefront-go/storefront/libs/broker"
	ordersv1 "github.com/storefront-go/storefront/libs/gen/orders/v1"
	"github.com/storefront-go/storefront/libs/outbox"
	"github.com/storefront-go/storefront/libs/postgres"
	"github.com/storefront-go/storefront/libs/testenv"
)

// fastRetries makes failed rows come due again quickly, so a test reaches
// MaxAttempts in well under a second of retries.
func fastRetries(maxAttempts int) outbox.RelayConfig {
	return outbox.RelayConfig{
		MaxAttempts:  maxAttempts,
		PollInterval: 20 * time.Millisecond,
		MaxBackoff:   100 * time.Millisecond,
	}
}

// logBuffer collects a JSON slog handler's output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// entries returns the records logged at level for the outbox event id.
func (b *logBuffer) entries(t *testing.T, level slog.Level, id uuid.UUID) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if e[slog.LevelKey] == level.String() && e["id"] == id.String() {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read logs: %v", err)
	}
	return out
}

func newLoggedRelay(t *testing.T, pool *pgxpool.Pool, js jetstream.JetStream, cfg outbox.RelayConfig) (*outbox.Relay, *prometheus.Registry, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	reg := prometheus.NewRegistry()
	relay, err := outbox.NewRelay(pool, js, cfg, slog.New(slog.NewJSONHandler(logs, nil)), reg)
	if err != nil {
		t.Fatalf("new relay: %v", err)
	}
	return relay, reg, logs
}

// enqueueOne stores one event on subject in its own transaction.
func enqueueOne(t *testing.T, pool *pgxpool.Pool, subject string, event proto.Message) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	err := postgres.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		var err error
		id, err = outbox.Enqueue(t.Context(), tx, subject, event)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue on %s: %v", subject, err)
	}
	return id
}

// uniqueToken returns a string no other test uses, for subjects and
// stream names.
func uniqueToken() string {
	return strings.ReplaceAll(uuid.NewString(), "-", "")
}

// rowState is what a test checks of one outbox row.
type rowState struct {
	Attempts  int
	Published bool
	Parked    bool
	LastError string
}

func readRow(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) rowState {
	t.Helper()
	var s rowState
	err := pool.QueryRow(t.Context(),
		`SELECT attempts, published_at IS NOT NULL, dead_at IS NOT NULL, COALESCE(last_error, '')
		   FROM outbox_events WHERE id = $1`, id).
		Scan(&s.Attempts, &s.Published, &s.Parked, &s.LastError)
	if err != nil {
		t.Fatalf("read row %s: %v", id, err)
	}
	return s
}

// publishedIDs returns the Nats-Msg-Id of every message in stream, sorted.
func publishedIDs(t *testing.T, stream jetstream.Stream) []string {
	t.Helper()
	var ids []string
	for _, msg := range messages(t, stream) {
		ids = append(ids, msg.Header.Get(broker.HeaderMsgID))
	}
	slices.Sort(ids)
	return ids
}

func sortedIDs(want map[uuid.UUID]enqueued) []string {
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id.String())
	}
	slices.Sort(ids)
	return ids
}

// checkParked checks that the row id was parked once, after exactly
// maxAttempts attempts, with its cause kept, counted and logged.
func checkParked(t *testing.T, pool *pgxpool.Pool, reg *prometheus.Registry, logs *logBuffer, id uuid.UUID, subject string, maxAttempts int, wantErr string) {
	t.Helper()
	got := readRow(t, pool, id)
	if got.Attempts != maxAttempts || !got.Parked || got.Published {
		t.Errorf("row %s = %+v, want parked and unpublished after %d attempts", id, got, maxAttempts)
	}
	if !strings.Contains(got.LastError, wantErr) {
		t.Errorf("row %s last_error = %q, want it to contain %q", id, got.LastError, wantErr)
	}
	if n := parked(t, pool); n != 1 {
		t.Errorf("parked rows = %d, want 1", n)
	}
	if v := metric(t, reg, "storefront_outbox_dead_total"); v != 1 {
		t.Errorf("dead_total = %v, want 1", v)
	}
	entries := logs.entries(t, slog.LevelError, id)
	if len(entries) != 1 {
		t.Fatalf("%d ERROR log records for row %s, want 1", len(entries), id)
	}
	wantLog := map[string]any{"id": id.String(), "subject": subject, "type": eventType}
	gotLog := map[string]any{"id": entries[0]["id"], "subject": entries[0]["subject"], "type": entries[0]["type"]}
	if diff := cmp.Diff(wantLog, gotLog); diff != "" {
		t.Errorf("parked log record mismatch (-want +got):\n%s", diff)
	}
}

func TestRowWithoutStreamDoesNotBlockLaterRows(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())
	stream, prefix := newStream(t, js)

	// Enqueued first, so it heads the queue; no stream covers its subject.
	badSubject := "nostream" + uniqueToken() + ".order.placed"
	bad := enqueueOne(t, pool, badSubject, &ordersv1.OrderPlaced{OrderId: "poison"})
	const n = 20
	good := enqueue(t.Context(), t, pool, prefix, n, 5)

	const maxAttempts = 3
	relay, reg, logs := newLoggedRelay(t, pool, js, fastRetries(maxAttempts))

	// One pass: the bad row fails, and every row behind it goes out anyway.
	published, err := relay.PublishPending(t.Context())
	if err != nil {
		t.Fatalf("publish pending: %v", err)
	}
	if published != n {
		t.Errorf("first pass published %d rows, want %d", published, n)
	}
	if diff := cmp.Diff(sortedIDs(good), publishedIDs(t, stream)); diff != "" {
		t.Errorf("published ids after the first pass mismatch (-want +got):\n%s", diff)
	}
	const noStreamErr = "no stream covers the subject"
	if got := readRow(t, pool, bad); got.Attempts != 1 || got.Parked || got.Published || !strings.Contains(got.LastError, noStreamErr) {
		t.Errorf("bad row after one pass = %+v, want one attempt recorded with %q, not parked", got, noStreamErr)
	}
	if entries := logs.entries(t, slog.LevelWarn, bad); len(entries) != 1 {
		t.Errorf("%d WARN log records for the failed attempt, want 1", len(entries))
	}

	// The relay retries the bad row until MaxAttempts, then parks it.
	stop := runRelay(t, relay)
	eventually(t, "the bad row to be parked", func() bool { return parked(t, pool) == 1 })
	eventually(t, "the dead gauge", func() bool { return metric(t, reg, "storefront_outbox_dead") == 1 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}

	checkParked(t, pool, reg, logs, bad, badSubject, maxAttempts, noStreamErr)
	if got := pending(t, pool); got != 0 {
		t.Errorf("pending rows = %d, want 0", got)
	}
	if got := metric(t, reg, "storefront_outbox_pending"); got != 0 {
		t.Errorf("pending gauge = %v, want 0 (parked rows are not pending)", got)
	}
	if got := metric(t, reg, "storefront_outbox_oldest_pending_age_seconds"); got != 0 {
		t.Errorf("oldest pending age = %v, want 0 (parked rows are not pending)", got)
	}
	if got := metric(t, reg, "storefront_outbox_published_total"); got != n {
		t.Errorf("published_total = %v, want %d", got, n)
	}
	if got := metric(t, reg, "storefront_outbox_publish_errors_total"); got != maxAttempts {
		t.Errorf("publish_errors_total = %v, want %d", got, maxAttempts)
	}
	if got := streamCount(t, stream); got != n {
		t.Errorf("stream holds %d messages, want %d", got, n)
	}
}

func TestOversizedRowIsParked(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tests := []struct {
		name       string
		maxMsgSize int32
		size       int
		wantErr    string
	}{
		{
			// The client refuses it before sending: the server's default
			// max_payload is 1 MiB.
			name:    "over the server's max payload",
			size:    1<<20 + 1024,
			wantErr: "maximum payload exceeded",
		},
		{
			// The stream refuses it with a JetStream API error.
			name:       "over the stream's max message size",
			maxMsgSize: 1024,
			size:       4096,
			wantErr:    "message size exceeds maximum",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := newPool(t)
			js := connect(t, natsServer.URL())
			prefix := "big" + uniqueToken()
			stream := createStream(t, js, broker.StreamSpec{
				Name:       strings.ToUpper(prefix),
				Subjects:   []string{prefix + ".>"},
				MaxMsgSize: tc.maxMsgSize,
			})

			subject := prefix + ".order.placed"
			big := enqueueOne(t, pool, subject, &ordersv1.OrderPlaced{OrderId: strings.Repeat("x", tc.size)})
			const n = 5
			good := enqueue(t.Context(), t, pool, prefix, n, n)

			const maxAttempts = 3
			relay, reg, logs := newLoggedRelay(t, pool, js, fastRetries(maxAttempts))
			stop := runRelay(t, relay)
			eventually(t, "the oversized row to be parked", func() bool { return parked(t, pool) == 1 })
			eventually(t, "the good rows to be published", func() bool { return pending(t, pool) == 0 })
			eventually(t, "the dead gauge", func() bool { return metric(t, reg, "storefront_outbox_dead") == 1 })
			if err := stop(); err != nil {
				t.Fatalf("relay run: %v", err)
			}

			checkParked(t, pool, reg, logs, big, subject, maxAttempts, tc.wantErr)
			if diff := cmp.Diff(sortedIDs(good), publishedIDs(t, stream)); diff != "" {
				t.Errorf("published ids mismatch (-want +got):\n%s", diff)
			}
			if got := metric(t, reg, "storefront_outbox_pending"); got != 0 {
				t.Errorf("pending gauge = %v, want 0", got)
			}
		})
	}
}

func TestNATSOutageParksNoRow(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	srv := testenv.EmbeddedNATS(t)
	js := connect(t, srv.URL())
	stream, prefix := newStream(t, js)

	srv.Shutdown()
	const n = 10
	want := enqueue(t.Context(), t, pool, prefix, n, 5)

	const maxAttempts = 3
	cfg := fastRetries(maxAttempts)
	cfg.PublishTimeout = 200 * time.Millisecond
	relay, reg := newRelay(t, pool, js, cfg)
	stop := runRelay(t, relay)

	// Pass after pass fails; each costs only the row at the head of the
	// queue one attempt, and no number of them parks it.
	eventually(t, "attempts well past MaxAttempts", func() bool {
		return queryInt(t, pool, "SELECT COALESCE(max(attempts), 0) FROM outbox_events") >= maxAttempts+2
	})
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE attempts > 0"); got != 1 {
		t.Errorf("%d rows had attempts during the outage, want 1 (the head of the queue)", got)
	}
	if got := parked(t, pool); got != 0 {
		t.Errorf("parked rows during the outage = %d, want 0", got)
	}
	if got := pending(t, pool); got != n {
		t.Errorf("pending rows during the outage = %d, want %d", got, n)
	}

	srv.Restart(t)
	eventually(t, "all rows published after restart", func() bool { return pending(t, pool) == 0 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}
	if got := parked(t, pool); got != 0 {
		t.Errorf("parked rows = %d, want 0", got)
	}
	if got := metric(t, reg, "storefront_outbox_dead_total"); got != 0 {
		t.Errorf("dead_total = %v, want 0", got)
	}
	if diff := cmp.Diff(sortedIDs(want), publishedIDs(t, stream)); diff != "" {
		t.Errorf("published ids mismatch (-want +got):\n%s", diff)
	}
}

func TestRequeueRedrivesParkedRow(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	js := connect(t, natsServer.URL())

	// The stream for this subject only appears after the row is parked.
	prefix := "late" + uniqueToken()
	subject := prefix + ".order.placed"
	event := &ordersv1.OrderPlaced{OrderId: "late", CustomerId: "customer-1"}
	id := enqueueOne(t, pool, subject, event)

	const maxAttempts = 2
	relay, reg := newRelay(t, pool, js, fastRetries(maxAttempts))
	stop := runRelay(t, relay)
	eventually(t, "the row to be parked", func() bool { return parked(t, pool) == 1 })
	eventually(t, "the dead gauge", func() bool { return metric(t, reg, "storefront_outbox_dead") == 1 })
	if err := stop(); err != nil {
		t.Fatalf("relay run: %v", err)
	}

	// A parked row stays put, even for Flush.
	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush while parked: %v", err)
	}
	if got := readRow(t, pool, id); !got.Parked || got.Attempts != maxAttempts {
		t.Fatalf("row before requeue = %+v, want parked after %d attempts", got, maxAttempts)
	}

	// Operators see it, with the reason.
	list, err := outbox.ListParked(t.Context(), pool, 10)
	if err != nil {
		t.Fatalf("list parked: %v", err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Subject != subject || list[0].Attempts != maxAttempts ||
		list[0].EventType != "orders.v1.OrderPlaced" || list[0].LastError == "" || list[0].DeadAt.IsZero() {
		t.Fatalf("parked list = %+v, want the one row for %s with its attempts, type and error", list, subject)
	}
	if _, err := outbox.ListParked(t.Context(), pool, 0); err == nil {
		t.Error("list parked with limit 0: no error")
	}

	stream := createStream(t, js, broker.StreamSpec{Name: strings.ToUpper(prefix), Subjects: []string{prefix + ".>"}})
	n, err := relay.Requeue(t.Context(), id, uuid.New())
	if err != nil {
		t.Fatalf("requeue: %v", err)
	}
	if n != 1 {
		t.Errorf("requeue returned %d, want 1 (the unknown id is ignored)", n)
	}
	got := readRow(t, pool, id)
	if got.Parked || got.Published || got.Attempts != 0 {
		t.Errorf("row after requeue = %+v, want pending with attempts reset", got)
	}
	if list, err := outbox.ListParked(t.Context(), pool, 10); err != nil || len(list) != 0 {
		t.Errorf("parked list after requeue = %+v, %v; want empty", list, err)
	}

	if err := relay.Flush(t.Context()); err != nil {
		t.Fatalf("flush after requeue: %v", err)
	}
	msgs := messages(t, stream)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	if got := msgs[0].Header.Get(broker.HeaderMsgID); got != id.String() {
		t.Errorf("published id = %s, want %s", got, id)
	}
	var gotEvent ordersv1.OrderPlaced
	if err := proto.Unmarshal(msgs[0].Data, &gotEvent); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if diff := cmp.Diff(event, &gotEvent, protocmp.Transform()); diff != "" {
		t.Errorf("payload mismatch (-want +got):\n%s", diff)
	}
	if got := readRow(t, pool, id); !got.Published || got.Parked {
		t.Errorf("row after flush = %+v, want published", got)
	}
	if got := metric(t, reg, "storefront_outbox_dead"); got != 0 {
		t.Errorf("dead gauge after requeue and flush = %v, want 0", got)
	}

	// Only parked rows are requeued: a published row is left alone.
	tests := []struct {
		name string
		ids  []uuid.UUID
	}{
		{name: "published row", ids: []uuid.UUID{id}},
		{name: "no ids", ids: nil},
	}
	for _, tc := range tests {
		n, err := relay.Requeue(t.Context(), tc.ids...)
		if err != nil || n != 0 {
			t.Errorf("requeue %s = %d, %v; want 0, nil", tc.name, n, err)
		}
	}
	if n, err := outbox.RequeueAll(t.Context(), pool); err != nil || n != 0 {
		t.Errorf("requeue all with nothing parked = %d, %v; want 0, nil", n, err)
	}
	if got := readRow(t, pool, id); !got.Published {
		t.Errorf("row after requeueing it again = %+v, want still published", got)
	}
}

// indexes returns the indexes on outbox_events, sorted, failing the test
// if any is invalid (as an interrupted CREATE INDEX CONCURRENTLY leaves it).
func indexes(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(),
		`SELECT c.relname, i.indisvalid
		   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		  WHERE i.indrelid = 'outbox_events'::regclass`)
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var names []string
	for rows.Next() {
		var name string
		var valid bool
		if err := rows.Scan(&name, &valid); err != nil {
			t.Fatalf("scan index: %v", err)
		}
		if !valid {
			t.Errorf("index %s is invalid", name)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	slices.Sort(names)
	return names
}

func TestMigrationDownAndUp(t *testing.T) {
	skipShort(t)
	t.Parallel()
	pool := newPool(t)
	wantV2 := []string{"outbox_events_claim_idx", "outbox_events_dead_idx", "outbox_events_pkey", "outbox_events_published_idx"}
	if diff := cmp.Diff(wantV2, indexes(t, pool)); diff != "" {
		t.Errorf("indexes after Migrate mismatch (-want +got):\n%s", diff)
	}

	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(t.Context(), conn.Conn(), "outbox_schema_version")
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	if err := m.LoadMigrations(os.DirFS("migrations")); err != nil {
		t.Fatalf("load migrations: %v", err)
	}

	// Down to the first schema, with a row parked: it becomes pending.
	if _, err := pool.Exec(t.Context(),
		`INSERT INTO outbox_events (id, subject, event_type, payload, attempts, dead_at)
		 VALUES (gen_random_uuid(), 'x.y', 'orders.v1.OrderPlaced', '\x00'::bytea, 20, now())`); err != nil {
		t.Fatalf("insert parked row: %v", err)
	}
	if err := m.MigrateTo(t.Context(), 1); err != nil {
		t.Fatalf("migrate down to 1: %v", err)
	}
	wantV1 := []string{"outbox_events_pending_idx", "outbox_events_pkey", "outbox_events_published_idx"}
	if diff := cmp.Diff(wantV1, indexes(t, pool)); diff != "" {
		t.Errorf("indexes after migrating down mismatch (-want +got):\n%s", diff)
	}
	if got := queryInt(t, pool, "SELECT count(*) FROM outbox_events WHERE published_at IS NULL"); got != 1 {
		t.Errorf("pending rows after migrating down = %d, want 1", got)
	}

	// Up again over existing rows, then once more as a no-op.
	if err := m.MigrateTo(t.Context(), 2); err != nil {
		t.Fatalf("migrate up to 2: %v", err)
	}
	if err := outbox.Migrate(t.Context(), pool); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	if diff := cmp.Diff(wantV2, indexes(t, pool)); diff != "" {
		t.Errorf("indexes after migrating up again mismatch (-want +got):\n%s", diff)
	}
	if got := pending(t, pool); got != 1 {
		t.Errorf("pending rows after migrating up = %d, want 1", got)
	}
}
