package server_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/storefront-go/storefront/libs/broker"
	analyticsv1 "github.com/storefront-go/storefront/libs/gen/analytics/v1"
	"github.com/storefront-go/storefront/libs/service"
	"github.com/storefront-go/storefront/libs/testenv"
	pgstore "github.com/storefront-go/storefront/services/analytics/internal/adapters/postgres"
	"github.com/storefront-go/storefront/services/analytics/internal/server"
)

const (
	issuer   = "storefront-test"
	audience = "analytics"
	// waitFor bounds every poll for something asynchronous; it only
	// prevents hangs and is never asserted on.
	waitFor = 30 * time.Second
)

// env is one test's infrastructure: a fresh database, its own NATS server
// with the ORDERS and CATALOGUE streams the other services would own, and
// a token issuer the servers trust.
type env struct {
	t       testing.TB
	dsn     string
	natsURL string
	auth    *testenv.Auth
	db      *pgxpool.Pool
	js      jetstream.JetStream
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test; needs Docker")
	}
	e := &env{t: tb, dsn: pg.NewDatabase(tb), natsURL: testenv.EmbeddedNATS(tb).URL(), auth: testenv.NewAuth(tb, issuer, audience)}
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		tb.Fatalf("connect to nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	if e.js, err = jetstream.New(nc); err != nil {
		tb.Fatal(err)
	}
	for name, subjects := range map[string]string{"ORDERS": "orders.>", "CATALOGUE": "catalogue.>"} {
		if _, err := broker.EnsureStream(tb.Context(), e.js, broker.StreamSpec{Name: name, Subjects: []string{subjects}, Replicas: 1, DuplicateWindow: time.Hour}); err != nil {
			tb.Fatalf("create stream %s: %v", name, err)
		}
	}
	return e
}

// instance is one analytics replica running in this process.
type instance struct {
	host   *service.Host
	client analyticsv1.AnalyticsServiceClient
	stop   func() error
}

// start runs a replica on loopback ports, configured from the same
// environment variables as production; vars override.
func (e *env) start(vars map[string]string) *instance {
	e.t.Helper()
	cfg := testenv.LoadConfig[server.Config](e.t, testenv.ReplicaEnv(e.dsn, e.natsURL, e.auth, map[string]string{
		"DATABASE_MAX_CONNS":    "20",
		"CONSUMER_BACKOFF":      "100ms",
		"STREAM_FLUSH_INTERVAL": "50ms",
	}, vars))
	r := testenv.StartReplica(e.t, "analytics", func(ctx context.Context, logger *slog.Logger) (*service.Host, error) {
		return service.New(ctx, server.Spec(), cfg, logger)
	}, testenv.WithStderrLogs("ANALYTICS_TEST_LOG"))
	conn := testenv.Dial(e.t, r.Host().GRPCAddr())
	return &instance{host: r.Host(), client: analyticsv1.NewAnalyticsServiceClient(conn), stop: r.Stop}
}

// pool opens the test's own connection to the database.
func (e *env) pool() *pgxpool.Pool {
	e.t.Helper()
	if e.db != nil {
		return e.db
	}
	p, err := pgxpool.New(e.t.Context(), e.dsn)
	if err != nil {
		e.t.Fatalf("open test pool: %v", err)
	}
	e.t.Cleanup(p.Close)
	e.db = p
	return p
}

// fold moves every pending counter delta into product_counts, as the
// replica's fold job does, so that a test can read the buckets themselves.
func (e *env) fold(a *instance) {
	e.t.Helper()
	foldAll(e.t, pgstore.New(a.host.Lanes()))
	if left := e.count(`SELECT count(*) FROM count_deltas`); left != 0 {
		e.t.Fatalf("%d counter deltas left after folding", left)
	}
}

func (e *env) count(sql string, args ...any) int64 {
	e.t.Helper()
	var n int64
	if err := e.pool().QueryRow(e.t.Context(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("query %q: %v", sql, err)
	}
	return n
}

func (e *env) analyst() grpc.CallOption { return e.auth.As("analyst-1", "analyst") }
func (e *env) service() grpc.CallOption { return e.auth.As("ingest", "service") }

// publish publishes an event as the producing service's outbox would:
// binary payload, type header and message id.
func (e *env) publish(subject string, m proto.Message, id string) {
	e.t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(broker.HeaderType, string(proto.MessageName(m)))
	msg.Header.Set(broker.HeaderMsgID, id)
	if _, err := e.js.PublishMsg(e.t.Context(), msg); err != nil {
		e.t.Fatalf("publish %s: %v", subject, err)
	}
}

// event is a valid event about product at t.
func event(name string, product uuid.UUID, t time.Time) *analyticsv1.Event {
	e := &analyticsv1.Event{
		EventId:    uuid.Must(uuid.NewV7()).String(),
		EventName:  name,
		UserId:     "user-1",
		OccurredAt: timestamppb.New(t),
	}
	if product != uuid.Nil {
		e.ProductId = product.String()
	}
	return e
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, waitFor, 20*time.Millisecond, what, cond)
}

// natsMsg is a raw message with a type header and a fresh message id.
func natsMsg(subject string, data []byte, typ string) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(broker.HeaderType, typ)
	msg.Header.Set(broker.HeaderMsgID, uuid.NewString())
	return msg
}
